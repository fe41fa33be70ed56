//! `mfa/supabase-aal2`: a Next.js app on Supabase Auth whose admin and payment routes are
//! reachable with a single factor. Its middleware is made to require aal2 on those routes
//! (its own middleware is kept and runs after the check; its matcher is extended), pages
//! without aal2 are sent to an injected TOTP enroll-and-verify page, API calls get 403.

use crate::passes::imports::ImportFacts;
use crate::passes::{
    facts_of, helper_file, helper_path, imports, Facts, FileView, Pass, PassOutput, ProjectView,
};
use crate::plan::{Applicability, Area, Edit, Proposal, Severity};
use crate::rules::RuleMeta;
use crate::stack::{Auth, Framework};
use crate::workspace::Workspace;
use serde_json::json;
use std::collections::BTreeMap;

pub const SUPABASE_AAL2: &str = "mfa/supabase-aal2";
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
    meta: [RuleMeta; 1],
}

impl Default for Mfa {
    fn default() -> Self {
        Mfa {
            meta: [crate::passes::rule_meta(
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
            )],
        }
    }
}

/// The app router folder: `app` or `src/app`.
fn app_dir(ws: &Workspace) -> Option<&'static str> {
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

fn array_text(items: &[String], style: &crate::stack::Style) -> String {
    format!(
        "[{}]",
        items
            .iter()
            .map(|i| style.string(i))
            .collect::<Vec<_>>()
            .join(", ")
    )
}

impl Pass for Mfa {
    fn rules(&self) -> &[RuleMeta] {
        &self.meta
    }

    fn wants(&self, path: &str, _text: &str) -> bool {
        path == "middleware.ts" || path == "src/middleware.ts"
    }

    /// The middleware's imports, so the check's import joins them in the file's own way.
    fn scan(&self, file: &FileView<'_>) -> Option<Facts> {
        Some(Box::new(imports::scan(&file.tree.root(), file.text)))
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
        if !stack.frameworks.contains(&Framework::NextApp)
            || !stack.auth.contains(&Auth::SupabaseAuth)
        {
            return;
        }
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
        let what = format!(
            "{} need{} a second factor (aal2)",
            prefixes.join(", "),
            if prefixes.len() == 1 { "s" } else { "" }
        );
        match ws.text(&middleware).map(|t| t.body.to_string()) {
            Some(text) if text.contains("requireMfa(") => return,
            Some(text) => {
                let import = facts_of::<ImportFacts>(facts)
                    .find(|(p, _)| *p == middleware)
                    .and_then(|(_, f)| {
                        imports::add_named_import(ws, f, style, &middleware, "requireMfa", &helper)
                    });
                let Some(edits) = wrap_middleware(&text, &matchers, import, style) else {
                    out.proposals.push(Proposal {
                        rule: SUPABASE_AAL2.into(),
                        path: middleware.clone(),
                        at: 0..0,
                        message: format!("{what}, but casehard cannot tell how this middleware is exported: call `requireMfa(request)` from {helper} first in it and add the routes to its matcher"),
                        applicability: Applicability::Manual,
                        edits: vec![],
                    });
                    return;
                };
                out.proposals.push(Proposal {
                    rule: SUPABASE_AAL2.into(),
                    path: middleware.clone(),
                    at: 0..0,
                    message: format!(
                        "{what}: the middleware now checks it first, then runs the app's own logic"
                    ),
                    applicability: Applicability::Review,
                    edits,
                });
            }
            None => {
                out.new_files.extend(helper_file(
                    project,
                    SUPABASE_AAL2,
                    &middleware,
                    "mfa/middleware.ts",
                    json!({ "helper": specifier, "matcher": array_text(&matchers, style) }),
                    format!("{middleware}: {what}"),
                ));
            }
        }
        out.new_files.extend(helper_file(
            project,
            SUPABASE_AAL2,
            &helper,
            "mfa/supabase-mfa.ts",
            json!({ "protected": array_text(&prefixes, style) }),
            format!("{helper}: the aal2 check, confirmed with Supabase Auth, failing closed"),
        ));
        let page = format!("{app}/mfa/page.tsx");
        out.new_files.extend(helper_file(
            project,
            SUPABASE_AAL2,
            &page,
            "mfa/mfa-page.tsx",
            json!({}),
            format!("{page}: enroll a TOTP authenticator and verify a code (Supabase MFA)"),
        ));
    }
}

/// The edits that keep an existing `export (async) function middleware` as `appMiddleware`,
/// add the protected routes to its matcher and export a `middleware` that checks aal2 first.
fn wrap_middleware(
    text: &str,
    matchers: &[String],
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
    // The matcher: an array gains the missing routes; a single string becomes an array.
    if let Some(m) = text.find("matcher:") {
        let value_at = m + "matcher:".len();
        let rest = &text[value_at..];
        let value_start = value_at + (rest.len() - rest.trim_start().len());
        let missing: Vec<&String> = matchers
            .iter()
            .filter(|x| !text.contains(x.as_str()))
            .collect();
        let quoted: Vec<String> = missing.iter().map(|x| style.string(x)).collect();
        if text[value_start..].starts_with('[') {
            let close = value_start + text[value_start..].find(']')?;
            let inner = text[value_start + 1..close].trim_end();
            let sep = if inner.trim().is_empty() || inner.ends_with(',') {
                " "
            } else {
                ", "
            };
            if !quoted.is_empty() {
                let insert_at = value_start + 1 + inner.len();
                edits.push(Edit::insert(
                    insert_at,
                    format!("{sep}{}", quoted.join(", ")),
                ));
            }
        } else {
            let q = text[value_start..].chars().next()?;
            if !matches!(q, '"' | '\'' | '`') {
                return None;
            }
            let end = value_start + 1 + text[value_start + 1..].find(q)?;
            if !quoted.is_empty() {
                edits.push(Edit::insert(value_start, "["));
                edits.push(Edit::insert(end + 1, format!(", {}]", quoted.join(", "))));
            }
        }
    }
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
