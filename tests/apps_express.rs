//! The Express + Drizzle + passport demo app (Replit Agent style) end to end: hardened with the
//! whole catalog, installed from the npm registry, compiled with its own TypeScript and run
//! under Node against the real PostgreSQL with the app's migrations and casehard's applied.
//! Before: a password alone reaches the admin plane, one admin changes roles alone, forged
//! webhooks grant credits, a debug route answers. After: the admin plane needs a fresh TOTP
//! verification, a role change waits for a second admin, every action is an audit record,
//! forged webhooks are refused, the debug route is 404. Needs npm, the registry and
//! PostgreSQL (`.ci/run` provides them; a missing one fails the test).

mod harness;

use harness::*;
use std::path::Path;

const APP: &str = "tests/fixtures/apps/express-drizzle-passport";

/// Drives the compiled app with real HTTP requests: sign-in with passport sessions (cookies
/// kept per user), TOTP codes computed with otpauth, webhook events signed with Stripe's own
/// test helper. Prints `<step> <result>` per line; `before` runs the subset the generated app
/// has routes for.
const SCRIPT: &str = r#"
const path = require("path");
const Stripe = require("stripe");
const { app } = require(path.resolve("out/server/index.js"));
const { pool } = require(path.resolve("out/server/db.js"));
const hardened = process.argv[2] === "after";
let OTPAuth = null;
if (hardened) OTPAuth = require("otpauth");
const realNow = Date.now;
let skew = 0;
Date.now = () => realNow() + skew;

