//! The hardened Next.js middleware under Node, with the app's own middleware kept: requests
//! carry Supabase session cookies made by `@supabase/ssr` itself (its `setSession`), against a
//! local stand-in for Supabase Auth that confirms only the sessions it issued and answers the
//! RPCs of the audit log and the approvals by calling casehard's functions in the real
//! PostgreSQL as the session's user (the claims set as PostgREST sets them). Needs npm, the npm
//! registry and PostgreSQL (`.ci/run` provides them); a missing one fails the test.

mod harness;

use harness::*;
use std::path::Path;

const FIXTURE: &str = "tests/fixtures/rules/mfa/supabase-aal2/invalid-existing-middleware";

/// Runs a Next.js middleware script (after the shared request and audit helpers) against the
/// app's database and returns its `case status body` lines, without what libraries log; prints
/// them for `cargo test --test mfa_node -- --nocapture`.
fn next_requests(dir: &Path, script: &str, db: &PlainDb) -> Vec<String> {
    let url = format!("postgres://postgres@127.0.0.1:5432/{}", db.name);
    let lines: Vec<String> = run_node(
        dir,
        &[NEXT_HELPERS, script].concat(),
        &[],
        &[("DATABASE_URL", &url)],
    )
    .into_iter()
    .filter(|l| l.split(' ').count() == 3)
    .collect();
    eprintln!("{}", lines.join("\n"));
    lines
}

/// What the Next.js middleware scripts share: one request through the middleware, printed as
/// `<case> <status> <where>` (the redirect, the app middleware's header, or the status of a
/// request held for approval), returning the held request's approval id; and the audit rows.
const NEXT_HELPERS: &str = r#"
async function visitWith(middleware, name, url, headers, method = "GET", body = undefined, approval = undefined) {
  const { NextRequest } = require("next/server");
  const h = { ...headers };
  if (approval) h["x-casehard-approval"] = approval;
  if (body !== undefined) h["content-type"] = "application/json";
  const req = new NextRequest(new URL(url, "http://localhost:3000"), { method, headers: h, body: body === undefined ? undefined : JSON.stringify(body) });
  const res = await middleware(req);
  let where = res.headers.get("location") || res.headers.get("x-app-middleware") || "-";
  let held = null;
  if (res.status === 202) {
    const json = await res.json();
    held = json.approval;
    where = json.status;
  }
  console.log(name, res.status, where.replace("http://localhost:3000", ""));
  return held;
}
function printAudit(rows, nameOf) {
  for (const r of rows) console.log("audit", `${nameOf(r.actor)}|${r.action.replace(/ /g, "_")}|${r.result.replace(/ /g, "_")}`, "-");
}
"#;

/// Prints `<case> <status> <location or app header>` per request.
const SCRIPT: &str = r#"
const http = require("http");
const path = require("path");
const { createServerClient } = require("@supabase/ssr");

const { Pool } = require("pg");

