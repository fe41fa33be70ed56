//! Stripe webhook handlers in Express and in the Next.js Pages Router, run under Node before
//! and after casehard, against the real PostgreSQL (the handlers grant credits through the
//! app's `pg` pool; the idempotency guard records event ids through it too). Events are signed
//! with the Stripe SDK's own test-header helper. Needs npm, the npm registry and PostgreSQL;
//! `.ci/run` provides them, and a missing one fails the test.

mod harness;

use harness::*;
use std::path::Path;

const FIXTURE: &str = "tests/fixtures/webhooks/node-pg";
const RULES: &str = "webhook/stripe-signature,webhook/idempotency";

/// Sends the same sequence of requests to `kind` (express or pages) of the compiled app in
/// `dir`; prints `<step> <status> <credit grants so far>` per line.
const SCRIPT: &str = r#"
const http = require("http");
const path = require("path");
const Stripe = require("stripe");
const { pool } = require(path.resolve("out/src/db.js"));
const kind = process.argv[2];
const secret = "whsec_casehard_test";

function pagesServer() {
  const route = require(path.resolve("out/pages/api/webhooks/stripe.js"));
  const parse = !(route.config && route.config.api && route.config.api.bodyParser === false);
  // What Next.js does for an API route: parse a JSON body unless the route turned it off, and
  // add res.status() and res.json().
  return http.createServer(async (req, res) => {
    res.status = (code) => { res.statusCode = code; return res; };
    res.json = (body) => { res.setHeader("content-type", "application/json"); res.end(JSON.stringify(body)); };
    if (parse) {
      const chunks = [];
      for await (const c of req) chunks.push(c);
      req.body = JSON.parse(Buffer.concat(chunks).toString("utf8"));
    }
    await route.default(req, res);
  });
}

function expressServer() {
  return http.createServer(require(path.resolve("out/src/server.js")).app);
}

async function main() {
  const server = kind === "pages" ? pagesServer() : expressServer();
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  const url = `http://127.0.0.1:${server.address().port}/api/webhooks/stripe`;
  const payload = (id) => JSON.stringify({ id, object: "event", type: "checkout.session.completed", data: { object: { customer: "cus_" + id } } });
  const send = async (body, header) => {
    const headers = { "content-type": "application/json" };
    if (header) headers["stripe-signature"] = header;
    return (await fetch(url, { method: "POST", body, headers })).status;
  };
  const grants = async () => (await pool.query("select count(*)::int as n from credit_grants")).rows[0].n;
  const now = Math.floor(Date.now() / 1000);
  const step = async (name, status) => console.log(name, status, await grants());
  process.env.STRIPE_WEBHOOK_SECRET = secret;
  const forged = payload("evt_forged");
  await step("forged", await send(forged, Stripe.webhooks.generateTestHeaderString({ payload: forged, secret: "whsec_attacker" })));
  await step("unsigned", await send(payload("evt_unsigned"), null));
  const genuine = payload("evt_genuine");
  await step("genuine", await send(genuine, Stripe.webhooks.generateTestHeaderString({ payload: genuine, secret, timestamp: now })));
  await step("redelivered", await send(genuine, Stripe.webhooks.generateTestHeaderString({ payload: genuine, secret, timestamp: now + 1 })));
  const old = payload("evt_old");
  await step("stale", await send(old, Stripe.webhooks.generateTestHeaderString({ payload: old, secret, timestamp: now - 600 })));
  delete process.env.STRIPE_WEBHOOK_SECRET;
  const unset = payload("evt_unset");
  await step("no-secret", await send(unset, Stripe.webhooks.generateTestHeaderString({ payload: unset, secret, timestamp: now })));
  server.close();
  await pool.end();
}
main().catch((e) => { console.error(e); process.exit(1); });
"#;

/// The app in `dir` (already installed or linked), compiled and run as `kind` against a fresh
/// database with `migrations` applied as the app's role.
fn run_app(dir: &Path, kind: &str, migrations: &[&str]) -> Vec<String> {
    tsc(dir);
    let db = PlainDb::new(&format!("webhook_{kind}"));
    let sql: Vec<String> = migrations
        .iter()
        .map(|m| std::fs::read_to_string(dir.join(m)).unwrap())
        .collect();
    let (own, last) = sql.split_at(sql.len() - 1);
    db.apply(own, &last[0]);
    run_node(dir, SCRIPT, &[kind], &[("DATABASE_URL", &db.url())])
}

#[test]
fn express_and_pages_handlers_verify_fail_closed_and_process_each_event_once() {
    let (original, hardened) = before_and_after(FIXTURE, RULES, &[]);

    for kind in ["express", "pages"] {
        let before = run_app(original.path(), kind, &["migrations/001_init.sql"]);
        assert_eq!(
            before,
            [
                "forged 200 1",
                "unsigned 200 2",
                "genuine 200 3",
                "redelivered 200 4",
                "stale 200 5",
                "no-secret 200 6",
            ],
            "{kind}: the generated handler grants credits for anything posted to it"
        );
        let after = run_app(
            hardened.path(),
            kind,
            &["migrations/001_init.sql", "db/casehard_webhook_events.sql"],
        );
        assert_eq!(
            after,
            [
                "forged 400 0",
                "unsigned 400 0",
                "genuine 200 1",
                "redelivered 200 1",
                "stale 400 1",
                "no-secret 500 1",
            ],
            "{kind}: the hardened handler"
        );
    }
}

