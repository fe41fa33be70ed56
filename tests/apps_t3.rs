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

/// Compiles the webhook route and runs SCRIPT.
fn run_webhook(dir: &Path) -> Vec<String> {
    compile_cjs(dir, &["src/pages/api/webhooks/stripe.ts"], false);
    run_node(dir, SCRIPT, &[], &[])
}

fn read(dir: &Path, path: &str) -> String {
    std::fs::read_to_string(dir.join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn the_hardened_t3_app_type_checks_applies_its_policies_and_refuses_forged_webhooks() {
    let (original, hardened) = generated_and_hardened(APP);

    // Installs from the pinned manifest (`npm install`: casehard added otpauth to the manifest,
    // which the lockfile records only then); pg drives the test's stand-in for Prisma below.
    npm_install(hardened.path(), &[]);
    let (ok, log) = run_program(
        hardened.path(),
        "npm",
        &[
            "install",
            "--no-save",
            "--ignore-scripts",
            "--no-audit",
            "--no-fund",
            "pg@8.13.1",
        ],
    );
    assert!(ok, "{log}");
    prisma_generate_offline(hardened.path());
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
            "20241201000002_casehard_mfa",
            "20241201000003_casehard_webhook_events"
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

    // The admin procedures, called through tRPC with the app's own context, before and after.
    assert!(ours.iter().any(|m| m.contains("casehard_mfa_sessions")));
    db.sql(
        "insert into \"User\" (id, email, role) values ('alice', 'alice@example.com', 'admin'), \
         ('bob', 'bob@example.com', 'admin'), ('carol', 'carol@example.com', 'user'), ('dave', 'dave@example.com', 'user');",
    )
    .unwrap();
    let before = run_procedures(original.path(), &db.url(), false);
    assert_eq!(
        before,
        ["alice admin.users ok", "alice admin.setRole ok dave=admin"],
        "the generated app: a signed-in admin changes roles alone"
    );
    db.sql("update \"User\" set role = 'user' where id = 'dave'")
        .unwrap();
    let after = run_procedures(hardened.path(), &db.url(), true);
    assert_eq!(
        after,
        [
            "alice admin.users FORBIDDEN mfa_required",
            "alice enroll 200",
            "alice verify-wrong 401",
            "alice verify 200 cookie",
            "alice admin.users ok",
            "alice admin.setRole PRECONDITION_FAILED pending_approval dave=user",
            "alice admin.setRole FORBIDDEN approval_invalid dave=user",
            "bob admin.users FORBIDDEN mfa_required",
            "bob verify 200 cookie",
            "bob admin.setRole FORBIDDEN approval_invalid dave=user",
            "bob admin.setRole ok dave=admin",
            "bob admin.setRole FORBIDDEN approval_invalid dave=admin",
            "alice admin.users ok",
            "alice admin.adjustCredits FORBIDDEN step_up_required",
            "alice admin.users FORBIDDEN mfa_required",
            "carol admin.users FORBIDDEN FORBIDDEN",
            "audit alice mutation admin.setRole pending approval",
            "audit alice mutation admin.setRole denied: approval not valid",
            "audit bob mutation admin.setRole denied: approval not valid",
            "audit bob mutation admin.setRole ok",
            "audit bob mutation admin.setRole denied: approval not valid",
            "audit alice mutation admin.adjustCredits denied: fresh mfa required",
        ],
        "the hardened app"
    );
}

/// Stand-ins for the modules that need Prisma's engine or a NextAuth sign-in: the session is
/// the user named in `x-test-user` (role from the database), the Prisma client answers the
/// calls the admin router and casehard's helpers make, through node-postgres.
const STUBS: &[(&str, &str)] = &[
    (
        "db.js",
        r#"
const { Pool } = require("pg");
const pool = new Pool({ connectionString: process.env.DATABASE_URL });
const db = {
  pool,
  $queryRawUnsafe: async (text, ...params) => (await pool.query(text, params)).rows,
  user: {
    findMany: async () => (await pool.query('select id, email, role, credits from "User" order by id')).rows,
    update: async ({ where, data }) => {
      if (data.role) await pool.query('update "User" set role = $1 where id = $2', [data.role, where.id]);
      if (data.credits) await pool.query('update "User" set credits = credits + $1 where id = $2', [data.credits.increment, where.id]);
      return (await pool.query('select * from "User" where id = $1', [where.id])).rows[0];
    },
  },
};
module.exports = { db };
"#,
    ),
    (
        "auth.js",
        r#"
const { db } = require("./db.js");
module.exports.getServerAuthSession = async ({ req }) => {
  const id = req.headers["x-test-user"];
  const rows = (await db.pool.query('select id, role from "User" where id = $1', [id])).rows;
  return rows[0] ? { user: { id: rows[0].id, role: rows[0].role }, expires: "2100-01-01" } : null;
};
module.exports.authOptions = {};
"#,
    ),
    (
        "casehard-rls.js",
        "const { db } = require(\"./db.js\");\nmodule.exports.dbFor = () => db;\n",
    ),
];

/// Calls the admin procedures as alice, bob and carol (the app's own `createTRPCContext` and
/// router), and, when `hardened`, the enrolment and verification routes; prints one line per
/// call: `<user> <procedure> ok|<code> <message> [dave=<role>]`.
const PROCEDURES: &str = r#"
const Module = require("module");
const path = require("path");
const out = path.resolve("out");
// The app's modules, however they are imported (alias or relative path), become the stubs.
const stubs = { "server/db.js": "db.js", "server/auth.js": "auth.js", "server/casehard-rls.js": "casehard-rls.js" };
const resolve = Module._resolveFilename;
Module._resolveFilename = function (request, ...rest) {
  if (request.startsWith("~/")) request = path.join(out, "src", request.slice(2));
  const found = resolve.call(this, request, ...rest);
  const inApp = path.relative(path.join(out, "src"), found);
  return stubs[inApp] ? path.join(out, "stubs", stubs[inApp]) : found;
};
const hardened = process.argv[2] === "after";
const { appRouter } = require(path.join(out, "src/server/api/root.js"));
const { createTRPCContext } = require(path.join(out, "src/server/api/trpc.js"));
const { db } = require(path.join(out, "stubs/db.js"));
const realNow = Date.now;
let skew = 0;
Date.now = () => realNow() + skew;
const cookies = {};
const request = (user, headers = {}) => ({
  method: "POST",
  headers: { "x-test-user": user, ...(cookies[user] ? { cookie: cookies[user] } : {}), ...headers },
  cookies: {},
  query: {},
});
const dave = async () => "dave=" + (await db.pool.query(`select role from "User" where id = 'dave'`)).rows[0].role;
async function call(user, name, input, headers, show) {
  const req = request(user, headers);
  const ctx = await createTRPCContext({ req, res: {}, info: {} });
  const caller = appRouter.createCaller(ctx);
  const [router, proc] = name.split(".");
  let line;
  try {
    await caller[router][proc](input);
    line = `${user} ${name} ok`;
  } catch (e) {
    line = `${user} ${name} ${e.code} ${String(e.message).split(" ")[0]}`;
    if (e.message && e.message.startsWith("pending_approval")) call.pending = e.message.split(" ")[1];
  }
  console.log(show ? `${line} ${await dave()}` : line);
}
async function route(user, name, body) {
  const handler = require(path.join(out, `src/pages/api/mfa/${name}.js`)).default;
  const res = {
    statusCode: 200, headers: {}, body: null,
    status(code) { this.statusCode = code; return this; },
    json(body) { this.body = body; return this; },
    setHeader(key, value) { this.headers[key.toLowerCase()] = value; },
  };
  await handler({ ...request(user), body }, res);
  const cookie = res.headers["set-cookie"];
  if (cookie) cookies[user] = cookie.split(";")[0];
  return res;
}
async function enrolled(user) {
  const OTPAuth = require("otpauth");
  const res = await route(user, "enroll", {});
  return { res, totp: new OTPAuth.TOTP({ secret: OTPAuth.Secret.fromBase32(res.body.secret) }) };
}
(async () => {
  if (!hardened) {
    await call("alice", "admin.users");
    await call("alice", "admin.setRole", { userId: "dave", role: "admin" }, {}, true);
    await db.pool.end();
    return;
  }
  await call("alice", "admin.users");
  const alice = await enrolled("alice");
  console.log("alice enroll", alice.res.statusCode);
  console.log("alice verify-wrong", (await route("alice", "verify", { code: "000000" })).statusCode);
  const verified = await route("alice", "verify", { code: alice.totp.generate() });
  console.log("alice verify", verified.statusCode, cookies.alice ? "cookie" : "no-cookie");
  await call("alice", "admin.users");
  const promote = { userId: "dave", role: "admin" };
  await call("alice", "admin.setRole", promote, {}, true);
  const id = call.pending;
  await call("alice", "admin.setRole", promote, { "x-casehard-approval": id }, true);
  // Alice's cookie in bob's request: the verification belongs to alice.
  await call("bob", "admin.users", undefined, { cookie: cookies.alice });
  const bob = await enrolled("bob");
  const bobVerified = await route("bob", "verify", { code: bob.totp.generate() });
  console.log("bob verify", bobVerified.statusCode, cookies.bob ? "cookie" : "no-cookie");
  await call("bob", "admin.setRole", { userId: "dave", role: "user" }, { "x-casehard-approval": id }, true);
  await call("bob", "admin.setRole", promote, { "x-casehard-approval": id }, true);
  await call("bob", "admin.setRole", promote, { "x-casehard-approval": id }, true);
  // Eleven minutes on: the verification still opens the plane, not a credit adjustment.
  skew = 11 * 60 * 1000;
  await call("alice", "admin.users");
  await call("alice", "admin.adjustCredits", { userId: "carol", amount: 500 });
  // Thirty-one minutes on: it is over.
  skew = 31 * 60 * 1000;
  await call("alice", "admin.users");
  skew = 0;
  await call("carol", "admin.users");
  const audit = await db.pool.query("select actor, action, result from casehard_audit_log where action like 'mutation %' order by id");
  for (const r of audit.rows) console.log("audit", r.actor, r.action, r.result);
  await db.pool.end();
})().catch((e) => { console.error(e); process.exit(1); });
"#;

/// Compiles the app's router and (hardened) the MFA routes to CommonJS and runs PROCEDURES.
fn run_procedures(dir: &Path, database_url: &str, hardened: bool) -> Vec<String> {
    let mut files = vec!["src/server/api/root.ts"];
    if hardened {
        files.extend(["src/pages/api/mfa/enroll.ts", "src/pages/api/mfa/verify.ts"]);
    }
    compile_cjs(dir, &files, false);
    std::fs::create_dir_all(dir.join("out/stubs")).unwrap();
    for (name, code) in STUBS {
        std::fs::write(dir.join("out/stubs").join(name), code).unwrap();
    }
    let env = [
        ("DATABASE_URL", database_url),
        (
            "MFA_ENCRYPTION_KEY",
            "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
        ),
    ];
    run_node(
        dir,
        PROCEDURES,
        &[if hardened { "after" } else { "before" }],
        &env,
    )
}
