//! The T3-style demo app (Next.js Pages Router + Prisma + NextAuth + tRPC + Stripe) end to
//! end: hardened with the whole catalog (a second run changes nothing), installed from the
//! registry, Prisma's client types generated offline, both copies type-checked with the app's
//! own `tsc`; the RLS migration applied on the real PostgreSQL after the app's own and used as
//! two users; the Stripe webhook route compiled and run under Node. Prisma's query engine is
//! downloaded from a host this machine does not reach, so the route is driven only with
//! events it must refuse before any query. Needs npm, the registry and PostgreSQL.

mod harness;

use harness::*;
use std::path::Path;

const APP: &str = "tests/fixtures/apps/t3-prisma-nextauth-trpc";

/// Calls the compiled Pages Router webhook route the way Next.js does (a JSON body parsed
/// unless the route's `config` turns the parser off; `res.status().json()`), with events that
/// need no database: prints `<step> <status>`.
const SCRIPT: &str = r#"
const http = require("http");
const Module = require("module");
const path = require("path");
const out = path.resolve("out");
const resolve = Module._resolveFilename;
Module._resolveFilename = function (request, ...rest) {
  if (request.startsWith("~/")) request = path.join(out, "src", request.slice(2));
  return resolve.call(this, request, ...rest);
};
// The Prisma client loads its engine in the background; it is absent here (see above), and
// no request below reaches a query.
process.on("unhandledRejection", (e) => {
  if (e && e.name === "PrismaClientInitializationError") return;
  console.error(e);
  process.exit(1);
});
const Stripe = require("stripe");
const route = require(path.join(out, "src/pages/api/webhooks/stripe.js"));
const parse = !(route.config && route.config.api && route.config.api.bodyParser === false);
const server = http.createServer(async (req, res) => {
  res.status = (code) => { res.statusCode = code; return res; };
  res.json = (body) => { res.setHeader("content-type", "application/json"); res.end(JSON.stringify(body)); };
  if (parse) {
    const chunks = [];
    for await (const c of req) chunks.push(c);
    req.body = JSON.parse(Buffer.concat(chunks).toString("utf8"));
  }
  try { await route.default(req, res); } catch (e) { res.statusCode = 500; res.end(String(e)); }
});
const secret = "whsec_casehard_test";
// An event whose handling touches no database.
const payload = JSON.stringify({ id: "evt_1", object: "event", type: "customer.subscription.deleted", data: { object: {} } });
(async () => {
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  const url = `http://127.0.0.1:${server.address().port}/api/webhooks/stripe`;
  const send = async (signature) => {
    const headers = { "content-type": "application/json" };
    if (signature) headers["stripe-signature"] = signature;
    return (await fetch(url, { method: "POST", body: payload, headers })).status;
  };
  process.env.STRIPE_WEBHOOK_SECRET = secret;
  console.log("forged", await send(Stripe.webhooks.generateTestHeaderString({ payload, secret: "whsec_attacker" })));
  console.log("unsigned", await send(null));
  const stale = Math.floor(Date.now() / 1000) - 600;
  console.log("stale", await send(Stripe.webhooks.generateTestHeaderString({ payload, secret, timestamp: stale })));
  delete process.env.STRIPE_WEBHOOK_SECRET;
  console.log("no-secret", await send(Stripe.webhooks.generateTestHeaderString({ payload, secret })));
  server.close();
  process.exit(0);
})().catch((e) => { console.error(e); process.exit(1); });
"#;