/// Calls the compiled route in `dir` with requests signed by hand (HMAC-SHA256 over
/// `<timestamp>.<payload>`, as the app expects); prints `<step> <status> <orders fulfilled>`.
const HMAC_SCRIPT: &str = r#"
const path = require("path");
const { createHmac } = require("crypto");
const { POST, fulfilled } = require(path.resolve("out/app/api/webhooks/lemon/route.js"));
const secret = "lemon_casehard_test";
const sign = (payload, ts, key) => createHmac("sha256", key).update(`${ts}.${payload}`).digest("hex");
const post = (payload, ts, signature) => POST(new Request("http://localhost/api/webhooks/lemon", {
  method: "POST", body: payload, headers: { "x-signature": signature, "x-timestamp": String(ts) },
}));
(async () => {
  const now = Math.floor(Date.now() / 1000);
  const order = (id) => JSON.stringify({ id, status: "paid" });
  const step = async (name, res) => console.log(name, res.status, fulfilled.length);
  process.env.LEMON_WEBHOOK_SECRET = secret;
  await step("forged", await post(order("o1"), now, sign(order("o1"), now, "attacker")));
  await step("truncated", await post(order("o2"), now, sign(order("o2"), now, secret).slice(0, 10)));
  await step("genuine", await post(order("o3"), now, sign(order("o3"), now, secret)));
  await step("stale", await post(order("o4"), now - 600, sign(order("o4"), now - 600, secret)));
  delete process.env.LEMON_WEBHOOK_SECRET;
  await step("no-secret", await post(order("o5"), now, sign(order("o5"), now, secret)));
})().catch((e) => { console.error(e); process.exit(1); });
"#;

#[test]
fn a_hand_rolled_hmac_check_that_fails_open_is_closed_and_bounded_in_time() {
    let (original, hardened) = before_and_after(
        "tests/fixtures/webhooks/hmac",
        "webhook/hmac-timing,webhook/fail-open-secret",
        &[],
    );
    let run = |dir: &Path| -> Vec<String> {
        tsc(dir);
        node_script(dir, HMAC_SCRIPT)
    };
    assert_eq!(
        run(original.path()),
        [
            "forged 401 0",
            "truncated 401 0",
            "genuine 200 1",
            "stale 200 2",
            "no-secret 200 3"
        ],
        "the generated check replays old requests and trusts anything without a secret"
    );
    assert_eq!(
        run(hardened.path()),
        [
            "forged 401 0",
            "truncated 401 0",
            "genuine 200 1",
            "stale 401 1",
            "no-secret 401 1"
        ],
    );
}

/// Calls the compiled Hono app's `fetch` with events signed by the Stripe SDK; prints
/// `<step> <status> <events granted>`.
const HONO_SCRIPT: &str = r#"
const path = require("path");
const Stripe = require("stripe");
const granted = [];
const log = console.log;
console.log = (...args) => { if (args[0] === "granted") granted.push(args[1]); else log(...args); };
const app = require(path.resolve("out/src/index.js")).default;
const secret = "whsec_casehard_test";
const payload = (id) => JSON.stringify({ id, object: "event", type: "checkout.session.completed", data: { object: {} } });
const post = (body, header) => app.fetch(new Request("http://localhost/webhooks/stripe", {
  method: "POST", body, headers: header ? { "stripe-signature": header, "content-type": "application/json" } : { "content-type": "application/json" },
}));
(async () => {
  const now = Math.floor(Date.now() / 1000);
  const step = async (name, res) => log(name, res.status, granted.length);
  process.env.STRIPE_WEBHOOK_SECRET = secret;
  const forged = payload("evt_forged");
  await step("forged", await post(forged, Stripe.webhooks.generateTestHeaderString({ payload: forged, secret: "whsec_attacker" })));
  await step("unsigned", await post(payload("evt_unsigned"), null));
  const genuine = payload("evt_genuine");
  await step("genuine", await post(genuine, Stripe.webhooks.generateTestHeaderString({ payload: genuine, secret, timestamp: now })));
  const old = payload("evt_old");
  await step("stale", await post(old, Stripe.webhooks.generateTestHeaderString({ payload: old, secret, timestamp: now - 600 })));
  delete process.env.STRIPE_WEBHOOK_SECRET;
  await step("no-secret", await post(genuine, Stripe.webhooks.generateTestHeaderString({ payload: genuine, secret, timestamp: now })));
})().catch((e) => { console.error(e); process.exit(1); });
"#;

#[test]
fn a_hono_stripe_route_verifies_when_run() {
    let (original, hardened) = before_and_after(
        "tests/fixtures/rules/webhook/stripe-signature/invalid-hono",
        "webhook/stripe-signature",
        &["typescript@5.7.2", "@types/node@22.10.1"],
    );
    let run = |dir: &Path| -> Vec<String> {
        write_tsconfig(dir, &["src"]);
        tsc(dir);
        // The steps, without what the helper logs about the missing secret.
        node_script(dir, HONO_SCRIPT)
            .into_iter()
            .filter(|l| l.split(' ').count() == 3)
            .collect()
    };
    assert_eq!(
        run(original.path()),
        [
            "forged 200 1",
            "unsigned 200 2",
            "genuine 200 3",
            "stale 200 4",
            "no-secret 200 5"
        ],
    );
    assert_eq!(
        run(hardened.path()),
        [
            "forged 400 0",
            "unsigned 400 0",
            "genuine 200 1",
            "stale 400 1",
            "no-secret 500 1"
        ],
    );
}
