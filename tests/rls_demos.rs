//! What `casehard diff` writes for each RLS demo project (findings and the migration, as a
//! reviewer reads them), kept as snapshots; the same projects are applied to PostgreSQL in
//! rls_postgres.rs.

mod harness;

use casehard::workspace::{load_dir, LoadOptions};
use harness::*;

#[test]
fn each_rls_demo_prints_its_migration() {
    for demo in [
        "supabase-multi",
        "social",
        "prisma",
        "drizzle",
        "supabase-admin",
    ] {
        let dir = manifest_dir().join("tests/fixtures/rls").join(demo);
        let ws = load_dir(&dir, &LoadOptions::default()).unwrap();
        // Every `rls/` rule, and nothing else (the demos' dependencies are not the point).
        let mut options = only("rls/owner-policies");
        if let Some(only) = options.selection.only.as_mut() {
            only.extend(
                catalog()
                    .metas()
                    .iter()
                    .filter(|m| m.id.starts_with("rls/"))
                    .map(|m| m.id.clone()),
            );
        }
        let outcome = run(ws, &options);
        assert_output_parses(&outcome);
        assert_idempotent(&outcome, &options);
        snapshot_settings().bind(|| {
            insta::assert_snapshot!(format!("rls_demo__{demo}"), describe(&outcome));
        });
    }
}

/// The whole catalog on every demo project converges, and a second run changes nothing: the
/// passes that write migrations and helpers (RLS, webhooks, MFA, rate limits) must not keep
/// answering each other's files.
#[test]
fn the_whole_catalog_settles_on_every_demo() {
    for demo in [
        "rls/supabase-multi",
        "rls/social",
        "rls/prisma",
        "rls/drizzle",
        "rls/supabase-admin",
        "webhooks/node-pg",
        "webhooks/hmac",
        "apps/nextjs-supabase-stripe",
        "rules/mfa/supabase-aal2/invalid-existing-middleware",
    ] {
        let dir = manifest_dir().join("tests/fixtures").join(demo);
        let ws = load_dir(&dir, &LoadOptions::default()).unwrap();
        let options = casehard::engine::Options::default();
        let outcome = run(ws, &options);
        assert!(outcome.has_changes(), "{demo}: casehard should harden it");
        assert_output_parses(&outcome);
        assert_idempotent(&outcome, &options);
    }
}

/// The helper casehard writes imports the app's client by its file's path, between the
/// project's quotes: a file name holding that quote must stay inside the string, not become
/// code of casehard's helper.
#[test]
fn a_client_file_name_stays_inside_the_import_string() {
    let dir = manifest_dir().join("tests/fixtures/rls/drizzle");
    let mut ws = load_dir(&dir, &LoadOptions::default()).unwrap();
    let client = ws.files.remove("src/server/db/index.ts").unwrap();
    let hostile = "src/server/db/c\"; globalThis.pwned = 1; \"d.ts";
    ws.insert(hostile.into(), client.bytes, 0o644);
    let outcome = run(ws, &Default::default());
    let helper = outcome
        .workspace
        .text("src/server/db/casehard-rls.ts")
        .expect("the helper is written")
        .body;
    assert!(
        helper.contains(r#"import { db } from "./c\"; globalThis.pwned = 1; \"d";"#),
        "{helper}"
    );
    let tree = casehard::lang::Lang::TypeScript.parse(helper).unwrap();
    let statements = tree
        .root()
        .children()
        .filter(|n| n.kind() == "expression_statement")
        .count();
    assert_eq!(statements, 0, "no statement from the name:\n{helper}");
    assert_output_parses(&outcome);
}
