//! The demo app under Node. The hardened copy installs from its pinned manifest and lockfile,
//! type-checks with its own TypeScript wherever the generated one did, its debug route and debug
//! page answer only in development, and its Stripe webhook handler, run, rejects forged and replayed events
//! and processes a redelivered one once (on the real PostgreSQL). Needs npm, the npm registry
//! and PostgreSQL; `.ci/run` provides them, and a missing one fails these tests.

mod harness;

use harness::*;
use std::path::Path;

#[test]
fn the_hardened_demo_installs_and_type_checks() {
    let demo = manifest_dir().join("tests/fixtures/apps/nextjs-supabase-stripe");
    let generated = tempfile::tempdir().unwrap();
    copy_dir(&demo, generated.path());
    let hardened = tempfile::tempdir().unwrap();
    copy_dir(&demo, hardened.path());
    let fix = casehard(hardened.path(), &["fix", ".", "--allow-no-vcs"]);
    assert_eq!(fix.code, 1, "manual findings stay open:\n{}", fix.stderr);

    // Installs from what casehard left: pinned package.json, lockfile in step.
    let (ok, log) = run_program(hardened.path(), "npm", &["ci", "--ignore-scripts"]);
    assert!(ok, "npm ci refused the hardened app:\n{log}");

    // The generated app type-checks (with the same packages), and so does the hardened one.
    std::os::unix::fs::symlink(
        hardened.path().join("node_modules"),
        generated.path().join("node_modules"),
    )
    .unwrap();
    let tsc = |dir: &Path| {
        run_program(
            dir,
            "node",
            &["node_modules/typescript/bin/tsc", "--noEmit", "-p", "."],
        )
    };
    let (ok, log) = tsc(generated.path());
    assert!(
        ok,
        "the generated demo should type-check before casehard:\n{log}"
    );
    let (ok, log) = tsc(hardened.path());
    assert!(ok, "the hardened demo no longer type-checks:\n{log}");

    // The debug route the generator left in answers everywhere before, in development only after.
    let debug = |dir: &Path| {
        compile_cjs(dir, &["src/app/api/debug/route.ts"], false);
        run_node(dir, &format!("{ALIASES}{DEBUG}"), &[], &[])
    };
    assert_eq!(
        debug(generated.path()),
        ["unset 200", "production 200", "development 200"]
    );
    assert_eq!(
        debug(hardened.path()),
        ["unset 404", "production 404", "development 200"]
    );

    // So does the debug page, rendered as the App Router renders a server component: called.
    let page = |dir: &Path| {
        compile_cjs(dir, &["src/app/debug/page.tsx"], false);
        run_node(dir, &format!("{ALIASES}{DEBUG_PAGE}"), &[], &[])
    };
    assert_eq!(
        page(generated.path()),
        [
            "unset shows sk_live_x",
            "production shows sk_live_x",
            "development shows sk_live_x"
        ]
    );
    assert_eq!(
        page(hardened.path()),
        ["unset 404", "production 404", "development shows sk_live_x"]
    );
}

/// Renders the compiled debug page with NODE_ENV unset, `production` and `development`: what
/// it shows of the Stripe key, or 404 where it calls Next's `notFound()`.
const DEBUG_PAGE: &str = r#"
const { renderToStaticMarkup } = require("react-dom/server");
const Page = require(path.join(out, "src/app/debug/page.js")).default;
process.env.STRIPE_SECRET_KEY = "sk_live_x";
for (const env of [undefined, "production", "development"]) {
  if (env === undefined) delete process.env.NODE_ENV; else process.env.NODE_ENV = env;
  try {
    const html = renderToStaticMarkup(Page());
    console.log((env || "unset") + (html.includes("sk_live_x") ? " shows sk_live_x" : " hides it"));
  } catch (e) {
    if (e && e.digest === "NEXT_NOT_FOUND") console.log((env || "unset") + " 404");
    else throw e;
  }
}
"#;

/// Calls the compiled debug route's `GET` with NODE_ENV unset, `production` and `development`.
const DEBUG: &str = r#"
const { GET } = require(path.join(out, "src/app/api/debug/route.js"));
(async () => {
  for (const env of [undefined, "production", "development"]) {
    if (env === undefined) delete process.env.NODE_ENV; else process.env.NODE_ENV = env;
    console.log((env || "unset") + " " + (await GET()).status);
  }
})().catch((e) => { console.error(e); process.exit(1); });
"#;

/// Resolves the app's `@/` imports to the compiled `out/src`.
const ALIASES: &str = r#"
const Module = require("module");
const path = require("path");
const out = path.resolve("out");
const resolve = Module._resolveFilename;
Module._resolveFilename = function (request, ...rest) {
  if (request.startsWith("@/")) request = path.join(out, "src", request.slice(2));
  return resolve.call(this, request, ...rest);
};
"#;

