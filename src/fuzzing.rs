//! The property the fuzz target (fuzz/) checks, here so that crashes it finds are kept as
//! ordinary regression tests (tests/fuzz_regressions.rs) that run on stable.

use crate::config::Config;
use crate::engine::{self, Options};
use crate::error::Error;
use crate::lang::{has_syntax_error, Lang};
use crate::rules::Catalog;
use crate::workspace::Workspace;

/// Where the text is placed (see [`PAGES_PLACES`] for the Pages Router project): a route handler (request scope, server rules) on a path that
/// both a development route and a sign-in route would take, so `debug/dev-route` and
/// `auth/rate-limit` edit the same handlers too; and a component (TSX), as an App Router page
/// on a development path, so a default-exported function also gets `debug/dev-route`'s guard
/// and import.
const PLACES: &[&str] = &["app/api/debug/login/route.ts", "src/app/debug/page.tsx"];

/// In the Pages Router project (see [`PROJECTS`]), the component is a Pages Router page on a
/// development path instead, which `debug/dev-route` gives a data function.
const PAGES_PLACES: &[&str] = &["app/api/debug/login/route.ts", "src/pages/debug.tsx"];

/// The index in [`PROJECTS`] of the one whose component input is a Pages Router page.
const PAGES_PROJECT: usize = 2;

/// The project the text is placed in: without a package.json (only the rules that need no
/// stack), or one of three generator stacks, so that the passes that need one run on the text
/// too (`sql/interpolated-query` on node-postgres, the Drizzle tables and tRPC wiring of
/// `rls/owner-policies`, `mfa/supabase-aal2`, ...). Which one is a function of the text (see
/// [`project_for`]), so a saved input replays in the project that found it. Versions are exact,
/// so `deps/pin-exact` has nothing to say about the fixed files.
pub const PROJECTS: &[&[(&str, &str)]] = &[
    &[],
    // Replit Agent style: Express on node-postgres with passport, and a migration with an
    // owned table, so the RLS pass writes a migration and wires the text's pg client.
    &[
        (
            "package.json",
            r#"{"dependencies":{"express":"4.21.2","pg":"8.13.1","passport":"0.7.0","passport-local":"1.0.0","stripe":"17.4.0","zod":"3.23.8"}}"#,
        ),
        (
            "db/migrations/0001_init.sql",
            "create table users (id uuid primary key, email text not null);\ncreate table notes (id serial primary key, user_id uuid not null references users (id), body text not null);\n",
        ),
    ],
    // create-t3-app style: Next.js, Drizzle (tables the text defines with `pgTable`), NextAuth
    // and tRPC; its component input is a Pages Router page.
    &[(
        "package.json",
        r#"{"dependencies":{"next":"15.0.3","drizzle-orm":"0.36.4","postgres":"3.4.5","next-auth":"5.0.0-beta.25","@trpc/server":"11.0.0-rc.608","stripe":"17.4.0","zod":"3.23.8"}}"#,
    )],
    // Lovable / v0 style: Next.js on Supabase with Stripe.
    &[
        (
            "package.json",
            r#"{"dependencies":{"next":"15.0.3","@supabase/supabase-js":"2.46.1","@supabase/ssr":"0.5.2","stripe":"17.4.0","zod":"3.23.8"}}"#,
        ),
        (
            "supabase/migrations/20240101000000_init.sql",
            "create table public.profiles (id uuid primary key references auth.users (id), name text);\n",
        ),
    ],
];

/// The index in [`PROJECTS`] of the project `text` is fuzzed in: the sum of its bytes, so any
/// change to the text may move it, and the fuzzer reaches every project from every seed.
pub fn project_for(text: &str) -> usize {
    text.bytes().map(usize::from).sum::<usize>() % PROJECTS.len()
}

/// Runs the catalog over `text` in each place; panics on any violation of the properties: a
/// run that does not converge, a changed file that no longer parses when the input did, an
/// original (the diff's old side) that is not the input, or a result that the shortcuts
/// change: the prefilter (files and nodes left out of rules that cannot match them) and the
/// early fixes (a file fixed during its scan).
pub fn check(catalog: &Catalog, text: &str) {
    check_in(catalog, text, project_for(text));
}

/// The project [`PROJECTS`]`[project_index]` with `text` at `place`.
fn project_with(project_index: usize, place: &str, text: &str) -> Workspace {
    let files = PROJECTS[project_index]
        .iter()
        .copied()
        .chain([(place, text)]);
    Workspace::from_files(files).expect("fixed paths are valid")
}

