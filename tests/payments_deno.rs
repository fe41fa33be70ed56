//! A Supabase edge function's Stripe write under Deno (installed from the npm registry), with
//! the real Stripe SDK (`npm:stripe`) and Stripe's API answered by a patched `fetch` that
//! records each request's `Idempotency-Key`: after casehard, the function imports its helper
//! from `supabase/functions/_shared` by a path Deno resolves, type-checks, and sends the same
//! key for a repeated checkout and another for another customer. Needs npm and the npm
//! registry (`.ci/run` provides them); a missing one fails the test.

mod harness;

use harness::*;
use std::path::Path;

const FIXTURE: &str = "tests/fixtures/rules/payments/idempotency-key/invalid-edge";
const FUNCTION: &str = "supabase/functions/create-checkout/index.ts";

/// Answers Stripe's API in-process, printing `stripe <method> <path> <idempotency key>`.
const SERVE: &str = r#"
const realFetch = globalThis.fetch;
globalThis.fetch = async (input: RequestInfo | URL, init?: RequestInit) => {
  const url = new URL(input instanceof Request ? input.url : String(input));
  if (url.hostname !== "api.stripe.com") return realFetch(input, init);
  const headers = new Headers(init?.headers ?? (input instanceof Request ? input.headers : undefined));
  const key = headers.get("idempotency-key") ?? "";
  console.log("stripe", init?.method ?? "GET", url.pathname, key || "none");
  return new Response(JSON.stringify({ id: "cs_1", object: "checkout.session", url: "https://stripe.test/cs_1" }), {
    headers: { "content-type": "application/json" },
  });
};
"#;

/// Serves the function in `dir`, checks out as cus_a twice and as cus_b once; what Stripe's
/// API received, one `<method> <path> <key>` per request.
fn checkouts(dir: &Path, deno: &Path) -> Vec<String> {
    let server = DenoServer::start(
        dir,
        deno,
        SERVE,
        FUNCTION,
        &[("STRIPE_SECRET_KEY", Some("sk_test_casehard"))],
    );
    let checkout = r#"
(async () => {
  for (const customerId of ["cus_a", "cus_a", "cus_b"]) {
    const res = await fetch(`http://127.0.0.1:${process.argv[2]}/`, {
      method: "POST",
      body: JSON.stringify({ priceId: "price_1", customerId }),
    });
    const answer = await res.text();
    if (!answer.includes("stripe.test/cs_1")) throw new Error(`the checkout failed: ${answer}`);
  }
})().catch((e) => { console.error(e); process.exit(1); });
"#;
    run_node(dir, checkout, &[&server.port], &[]);
    server
        .stop()
        .into_iter()
        .filter_map(|l| l.strip_prefix("stripe ").map(str::to_string))
        .collect()
}

#[test]
fn the_hardened_edge_checkout_sends_idempotency_keys_under_deno() {
    let (original, hardened) = original_and_fixed(FIXTURE, "payments/idempotency-key");

    let (_tools, deno) = deno_for(original.path(), hardened.path(), FUNCTION);

    // The SDK gives every POST a random key of its own (for its retries): each checkout is a
    // new one to Stripe, a double click included.
    let before = checkouts(original.path(), &deno);
    assert_eq!(before.len(), 3, "{before:?}");
    assert!(
        before
            .iter()
            .all(|l| l.starts_with("POST /v1/checkout/sessions ") && !l.contains(" casehard-")),
        "{before:?}"
    );
    assert_ne!(
        before[0], before[1],
        "the generated function checks out twice"
    );

    let after = checkouts(hardened.path(), &deno);
    assert_eq!(after.len(), 3, "{after:?}");
    assert!(
        after
            .iter()
            .all(|l| l.starts_with("POST /v1/checkout/sessions casehard-")),
        "{after:?}"
    );
    assert_eq!(after[0], after[1], "a repeated checkout is one action");
    assert_ne!(after[0], after[2], "another customer's checkout is another");
}
