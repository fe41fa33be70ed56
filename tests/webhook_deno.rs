//! A Supabase edge function's Stripe webhook under Deno (installed from the npm registry),
//! before and after casehard: events signed with the Stripe SDK's test-header helper (in
//! Node) are posted to the function served by Deno. Needs npm and the npm registry (`.ci/run`
//! provides them); a missing one fails the test.

mod harness;

use harness::*;
use std::path::Path;
use std::process::Command;

const FIXTURE: &str = "tests/fixtures/rules/webhook/stripe-signature/invalid-edge";
const FUNCTION: &str = "supabase/functions/stripe-webhook/index.ts";

/// Serves the function on a free port (Deno.serve is patched before the function loads).
const SERVE: &str = r#"
const serve = Deno.serve;
// deno-lint-ignore no-explicit-any
(Deno as any).serve = (handler: any) =>
  serve({ port: 0, hostname: "127.0.0.1", onListen: ({ port }) => console.log("port", port) }, handler);
await import("./supabase/functions/stripe-webhook/index.ts");
"#;

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
    let original = tempfile::tempdir().unwrap();
    copy_dir(&manifest_dir().join(FIXTURE), original.path());
    let hardened = tempfile::tempdir().unwrap();
    copy_dir(&manifest_dir().join(FIXTURE), hardened.path());
    let fix = casehard(
        hardened.path(),
        &[
            "fix",
            ".",
            "--allow-no-vcs",
            "--only",
            "webhook/stripe-signature",
        ],
    );
    assert_eq!(fix.code, 0, "{}", fix.stderr);

    // Deno from the npm registry; the Stripe SDK for it (npm:stripe) and for the sender.
    let (tools, deno) = deno_tools();
    std::fs::write(tools.path().join("send.cjs"), SEND).unwrap();
    for dir in [original.path(), hardened.path()] {
        deno_project(dir);
    }
    deno_check(hardened.path(), &deno, &[FUNCTION]);

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
