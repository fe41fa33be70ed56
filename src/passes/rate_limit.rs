//! `auth/rate-limit`: sign-in, sign-up and account-recovery route handlers without a rate
//! limit. Each exported POST (PUT, PATCH) handler of such a route starts by counting the
//! attempt with an injected limiter and answering 429 past the limit.

use crate::lang::Lang;
use crate::passes::imports::{self, ImportFacts};
use crate::passes::routes;
use crate::passes::{
    facts_of, helper_file, helper_for, helper_path, Facts, FileView, Pass, PassOutput, ProjectView,
};
use crate::plan::{Applicability, Area, Edit, Proposal, Severity};
use crate::rules::RuleMeta;
use ast_grep_core::tree_sitter::StrDoc;
use ast_grep_core::Node;
use serde_json::json;
use std::collections::BTreeMap;

pub const RATE_LIMIT: &str = "auth/rate-limit";
const HELPER: &str = "rateLimit";
/// Path segments of routes that take credentials or start account recovery.
const AUTH_ROUTE_WORDS: &[&str] = &[
    "login", "log-in", "signin", "sign-in", "signup", "sign-up", "register", "reset", "forgot",
    "magic", "otp", "recover", "password", "verify",
];

type N<'a> = Node<'a, StrDoc<Lang>>;

pub struct RateLimit {
    meta: [RuleMeta; 1],
}

impl Default for RateLimit {
    fn default() -> Self {
        RateLimit {
            meta: [crate::passes::rule_meta(
                "src/passes/rate_limit.rs",
                Area::Auth,
                RATE_LIMIT,
                "Sign-in, sign-up and recovery routes are rate-limited",
                Severity::Error,
                Applicability::Review,
                [
                    "Finds route handlers (App Router `route.ts`) of sign-in, sign-up, password-reset, magic-link and OTP routes whose POST, PUT or PATCH handler has no rate limit, and makes it start with `rateLimit(req, \"<route>\")` from an injected limiter: 10 attempts per client address per route in 15 minutes, then 429 with Retry-After.",
                    "An unlimited login route lets anyone try passwords (or OTP codes) as fast as the server answers; an unlimited signup or reset route is a spam cannon pointed at your email provider and your users' inboxes.",
                    "export async function POST(req: Request) {\n  const { email, password } = await req.json();\n  /* ... */\n}",
                    "export async function POST(req: Request) {\n  const limited = rateLimit(req, \"api/auth/login\");\n  if (limited) return limited;\n  const { email, password } = await req.json();\n  /* ... */\n}",
                    "Review: the count is kept in the server's memory, per instance; behind several instances or serverless workers, back it with a shared store. Behind a proxy that does not set x-forwarded-for, every client shares one address.",
                ],
                &["CWE-307: Improper Restriction of Excessive Authentication Attempts", "CWE-770: Allocation of Resources Without Limits or Throttling"],
            )],
        }
    }
}

/// Where the limit goes in one handler.
struct Handler {
    /// Right after the body's `{`.
    at: usize,
    request: String,
    indent: String,
    name: String,
}

struct FileFacts {
    route: String,
    handlers: Vec<Handler>,
    /// Express routes: (route path literal's text, where the limiter goes: before the handler).
    express: Vec<(String, usize)>,
    imports: ImportFacts,
}

/// `app.post("/login", handler)` (or `router.post`) on a credential or recovery path.
fn express_route(call: &N) -> Option<(String, usize)> {
    let (_, path, at) = routes::express_route(call, &["post", "put", "patch"])?;
    let inner = path.to_lowercase();
    let auth = inner
        .split('/')
        .any(|s| AUTH_ROUTE_WORDS.iter().any(|w| s.contains(w)));
    (auth && !inner.contains("webhook")).then_some((inner, at))
}

fn auth_route(path: &str) -> Option<String> {
    let route_file = ["route.ts", "route.js", "route.tsx"]
        .iter()
        .find_map(|f| path.strip_suffix(&format!("/{f}")))?;
    let lower = route_file.to_lowercase();
    let segments: Vec<&str> = lower.split('/').collect();
    segments
        .iter()
        .any(|s| AUTH_ROUTE_WORDS.iter().any(|w| s.contains(w)))
        .then(|| {
            let app = route_file.find("app/").map_or(0, |i| i + 4);
            route_file[app..].to_string()
        })
}

/// A handler with a request parameter and a statement.
fn handler(h: routes::Handler) -> Option<Handler> {
    if !h.statements {
        return None;
    }
    Some(Handler {
        at: h.at,
        request: h.params.first()?.clone(),
        indent: h.indent,
        name: h.name,
    })
}