async function main() {
  // Deployed behind TLS: the session cookie is Secure.
  app.set("trust proxy", 1);
  const server = app.listen(0, "127.0.0.1");
  await new Promise((r) => server.once("listening", r));
  const base = `http://127.0.0.1:${server.address().port}`;
  const jar = {};
  const call = async (who, method, url, body, headers = {}) => {
    const h = { "x-forwarded-proto": "https", ...headers };
    if (jar[who]) h.cookie = jar[who];
    let payload;
    if (body !== undefined) { h["content-type"] = "application/json"; payload = typeof body === "string" ? body : JSON.stringify(body); }
    const res = await fetch(base + url, { method, headers: h, body: payload });
    const cookie = res.headers.get("set-cookie");
    if (cookie) jar[who] = cookie.split(";")[0];
    const text = await res.text();
    let json = null;
    try { json = JSON.parse(text); } catch {}
    return { status: res.status, json };
  };
  const say = (...parts) => console.log(parts.join(" "));
  const role = async (id) => (await pool.query("select role from users where id = $1", [id])).rows[0].role;
  const credits = async () => (await pool.query("select credits from users where id = 3")).rows[0].credits;
  const login = async (who) => (await call(who, "POST", "/api/login", { username: who, password: who + "-pw" })).status;

  say("login-alice", await login("alice"));
  // A debug route left in: it answers in development only once hardened (NODE_ENV is unset here).
  say("debug-session", (await call("alice", "GET", "/api/debug/session")).status);
  say("admin-list", (await call("alice", "GET", "/api/admin/users")).status);

  if (hardened) {
    const enrolled = await call("alice", "POST", "/mfa/enroll");
    say("enroll", enrolled.status);
    const totp = new OTPAuth.TOTP({ secret: OTPAuth.Secret.fromBase32(enrolled.json.secret) });
    const code = () => totp.generate({ timestamp: Date.now() });
    say("verify-wrong", (await call("alice", "POST", "/mfa/verify", { code: "000000" })).status);
    const first = code();
    say("verify", (await call("alice", "POST", "/mfa/verify", { code: first })).status);
    say("verify-replayed", (await call("alice", "POST", "/mfa/verify", { code: first })).status);
    say("admin-list-verified", (await call("alice", "GET", "/api/admin/users")).status);
    // Eleven minutes later: still inside the MFA session, but too old for a destructive action.
    skew = 11 * 60 * 1000;
    say("admin-list-later", (await call("alice", "GET", "/api/admin/users")).status);
    const stale = await call("alice", "DELETE", "/api/admin/notes/1");
    say("delete-stale", stale.status, stale.json && stale.json.error);
    say("verify-again", (await call("alice", "POST", "/mfa/verify", { code: code() })).status);
    say("delete-fresh", (await call("alice", "DELETE", "/api/admin/notes/1")).status);
    // Dual approval of dave's promotion: alice asks, nothing happens; alice cannot approve herself; bob can, once.
    const asked = await call("alice", "PATCH", "/api/admin/users/4/role", { role: "admin" });
    say("role-asked", asked.status, asked.json.status, await role(4));
    const approval = asked.json.approval;
    say("role-self-approved", (await call("alice", "PATCH", "/api/admin/users/4/role", { role: "admin" }, { "x-casehard-approval": approval })).status, await role(4));
    say("login-bob", await login("bob"));
    const bobEnrolled = await call("bob", "POST", "/mfa/enroll");
    const bobTotp = new OTPAuth.TOTP({ secret: OTPAuth.Secret.fromBase32(bobEnrolled.json.secret) });
    say("bob-verify", (await call("bob", "POST", "/mfa/verify", { code: bobTotp.generate({ timestamp: Date.now() }) })).status);
    say("role-other-body", (await call("bob", "PATCH", "/api/admin/users/4/role", { role: "owner" }, { "x-casehard-approval": approval })).status, await role(4));
    say("role-approved", (await call("bob", "PATCH", "/api/admin/users/4/role", { role: "admin" }, { "x-casehard-approval": approval })).status, await role(4));
    say("role-approval-reused", (await call("bob", "PATCH", "/api/admin/users/4/role", { role: "admin" }, { "x-casehard-approval": approval })).status);
    // Thirty-one minutes after bob's verification: the MFA session is over.
    skew += 31 * 60 * 1000;
    say("bob-list-expired", (await call("bob", "GET", "/api/admin/users")).status);
    skew = 0;
    // Carol is no admin: her attempt ends at the app's own check and records nothing.
    say("login-carol", await login("carol"));
    say("carol-admin", (await call("carol", "PATCH", "/api/admin/users/1/role", { role: "user" })).status);
    say("carol-checkout", (await call("carol", "POST", "/api/checkout")).status);
    say("carol-notes", (await call("carol", "GET", "/api/notes")).status);
    const audit = await pool.query("select coalesce(actor, '-') as actor, action, result from casehard_audit_log where action like 'PATCH %' or action like 'DELETE %' or result like 'denied: %mfa%' order by id");
    for (const r of audit.rows) say("audit", r.actor, r.action, JSON.stringify(r.result));
    const pending = await pool.query("select count(*)::int as n from casehard_approvals where status = 'pending'");
    say("approvals-pending", pending.rows[0].n);
  } else {
    say("role-change", (await call("alice", "PATCH", "/api/admin/users/4/role", { role: "admin" })).status, await role(4));
  }

  // Webhooks: credits for carol's customer id.
  const secret = process.env.STRIPE_WEBHOOK_SECRET;
  const event = (id) => JSON.stringify({ id, object: "event", type: "checkout.session.completed", data: { object: { customer: "cus_carol" } } });
  const send = async (body, key) => (await call("stripe", "POST", "/api/webhooks/stripe", body, { "stripe-signature": Stripe.webhooks.generateTestHeaderString({ payload: body, secret: key }) })).status;
  say("webhook-forged", await send(event("evt_forged"), "whsec_attacker"), await credits());
  say("webhook-genuine", await send(event("evt_1"), secret), await credits());
  say("webhook-redelivered", await send(event("evt_1"), secret), await credits());
  server.close();
  await pool.end();
}
main().catch((e) => { console.error(e); process.exit(1); });
"#;

fn run_app(dir: &Path, database_url: &str, phase: &str) -> Vec<String> {
    let env = [
        ("DATABASE_URL", database_url),
        ("SESSION_SECRET", "casehard-test-session-secret"),
        ("STRIPE_SECRET_KEY", "sk_test_casehard"),
        ("STRIPE_WEBHOOK_SECRET", "whsec_casehard_test"),
        (
            "MFA_ENCRYPTION_KEY",
            "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
        ),
    ];
    run_node(dir, SCRIPT, &[phase], &env)
}

const SEED: &str = "insert into users (username, password, role, stripe_customer_id) values \
    ('alice', 'alice-pw', 'admin', null), ('bob', 'bob-pw', 'admin', null), \
    ('carol', 'carol-pw', 'user', 'cus_carol'), ('dave', 'dave-pw', 'user', null); \
    insert into notes (user_id, title) values (3, 'carol''s note');";

