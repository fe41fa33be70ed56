//! A Supabase edge function's Stripe webhook under Deno (installed from the npm registry),
//! before and after casehard: events signed with the Stripe SDK's test-header helper (in
//! Node) are posted to the function served by Deno: its signature check, and its guard against
//! processing a redelivered event twice. Needs npm and the npm registry (`.ci/run` provides
//! them); a missing one fails the test.

mod harness;

use harness::*;
use std::path::Path;
use std::process::Command;

const FIXTURE: &str = "tests/fixtures/rules/webhook/stripe-signature/invalid-edge";
const FUNCTION: &str = "supabase/functions/stripe-webhook/index.ts";

/// Nothing stands in for anything: the function is served as it is.
const SERVE: &str = "";

/// Posts the events; prints `<step> <status>`.
const SEND: &str = r#"
const Stripe = require("stripe");
const url = `http://127.0.0.1:${process.argv[2]}/`;
const secret = "whsec_casehard_test";
const payload = (id) => JSON.stringify({ id, object: "event", type: "checkout.session.completed", data: { object: { customer: "cus_" + id } } });
const send = async (body, header) => {
  const headers = { "content-type": "application/json" };
  if (header) headers["stripe-signature"] = header;
  const res = await fetch(url, { method: "POST", body, headers });
  await res.text();
  return res.status;
};
(async () => {
  const now = Math.floor(Date.now() / 1000);
  const forged = payload("evt_forged");
  console.log("forged", await send(forged, Stripe.webhooks.generateTestHeaderString({ payload: forged, secret: "whsec_attacker" })));
  console.log("unsigned", await send(payload("evt_unsigned"), null));
  const genuine = payload("evt_genuine");
  console.log("genuine", await send(genuine, Stripe.webhooks.generateTestHeaderString({ payload: genuine, secret, timestamp: now })));
  const old = payload("evt_old");
  console.log("stale", await send(old, Stripe.webhooks.generateTestHeaderString({ payload: old, secret, timestamp: now - 600 })));
})().catch((e) => { console.error(e); process.exit(1); });
"#;

/// Serves the function in `dir` with `secret` (or none) and sends the events from `tools`
/// (where the Stripe SDK is installed); returns the statuses and the events the function
/// granted credits for.
fn run(dir: &Path, deno: &Path, tools: &Path, secret: Option<&str>) -> (Vec<String>, Vec<String>) {
    let server = DenoServer::start(
        dir,
        deno,
        SERVE,
        FUNCTION,
        &[
            ("STRIPE_SECRET_KEY", Some("sk_test_casehard")),
            ("STRIPE_WEBHOOK_SECRET", secret),
        ],
    );
    let out = Command::new("node")
        .args(["send.cjs", &server.port])
        .current_dir(tools)
        .output()
        .expect("node runs");
    let printed = server.stop();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let granted = printed
        .iter()
        .filter(|l| l.starts_with("granted "))
        .map(|l| l.split(' ').nth(1).unwrap_or("").to_string())
        .collect();
    let statuses = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    (statuses, granted)
}

#[test]
fn the_hardened_edge_function_verifies_under_deno() {
    let (original, hardened) = original_and_fixed(FIXTURE, "webhook/stripe-signature");

    // Deno from the npm registry; the Stripe SDK for it (npm:stripe) and for the sender.
    let (tools, deno) = deno_for(original.path(), hardened.path(), FUNCTION);
    std::fs::write(tools.path().join("send.cjs"), SEND).unwrap();

    let (before, granted) = run(
        original.path(),
        &deno,
        tools.path(),
        Some("whsec_casehard_test"),
    );
    assert_eq!(
        before,
        ["forged 200", "unsigned 200", "genuine 200", "stale 200"]
    );
    assert_eq!(
        granted,
        ["evt_forged", "evt_unsigned", "evt_genuine", "evt_old"],
        "the generated function grants anything"
    );

    let (after, granted) = run(
        hardened.path(),
        &deno,
        tools.path(),
        Some("whsec_casehard_test"),
    );
    assert_eq!(
        after,
        ["forged 400", "unsigned 400", "genuine 200", "stale 400"]
    );
    assert_eq!(
        granted,
        ["evt_genuine"],
        "only the genuine event is processed"
    );
    let (unset, granted) = run(hardened.path(), &deno, tools.path(), None);
    assert_eq!(
        unset,
        ["forged 500", "unsigned 500", "genuine 500", "stale 500"],
        "no secret: every event is refused"
    );
    assert!(granted.is_empty());
}

const GUARDED: &str = "tests/fixtures/rules/webhook/idempotency/invalid-edge";