const b64 = (o) => Buffer.from(JSON.stringify(o)).toString("base64url");
const now = Math.floor(Date.now() / 1000);
const ADMIN = "00000000-0000-4000-8000-00000000000a", SECOND = "00000000-0000-4000-8000-00000000000b";
// `totpAge`: seconds since the second factor was verified, as Supabase records it in `amr`.
const claimsOf = (aal, totpAge = 60, sub = ADMIN) => ({ sub, aal: aal.startsWith("aal2") ? "aal2" : aal, role: "authenticated", exp: now + 3600, aud: "authenticated", amr: aal.startsWith("aal2") ? [{ method: "totp", timestamp: now - totpAge }, { method: "password", timestamp: now - 7200 }] : [{ method: "password", timestamp: now - 60 }], tag: aal });
const token = (aal, totpAge = 60, sub = ADMIN) => `${b64({ alg: "HS256", typ: "JWT" })}.${b64(claimsOf(aal, totpAge, sub))}.sig`;
const issued = new Set();
const claims = (jwt) => JSON.parse(Buffer.from(jwt.split(".")[1], "base64url").toString());
const db = new Pool({ connectionString: process.env.DATABASE_URL });
// PostgREST's way: the function called with named arguments, as `authenticated`, with the
// request's claims in the settings auth.uid() and auth.jwt() read.
async function rpc(fn, args, jwt) {
  const c = claims(jwt);
  const names = Object.keys(args);
  if (!/^casehard_[a-z]+$/.test(fn) || names.some((n) => !/^p_[a-z]+$/.test(n))) throw new Error("bad call");
  const client = await db.connect();
  try {
    await client.query("begin");
    await client.query("set local role authenticated");
    await client.query("select set_config('request.jwt.claim.sub', $1, true), set_config('request.jwt.claims', $2, true)", [c.sub, JSON.stringify(c)]);
    const values = names.map((n) => (args[n] !== null && typeof args[n] === "object" ? JSON.stringify(args[n]) : args[n]));
    const { rows } = await client.query(`select ${fn}(${names.map((n, i) => `${n} := $${i + 1}`).join(", ")}) as result`, values);
    await client.query("commit");
    return rows[0].result;
  } catch (e) {
    await client.query("rollback");
    throw e;
  } finally {
    client.release();
  }
}
const auth = http.createServer((req, res) => {
  const bearer = (req.headers.authorization || "").replace("Bearer ", "");
  res.setHeader("content-type", "application/json");
  let body = "";
  req.on("data", (chunk) => (body += chunk));
  req.on("end", async () => {
    if (!issued.has(bearer)) {
      res.statusCode = 401;
      return res.end(JSON.stringify({ code: 401, msg: "invalid JWT" }));
    }
    if (req.url.startsWith("/auth/v1/user")) {
      return res.end(JSON.stringify({ id: claims(bearer).sub, aud: "authenticated", role: "authenticated", factors: [] }));
    }
    const call = req.url.match(/^\/rest\/v1\/rpc\/([a-z_]+)/);
    if (req.method === "POST" && call) {
      try {
        const result = await rpc(call[1], JSON.parse(body || "{}"), bearer);
        if (result === null || result === "") { res.statusCode = 204; return res.end(); }
        return res.end(JSON.stringify(result));
      } catch (e) {
        res.statusCode = 400;
        return res.end(JSON.stringify({ code: e.code || "P0001", message: e.message }));
      }
    }
    res.statusCode = 404;
    res.end("{}");
  });
});

async function cookiesFor(access) {
  const jar = [];
  const supabase = createServerClient(process.env.NEXT_PUBLIC_SUPABASE_URL, process.env.NEXT_PUBLIC_SUPABASE_ANON_KEY, {
    cookies: { getAll: () => jar, setAll: (all) => { for (const c of all) jar.push({ name: c.name, value: c.value }); } },
  });
  const { error } = await supabase.auth.setSession({ access_token: access, refresh_token: "r" });
  if (error) throw error;
  return jar.map((c) => `${c.name}=${c.value}`).join("; ");
}

