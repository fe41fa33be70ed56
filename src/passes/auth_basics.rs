//! The auth basics: cookie flags on auth cookies and sessions, secrets without a hard-coded
//! fallback, JWTs verified with pinned algorithms and signed with an expiry, and the patterns
//! that cannot be fixed mechanically (`none` algorithms, trusting `jwt.decode`, comparing
//! plain-text passwords) reported where they are.
//!
//! Each finding is local to one call or comparison; the fixes are written in the project's
//! quotes and insert only what is missing.

use crate::lang::Fields;
use crate::lang::{call_args, string_value, Lang};
use crate::passes::{facts_of, Facts, FileView, Pass, PassOutput, ProjectView};
use crate::plan::{Applicability, Area, Edit, Proposal, Severity};
use crate::rules::RuleMeta;
use crate::stack::Style;
use ast_grep_core::tree_sitter::StrDoc;
use ast_grep_core::Node;
use std::collections::BTreeMap;
use std::ops::Range;

pub const COOKIE_FLAGS: &str = "auth/cookie-flags";
pub const SECRET_FALLBACK: &str = "auth/secret-fallback";
pub const JWT_ALGORITHMS: &str = "auth/jwt-algorithms";
pub const JWT_NONE: &str = "auth/jwt-none";
pub const JWT_EXPIRY: &str = "auth/jwt-expiry";
pub const JWT_DECODE: &str = "auth/jwt-decode";
pub const PLAINTEXT_PASSWORD: &str = "auth/plaintext-password";

/// Session lifetime given to express-session cookies that have none: eight hours.
const SESSION_MAX_AGE: &str = "8 * 60 * 60 * 1000";
/// Lifetime given to signed JWTs that have none.
const JWT_EXPIRES_IN: &str = "15m";

type N<'a> = Node<'a, StrDoc<Lang>>;

pub struct AuthBasics {
    meta: [RuleMeta; 7],
}

#[allow(clippy::too_many_arguments)]
fn meta(
    id: &str,
    title: &str,
    severity: Severity,
    applicability: Applicability,
    what: &str,
    why: &str,
    before: &str,
    after: &str,
    safety: &str,
    references: &[&str],
) -> RuleMeta {
    crate::passes::rule_meta(
        "src/passes/auth_basics.rs",
        Area::Auth,
        id,
        title,
        severity,
        applicability,
        [what, why, before, after, safety],
        references,
    )
}