/// Stands in for PostgREST at SUPABASE_URL (answering as it does: 201 for a new row, 409 with
/// PostgreSQL's code 23505 for a duplicate key, or 503 with `EVENT_LOG_DOWN` set), prints each
/// table write.
const SERVE_WITH_POSTGREST: &str = r#"
const seen = new Set<string>();
const realFetch = globalThis.fetch;
globalThis.fetch = async (input: RequestInfo | URL, init?: RequestInit) => {
  const request = new Request(input, init);
  const url = new URL(request.url);
  if (url.hostname !== "supabase.test") return realFetch(input, init);
  const body = await request.text();
  console.log("postgrest", request.method, url.pathname);
  if (url.pathname === "/rest/v1/processed_webhook_events") {
    if (Deno.env.get("EVENT_LOG_DOWN")) return new Response("{}", { status: 503 });
    const { id } = JSON.parse(body);
    if (seen.has(id)) {
      return new Response(JSON.stringify({ code: "23505", message: "duplicate key value violates unique constraint \"processed_webhook_events_pkey\"", details: null, hint: null }), { status: 409, headers: { "content-type": "application/json" } });
    }
    seen.add(id);
    return new Response(null, { status: 201 });
  }
  return new Response(null, { status: 204 });
};
"#;

/// Delivers one genuine event twice, as Stripe does when it retries; prints the statuses.
const SEND_TWICE: &str = r#"
const Stripe = require("stripe");
const url = `http://127.0.0.1:${process.argv[2]}/`;
const secret = "whsec_casehard_test";
const payload = JSON.stringify({ id: "evt_1", object: "event", type: "checkout.session.completed", data: { object: { id: "cs_1" } } });
(async () => {
  for (const delivery of ["first", "again"]) {
    const header = Stripe.webhooks.generateTestHeaderString({ payload, secret });
    const res = await fetch(url, { method: "POST", body: payload, headers: { "content-type": "application/json", "stripe-signature": header } });
    await res.text();
    console.log(delivery, res.status);
  }
})().catch((e) => { console.error(e); process.exit(1); });
"#;

/// Serves the function in `dir` against the stand-in PostgREST and delivers the event twice;
/// the statuses, and what the function printed (`granted <id>`, `postgrest <method> <path>`).
fn deliver_twice(
    dir: &Path,
    deno: &Path,
    tools: &Path,
    log_down: bool,
) -> (Vec<String>, Vec<String>) {
    let server = DenoServer::start(
        dir,
        deno,
        SERVE_WITH_POSTGREST,
        FUNCTION,
        &[
            ("STRIPE_SECRET_KEY", Some("sk_test_casehard")),
            ("STRIPE_WEBHOOK_SECRET", Some("whsec_casehard_test")),
            ("SUPABASE_URL", Some("http://supabase.test")),
            ("SUPABASE_SERVICE_ROLE_KEY", Some("service-role-key")),
            ("EVENT_LOG_DOWN", log_down.then_some("1")),
        ],
    );
    let statuses = run_node(tools, SEND_TWICE, &[&server.port], &[]);
    (statuses, server.stop())
}

#[test]
fn the_hardened_edge_function_processes_a_redelivered_event_once() {
    let (original, hardened) = original_and_fixed(GUARDED, "webhook/idempotency");

    let (tools, deno) = deno_for(original.path(), hardened.path(), FUNCTION);

    let (before, printed) = deliver_twice(original.path(), &deno, tools.path(), false);
    assert_eq!(before, ["first 200", "again 200"]);
    assert_eq!(
        printed.iter().filter(|l| l.starts_with("granted ")).count(),
        2,
        "the generated function processes the redelivery again: {printed:?}"
    );

    let (after, printed) = deliver_twice(hardened.path(), &deno, tools.path(), false);
    assert_eq!(after, ["first 200", "again 200"]);
    assert_eq!(
        printed,
        [
            "postgrest POST /rest/v1/processed_webhook_events",
            "granted evt_1",
            "postgrest PATCH /rest/v1/orders",
            "postgrest POST /rest/v1/processed_webhook_events",
        ],
        "recorded first, processed once, the redelivery answered without side effects"
    );

    // With the event log unreachable nothing is processed, and Stripe is told to retry.
    let (down, printed) = deliver_twice(hardened.path(), &deno, tools.path(), true);
    assert!(down.iter().all(|s| !s.ends_with(" 200")), "{down:?}");
    assert!(
        !printed.iter().any(|l| l.starts_with("granted ")),
        "{printed:?}"
    );
}
