//! The hardened sign-in route under Node: the attempt after the limit from one address is
//! refused with 429, another address is not, and the route still answers as before within the
//! limit. Needs npm and the npm registry (`.ci/run` provides them); a missing one fails the
//! test.

mod harness;

use harness::*;

const FIXTURE: &str = "tests/fixtures/rules/auth/rate-limit/invalid";

/// Posts wrong credentials 11 times from one address, then once from another; prints statuses.
const SCRIPT: &str = r#"
const path = require("path");
const { POST } = require(path.resolve("out/app/api/auth/login/route.js"));
const attempt = (ip, password) => POST(new Request("http://localhost/api/auth/login", {
  method: "POST",
  headers: { "x-forwarded-for": ip, "content-type": "application/json" },
  body: JSON.stringify({ email: "a@example.com", password }),
}));
(async () => {
  const statuses = [];
  for (let i = 0; i < 11; i++) statuses.push((await attempt("203.0.113.7", "guess" + i)).status);
  console.log("same-address", statuses.join(","));
  const limited = await attempt("203.0.113.7", "correct horse battery staple");
  console.log("right-password-while-limited", limited.status, limited.headers.get("retry-after") !== null);
  console.log("other-address", (await attempt("198.51.100.2", "correct horse battery staple")).status);
})().catch((e) => { console.error(e); process.exit(1); });
"#;

#[test]
fn the_attempt_after_the_limit_is_refused_with_429() {
    let app = hardened(
        FIXTURE,
        "auth/rate-limit",
        &["typescript@5.7.2", "@types/node@22.10.1"],
    );
    write_tsconfig(app.path(), &["app", "lib"]);
    tsc(app.path());
    let lines = node_script(app.path(), SCRIPT);
    // What the attempts got, for `cargo test --test auth_node -- --nocapture`.
    eprintln!("{}", lines.join("\n"));
    assert_eq!(
        lines,
        [
            "same-address 401,401,401,401,401,401,401,401,401,401,429",
            "right-password-while-limited 429 true",
            "other-address 200",
        ]
    );
}

/// Posts wrong credentials 11 times to the Express app, then to a route that is not limited.
const EXPRESS_SCRIPT: &str = r#"
const path = require("path");
const { app } = require(path.resolve("out/src/server.js"));
(async () => {
  process.env.DEMO_PASSWORD = "right";
  const server = app.listen(0, "127.0.0.1");
  await new Promise((r) => server.once("listening", r));
  const base = `http://127.0.0.1:${server.address().port}`;
  const post = async (url, body) => (await fetch(base + url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) })).status;
  const statuses = [];
  for (let i = 0; i < 11; i++) statuses.push(await post("/api/auth/login", { password: "guess" + i }));
  console.log("login", statuses.join(","));
  const posts = [];
  for (let i = 0; i < 11; i++) posts.push(await post("/api/posts", { i }));
  console.log("posts", posts.join(","));
  server.close();
})().catch((e) => { console.error(e); process.exit(1); });
"#;

#[test]
fn an_express_login_route_is_limited_too() {
    let (_original, app) = before_and_after(
        "tests/fixtures/rules/auth/rate-limit/invalid-express",
        "auth/rate-limit",
        &[],
    );
    write_tsconfig(app.path(), &["src"]);
    tsc(app.path());
    assert_eq!(
        node_script(app.path(), EXPRESS_SCRIPT),
        [
            "login 401,401,401,401,401,401,401,401,401,401,429",
            "posts 201,201,201,201,201,201,201,201,201,201,201",
        ]
    );
}