impl Default for AuthBasics {
    fn default() -> Self {
        AuthBasics {
            meta: [
                meta(COOKIE_FLAGS, "Auth cookies are HttpOnly, Secure and SameSite=strict", Severity::Error, Applicability::Review,
                    "Finds auth cookies (a name with session, token, auth, jwt, sid, refresh or access) set with `res.cookie`, `cookies().set` or `response.cookies.set`, and express-session / cookie-session configuration, and adds whichever of `httpOnly: true`, `secure: true` and `sameSite: \"strict\"` is missing (and an eight-hour `maxAge` on a session cookie without one); a literal `httpOnly: false` or `secure: false` becomes `true`. `sameSite: \"none\"` on an auth cookie is reported.",
                    "A script injected anywhere on the site reads a cookie without HttpOnly; one without Secure travels over plain HTTP; without SameSite=strict the browser sends it with requests other sites start, which is what CSRF needs.",
                    "res.cookie(\"session\", token);",
                    "res.cookie(\"session\", token, { httpOnly: true, secure: true, sameSite: \"strict\" });",
                    "Review: a SameSite=strict session cookie is not sent when a user follows a link from another site to yours, so they land signed out on that first page. A Secure cookie travels only over HTTPS (browsers count http://localhost as secure); express-session behind a proxy that ends TLS sets it only once the app trusts the proxy (`app.set(\"trust proxy\", 1)`).",
                    &["CWE-1004: Sensitive Cookie Without 'HttpOnly' Flag", "CWE-614: Sensitive Cookie in HTTPS Session Without 'Secure' Attribute", "CWE-352: Cross-Site Request Forgery"]),
                meta(SECRET_FALLBACK, "Secrets have no hard-coded fallback", Severity::Error, Applicability::Review,
                    "Finds `process.env.<SECRET> || \"...\"` (or `??`, or `process.env.<SECRET> ? process.env.<SECRET> : \"...\"`) for variables named like a secret, key, token, salt or password, and makes a missing value throw where it is read instead of silently using the string in the code.",
                    "The fallback is in the repository and in every copy of the generated app: anyone can sign sessions or tokens the app accepts, as soon as one deploy forgets the variable.",
                    "const secret = process.env.SESSION_SECRET || \"dev-secret\";",
                    "const secret = process.env.SESSION_SECRET || (() => { throw new Error(\"SESSION_SECRET is not set\") })();",
                    "Review: set the variable in every environment (including local development) before deploying; a missing one now stops the code that reads it.",
                    &["CWE-798: Use of Hard-coded Credentials", "CWE-1188: Initialization of a Resource with an Insecure Default"]),
                meta(JWT_ALGORITHMS, "JWTs are verified with pinned algorithms", Severity::Error, Applicability::Review,
                    "Finds `jwt.verify(...)` (jsonwebtoken) and `jwtVerify(...)` (jose) without an `algorithms` option and pins it: `RS256` when the key looks asymmetric (public key, PEM, certificate, JWKS), `HS256` otherwise.",
                    "Without a pinned list the token chooses its own algorithm: key-confusion attacks sign with HS256 using the public key as the secret, and some versions accept `none`.",
                    "const claims = jwt.verify(token, process.env.JWT_SECRET!);",
                    "const claims = jwt.verify(token, process.env.JWT_SECRET!, { algorithms: [\"HS256\"] });",
                    "Review: tokens signed with another algorithm than the one pinned are now rejected; check what the issuer uses.",
                    &["CWE-347: Improper Verification of Cryptographic Signature", "CWE-327: Use of a Broken or Risky Cryptographic Algorithm"]),
                meta(JWT_NONE, "No JWT uses the `none` algorithm", Severity::Error, Applicability::Manual,
                    "Reports `algorithm: \"none\"` when signing and `\"none\"` in the `algorithms` accepted when verifying.",
                    "An unsigned token is a claim anyone can write: whoever sends one is whoever they say.",
                    "jwt.verify(token, key, { algorithms: [\"HS256\", \"none\"] });",
                    "jwt.verify(token, key, { algorithms: [\"HS256\"] });",
                    "Manual: find out who relies on unsigned tokens before removing it.",
                    &["CWE-347: Improper Verification of Cryptographic Signature"]),
                meta(JWT_EXPIRY, "Signed JWTs expire", Severity::Warning, Applicability::Review,
                    "Finds `jwt.sign(payload, key)` without `expiresIn` (and a payload without `exp`) and gives the token a 15-minute lifetime.",
                    "A token without an expiry is valid forever: one leaked log line or browser history entry is a permanent login.",
                    "const token = jwt.sign({ sub: user.id }, secret);",
                    "const token = jwt.sign({ sub: user.id }, secret, { expiresIn: \"15m\" });",
                    "Review: clients holding a token longer than 15 minutes need to refresh it; lengthen it deliberately if the app has no refresh flow.",
                    &["CWE-613: Insufficient Session Expiration"]),
                meta(JWT_DECODE, "Authorization never trusts an unverified JWT", Severity::Error, Applicability::Manual,
                    "Reports `jwt.decode(...)` and jose `decodeJwt(...)` in request-handling code: they read the claims without checking the signature.",
                    "Anyone can write a token whose payload says `role: \"admin\"`; decoding it proves nothing.",
                    "const { role } = jwt.decode(token) as { role: string };",
                    "const { role } = jwt.verify(token, key, { algorithms: [\"HS256\"] }) as { role: string };",
                    "Manual: verify the token where the claims decide anything.",
                    &["CWE-345: Insufficient Verification of Data Authenticity"]),
                meta(PLAINTEXT_PASSWORD, "Passwords are never compared in plain text", Severity::Error, Applicability::Manual,
                    "Reports `===`/`==`/`!==` between two password values (`user.password === password`).",
                    "Comparing equals means the password is stored as it was typed: one database leak gives every account, and every other site where the same password is used.",
                    "if (user.password !== password) throw new Error(\"wrong password\");",
                    "if (!(await bcrypt.compare(password, user.passwordHash))) throw new Error(\"wrong password\");",
                    "Manual: store a slow hash (bcrypt, scrypt, argon2) and migrate the existing passwords on next login.",
                    &["CWE-256: Plaintext Storage of a Password", "CWE-916: Use of Password Hash With Insufficient Computational Effort"]),
            ],
        }
    }
}

