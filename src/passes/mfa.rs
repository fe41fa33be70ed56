//! `mfa/supabase-aal2` and `mfa/clerk-second-factor`: a Next.js app on Supabase Auth or
//! Clerk whose admin and payment routes are reachable with a single factor. Its middleware is
//! made to require a second factor on those routes, through the provider's own session (its
//! own middleware is kept and runs after the check; its matcher is extended); pages without
//! one are sent to an injected `/mfa` page, API calls get 403.

use crate::lang::Fields;
use crate::passes::imports::ImportFacts;
use crate::passes::{
    clients, facts_of, helper_file, helper_path, imports, Facts, FileView, Pass, PassOutput,
    ProjectView,
};
use crate::plan::{Applicability, Area, Edit, Proposal, Severity};
use crate::rules::RuleMeta;
use crate::stack::{Auth, Framework};
use crate::workspace::Workspace;
use serde_json::json;
use std::collections::BTreeMap;

pub const SUPABASE_AAL2: &str = "mfa/supabase-aal2";
pub const CLERK_SECOND_FACTOR: &str = "mfa/clerk-second-factor";
/// Route segments of the payment plane.
pub const PAYMENT_WORDS: &[&str] = &[
    "checkout",
    "billing",
    "portal",
    "subscription",
    "refund",
    "payout",
];

pub struct Mfa {
    meta: [RuleMeta; 2],
}

impl Default for Mfa {
    fn default() -> Self {
        Mfa {
            meta: [
            crate::passes::rule_meta(
                "src/passes/mfa.rs",
                Area::Auth,
                SUPABASE_AAL2,
                "Admin and payment routes require a second factor",
                Severity::Error,
                Applicability::Review,
                [
                    "In a Next.js app on Supabase Auth, finds the admin routes (`admin` in the route path) and payment routes (checkout, billing, portal, subscription, refund, payout; never webhooks) and puts an authenticator-assurance check in front of them: `requireMfa` (injected) confirms the session with Supabase Auth and requires `aal2`; pages without it are redirected to an injected `/mfa` page that enrolls a TOTP authenticator and verifies a code, API routes answer 403. An existing `middleware.ts` keeps its logic (it runs after the check) and its matcher gains the protected routes; an app without one gets one.",
                    "A stolen or phished password is enough to reach the admin panel and move money when nothing asks for a second factor; generated apps put `/admin` behind a role check at most.",
                    "// middleware.ts\nexport async function middleware(request: NextRequest) {\n  return updateSession(request);\n}\nexport const config = { matcher: [\"/dashboard/:path*\"] };",
                    "async function appMiddleware(request: NextRequest) {\n  return updateSession(request);\n}\nexport const config = { matcher: [\"/dashboard/:path*\", \"/admin/:path*\"] };\nexport async function middleware(...args: Parameters<typeof appMiddleware>) {\n  const denied = await requireMfa(args[0]);\n  if (denied) return denied;\n  return appMiddleware(...args);\n}",
                    "Review: admins and paying users must enroll an authenticator app at /mfa before they can reach those routes; enable TOTP MFA in the Supabase project. The app's own middleware now also runs on the protected routes.",
                ],
                &[
                    "CWE-308: Use of Single-factor Authentication",
                    "https://supabase.com/docs/guides/auth/auth-mfa",
                ],
            ),
            crate::passes::rule_meta(
                "src/passes/mfa.rs",
                Area::Auth,
                CLERK_SECOND_FACTOR,
                "Admin and payment routes require a second factor (Clerk)",
                Severity::Error,
                Applicability::Review,
                [
                    "In a Next.js app on Clerk, finds the admin routes (`admin` in the route path) and payment routes (checkout, billing, portal, subscription, refund, payout; never webhooks) and makes `clerkMiddleware` check the verified session token's factor ages (`factorVerificationAge`, Clerk's `fva` claim) before the app's own handler runs: a session whose second factor was never verified is refused (pages are sent to an injected `/mfa` page, API routes answer 403), and deletes and role, balance or credit changes on admin routes need a second factor verified in the last 10 minutes. An existing handler is wrapped (`withMfa(handler)`), its options and matcher kept (the matcher gains the protected routes); an app without a middleware gets one. With a database client casehard finds (Prisma, Drizzle, node-postgres) and Next.js 15.5 or later, the middleware runs on Node.js (`runtime: 'nodejs'`) and also holds admin writes naming roles, balances or credits (`[mfa] dual_approval`) for a second admin (202, then the same request with `X-Casehard-Approval`), and writes an audit record of every refusal and every request let through, in two tables of the app's database (a migration); a request whose record cannot be written is refused.",
                    "Clerk lets a user sign in with a password alone unless the app asks for more; a stolen or phished password then reaches the admin panel and the payment actions.",
                    "// middleware.ts\nexport default clerkMiddleware(async (auth, req) => {\n  if (isProtectedRoute(req)) await auth.protect();\n});",
                    "export default clerkMiddleware(withMfa(async (auth, req) => {\n  if (isProtectedRoute(req)) await auth.protect();\n}));",
                    "Review: enable an authenticator app (TOTP) as a second factor in the Clerk dashboard; admins and paying users must add one and sign in with it before they can reach those routes, and must verify it again for destructive admin actions after 10 minutes. Where the approvals and the audit log are written, apply the migration; the middleware then runs on Node.js instead of the Edge runtime.",
                ],
                &[
                    "CWE-308: Use of Single-factor Authentication",
                    "https://clerk.com/docs/guides/secure/reverification",
                ],
            ),
            ],
        }
    }
}