impl Pass for RateLimit {
    fn rules(&self) -> &[RuleMeta] {
        &self.meta
    }
    fn kinds(&self) -> &'static [&'static str] {
        routes::KINDS
    }
    fn wants(&self, path: &str, text: &str) -> bool {
        let express = text.contains("express") && text.contains(".post(");
        // casehard's own helpers (the TOTP routes) limit attempts themselves.
        (auth_route(path).is_some() || express)
            && !path.contains("lib/casehard/")
            && !text.contains("rateLimit(")
            && !text.contains("limitAttempts(")
            && !text.contains("ratelimit")
            && !text.contains("rateLimit")
    }
    fn may_edit(&self, facts: &Facts) -> bool {
        facts
            .downcast_ref::<FileFacts>()
            .is_some_and(|f| !f.handlers.is_empty() || !f.express.is_empty())
    }
    fn scan(&self, file: &FileView<'_>) -> Option<Facts> {
        let (route, handlers) = match auth_route(file.path) {
            Some(route) => {
                let handlers: Vec<Handler> =
                    routes::exported_handlers(file, &["POST", "PUT", "PATCH"])
                        .into_iter()
                        .filter_map(handler)
                        .collect();
                (route, handlers)
            }
            None => (String::new(), vec![]),
        };
        let express: Vec<(String, usize)> = if file.text.contains("express") {
            file.nodes("call_expression")
                .iter()
                .filter_map(express_route)
                .collect()
        } else {
            vec![]
        };
        (!handlers.is_empty() || !express.is_empty()).then(|| {
            Box::new(FileFacts {
                route,
                handlers,
                express,
                imports: imports::scan(&file.tree.root(), file.text),
            }) as Facts
        })
    }

    fn finish(
        &self,
        project: &ProjectView<'_>,
        facts: &BTreeMap<String, Facts>,
        out: &mut PassOutput,
    ) {
        let files: Vec<(&str, &FileFacts)> = facts_of::<FileFacts>(facts).collect();
        if files.is_empty() {
            return;
        }
        let ws = project.workspace;
        let mut helpers = std::collections::BTreeSet::new();
        for (path, file) in &files {
            let style = &project.style_of(path);
            let s = style.semi();
            let helper = helper_for(ws, path, "rate-limit.ts");
            if !file.handlers.is_empty() {
                helpers.insert(helper.clone());
            }
            for (n, h) in file.handlers.iter().enumerate() {
                let i = &h.indent;
                let mut edits = vec![Edit::insert(
                    h.at,
                    format!(
                        "\n{i}const limited = {HELPER}({}, {}){s}\n{i}if (limited) return limited{s}",
                        h.request,
                        style.string(&file.route)
                    ),
                )];
                if n == 0 {
                    if let Some(import) =
                        imports::add_named_import(ws, &file.imports, style, path, HELPER, &helper)
                    {
                        edits.insert(0, import);
                    }
                }
                out.proposals.push(Proposal {
                    rule: RATE_LIMIT.into(),
                    path: (*path).into(),
                    at: h.at..h.at,
                    message: format!(
                        "`{}` of {} takes credentials or starts account recovery without a rate limit: anyone can try passwords or codes as fast as the server answers; it now allows 10 attempts per client in 15 minutes",
                        h.name, file.route
                    ).into(),
                    applicability: Applicability::Review,
                    edits,
                });
            }
        }
        let express_helper = helper_path(ws, "rate-limit-express.ts");
        for (path, file) in files.iter().filter(|(_, f)| !f.express.is_empty()) {
            let style = &project.style_of(path);
            for (n, (route, at)) in file.express.iter().enumerate() {
                let mut edits = vec![Edit::insert(
                    *at,
                    format!("limitAttempts({}), ", style.string(route)),
                )];
                if n == 0 {
                    if let Some(import) = imports::add_named_import(
                        ws,
                        &file.imports,
                        style,
                        path,
                        "limitAttempts",
                        &express_helper,
                    ) {
                        edits.insert(0, import);
                    }
                }
                out.proposals.push(Proposal {
                    rule: RATE_LIMIT.into(),
                    path: (*path).into(),
                    at: *at..*at,
                    message: format!("the Express route {route} takes credentials or starts account recovery without a rate limit; it now allows 10 attempts per client in 15 minutes").into(),
                    applicability: Applicability::Review,
                    edits,
                });
            }
        }
        if files.iter().any(|(_, f)| !f.express.is_empty()) {
            out.new_files.extend(helper_file(
                project,
                RATE_LIMIT,
                &express_helper,
                "auth/rate-limit-express.ts",
                json!({}),
                format!("{express_helper}: the attempt limiter for Express sign-in, sign-up and recovery routes"),
            ));
        }
        for helper in helpers {
            out.new_files.extend(helper_file(
                project,
                RATE_LIMIT,
                &helper,
                "auth/rate-limit.ts",
                json!({}),
                format!("{helper}: the attempt limiter for sign-in, sign-up and recovery routes"),
            ));
        }
    }
}