/// Compiles the demo's Stripe webhook route with the app's own TypeScript into CommonJS and
/// runs it under Node with crafted requests; prints one status per line.
fn run_webhook(app: &Path, node_modules: &Path, database_url: Option<&str>) -> Vec<String> {
    if !app.join("node_modules").exists() {
        std::os::unix::fs::symlink(node_modules, app.join("node_modules")).unwrap();
    }
    let mut files = vec![
        "src/app/api/webhooks/stripe/route.ts",
        "src/db/index.ts",
        "src/db/schema.ts",
    ];
    if app.join("src/lib/casehard/stripe-webhook.ts").exists() {
        files.push("src/lib/casehard/stripe-webhook.ts");
    }
    compile_cjs(app, &files, false);
    let script = ALIASES.to_string()
        + r#"
const Stripe = require("stripe");
const { POST } = require(path.join(out, "src/app/api/webhooks/stripe/route.js"));
const secret = "whsec_casehard_test";
// An event whose handling touches no database.
const payload = JSON.stringify({ id: "evt_1", object: "event", type: "customer.subscription.deleted", data: { object: {} } });
const signed = (timestamp) => Stripe.webhooks.generateTestHeaderString({ payload, secret, timestamp });
const request = (signature) => new Request("http://localhost/api/webhooks/stripe", {
  method: "POST", body: payload, headers: signature ? { "stripe-signature": signature } : {},
});
(async () => {
  const now = Math.floor(Date.now() / 1000);
  process.env.STRIPE_WEBHOOK_SECRET = secret;
  const forged = Stripe.webhooks.generateTestHeaderString({ payload, secret: "whsec_attacker" });
  console.log("forged", (await POST(request(forged))).status);
  console.log("unsigned", (await POST(request(null))).status);
  console.log("genuine", (await POST(request(signed(now)))).status);
  console.log("replayed", (await POST(request(signed(now - 600)))).status);
  const again = await POST(request(signed(now)));
  const body = await again.json();
  console.log("again", again.status + (body.duplicate ? "-duplicate" : "-processed"));
  delete process.env.STRIPE_WEBHOOK_SECRET;
  console.log("no-secret", (await POST(request(signed(now)))).status);
  process.exit(0); // the database client keeps its pool open
})().catch((e) => { console.error(e); process.exit(1); });
"#;
    std::fs::write(app.join("run-webhook.cjs"), script).unwrap();
    let mut node = std::process::Command::new("node");
    node.arg("run-webhook.cjs").current_dir(app);
    if let Some(url) = database_url {
        node.env("DATABASE_URL", url);
    }
    let out = node.output().expect("node runs");
    let (ok, log) = (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    );
    assert!(ok, "running the webhook route failed:\n{log}");
    log.lines()
        .filter(|l| l.split(' ').count() == 2)
        .map(str::to_string)
        .collect()
}

#[test]
fn the_hardened_webhook_rejects_forged_and_replayed_events_when_run() {
    let demo = manifest_dir().join("tests/fixtures/apps/nextjs-supabase-stripe");
    let hardened = tempfile::tempdir().unwrap();
    copy_dir(&demo, hardened.path());
    casehard(hardened.path(), &["fix", ".", "--allow-no-vcs"]);
    let (ok, log) = run_program(hardened.path(), "npm", &["ci", "--ignore-scripts"]);
    assert!(ok, "npm ci:\n{log}");
    let modules = hardened.path().join("node_modules");

    // Control: the generated handler takes a forged event as genuine.
    let generated = tempfile::tempdir().unwrap();
    copy_dir(&demo, generated.path());
    let before = run_webhook(generated.path(), &modules, None);
    assert!(
        before.contains(&"forged 200".to_string()),
        "control: the generated handler should accept a forged event: {before:?}"
    );
    assert!(
        before.contains(&"again 200-processed".to_string()),
        "control: the generated handler processes a redelivery again: {before:?}"
    );

    // The hardened app's database: Supabase's auth schema (test shim), then its migrations,
    // casehard's included, on the real PostgreSQL.
    let db = format!("casehard_webhook_{}", std::process::id());
    let psql = |database: &str, sql: &str| {
        psql(database, sql, true).unwrap_or_else(|e| panic!("psql: {e}"))
    };
    psql("postgres", &format!("drop database if exists {db}"));
    psql("postgres", &format!("create database {db}"));
    psql(
        &db,
        &std::fs::read_to_string(manifest_dir().join("tests/fixtures/rls/supabase_shim.sql"))
            .unwrap(),
    );
    let mut migrations: Vec<_> = std::fs::read_dir(hardened.path().join("supabase/migrations"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    migrations.sort();
    assert!(migrations
        .iter()
        .any(|m| m.to_string_lossy().contains("_casehard_webhook_events")));
    for m in &migrations {
        psql(&db, &std::fs::read_to_string(m).unwrap());
    }

    let after = run_webhook(
        hardened.path(),
        &modules,
        Some(&format!("postgres://postgres@127.0.0.1:5432/{db}")),
    );
    let recorded = psql(&db, "select count(*) from processed_webhook_events");
    psql(
        "postgres",
        &format!("drop database if exists {db} with (force)"),
    );
    assert_eq!(
        after,
        vec![
            "forged 400",
            "unsigned 400",
            "genuine 200",
            "replayed 400",
            "again 200-duplicate",
            "no-secret 500"
        ],
        "the hardened handler verifies, bounds replays, processes each event once and fails closed"
    );
    assert_eq!(recorded.trim(), "1", "one event id recorded");
}