/// The app router folder: `app` or `src/app`.
pub(crate) fn app_dir(ws: &Workspace) -> Option<&'static str> {
    ["src/app", "app"].into_iter().find(|d| {
        ws.files.keys().any(|p| {
            p.starts_with(&format!("{d}/"))
                && (p.ends_with("/page.tsx") || p.ends_with("/route.ts"))
        })
    })
}

/// The URL prefixes of the admin and payment routes under `app`: the path up to the first
/// `admin` or payment segment, route groups (`(shop)`) left out.
fn protected_prefixes(ws: &Workspace, app: &str) -> Vec<String> {
    let mut out: Vec<String> = ws
        .files
        .keys()
        .filter_map(|p| p.strip_prefix(&format!("{app}/")))
        .filter(|p| {
            ["page.tsx", "page.ts", "page.jsx", "route.ts", "route.js"]
                .iter()
                .any(|f| p.ends_with(f))
        })
        .filter(|p| !p.to_lowercase().contains("webhook"))
        .filter_map(|p| {
            let mut url = String::new();
            for segment in p.split('/').take_while(|s| !s.contains('.')) {
                if segment.starts_with('(') && segment.ends_with(')') {
                    continue;
                }
                url.push('/');
                url.push_str(segment);
                let lower = segment.to_lowercase();
                if lower == "admin" || PAYMENT_WORDS.iter().any(|w| lower.contains(w)) {
                    return Some(url);
                }
            }
            None
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

/// What the pass reads in a middleware file.
struct MiddlewareFacts {
    imports: ImportFacts,
    /// The first `clerkMiddleware(...)` call: where its arguments open and its first argument.
    clerk: Option<ClerkCall>,
    matcher: Option<Matcher>,
    /// The object that holds the matcher (the middleware's config): just after its `{`, and
    /// whether it names a `runtime`.
    config: Option<(usize, bool)>,
}

/// The value of the config's `matcher`.
enum Matcher {
    /// An array: after its last element (or its `[` when empty), and the last element's
    /// indentation when the array spans lines.
    Array {
        after: usize,
        indent: Option<String>,
    },
    /// A single string.
    Str(std::ops::Range<usize>),
    /// Anything else (a variable, a call).
    Other,
}

/// The `matcher` property of the middleware's config.
fn matcher_pair<'a>(file: &FileView<'a>) -> Option<&'a crate::lang::N<'a>> {
    file.nodes("pair").iter().find(|p| key_is(p, "matcher"))
}

fn key_is(pair: &crate::lang::N, name: &str) -> bool {
    pair.child_in("key")
        .is_some_and(|k| crate::lang::string_value(&k).as_deref() == Some(name) || k.text() == name)
}

/// The config object holding `pair`: after its `{`, and whether it has a `runtime`.
fn config_of(pair: &crate::lang::N) -> Option<(usize, bool)> {
    let object = pair.parent().filter(|o| o.kind() == "object")?;
    let runtime = object
        .children()
        .any(|c| c.kind() == "pair" && key_is(&c, "runtime"));
    Some((object.range().start + 1, runtime))
}

fn matcher_of(file: &FileView<'_>, pair: &crate::lang::N) -> Option<Matcher> {
    let value = pair.child_in("value")?;
    Some(match value.kind().as_ref() {
        "array" => {
            let items: Vec<_> = value
                .children()
                .filter(|c| c.is_named() && c.kind() != "comment")
                .collect();
            match items.last() {
                None => Matcher::Array {
                    after: value.range().start + 1,
                    indent: None,
                },
                Some(last) => {
                    let start = last.range().start;
                    let line_start = file.text[..start].rfind('\n').map_or(0, |n| n + 1);
                    let lead = &file.text[line_start..start];
                    let multiline = value.text().contains('\n') && lead.trim().is_empty();
                    Matcher::Array {
                        after: last.range().end,
                        indent: multiline.then(|| lead.to_string()),
                    }
                }
            }
        }
        "string" | "template_string" => Matcher::Str(value.range()),
        _ => Matcher::Other,
    })
}

struct ClerkCall {
    /// Just after the call's `(`.
    open: usize,
    /// The first argument's range, and whether it is an options object.
    first: Option<(std::ops::Range<usize>, bool)>,
}

/// The provider whose session says how the user signed in.
#[derive(Clone, Copy, PartialEq)]
enum Provider {
    Supabase,
    Clerk,
}

impl Provider {
    fn rule(self) -> &'static str {
        match self {
            Provider::Supabase => SUPABASE_AAL2,
            Provider::Clerk => CLERK_SECOND_FACTOR,
        }
    }
}

impl Pass for Mfa {
    fn rules(&self) -> &[RuleMeta] {
        &self.meta
    }

    fn kinds(&self) -> &'static [&'static str] {
        &["call_expression", "pair"]
    }

    fn wants(&self, path: &str, _text: &str) -> bool {
        path == "middleware.ts" || path == "src/middleware.ts"
    }

    /// The middleware's imports, so the check's import joins them in the file's own way, and
    /// its `clerkMiddleware` call.
    fn scan(&self, file: &FileView<'_>) -> Option<Facts> {
        let clerk = file
            .nodes("call_expression")
            .iter()
            .find(|c| {
                c.child_in("function")
                    .is_some_and(|f| f.text() == "clerkMiddleware")
            })
            .and_then(|call| {
                let args = call.child_in("arguments")?;
                let first = crate::lang::call_args(call)
                    .first()
                    .map(|a| (a.range(), a.kind() == "object"));
                Some(ClerkCall {
                    open: args.range().start + 1,
                    first,
                })
            });
        let matcher = matcher_pair(file);
        Some(Box::new(MiddlewareFacts {
            imports: imports::scan(&file.tree.root(), file.text),
            clerk,
            matcher: matcher.and_then(|p| matcher_of(file, p)),
            config: matcher.and_then(config_of),
        }))
    }

    fn may_edit(&self, _facts: &Facts) -> bool {
        true
    }

    fn finish(
        &self,
        project: &ProjectView<'_>,
        facts: &BTreeMap<String, Facts>,
        out: &mut PassOutput,
    ) {
        let stack = project.stack;
        if !stack.frameworks.contains(&Framework::NextApp) {
            return;
        }
        let provider = if stack.auth.contains(&Auth::Clerk) {
            Provider::Clerk
        } else if stack.auth.contains(&Auth::SupabaseAuth) {
            Provider::Supabase
        } else {
            return;
        };
        let rule = provider.rule();
        let ws = project.workspace;
        let Some(app) = app_dir(ws) else { return };
        let prefixes = protected_prefixes(ws, app);
        if prefixes.is_empty() {
            return;
        }
        let style = &project.stack.style;
        let root = app.strip_suffix("app").unwrap_or("");
        let middleware = format!("{root}middleware.ts");
        let helper = helper_path(ws, "mfa.ts");
        let matchers: Vec<String> = prefixes.iter().map(|p| format!("{p}/:path*")).collect();
        let specifier =
            imports::relative_specifier(crate::passes::deps::dir_of(&middleware), &helper);
        let factor = match provider {
            Provider::Supabase => "a second factor (aal2)",
            Provider::Clerk => "a second factor",
        };
        let what = format!(
            "{} need{} {factor}",
            prefixes.join(", "),
            if prefixes.len() == 1 { "s" } else { "" }
        );
        if provider == Provider::Clerk {
            if let Some(spec) = old_clerk(ws) {
                out.proposals.push(Proposal {
                    rule: rule.into(),
                    path: "package.json".into(),
                    at: 0..0,
                    message: format!("{what}, but @clerk/nextjs {spec} does not give the middleware the second factor's age (`factorVerificationAge`): upgrade to 6 or later, then run casehard again").into(),
                    applicability: Applicability::Manual,
                    edits: vec![],
                });
                return;
            }
        }
        // With the app's database client and a Next.js that runs middleware on Node.js, Clerk
        // apps get the approvals and the audit log too (the shared core, without TOTP factors).
        let db = match provider {
            Provider::Clerk if node_middleware(ws) => clients::of_app(ws, stack),
            _ => None,
        };
        let (entry, template) = match provider {
            Provider::Supabase => ("requireMfa", "mfa/middleware.ts"),
            Provider::Clerk => ("withMfa", "mfa/clerk-middleware.ts"),
        };
        if provider == Provider::Clerk && db.is_none() {
            out.proposals.push(Proposal {
                rule: rule.into(),
                path: middleware.as_str().into(),
                at: 0..0,
                message: format!(
                    "actions on {} are neither held for a second admin nor recorded: casehard writes approvals and audit records from the middleware through the app's database client (Prisma, Drizzle or node-postgres) with Next.js 15.5 or later, and found {}",
                    prefixes.join(", "),
                    if node_middleware(ws) { "no such client" } else { "an older Next.js" }
                ).into(),
                applicability: Applicability::Manual,
                edits: vec![],
            });
        }
        match ws.text(&middleware).map(|t| t.body.to_string()) {
            Some(text) if text.contains(&format!("{entry}(")) => return,
            Some(text) => {
                let style = &project.stack.style_of(&text);
                let file = facts_of::<MiddlewareFacts>(facts)
                    .find(|(p, _)| *p == middleware)
                    .map(|(_, f)| f);
                let import = file.and_then(|f| {
                    imports::add_named_import(ws, &f.imports, style, &middleware, entry, &helper)
                });
                let matcher =
                    file.and_then(|f| extend_matcher(&text, f.matcher.as_ref(), &matchers, style));
                let edits = matcher.and_then(|matcher| match provider {
                    Provider::Supabase => wrap_middleware(&text, matcher, import, style),
                    Provider::Clerk => file.and_then(|f| {
                        let call = f.clerk.as_ref()?;
                        let runtime = match (&db, f.config) {
                            (None, _) | (Some(_), Some((_, true))) => None,
                            (Some(_), config) => {
                                Some(node_runtime(&text, config.map(|(at, _)| at), style))
                            }
                        };
                        Some(wrap_clerk_handler(call, matcher, import, runtime))
                    }),
                });
                let Some(edits) = edits else {
                    let call = match provider {
                        Provider::Supabase => "`requireMfa(request)` first in it",
                        Provider::Clerk => {
                            "`clerkMiddleware` with its handler wrapped in `withMfa(...)`"
                        }
                    };
                    out.proposals.push(Proposal {
                        rule: rule.into(),
                        path: middleware.as_str().into(),
                        at: 0..0,
                        message: format!("{what}, but casehard cannot tell how this middleware is exported: call {call} from {helper} and add the routes to its matcher").into(),
                        applicability: Applicability::Manual,
                        edits: vec![],
                    });
                    return;
                };
                out.proposals.push(Proposal {
                    rule: rule.into(),
                    path: middleware.as_str().into(),
                    at: 0..0,
                    message: format!(
                        "{what}: the middleware now checks it first, then runs the app's own logic"
                    )
                    .into(),
                    applicability: Applicability::Review,
                    edits,
                });
            }
            None => {
                out.new_files.extend(helper_file(
                    project,
                    rule,
                    &middleware,
                    template,
                    json!({ "helper": specifier, "matcher": style.strings(&matchers), "db": db.is_some() }),
                    format!("{middleware}: {what}"),
                ));
            }
        }
        let (helper_template, helper_what, page_template, page_what) = match provider {
            Provider::Supabase => (
                "mfa/supabase-mfa.ts",
                "the aal2 check, confirmed with Supabase Auth, failing closed",
                "mfa/mfa-page.tsx",
                "enroll a TOTP authenticator and verify a code (Supabase MFA)",
            ),
            Provider::Clerk => (
                "mfa/clerk-mfa.ts",
                "the second-factor check on Clerk's verified session claims, failing closed",
                "mfa/clerk-mfa-page.tsx",
                "add an authenticator app (Clerk's user profile) and sign in again with it",
            ),
        };
        out.new_files.extend(helper_file(
            project,
            rule,
            &helper,
            helper_template,
            json!({
                "protected": style.strings(&prefixes),
                "approval": crate::passes::mfa_core::approval_words(project),
                "db": db.is_some(),
                "core": imports::relative_specifier(
                    crate::passes::deps::dir_of(&helper),
                    &crate::passes::mfa_core::core_path(ws),
                ),
            }),
            format!("{helper}: {helper_what}"),
        ));
        if let Some(client) = &db {
            crate::passes::mfa_core::core(project, rule, client, false, false, out);
        }
        if provider == Provider::Supabase {
            // The audit log and the approvals, reached through two functions as the user.
            crate::passes::server_tables_migration(
                project,
                crate::passes::ServerTables {
                    rule,
                    table: "casehard_approvals",
                    name: "mfa",
                    template: "sql/mfa.sql",
                    extra: json!({ "helper": helper, "cookie_sessions": false, "factors": false, "functions": true }),
                    what: "the audit log and pending approvals, behind casehard_audit and casehard_approval",
                },
                out,
            );
        }
        let page = format!("{app}/mfa/page.tsx");
        out.new_files.extend(helper_file(
            project,
            rule,
            &page,
            page_template,
            json!({}),
            format!("{page}: {page_what}"),
        ));
    }
}