/// Compiles the webhook route (and what it imports) to CommonJS in `out/` and runs SCRIPT.
fn run_webhook(dir: &Path) -> Vec<String> {
    let config = serde_json::json!({
        "extends": "./tsconfig.json",
        "compilerOptions": {
            "noEmit": false, "outDir": "out", "rootDir": ".", "module": "commonjs",
            "moduleResolution": "node", "incremental": false, "allowJs": false, "checkJs": false
        },
        "include": [],
        "files": ["src/pages/api/webhooks/stripe.ts"],
    });
    std::fs::write(dir.join("tsconfig.run.json"), config.to_string()).unwrap();
    let (ok, log) = run_program(
        dir,
        "node",
        &["node_modules/typescript/bin/tsc", "-p", "tsconfig.run.json"],
    );
    assert!(ok, "compiling the webhook route failed:\n{log}");
    // The app is an ES module package; its compiled copy is CommonJS.
    std::fs::write(dir.join("out/package.json"), r#"{"type":"commonjs"}"#).unwrap();
    run_node(dir, SCRIPT, &[], &[])
}

/// `prisma generate` without the engines it would download: the client's types are all tsc
/// needs.
fn prisma_generate(dir: &Path) {
    let engine = dir.join("placeholder-engine.so.node");
    std::fs::write(&engine, b"").unwrap();
    let (ok, log) = run_program(
        dir,
        "env",
        &[
            &format!("PRISMA_QUERY_ENGINE_LIBRARY={}", engine.display()),
            &format!("PRISMA_SCHEMA_ENGINE_BINARY={}", engine.display()),
            "node",
            "node_modules/prisma/build/index.js",
            "generate",
        ],
    );
    assert!(ok, "prisma generate failed:\n{log}");
}

fn read(dir: &Path, path: &str) -> String {
    std::fs::read_to_string(dir.join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn the_hardened_t3_app_type_checks_applies_its_policies_and_refuses_forged_webhooks() {
    let app = manifest_dir().join(APP);
    let original = tempfile::tempdir().unwrap();
    copy_dir(&app, original.path());
    let hardened = tempfile::tempdir().unwrap();
    copy_dir(&app, hardened.path());
    let fix = casehard(hardened.path(), &["fix", ".", "--allow-no-vcs"]);
    assert_eq!(fix.code, 1, "manual findings stay open:\n{}", fix.stderr);
    let again = casehard(hardened.path(), &["diff", "."]);
    assert!(
        again.stdout.is_empty() && again.stderr.contains("0 file(s) changed"),
        "a second run changes nothing:\n{}{}",
        again.stdout,
        again.stderr
    );

    // Installs from the pinned manifest and the lockfile casehard kept in step.
    let (ok, log) = run_program(hardened.path(), "npm", &["ci", "--ignore-scripts"]);
    assert!(ok, "npm ci refused the hardened app:\n{log}");
    prisma_generate(hardened.path());
    std::os::unix::fs::symlink(
        hardened.path().join("node_modules"),
        original.path().join("node_modules"),
    )
    .unwrap();
    for (dir, what) in [
        (original.path(), "generated"),
        (hardened.path(), "hardened"),
    ] {
        let (ok, log) = run_program(
            dir,
            "node",
            &["node_modules/typescript/bin/tsc", "--noEmit", "-p", "."],
        );
        assert!(ok, "the {what} app does not type-check:\n{log}");
    }

    // The app's migration, then casehard's, as the role that owns the tables.
    let db = PlainDb::new("t3_app");
    let migrations = hardened.path().join("prisma/migrations");
    let mut ours: Vec<String> = std::fs::read_dir(&migrations)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("_casehard_"))
        .collect();
    ours.sort();
    assert_eq!(
        ours,
        [
            "20241201000001_casehard_rls",
            "20241201000002_casehard_webhook_events"
        ]
    );
    let ours: Vec<String> = ours
        .iter()
        .map(|m| read(&migrations, &format!("{m}/migration.sql")))
        .collect();
    db.apply(
        &[read(&migrations, "20241201000000_init/migration.sql")],
        &ours.join("\n"),
    );
    db.sql(
        "insert into \"User\" (id, email) values ('u1', 'a@example.com'), ('u2', 'b@example.com'); \
         insert into \"Post\" (name, \"updatedAt\", \"createdById\") values ('a', now(), 'u1'), ('b', now(), 'u2');",
    )
    .unwrap();
    let posts = "select * from \"Post\"";
    assert_eq!(db.count(Some("u1"), posts), 1, "u1 reads only its post");
    assert_eq!(db.count(None, posts), 0, "no user, no posts");
    let forged = db.as_app(
        Some("u1"),
        "insert into \"Post\" (name, \"updatedAt\", \"createdById\") values ('x', now(), 'u2')",
    );
    assert!(forged.is_err(), "u1 cannot write a post as u2");
    // The Auth.js adapter's tables stay readable before sign-in.
    assert_eq!(db.count(None, "select * from \"User\""), 2);

    // The webhook route: the generated one takes a forged event; the hardened one refuses it.
    let before = run_webhook(original.path());
    assert_eq!(
        before,
        ["forged 200", "unsigned 200", "stale 200", "no-secret 200"],
        "control: the generated route trusts any post"
    );
    let after = run_webhook(hardened.path());
    assert_eq!(
        after,
        ["forged 400", "unsigned 400", "stale 400", "no-secret 500"],
        "the hardened route"
    );
}