(async () => {
  await new Promise((r) => auth.listen(0, "127.0.0.1", r));
  process.env.NEXT_PUBLIC_SUPABASE_URL = `http://127.0.0.1:${auth.address().port}`;
  process.env.NEXT_PUBLIC_SUPABASE_ANON_KEY = "anon";
  const { middleware } = require(path.resolve("out/src/middleware.js"));
  const aal1 = token("aal1"), aal2 = token("aal2"), aal2Old = token("aal2", 3600), second = token("aal2", 60, SECOND);
  issued.add(aal1); issued.add(aal2); issued.add(aal2Old); issued.add(second);
  const sessions = { none: "", aal1: await cookiesFor(aal1), aal2: await cookiesFor(aal2), aal2Old: await cookiesFor(aal2Old), second: await cookiesFor(second) };
  // A session whose token claims aal2 but that Supabase Auth never issued.
  issued.add(token("aal2-forged"));
  const forged = await cookiesFor(token("aal2-forged"));
  issued.delete(token("aal2-forged"));
  sessions.forged = forged.replace(/aal2-forged/g, "aal2");
  let approvalId = null;
  const visit = async (name, url, session, method, body, approval) => {
    approvalId = (await visitWith(middleware, name, url, session ? { cookie: session } : {}, method, body, approval)) ?? approvalId;
  };
  await visit("admin-page-aal1", "/admin", sessions.aal1);
  await visit("admin-api-aal1", "/api/admin/users", sessions.aal1);
  await visit("admin-page-aal2", "/admin", sessions.aal2);
  await visit("admin-api-aal2", "/api/admin/users", sessions.aal2);
  await visit("checkout-aal1", "/api/checkout", sessions.aal1);
  await visit("checkout-aal2", "/api/checkout", sessions.aal2);
  await visit("admin-no-session", "/admin", sessions.none);
  await visit("admin-forged-aal2", "/admin", sessions.forged);
  await visit("delete-user-fresh-totp", "/api/admin/users", sessions.aal2, "DELETE");
  await visit("delete-user-hour-old-totp", "/api/admin/users", sessions.aal2Old, "DELETE");
  await visit("list-users-hour-old-totp", "/api/admin/users", sessions.aal2Old);
  await visit("dashboard-aal1", "/dashboard", sessions.aal1);
  await visit("webhook-no-session", "/api/webhooks/stripe", sessions.none);
  // Dual approval of a role change: held, refused to its requester, run once by a second admin
  // with the same input, refused for other input.
  const role = "/api/admin/users/u3/role";
  await visit("role-change", role, sessions.aal2, "POST", { role: "admin" });
  const first = approvalId;
  await visit("role-change-self-approved", role, sessions.aal2, "POST", { role: "admin" }, first);
  await visit("role-change-other-input", role, sessions.second, "POST", { role: "owner" }, first);
  await visit("role-change-second-admin", role, sessions.second, "POST", { role: "admin" }, first);
  await visit("role-change-approval-reused", role, sessions.second, "POST", { role: "admin" }, first);
  await visit("role-change-approval-not-an-id", role, sessions.second, "POST", { role: "admin" }, "1 or 1=1");
  await visit("role-change-hour-old-totp", role, sessions.aal2Old, "POST", { role: "admin" });
  delete process.env.NEXT_PUBLIC_SUPABASE_URL;
  await visit("admin-aal2-unconfigured", "/admin", sessions.aal2);
  const { rows } = await db.query("select actor, action, result from casehard_audit_log order by id");
  printAudit(rows, (actor) => (actor === ADMIN ? "admin" : actor === SECOND ? "second" : actor));
  await db.end();
  auth.close();
})().catch((e) => { console.error(e); process.exit(1); });
"#;