/// The declared `@clerk/nextjs` range when its major version is older than 6.
fn old_clerk(ws: &Workspace) -> Option<String> {
    crate::passes::deps::declared_range(ws, "@clerk/nextjs")
        .filter(|spec| crate::deps::range_floor(spec).is_some_and(|(major, _)| major < 6))
}

/// The edits that keep an existing `export (async) function middleware` as `appMiddleware`,
/// add the protected routes to its matcher and export a `middleware` that checks aal2 first.
fn wrap_middleware(
    text: &str,
    matcher: Vec<Edit>,
    import: Option<Edit>,
    style: &crate::stack::Style,
) -> Option<Vec<Edit>> {
    let s = style.semi();
    let (at, old) = [
        "export async function middleware(",
        "export function middleware(",
    ]
    .iter()
    .find_map(|d| text.find(d).map(|at| (at, *d)))?;
    let renamed = old
        .replace("export ", "")
        .replace("middleware(", "appMiddleware(");
    let mut edits = vec![Edit::replace(at..at + old.len(), renamed)];
    edits.extend(matcher);
    let i = &style.indent;
    edits.extend(import);
    let newline = if text.ends_with('\n') { "" } else { "\n" };
    edits.push(Edit::insert(
        text.len(),
        format!(
            "{newline}\n// casehard {SUPABASE_AAL2}: admin and payment routes need a second factor before the app's own middleware runs.\nexport async function middleware(...args: Parameters<typeof appMiddleware>) {{\n{i}const denied = await requireMfa(args[0]){s}\n{i}if (denied) return denied{s}\n{i}return appMiddleware(...args){s}\n}}\n"
        ),
    ));
    Some(edits)
}

