//! Outbound Stripe writes under Node with the real Stripe SDK, pointed at a local HTTP server
//! that records each request's `Idempotency-Key`: the hardened checkout route sends the same
//! key for a repeated action and different keys for different customers. Needs npm and the
//! npm registry (`.ci/run` provides them); a missing one fails the test.

mod harness;

use harness::*;

const FIXTURE: &str = "tests/fixtures/rules/payments/idempotency-key/invalid";

/// Serves a fake Stripe API, calls the route's handlers, prints each key the API received.
const SCRIPT: &str = r#"
const http = require("http");
const path = require("path");
process.env.STRIPE_SECRET_KEY = "sk_test_casehard";
const keys = [];
const api = http.createServer((req, res) => {
  const key = req.headers["idempotency-key"] || "";
  keys.push(`${req.method} ${req.url} ${key.startsWith("casehard-") ? key.slice(0, 17) : key ? "sdk" : "none"}`);
  req.resume();
  req.on("end", () => {
    res.setHeader("content-type", "application/json");
    res.end(JSON.stringify({ id: "obj_" + keys.length, object: "checkout.session", url: "https://stripe.test/" + keys.length }));
  });
});
(async () => {
  await new Promise((r) => api.listen(0, "127.0.0.1", r));
  const { stripe } = require(path.resolve("out/lib/stripe.js"));
  stripe._setApiField("host", "127.0.0.1");
  stripe._setApiField("port", api.address().port);
  stripe._setApiField("protocol", "http");
  stripe._setApiField("maxNetworkRetries", 0);
  const route = require(path.resolve("out/app/api/checkout/route.js"));
  const checkout = (customerId) => route.POST(new Request("http://localhost/api/checkout", {
    method: "POST", body: JSON.stringify({ priceId: "price_1", customerId }),
  }));
  await checkout("cus_a");
  await checkout("cus_a");
  await checkout("cus_b");
  await checkout(undefined);
  api.close();
  for (const k of keys) console.log(k);
})().catch((e) => { console.error(e); process.exit(1); });
"#;

#[test]
fn repeated_checkouts_for_one_customer_share_an_idempotency_key() {
    let app = hardened(
        FIXTURE,
        "payments/idempotency-key",
        &["stripe@17.4.0", "typescript@5.7.2", "@types/node@22.10.1"],
    );
    write_tsconfig(app.path(), &["app", "lib"]);
    // The hardened route type-checks against the Stripe SDK's own types.
    tsc(app.path());
    let lines = node_script(app.path(), SCRIPT);
    let log = lines.join("\n");
    let keys: Vec<&str> = lines
        .iter()
        .map(String::as_str)
        .filter(|l| l.starts_with("POST "))
        .collect();
    assert_eq!(keys.len(), 4, "{log}");
    let key = |i: usize| keys[i].rsplit(' ').next().unwrap();
    assert!(key(0).starts_with("casehard-"), "{log}");
    assert_eq!(
        key(0),
        key(1),
        "the same checkout twice is one action:\n{log}"
    );
    assert_ne!(
        key(0),
        key(2),
        "another customer's checkout is another action:\n{log}"
    );
    assert_eq!(
        key(3),
        "none",
        "a checkout naming no customer gets no derived key:\n{log}"
    );
}