#[test]
fn admin_and_payment_routes_need_aal2_and_the_apps_middleware_still_runs() {
    let app = hardened(
        FIXTURE,
        "mfa/supabase-aal2",
        &["typescript@5.7.2", "@types/node@22.10.1", "pg@8.13.1"],
    );
    write_tsconfig(app.path(), &["src/middleware.ts"]);
    tsc(app.path());
    // The audit log and the approvals: Supabase's auth schema (test shim), then casehard's
    // migration, on the real PostgreSQL.
    let db = PlainDb::new("supabase_mfa");
    db.sql(
        &std::fs::read_to_string(manifest_dir().join("tests/fixtures/rls/supabase_shim.sql"))
            .unwrap(),
    )
    .unwrap();
    let migration = std::fs::read_dir(app.path().join("supabase/migrations"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with("_casehard_mfa.sql"))
        .expect("the migration of the audit log and the approvals");
    db.sql(&std::fs::read_to_string(migration).unwrap())
        .unwrap();
    // The cases, without supabase-js's warning about reading the session (the helper reads it
    // only after Supabase Auth confirmed the user).
    let lines = next_requests(app.path(), SCRIPT, &db);
    assert_eq!(
        lines,
        [
            "admin-page-aal1 307 /mfa?next=%2Fadmin",
            "admin-api-aal1 403 -",
            "admin-page-aal2 200 ran",
            "admin-api-aal2 200 ran",
            "checkout-aal1 403 -",
            "checkout-aal2 200 ran",
            "admin-no-session 307 /mfa?next=%2Fadmin",
            "admin-forged-aal2 307 /mfa?next=%2Fadmin",
            "delete-user-fresh-totp 200 ran",
            "delete-user-hour-old-totp 403 -",
            "list-users-hour-old-totp 200 ran",
            "dashboard-aal1 200 ran",
            "webhook-no-session 200 ran",
            "role-change 202 pending_approval",
            "role-change-self-approved 403 -",
            "role-change-other-input 403 -",
            "role-change-second-admin 200 ran",
            "role-change-approval-reused 403 -",
            "role-change-approval-not-an-id 403 -",
            "role-change-hour-old-totp 403 -",
            "admin-aal2-unconfigured 307 /mfa?next=%2Fadmin",
            "audit admin|GET_/admin|denied:_mfa_required -",
            "audit admin|GET_/api/admin/users|denied:_mfa_required -",
            "audit admin|GET_/admin|allowed -",
            "audit admin|GET_/api/admin/users|allowed -",
            "audit admin|GET_/api/checkout|denied:_mfa_required -",
            "audit admin|GET_/api/checkout|allowed -",
            "audit admin|DELETE_/api/admin/users|allowed -",
            "audit admin|DELETE_/api/admin/users|denied:_fresh_mfa_required -",
            "audit admin|GET_/api/admin/users|allowed -",
            "audit admin|POST_/api/admin/users/u3/role|pending_approval -",
            "audit admin|POST_/api/admin/users/u3/role|denied:_approval_not_valid -",
            "audit second|POST_/api/admin/users/u3/role|denied:_approval_not_valid -",
            "audit second|POST_/api/admin/users/u3/role|allowed -",
            "audit second|POST_/api/admin/users/u3/role|denied:_approval_not_valid -",
            "audit admin|POST_/api/admin/users/u3/role|denied:_fresh_mfa_required -",
        ]
    );
}

const CLERK_FIXTURE: &str =
    "tests/fixtures/rules/mfa/clerk-second-factor/invalid-existing-middleware";

/// The Clerk variant under Node with the real `@clerk/nextjs` middleware: session tokens are
/// signed here with an RSA key whose public half a local stand-in for Clerk's Backend API
/// serves as its JWKS (`CLERK_API_URL`), so Clerk verifies every token itself. `fva` is the
/// claim Clerk writes: minutes since the first and the second factor were verified, -1 never.
/// Prints `<case> <status> <location or app header>` per request.
const CLERK_SCRIPT: &str = r#"
const http = require("http");
const path = require("path");
const crypto = require("crypto");

const pair = () => crypto.generateKeyPairSync("rsa", { modulusLength: 2048 });
const clerkKey = pair(), otherKey = pair();
const jwk = { ...clerkKey.publicKey.export({ format: "jwk" }), kid: "ins_casehard", alg: "RS256", use: "sig" };
const b64 = (o) => Buffer.from(JSON.stringify(o)).toString("base64url");
const now = Math.floor(Date.now() / 1000);
const token = (claims, key = clerkKey.privateKey) => {
  const head = b64({ alg: "RS256", typ: "JWT", kid: "ins_casehard" });
  const body = b64({ sub: "user_1", sid: "sess_1", iss: "https://clerk.shop.example", iat: now - 10, nbf: now - 10, exp: now + 600, v: 2, ...claims });
  return `${head}.${body}.${crypto.sign("RSA-SHA256", Buffer.from(`${head}.${body}`), key).toString("base64url")}`;
};
const api = http.createServer((req, res) => {
  res.setHeader("content-type", "application/json");
  if (req.url.startsWith("/v1/jwks")) return res.end(JSON.stringify({ keys: [jwk] }));
  res.statusCode = 404;
  res.end("{}");
});

(async () => {
  await new Promise((r) => api.listen(0, "127.0.0.1", r));
  process.env.CLERK_API_URL = `http://127.0.0.1:${api.address().port}`;
  process.env.CLERK_SECRET_KEY = "sk_live_" + "c".repeat(40);
  process.env.NEXT_PUBLIC_CLERK_PUBLISHABLE_KEY = "pk_live_" + Buffer.from("clerk.shop.example$").toString("base64");
  const middleware = require(path.resolve("out/src/middleware.js")).default;
  const sessions = {
    none: null,
    password: token({ fva: [2, -1] }),
    totp: token({ fva: [30, 2] }),
    totpOld: token({ fva: [90, 60] }),
    noClaim: token({}),
    forged: token({ fva: [1, 1] }, otherKey.privateKey),
    expired: token({ fva: [1, 1], exp: now - 60 }),
    second: token({ sub: "user_2", sid: "sess_2", fva: [30, 2] }),
  };
  let approvalId = null;
  const visit = async (name, url, session, method, body, approval) => {
    const cookie = session ? { cookie: `__session=${session}; __client_uat=${now - 100}` } : {};
    const run = (req) => middleware(req, { waitUntil() {} });
    approvalId = (await visitWith(run, name, url, cookie, method, body, approval)) ?? approvalId;
  };
  await visit("admin-page-password-only", "/admin", sessions.password);
  await visit("admin-api-password-only", "/api/admin/users", sessions.password);
  await visit("admin-page-totp", "/admin", sessions.totp);
  await visit("admin-api-totp", "/api/admin/users", sessions.totp);
  await visit("checkout-password-only", "/api/checkout", sessions.password);
  await visit("checkout-totp", "/api/checkout", sessions.totp);
  await visit("admin-no-session", "/admin", sessions.none);
  await visit("admin-token-without-fva", "/admin", sessions.noClaim);
  await visit("admin-forged-token", "/api/admin/users", sessions.forged);
  await visit("admin-expired-token", "/api/admin/users", sessions.expired);
  await visit("delete-user-fresh-totp", "/api/admin/users", sessions.totp, "DELETE");
  await visit("delete-user-hour-old-totp", "/api/admin/users", sessions.totpOld, "DELETE");
  await visit("list-users-hour-old-totp", "/api/admin/users", sessions.totpOld);
  await visit("dashboard-password-only", "/dashboard", sessions.password);
  await visit("webhook-no-session", "/api/webhooks/stripe", sessions.none);
  // Dual approval of a role change, in the app's own database.
  const role = "/api/admin/users/u3/role";
  await visit("role-change", role, sessions.totp, "POST", { role: "admin" });
  const first = approvalId;
  await visit("role-change-self-approved", role, sessions.totp, "POST", { role: "admin" }, first);
  await visit("role-change-other-input", role, sessions.second, "POST", { role: "owner" }, first);
  await visit("role-change-second-admin", role, sessions.second, "POST", { role: "admin" }, first);
  await visit("role-change-approval-reused", role, sessions.second, "POST", { role: "admin" }, first);
  const { pool } = require(path.resolve("out/src/lib/db.js"));
  const { rows } = await pool.query("select actor, action, result from casehard_audit_log order by id");
  printAudit(rows, (actor) => actor);
  await pool.end();
  api.close();
})().catch((e) => { console.error(e); process.exit(1); });
"#;

#[test]
fn clerk_admin_and_payment_routes_need_a_verified_second_factor() {
    let app = hardened(
        CLERK_FIXTURE,
        "mfa/clerk-second-factor",
        &[
            "typescript@5.7.2",
            "@types/node@22.10.1",
            "@types/react@19.0.1",
            "@types/pg@8.11.10",
        ],
    );
    // The middleware, the check and the injected page, against Clerk's and Next's own types.
    write_tsconfig(app.path(), &["src/middleware.ts", "src/app/mfa/page.tsx"]);
    tsc(app.path());
    // The approvals and the audit log live in the app's database (its pg pool).
    let db = PlainDb::new("clerk_mfa");
    db.sql(&std::fs::read_to_string(app.path().join("db/casehard_mfa.sql")).unwrap())
        .unwrap();
    let lines = next_requests(app.path(), CLERK_SCRIPT, &db);
    assert_eq!(
        lines,
        [
            "admin-page-password-only 307 /mfa?next=%2Fadmin",
            "admin-api-password-only 403 -",
            "admin-page-totp 200 ran",
            "admin-api-totp 200 ran",
            "checkout-password-only 403 -",
            "checkout-totp 200 ran",
            "admin-no-session 307 /mfa?next=%2Fadmin",
            "admin-token-without-fva 307 /mfa?next=%2Fadmin",
            "admin-forged-token 403 -",
            "admin-expired-token 403 -",
            "delete-user-fresh-totp 200 ran",
            "delete-user-hour-old-totp 403 -",
            "list-users-hour-old-totp 200 ran",
            "dashboard-password-only 200 ran",
            "webhook-no-session 200 ran",
            "role-change 202 pending_approval",
            "role-change-self-approved 403 -",
            "role-change-other-input 403 -",
            "role-change-second-admin 200 ran",
            "role-change-approval-reused 403 -",
            "audit user_1|GET_/admin|denied:_mfa_required -",
            "audit user_1|GET_/api/admin/users|denied:_mfa_required -",
            "audit user_1|GET_/admin|allowed -",
            "audit user_1|GET_/api/admin/users|allowed -",
            "audit user_1|GET_/api/checkout|denied:_mfa_required -",
            "audit user_1|GET_/api/checkout|allowed -",
            "audit user_1|GET_/admin|denied:_mfa_required -",
            "audit user_1|DELETE_/api/admin/users|allowed -",
            "audit user_1|DELETE_/api/admin/users|denied:_fresh_mfa_required -",
            "audit user_1|GET_/api/admin/users|allowed -",
            "audit user_1|POST_/api/admin/users/u3/role|pending_approval -",
            "audit user_1|POST_/api/admin/users/u3/role|denied:_approval_not_valid -",
            "audit user_2|POST_/api/admin/users/u3/role|denied:_approval_not_valid -",
            "audit user_2|POST_/api/admin/users/u3/role|allowed -",
            "audit user_2|POST_/api/admin/users/u3/role|denied:_approval_not_valid -",
        ]
    );
}

const T3_APP_ROUTER: &str = "tests/fixtures/rules/mfa/nextauth-totp/invalid-t3-app-router";

/// create-t3-app's App Router + Drizzle + Auth.js output (7.40.0, dependencies pinned to what
/// its ranges resolved to) with an admin procedure added: hardened, it installs and passes its
/// own `tsc --noEmit`, with the enrolment and verification route handlers reading Auth.js's
/// `auth()` and the tRPC context carrying the verification cookie.
#[test]
fn t3_app_router_admin_procedures_get_totp_and_still_type_check() {
    let app = hardened(T3_APP_ROUTER, "mfa/nextauth-totp", &[]);
    for route in ["enroll", "verify"] {
        let text =
            std::fs::read_to_string(app.path().join(format!("src/app/api/mfa/{route}/route.ts")))
                .unwrap();
        assert!(text.contains("await auth()"), "{route}: {text}");
    }
    let trpc = std::fs::read_to_string(app.path().join("src/server/api/trpc.ts")).unwrap();
    assert!(trpc.contains("}).use(requireMfa);"), "{trpc}");
    assert!(trpc.contains("casehardMfa: mfaRequestOf(opts),"), "{trpc}");
    let (ok, log) = run_program(
        app.path(),
        "node",
        &["node_modules/typescript/bin/tsc", "--noEmit", "-p", "."],
    );
    assert!(
        ok,
        "the hardened T3 App Router app does not type-check:\n{log}"
    );
}

const JWT_APP: &str = "tests/fixtures/rules/mfa/express-totp/invalid-jwt-pg";

/// The Express app that checks its own JWTs (no server-side session), hardened, compiled and
/// served by Node against PostgreSQL with its migration and casehard's applied. Tokens are
/// signed here with the app's secret, as its login would; TOTP codes are computed with
/// otpauth. Prints `<step> <result>` per line.
const JWT_SCRIPT: &str = r#"
const path = require("path");
const jwt = require("jsonwebtoken");
const OTPAuth = require("otpauth");
const { app } = require(path.resolve("out/server/index.js"));
const { pool } = require(path.resolve("out/server/db.js"));
const realNow = Date.now;
let skew = 0;
Date.now = () => realNow() + skew;

async function main() {
  const server = app.listen(0, "127.0.0.1");
  await new Promise((r) => server.once("listening", r));
  const base = `http://127.0.0.1:${server.address().port}`;
  const token = (id, role) => jwt.sign({ id, role }, process.env.JWT_SECRET, { algorithm: "HS256", expiresIn: "15m" });
  const bearer = { alice: token(1, "admin"), bob: token(2, "admin"), carol: token(3, "user") };
  const cookies = {};
  const call = async (who, method, url, body, options = {}) => {
    const h = { ...(options.headers || {}) };
    if (bearer[who]) h.authorization = `Bearer ${bearer[who]}`;
    const cookie = options.cookieOf === undefined ? cookies[who] : cookies[options.cookieOf];
    if (cookie) h.cookie = cookie;
    if (body !== undefined) h["content-type"] = "application/json";
    const res = await fetch(base + url, { method, headers: h, body: body === undefined ? undefined : JSON.stringify(body) });
    const set = res.headers.get("set-cookie");
    if (set) cookies[who] = set.split(";")[0];
    const text = await res.text();
    let json = null;
    try { json = JSON.parse(text); } catch {}
    return { status: res.status, json, set };
  };
  const say = (...parts) => console.log(parts.join(" "));
  const role = async (id) => (await pool.query("select role from users where id = $1", [id])).rows[0].role;
  const enrol = async (who) => {
    const { json } = await call(who, "POST", "/mfa/enroll");
    return new OTPAuth.TOTP({ secret: OTPAuth.Secret.fromBase32(json.secret) });
  };

  say("admin-list-no-token", (await call("nobody", "GET", "/api/admin/users")).status);
  say("admin-list-password-only", (await call("alice", "GET", "/api/admin/users")).status);
  const alice = await enrol("alice");
  say("verify-wrong-code", (await call("alice", "POST", "/mfa/verify", { code: "000000" })).status);
  const verified = await call("alice", "POST", "/mfa/verify", { code: alice.generate() });
  say("verify", verified.status, /HttpOnly/.test(verified.set) && /SameSite=Strict/.test(verified.set) && /Secure/.test(verified.set));
  say("admin-list-verified", (await call("alice", "GET", "/api/admin/users")).status);
  say("admin-list-bob-with-alices-cookie", (await call("bob", "GET", "/api/admin/users", undefined, { cookieOf: "alice" })).status);
  const pending = await call("alice", "POST", "/api/admin/users/3/role", { role: "admin" });
  say("role-change", pending.status, pending.json && pending.json.status, await role(3));
  const bob = await enrol("bob");
  skew = 31000;
  await call("bob", "POST", "/mfa/verify", { code: bob.generate() });
  const approved = await call("bob", "POST", "/api/admin/users/3/role", { role: "admin" }, { headers: { "x-casehard-approval": pending.json.approval } });
  say("role-change-approved", approved.status, await role(3));
  skew = 11 * 60 * 1000;
  say("role-change-stale", (await call("bob", "POST", "/api/admin/users/3/role", { role: "user" })).status);
  say("checkout-carol", (await call("carol", "POST", "/api/checkout")).status);
  say("profile-carol", (await call("carol", "GET", "/api/profile")).status);
  skew = 31 * 60 * 1000 + 31000;
  say("admin-list-after-30-minutes", (await call("alice", "GET", "/api/admin/users")).status);
  const audit = await pool.query("select count(*)::int as n from casehard_audit_log where actor = '1'");
  say("audit-records-alice", audit.rows[0].n > 3);
  server.close();
  await pool.end();
}
main().catch((e) => { console.error(e); process.exit(1); });
"#;

#[test]
fn express_with_its_own_jwt_check_needs_totp_behind_the_token() {
    let app = hardened(JWT_APP, "mfa/express-totp", &[]);
    write_tsconfig(app.path(), &["server/**/*.ts", "lib/**/*.ts"]);
    tsc(app.path());
    let db = PlainDb::new("jwt_mfa");
    let own = std::fs::read_to_string(app.path().join("migrations/0001_init.sql")).unwrap();
    let ours = std::fs::read_to_string(app.path().join("db/casehard_mfa.sql")).unwrap();
    db.apply(&[own], &ours);
    db.sql("insert into users (email, role) values ('alice@shop.example', 'admin'), ('bob@shop.example', 'admin'), ('carol@shop.example', 'user')")
        .unwrap();
    let env = [
        ("DATABASE_URL", db.url()),
        ("JWT_SECRET", "casehard-test-jwt-secret".to_string()),
        (
            "MFA_ENCRYPTION_KEY",
            "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=".to_string(),
        ),
    ];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let lines = run_node(app.path(), JWT_SCRIPT, &[], &env);
    // What the requests got, for `cargo test --test mfa_node -- --nocapture`.
    eprintln!("{}", lines.join("\n"));
    assert_eq!(
        lines,
        [
            "admin-list-no-token 401",
            "admin-list-password-only 403",
            "verify-wrong-code 401",
            "verify 200 true",
            "admin-list-verified 200",
            "admin-list-bob-with-alices-cookie 403",
            "role-change 202 pending_approval user",
            "role-change-approved 200 admin",
            "role-change-stale 403",
            "checkout-carol 403",
            "profile-carol 200",
            "admin-list-after-30-minutes 403",
            "audit-records-alice true",
        ]
    );
}