/// The edits that run the app's `clerkMiddleware` handler (or none) behind `withMfa`, keep its
/// options, and add the protected routes to its matcher.
fn wrap_clerk_handler(
    call: &ClerkCall,
    matcher: Vec<Edit>,
    import: Option<Edit>,
    runtime: Option<Edit>,
) -> Vec<Edit> {
    let mut edits = match &call.first {
        None => vec![Edit::insert(call.open, "withMfa()")],
        Some((_, true)) => vec![Edit::insert(call.open, "withMfa(), ")],
        Some((range, false)) => vec![
            Edit::insert(range.start, "withMfa("),
            Edit::insert(range.end, ")"),
        ],
    };
    edits.extend(matcher);
    edits.extend(import);
    edits.extend(runtime);
    edits
}

/// The edit that runs the middleware on Node.js: a `runtime` in its config, or a config.
fn node_runtime(text: &str, config_open: Option<usize>, style: &crate::stack::Style) -> Edit {
    let runtime = style.string("nodejs");
    match config_open {
        Some(at) => Edit::insert(
            at,
            format!(
                "\n{}// casehard {CLERK_SECOND_FACTOR}: the approvals and the audit log reach the app's database.\n{}runtime: {runtime},",
                style.indent, style.indent
            ),
        ),
        None => Edit::insert(
            text.len(),
            format!(
                "\n// casehard {CLERK_SECOND_FACTOR}: the approvals and the audit log reach the app's database.\nexport const config = {{ runtime: {runtime} }}{}\n",
                style.semi()
            ),
        ),
    }
}