fn migrations(dir: &Path, names: &[&str]) -> Vec<String> {
    names
        .iter()
        .map(|m| std::fs::read_to_string(dir.join("migrations").join(m)).unwrap())
        .collect()
}

#[test]
fn the_hardened_express_app_needs_totp_a_second_admin_and_signed_webhooks() {
    let (original, hardened) = generated_and_hardened(APP);
    let added = std::fs::read_to_string(hardened.path().join("package.json")).unwrap();
    assert!(added.contains("\"otpauth\": \"9.5.2\""), "{added}");

    // The hardened manifest installs (otpauth included); both copies compile with the app's
    // own TypeScript, strict.
    npm_install(hardened.path(), &[]);
    std::os::unix::fs::symlink(
        hardened.path().join("node_modules"),
        original.path().join("node_modules"),
    )
    .unwrap();
    tsc(original.path());
    tsc(hardened.path());

    let db = PlainDb::new("express_before");
    db.apply(
        &migrations(original.path(), &[]),
        &migrations(original.path(), &["0000_init.sql"])[0],
    );
    db.sql(SEED).unwrap();
    let before = run_app(original.path(), &db.url(), "before");
    eprintln!("before:\n{}", before.join("\n"));
    assert_eq!(
        before,
        [
            "login-alice 200",
            "debug-session 200",
            "admin-list 200",
            "role-change 200 admin",
            "webhook-forged 200 100",
            "webhook-genuine 200 200",
            "webhook-redelivered 200 300",
        ],
        "the generated app: a password reaches the admin plane, one admin changes roles, any post grants credits"
    );
    drop(db);

    // The app's migration, then casehard's three, in drizzle-kit's journal order.
    let journal =
        std::fs::read_to_string(hardened.path().join("migrations/meta/_journal.json")).unwrap();
    for tag in [
        "0000_init",
        "0001_casehard_rls",
        "0002_casehard_mfa",
        "0003_casehard_webhook_events",
    ] {
        assert!(journal.contains(tag), "{tag} in the journal:\n{journal}");
    }
    let db = PlainDb::new("express_after");
    let ours = migrations(
        hardened.path(),
        &[
            "0001_casehard_rls.sql",
            "0002_casehard_mfa.sql",
            "0003_casehard_webhook_events.sql",
        ],
    )
    .join("\n");
    db.apply(&migrations(hardened.path(), &["0000_init.sql"]), &ours);
    db.sql(SEED).unwrap();
    let after = run_app(hardened.path(), &db.url(), "after");
    eprintln!("after:\n{}", after.join("\n"));
    assert_eq!(
        after,
        [
            "login-alice 200",
            "debug-session 404",
            "admin-list 403",
            "enroll 200",
            "verify-wrong 401",
            "verify 200",
            "verify-replayed 401",
            "admin-list-verified 200",
            "admin-list-later 200",
            "delete-stale 403 step_up_required",
            "verify-again 200",
            "delete-fresh 204",
            "role-asked 202 pending_approval user",
            "role-self-approved 403 user",
            "login-bob 200",
            "bob-verify 200",
            "role-other-body 403 user",
            "role-approved 200 admin",
            "role-approval-reused 403",
            "bob-list-expired 403",
            "login-carol 200",
            "carol-admin 403",
            "carol-checkout 403",
            "carol-notes 200",
            "audit 1 GET /api/admin/users \"denied: mfa required\"",
            "audit 1 DELETE /api/admin/notes/1 \"denied: fresh mfa required\"",
            "audit 1 DELETE /api/admin/notes/1 \"204\"",
            "audit 1 PATCH /api/admin/users/4/role \"pending approval\"",
            "audit 1 PATCH /api/admin/users/4/role \"denied: approval not valid\"",
            "audit 2 PATCH /api/admin/users/4/role \"denied: approval not valid\"",
            "audit 2 PATCH /api/admin/users/4/role \"200\"",
            "audit 2 PATCH /api/admin/users/4/role \"denied: approval not valid\"",
            "audit 2 GET /api/admin/users \"denied: mfa required\"",
            "audit 3 POST /api/checkout \"denied: mfa required\"",
            "approvals-pending 0",
            "webhook-forged 400 0",
            "webhook-genuine 200 100",
            "webhook-redelivered 200 100",
        ],
        "the hardened app"
    );
}