/// [`check`] in the project [`PROJECTS`]`[project]`.
pub fn check_in(catalog: &Catalog, text: &str, project_index: usize) {
    let places = if project_index == PAGES_PROJECT {
        PAGES_PLACES
    } else {
        PLACES
    };
    for place in places {
        let ws = project_with(project_index, place, text);
        let lang = Lang::for_path(place).expect("source path");
        let parsed = lang
            .parse(text)
            .map(|t| !has_syntax_error(&t))
            .unwrap_or(false);
        let plain = Options {
            prefilter: false,
            early_fixes: false,
            ..Options::default()
        };
        let everything = engine::run(ws.clone(), catalog, &Config::default(), &plain);
        match engine::run(ws, catalog, &Config::default(), &Options::default()) {
            Ok(outcome) => {
                let everything = everything
                    .expect("the run without shortcuts fails where the one with them does not");
                assert!(
                    format!("{:?}", outcome.findings) == format!("{:?}", everything.findings)
                        && outcome.workspace.get(place).map(|f| &f.bytes)
                            == everything.workspace.get(place).map(|f| &f.bytes),
                    "{place}: the shortcuts change the result:\n{text}"
                );
                // The diff's old side is rebuilt from the fixed text: it must be the input.
                if let Some(original) = outcome.original(place) {
                    assert!(
                        original.as_ref() == text.as_bytes(),
                        "{place}: the text rebuilt as read differs from the input:\n--- input\n{text}\n--- rebuilt\n{}",
                        String::from_utf8_lossy(&original)
                    );
                }
                for path in outcome.before.keys() {
                    let body = outcome
                        .workspace
                        .text(path)
                        .expect("casehard writes UTF-8")
                        .body;
                    // A migration casehard writes or edits is PostgreSQL, whatever the text
                    // made of the tables.
                    if path.ends_with(".sql") {
                        if let Err(e) = pg_query::parse(body, pg_query::ParserOptions::DEFAULT) {
                            panic!("{path}: casehard's SQL does not parse ({e}):\n--- input\n{text}\n--- output\n{body}");
                        }
                        continue;
                    }
                    let Some(lang) = Lang::for_path(path) else {
                        continue;
                    };
                    let tree = lang.parse(body).expect("parses");
                    assert!(
                        !parsed || !has_syntax_error(&tree),
                        "{path}: the input parsed, casehard's output does not:\n--- input\n{text}\n--- output\n{body}"
                    );
                }
            }
            Err(Error::NoConvergence { rules, .. }) => {
                panic!("rules keep rewriting {place}: {rules:?}\n{text}")
            }
            Err(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the run of `text` in `PROJECTS[project]` (as a route handler) changed, and the rules
    /// it found something for.
    fn outcome_in(project: usize, place: &str, text: &str) -> engine::Outcome {
        let catalog = Catalog::load(&[]).unwrap();
        let ws = project_with(project, place, text);
        engine::run(ws, &catalog, &Config::default(), &Options::default()).unwrap()
    }

    fn run_in(project: usize, text: &str) -> (Vec<String>, Vec<String>) {
        let outcome = outcome_in(project, PLACES[0], text);
        let rules = outcome.findings.iter().map(|f| f.rule.clone()).collect();
        (outcome.before.keys().cloned().collect(), rules)
    }

    #[test]
    fn each_stack_reaches_the_passes_it_is_there_for() {
        // node-postgres: the pasted value is parameterized and the migration's table gets RLS.
        let (changed, rules) = run_in(
            1,
            "import { Pool } from \"pg\";\nexport const pool = new Pool();\nexport async function GET(req: Request) {\n  const email = new URL(req.url).searchParams.get(\"email\");\n  return Response.json((await pool.query(`SELECT * FROM users WHERE email = '${email}'`)).rows);\n}\n",
        );
        assert!(
            rules.iter().any(|r| r == "sql/interpolated-query"),
            "{rules:?}"
        );
        assert!(changed.iter().any(|p| p.ends_with(".sql")), "{changed:?}");
        // Drizzle: the tables the text defines get a migration.
        let (changed, _) = run_in(
            2,
            "import { pgTable, serial, text } from \"drizzle-orm/pg-core\";\nexport const posts = pgTable(\"post\", {\n  id: serial(\"id\").primaryKey(),\n  createdById: text(\"created_by_id\").notNull(),\n});\n",
        );
        assert!(changed.iter().any(|p| p.ends_with(".sql")), "{changed:?}");
        // In that project the component is a Pages Router page, which gets a data function.
        let page = "export default function Debug() {\n  return null;\n}\n";
        let outcome = outcome_in(PAGES_PROJECT, PAGES_PLACES[1], page);
        let body = outcome.workspace.text(PAGES_PLACES[1]).unwrap().body;
        assert!(
            body.contains("export async function getStaticProps()"),
            "{body}"
        );
        // Supabase: its migration's table gets RLS in a Supabase migration.
        let (changed, _) = run_in(3, "export const x = 1;\n");
        assert!(
            changed
                .iter()
                .any(|p| p.starts_with("supabase/migrations/")),
            "{changed:?}"
        );
        // Without a package.json none of it happens.
        let (changed, rules) = run_in(
            0,
            "import { Pool } from \"pg\";\nconst pool = new Pool();\npool.query(`SELECT * FROM users WHERE email = '${email}'`);\n",
        );
        assert!(
            !rules.iter().any(|r| r == "sql/interpolated-query"),
            "{rules:?}"
        );
        assert!(!changed.iter().any(|p| p.ends_with(".sql")), "{changed:?}");
    }
}