/// Whether the app's Next.js runs middleware on Node.js (15.5 and later).
fn node_middleware(ws: &Workspace) -> bool {
    crate::passes::deps::declared_range(ws, "next")
        .and_then(|spec| crate::deps::range_floor(&spec))
        .is_some_and(|floor| floor >= (15, 5))
}

/// The edits that add the missing routes to the config's `matcher` (an array gains them; a
/// single string becomes an array); none without a matcher (the middleware runs everywhere);
/// `None` when the matcher is not written out (a variable).
fn extend_matcher(
    text: &str,
    matcher: Option<&Matcher>,
    matchers: &[String],
    style: &crate::stack::Style,
) -> Option<Vec<Edit>> {
    let quoted: Vec<String> = matchers
        .iter()
        .filter(|x| !text.contains(x.as_str()))
        .map(|x| style.string(x))
        .collect();
    if quoted.is_empty() {
        return Some(vec![]);
    }
    Some(match matcher {
        None => vec![],
        Some(Matcher::Other) => return None,
        Some(Matcher::Array {
            after,
            indent: Some(indent),
        }) => {
            let lines: Vec<String> = quoted.iter().map(|q| format!(",\n{indent}{q}")).collect();
            vec![Edit::insert(*after, lines.concat())]
        }
        Some(Matcher::Array {
            after,
            indent: None,
        }) => {
            let opened = text[..*after].ends_with('[');
            let sep = if opened { "" } else { ", " };
            vec![Edit::insert(*after, format!("{sep}{}", quoted.join(", ")))]
        }
        Some(Matcher::Str(range)) => vec![
            Edit::insert(range.start, "["),
            Edit::insert(range.end, format!(", {}]", quoted.join(", "))),
        ],
    })
}