/// A property value to insert, written in the project's style.
#[derive(Clone, Debug)]
enum Value {
    True,
    Str(&'static str),
    Raw(String),
}

/// What a finding changes, resolved against the project's style in `finish`.
#[derive(Debug)]
enum Change {
    /// Add properties to an object literal after its last property.
    AddProps {
        /// Right after the last property (or its trailing comma); inside `{}` when empty.
        at: usize,
        /// The object already has properties (so a separator comes first).
        nonempty: bool,
        /// The object ends with a trailing comma.
        trailing_comma: bool,
        /// One property per line, at this indentation.
        multiline: Option<String>,
        props: Vec<(&'static str, Value)>,
    },
    /// Add an options object as a new argument at `at` (after the previous argument).
    AddArgument {
        at: usize,
        props: Vec<(&'static str, Value)>,
        /// The argument goes before another one (`, { ... }` vs `{ ... }, `).
        before_next: bool,
    },
    /// Turn `httpOnly: false` and `secure: false` (the `false`s at `off`) on, and make `add`.
    TurnOn {
        off: Vec<(String, Range<usize>)>,
        add: Option<Box<Change>>,
    },
    /// Replace a fallback with a throw.
    ThrowIfMissing {
        range: Range<usize>,
        left: String,
        name: String,
    },
}

#[derive(Debug)]
struct Found {
    rule: &'static str,
    at: Range<usize>,
    message: String,
    change: Option<Change>,
}

struct FileFacts {
    found: Vec<Found>,
}

const AUTH_COOKIE_WORDS: &[&str] = &[
    "session", "token", "auth", "jwt", "sid", "refresh", "access",
];

fn is_auth_cookie(name: &str) -> bool {
    let n = name.to_lowercase();
    AUTH_COOKIE_WORDS.iter().any(|w| n.contains(w))
}

/// The `key: value` pairs of an object literal, by key.
fn props<'a>(object: &N<'a>) -> Vec<(String, N<'a>)> {
    object
        .children()
        .filter_map(|c| match c.kind().as_ref() {
            "pair" => {
                let key = c.child_in("key")?;
                let name = string_value(&key).unwrap_or_else(|| key.text().to_string());
                Some((name, c.child_in("value")?))
            }
            "shorthand_property_identifier" => Some((c.text().to_string(), c.clone())),
            _ => None,
        })
        .collect()
}

fn add_props(object: &N, props_to_add: Vec<(&'static str, Value)>) -> Option<Change> {
    if props_to_add.is_empty() {
        return None;
    }
    let text = object.text();
    let inner = &text[1..text.len() - 1];
    let kept = inner.trim_end();
    let multiline = inner.contains('\n').then(|| {
        // The indentation of the last property's line.
        let last_line = kept.rsplit('\n').next().unwrap_or("");
        last_line
            .chars()
            .take_while(|c| c.is_whitespace())
            .collect::<String>()
    });
    Some(Change::AddProps {
        at: object.range().start + 1 + kept.len(),
        nonempty: !kept.trim().is_empty(),
        trailing_comma: kept.ends_with(','),
        multiline,
        props: props_to_add,
    })
}

/// The cookie flags an options object lacks; `sameSite: "none"` is reported instead.
fn missing_flags(options: Option<&N>, session: bool) -> (Vec<(&'static str, Value)>, bool) {
    let existing = options.map(props).unwrap_or_default();
    let has = |k: &str| existing.iter().any(|(name, _)| name == k);
    let same_site_none = existing.iter().any(|(name, v)| {
        name == "sameSite"
            && v.text()
                .trim_matches(['"', '\'', '`'])
                .eq_ignore_ascii_case("none")
    });
    let mut add = vec![];
    if !has("httpOnly") {
        add.push(("httpOnly", Value::True));
    }
    if !has("secure") {
        add.push(("secure", Value::True));
    }
    if !has("sameSite") {
        add.push(("sameSite", Value::Str("strict")));
    }
    if session && !has("maxAge") && !has("expires") {
        add.push(("maxAge", Value::Raw(SESSION_MAX_AGE.into())));
    }
    (add, same_site_none)
}

/// Where an options object switches `httpOnly` or `secure` off with a literal `false`.
fn switched_off(options: Option<&N>) -> Vec<(String, Range<usize>)> {
    options
        .map(props)
        .unwrap_or_default()
        .into_iter()
        .filter(|(k, v)| (k == "httpOnly" || k == "secure") && v.kind() == "false")
        .map(|(k, v)| (k, v.range()))
        .collect()
}

/// `add` (if any), and the switched-off flags at `off` turned on; `None` when neither.
fn turn_on(add: Option<Change>, off: Vec<(String, Range<usize>)>) -> Option<Change> {
    if off.is_empty() {
        return add;
    }
    Some(Change::TurnOn {
        off,
        add: add.map(Box::new),
    })
}

/// What a finding's message says is done: `added` (the missing flags are added) and the flags
/// switched off that are turned on; only the latter when nothing is missing.
fn what_is_done(change: &Option<Change>, added: &str) -> String {
    let Some(Change::TurnOn { off, add }) = change else {
        return added.to_string();
    };
    let names: Vec<String> = off.iter().map(|(k, _)| format!("`{k}: false`")).collect();
    let verb = if names.len() == 1 {
        "becomes"
    } else {
        "become"
    };
    let turned = format!("{} {verb} `true`", names.join(" and "));
    match add {
        Some(_) => format!("{added}; {turned}"),
        None => turned,
    }
}

/// Names bound to Next.js's cookie store: `const store = await cookies()`.
fn cookie_stores(text: &str) -> Vec<String> {
    text.match_indices("cookies()")
        .filter_map(|(at, _)| {
            let before = text[..at].trim_end();
            let before = before.strip_suffix("await").unwrap_or(before).trim_end();
            let before = before.strip_suffix('=')?.trim_end();
            let name: String = before
                .chars()
                .rev()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '$')
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect();
            (!name.is_empty()).then_some(name)
        })
        .collect()
}

fn cookie_call(call: &N, stores: &[String]) -> Option<Found> {
    let func = call.child_in("function")?;
    let text = func.text();
    let store_set = text
        .strip_suffix(".set")
        .is_some_and(|object| stores.iter().any(|s| s == object));
    let setter = text.ends_with(".cookie")
        || text.ends_with("cookies.set")
        || text.ends_with("cookies().set")
        || store_set;
    if !setter {
        return None;
    }
    let args = call_args(call);
    // `cookies().set({ name, value, ...options })` or `set(name, value, options?)`.
    let (name, options, last) = match args.as_slice() {
        [object] if object.kind() == "object" => {
            let name = props(object)
                .into_iter()
                .find(|(k, _)| k == "name")
                .and_then(|(_, v)| string_value(&v))?;
            (name, Some(object.clone()), object.clone())
        }
        [name, value] => (string_value(name)?, None, value.clone()),
        [name, _, options, ..] if options.kind() == "object" => {
            (string_value(name)?, Some(options.clone()), options.clone())
        }
        _ => return None,
    };
    if !is_auth_cookie(&name) {
        return None;
    }
    let (add, none) = missing_flags(options.as_ref(), false);
    if none {
        return Some(Found {
            rule: COOKIE_FLAGS,
            at: call.range(),
            message: format!("auth cookie `{name}` is sent with `sameSite: \"none\"`: every other site's requests carry it (CSRF); use \"strict\" (or \"lax\" if it must survive links from other sites)"),
            change: None,
        });
    }
    let add = match &options {
        Some(object) => add_props(object, add),
        None if add.is_empty() => None,
        None => Some(Change::AddArgument {
            at: last.range().end,
            props: add,
            before_next: false,
        }),
    };
    let change = turn_on(add, switched_off(options.as_ref()));
    let done = what_is_done(&change, "the missing flags are added");
    Some(Found {
        rule: COOKIE_FLAGS,
        at: call.range(),
        message: format!("auth cookie `{name}` is set without HttpOnly, Secure and SameSite=strict all in place: scripts can read it, plain HTTP carries it, other sites' requests send it; {done}"),
        change: Some(change?),
    })
}

/// `session({ secret, cookie: { ... } })` (express-session) and `cookieSession({ ... })`.
fn session_config(call: &N) -> Option<Found> {
    let func = call.child_in("function")?;
    if func.kind() != "identifier" {
        return None;
    }
    let callee = func.text().to_string();
    let express_session = matches!(callee.as_str(), "session" | "expressSession");
    let cookie_session = matches!(callee.as_str(), "cookieSession");
    if !express_session && !cookie_session {
        return None;
    }
    let args = call_args(call);
    let [config] = args.as_slice() else {
        return None;
    };
    if config.kind() != "object" {
        return None;
    }
    let config_props = props(config);
    if !config_props
        .iter()
        .any(|(k, _)| k == "secret" || k == "keys")
    {
        return None;
    }
    // express-session keeps cookie options under `cookie`; cookie-session at the top level.
    let (target, none) = if express_session {
        match config_props.iter().find(|(k, _)| k == "cookie") {
            Some((_, cookie)) if cookie.kind() == "object" => {
                let (add, none) = missing_flags(Some(cookie), true);
                (
                    turn_on(add_props(cookie, add), switched_off(Some(cookie))),
                    none,
                )
            }
            Some(_) => return None,
            None => {
                let (add, _) = missing_flags(None, true);
                let body = add;
                (
                    add_props(config, vec![("cookie", Value::Raw(object_text(&body)))]),
                    false,
                )
            }
        }
    } else {
        let (add, none) = missing_flags(Some(config), true);
        (
            turn_on(add_props(config, add), switched_off(Some(config))),
            none,
        )
    };
    if none {
        return Some(Found {
            rule: COOKIE_FLAGS,
            at: call.range(),
            message: "the session cookie is sent with `sameSite: \"none\"`: every other site's requests carry it (CSRF); use \"strict\"".into(),
            change: None,
        });
    }
    let done = what_is_done(
        &target,
        "the missing options are added (an eight-hour maxAge where there was none)",
    );
    let change = target?;
    Some(Found {
        rule: COOKIE_FLAGS,
        at: call.range(),
        message: format!("the `{callee}` cookie lacks some of HttpOnly, Secure, SameSite=strict and a short lifetime; {done}"),
        change: Some(change),
    })
}

/// A placeholder rendering used inside `Value::Raw` for a nested object; quotes are fixed up
/// in `finish` (the `\u{0}` marks a string to quote).
fn object_text(props: &[(&'static str, Value)]) -> String {
    let body: Vec<String> = props
        .iter()
        .map(|(k, v)| match v {
            Value::True => format!("{k}: true"),
            Value::Str(s) => format!("{k}: \u{0}{s}\u{0}"),
            Value::Raw(r) => format!("{k}: {r}"),
        })
        .collect();
    format!("{{ {} }}", body.join(", "))
}

const SECRET_WORDS: &[&str] = &["SECRET", "KEY", "TOKEN", "SALT", "PASSWORD", "PEPPER"];

fn secret_fallback(node: &N) -> Option<Found> {
    let (left, right) = if node.kind() == "ternary_expression" {
        // `process.env.X ? process.env.X : "..."`: the same fallback, spelled out.
        let (condition, then) = (node.child_in("condition")?, node.child_in("consequence")?);
        if condition.text() != then.text() {
            return None;
        }
        (condition, node.child_in("alternative")?)
    } else {
        let operator = node.child_in("operator")?.text().to_string();
        if operator != "||" && operator != "??" {
            return None;
        }
        (node.child_in("left")?, node.child_in("right")?)
    };
    let name = left.text().strip_prefix("process.env.")?.to_string();
    if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return None;
    }
    let upper = name.to_uppercase();
    if !SECRET_WORDS.iter().any(|w| upper.contains(w)) || upper.contains("PUBLIC") {
        return None;
    }
    if !matches!(right.kind().as_ref(), "string" | "template_string") {
        return None;
    }
    Some(Found {
        rule: SECRET_FALLBACK,
        at: node.range(),
        message: format!("`{name}` falls back to a value written in the code: a deploy without it runs with a secret everyone can read; a missing `{name}` now throws where it is read"),
        change: Some(Change::ThrowIfMissing {
            range: node.range(),
            left: left.text().to_string(),
            name,
        }),
    })
}

fn jwt_object(text: &str) -> bool {
    matches!(text, "jwt" | "jsonwebtoken" | "JWT" | "jsonWebToken")
}

fn asymmetric(key: &str) -> bool {
    let k = key.to_lowercase();
    [
        "public", "pem", "cert", "jwks", "pubkey", "rsa", "ecdsa", "spki",
    ]
    .iter()
    .any(|w| k.contains(w))
}

/// `jwt.verify`, `jwtVerify`, `jwt.sign`, `jwt.decode`, `decodeJwt`.
fn jwt_call(call: &N) -> Vec<Found> {
    let Some(func) = call.child_in("function") else {
        return vec![];
    };
    let (object, method) = match func.kind().as_ref() {
        "member_expression" => (
            func.child_in("object")
                .map(|o| o.text().to_string())
                .unwrap_or_default(),
            func.child_in("property")
                .map(|p| p.text().to_string())
                .unwrap_or_default(),
        ),
        "identifier" => (String::new(), func.text().to_string()),
        _ => return vec![],
    };
    // Most calls are not JWT calls: leave before collecting arguments.
    if !matches!(
        method.as_str(),
        "verify" | "jwtVerify" | "sign" | "decode" | "decodeJwt"
    ) {
        return vec![];
    }
    let jsonwebtoken = jwt_object(&object);
    let jose = object.is_empty() || object == "jose";
    let args = call_args(call);
    let mut out = vec![];
    let none_in = |n: &N| {
        n.dfs().any(|d| {
            d.kind() == "string" && string_value(&d).is_some_and(|s| s.eq_ignore_ascii_case("none"))
        })
    };
    match (method.as_str(), jsonwebtoken, jose) {
        ("verify", true, _) | ("jwtVerify", _, true) => {
            let (Some(key), options) = (args.get(1), args.get(2)) else {
                return out;
            };
            let options = options.filter(|o| o.kind() == "object");
            if let Some(o) = &options {
                if let Some((_, list)) = props(o).into_iter().find(|(k, _)| k == "algorithms") {
                    if none_in(&list) {
                        out.push(Found {
                            rule: JWT_NONE,
                            at: list.range(),
                            message: "`none` is among the accepted algorithms: an unsigned token passes verification".into(),
                            change: None,
                        });
                    }
                    return out;
                }
            }
            let alg = if asymmetric(&key.text()) { "RS256" } else { "HS256" };
            let algorithms = Value::Raw(format!("[\u{0}{alg}\u{0}]"));
            let change = match (&options, args.get(2)) {
                (Some(o), _) => add_props(o, vec![("algorithms", algorithms)]),
                // A callback third argument: the options go before it.
                (None, Some(next)) => Some(Change::AddArgument {
                    at: next.range().start,
                    props: vec![("algorithms", algorithms)],
                    before_next: true,
                }),
                (None, None) => Some(Change::AddArgument {
                    at: key.range().end,
                    props: vec![("algorithms", algorithms)],
                    before_next: false,
                }),
            };
            out.push(Found {
                rule: JWT_ALGORITHMS,
                at: call.range(),
                message: format!("`{}` accepts whatever algorithm the token names (key confusion, `none`); it now accepts only {alg}", func.text()),
                change,
            });
        }
        ("sign", true, _) => {
            let (Some(payload), Some(key)) = (args.first(), args.get(1)) else {
                return out;
            };
            let options = args.get(2).filter(|o| o.kind() == "object");
            if let Some(o) = &options {
                if let Some((_, alg)) = props(o).into_iter().find(|(k, _)| k == "algorithm") {
                    if none_in(&alg) {
                        out.push(Found {
                            rule: JWT_NONE,
                            at: alg.range(),
                            message: "tokens are signed with `none`: they carry no signature at all".into(),
                            change: None,
                        });
                        return out;
                    }
                }
                if props(o).iter().any(|(k, _)| k == "expiresIn") {
                    return out;
                }
            }
            if payload.kind() == "object" && props(payload).iter().any(|(k, _)| k == "exp") {
                return out;
            }
            let expiry = vec![("expiresIn", Value::Str(JWT_EXPIRES_IN))];
            let change = match (&options, args.get(2)) {
                (Some(o), _) => add_props(o, expiry),
                (None, Some(next)) => Some(Change::AddArgument {
                    at: next.range().start,
                    props: expiry,
                    before_next: true,
                }),
                (None, None) => Some(Change::AddArgument {
                    at: key.range().end,
                    props: expiry,
                    before_next: false,
                }),
            };
            out.push(Found {
                rule: JWT_EXPIRY,
                at: call.range(),
                message: format!("`{}` makes a token that never expires; it now lasts {JWT_EXPIRES_IN}", func.text()),
                change,
            });
        }
        ("decode", true, _) | ("decodeJwt", _, true) => out.push(Found {
            rule: JWT_DECODE,
            at: call.range(),
            message: format!("`{}` reads a token's claims without checking its signature: anyone can write them; verify the token where its claims decide anything", func.text()),
            change: None,
        }),
        _ => {}
    }
    out
}

fn password_like(text: &str) -> bool {
    let last = text.rsplit('.').next().unwrap_or(text).to_lowercase();
    (last.contains("password") || last == "passwd" || last == "pwd")
        && !last.contains("hash")
        && !last.contains("length")
}

fn plaintext_password(node: &N) -> Option<Found> {
    let operator = node.child_in("operator")?.text().to_string();
    if !matches!(operator.as_str(), "===" | "==" | "!==" | "!=") {
        return None;
    }
    let (left, right) = (node.child_in("left")?, node.child_in("right")?);
    let literal = |n: &N| {
        matches!(
            n.kind().as_ref(),
            "string" | "null" | "undefined" | "number"
        )
    };
    if literal(&left) || literal(&right) {
        return None;
    }
    (password_like(&left.text()) && password_like(&right.text())).then(|| Found {
        rule: PLAINTEXT_PASSWORD,
        at: node.range(),
        message: format!("`{}` compares passwords as plain text: they are stored as typed; store a slow hash (bcrypt, scrypt, argon2) and compare with it", node.text()),
        change: None,
    })
}

impl Pass for AuthBasics {
    fn rules(&self) -> &[RuleMeta] {
        &self.meta
    }
    fn kinds(&self) -> &'static [&'static str] {
        &["call_expression", "binary_expression", "ternary_expression"]
    }
    fn wants(&self, _path: &str, text: &str) -> bool {
        text.contains("cookie")
            || text.contains("Session(")
            || text.contains("session(")
            || text.contains("process.env.")
            || text.contains("jwt")
            || text.contains("Jwt")
            || text.contains("password")
    }
    fn may_edit(&self, facts: &Facts) -> bool {
        facts
            .downcast_ref::<FileFacts>()
            .is_some_and(|f| f.found.iter().any(|x| x.change.is_some()))
    }
    fn scan(&self, file: &FileView<'_>) -> Option<Facts> {
        let mut found = vec![];
        let stores = cookie_stores(file.text);
        for call in file.nodes("call_expression") {
            found.extend(cookie_call(call, &stores));
            found.extend(session_config(call));
            found.extend(jwt_call(call));
        }
        for b in file.nodes("binary_expression") {
            found.extend(secret_fallback(b));
            found.extend(plaintext_password(b));
        }
        for t in file.nodes("ternary_expression") {
            found.extend(secret_fallback(t));
        }
        (!found.is_empty()).then(|| Box::new(FileFacts { found }) as Facts)
    }

    fn finish(
        &self,
        project: &ProjectView<'_>,
        facts: &BTreeMap<String, Facts>,
        out: &mut PassOutput,
    ) {
        for (path, file) in facts_of::<FileFacts>(facts) {
            let style = &project.style_of(path);
            // JWT decoding outside request-handling code (a client reading its own token's
            // expiry) decides nothing on the server.
            let handles_requests = project.stack.request_input.contains(path);
            for f in &file.found {
                if f.rule == JWT_DECODE && !handles_requests {
                    continue;
                }
                let edits = f
                    .change
                    .as_ref()
                    .map(|c| render(c, style))
                    .unwrap_or_default();
                out.proposals.push(Proposal {
                    rule: f.rule.into(),
                    path: path.into(),
                    at: f.at.clone(),
                    message: f.message.as_str().into(),
                    applicability: if edits.is_empty() {
                        Applicability::Manual
                    } else {
                        Applicability::Review
                    },
                    edits,
                });
            }
        }
    }
}

fn value_text(v: &Value, style: &Style) -> String {
    let quoted = |s: &str| style.string(s);
    match v {
        Value::True => "true".into(),
        Value::Str(s) => quoted(s),
        Value::Raw(r) => {
            // Strings marked inside nested values take the project's quotes.
            let mut out = String::new();
            let mut parts = r.split('\u{0}');
            if let Some(first) = parts.next() {
                out.push_str(first);
            }
            let rest: Vec<&str> = parts.collect();
            for pair in rest.chunks(2) {
                out.push_str(&quoted(pair[0]));
                if let Some(after) = pair.get(1) {
                    out.push_str(after);
                }
            }
            out
        }
    }
}

fn props_text(props: &[(&'static str, Value)], style: &Style) -> String {
    props
        .iter()
        .map(|(k, v)| format!("{k}: {}", value_text(v, style)))
        .collect::<Vec<_>>()
        .join(", ")
}

fn render(change: &Change, style: &Style) -> Vec<Edit> {
    let edit = match change {
        Change::TurnOn { off, add } => {
            let mut edits: Vec<Edit> = off
                .iter()
                .map(|(_, r)| Edit::replace(r.clone(), "true"))
                .collect();
            edits.extend(add.iter().flat_map(|a| render(a, style)));
            return edits;
        }
        Change::AddProps {
            at,
            nonempty,
            trailing_comma,
            multiline,
            props,
        } => {
            let text = match (multiline, nonempty) {
                (Some(indent), true) => {
                    let lines: String = props
                        .iter()
                        .map(|(k, v)| format!("\n{indent}{k}: {},", value_text(v, style)))
                        .collect();
                    if *trailing_comma {
                        lines
                    } else {
                        // `a: 1` gains a comma; the last new property keeps none.
                        format!(",{}", lines.trim_end_matches(','))
                    }
                }
                (_, false) => format!(" {} ", props_text(props, style)),
                (None, true) if *trailing_comma => format!(" {}", props_text(props, style)),
                (None, true) => format!(", {}", props_text(props, style)),
            };
            Edit::insert(*at, text)
        }
        Change::AddArgument {
            at,
            props,
            before_next,
        } => {
            let object = format!("{{ {} }}", props_text(props, style));
            if *before_next {
                Edit::insert(*at, format!("{object}, "))
            } else {
                Edit::insert(*at, format!(", {object}"))
            }
        }
        Change::ThrowIfMissing { range, left, name } => Edit::replace(
            range.clone(),
            format!(
                "{left} || (() => {{ throw new Error({}) }})()",
                style.string(&format!("{name} is not set"))
            ),
        ),
    };
    vec![edit]
}
