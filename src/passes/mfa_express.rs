//! `mfa/express-totp`: an Express app with sessions (passport, express-session) or its own JWT
//! check whose admin and payment routes are reachable with a password alone. `requireMfa` (injected) goes on
//! each such mount or route, after the app's own checks; TOTP enrolment and verification are
//! mounted at `/mfa` after the session middleware. What every MFA variant shares (the core
//! module, `otpauth`, the tables' migration) is written by [`core`].

use crate::lang::Fields;
use crate::passes::imports::{self, ImportFacts};
use crate::passes::mfa::PAYMENT_WORDS;
use crate::passes::{clients, facts_of, helper_file, helper_path, Facts, FileView, Pass};
use crate::passes::{PassOutput, ProjectView};
use crate::plan::{Applicability, Area, Edit, Proposal, Severity};
use crate::rules::RuleMeta;
use crate::stack::{Auth, Framework};
use serde_json::json;
use std::collections::BTreeMap;

pub const EXPRESS_TOTP: &str = "mfa/express-totp";
const METHODS: &[&str] = &["use", "get", "post", "put", "patch", "delete", "all"];

pub struct ExpressMfa {
    meta: [RuleMeta; 1],
}

impl Default for ExpressMfa {
    fn default() -> Self {
        ExpressMfa {
            meta: [crate::passes::rule_meta(
                "src/passes/mfa_express.rs",
                Area::Auth,
                EXPRESS_TOTP,
                "Express admin and payment routes require a second factor",
                Severity::Error,
                Applicability::Review,
                [
                    "In an Express app with sessions (passport or express-session) or its own JWT check, finds the mounts and routes of the admin plane (an `admin` path segment) and the payment plane (checkout, billing, portal, subscription, refund, payout; never webhooks) and puts `requireMfa` (injected) on each, after the app's own checks and before the handler or router. It passes a signed-in user with a TOTP verification from the last 30 minutes, from the last 10 for destructive writes (DELETE, or a path naming roles, balances, credits, refunds, payouts, bans); admin writes naming roles, balances or credits (casehard.toml `[mfa] dual_approval`) wait, pending, until a second admin sends the same request with the approval id; every write and every refusal is an audit record. TOTP enrolment and verification (`otpauth`, pinned) are mounted at `/mfa` after the session middleware; in an app that checks its own JWTs instead (no server-side session), they are mounted behind its token check (the first of the routes' own checks that is not about roles), and a verification is an HttpOnly, Secure, SameSite=Strict `casehard_mfa` cookie stored hashed with the user; secrets are stored sealed with AES-256-GCM under `MFA_ENCRYPTION_KEY`. A migration creates the three tables.",
                    "A stolen or phished password is enough to reach the admin panel and move money when nothing asks for a second factor, and one compromised admin can change roles and balances alone, leaving no record of who did it.",
                    "app.use(\"/api/admin\", requireAdmin, adminRouter);",
                    "app.use(\"/mfa\", mfaRouter);\napp.use(\"/api/admin\", requireAdmin, requireMfa, adminRouter);",
                    "Review: set MFA_ENCRYPTION_KEY (`openssl rand -base64 32`), apply the migration, run `npm install` so the lockfile records otpauth; admins and paying users enroll at POST /mfa/enroll and verify at POST /mfa/verify before those routes answer. Approvers receive the approval id from the requester.",
                ],
                &[
                    "CWE-308: Use of Single-factor Authentication",
                    "CWE-654: Reliance on a Single Factor in a Security Decision",
                    "https://cheatsheetseries.owasp.org/cheatsheets/Multifactor_Authentication_Cheat_Sheet.html",
                ],
            )],
        }
    }
}

/// A mount or route on the admin or payment plane: `requireMfa, ` goes at `at`, before its
/// last argument (the handler or router).
struct Site {
    route: String,
    at: usize,
    /// The app's own checks on it (the arguments between the path and the handler).
    guards: Vec<String>,
    /// Where its statement starts, and the app or router it is on.
    statement: usize,
    receiver: String,
}

#[derive(Default)]
struct FileFacts {
    sites: Vec<Site>,
    /// After the statement that mounts the session (`app.use(passport.session())`, else
    /// `app.use(session(...))`): the offset and the app's name.
    session: Option<(usize, String)>,
    mfa_mounted: bool,
    imports: ImportFacts,
}

fn on_plane(path: &str) -> bool {
    let lower = path.to_lowercase();
    !lower.contains("webhook")
        && lower.split('/').any(|s| {
            s == "admin" || s.starts_with("admin-") || PAYMENT_WORDS.iter().any(|w| s.contains(w))
        })
}

/// `app.use(passport.session())` (2) or `app.use(session({...}))` (1): the session mount.
fn session_mount(call: &crate::lang::N) -> Option<(u8, usize, String)> {
    let func = call.child_in("function")?;
    if func.kind() != "member_expression" || func.child_in("property")?.text() != "use" {
        return None;
    }
    let args = crate::lang::call_args(call);
    let arg = args.first()?;
    let callee = arg.child_in("function").map(|f| f.text().to_string());
    let rank = match callee.as_deref() {
        Some("passport.session") => 2,
        Some("session" | "expressSession" | "cookieSession") => 1,
        _ => return None,
    };
    let stmt = call
        .ancestors()
        .find(|a| a.kind() == "expression_statement")?;
    Some((
        rank,
        stmt.range().end,
        func.child_in("object")?.text().to_string(),
    ))
}

impl Pass for ExpressMfa {
    fn rules(&self) -> &[RuleMeta] {
        &self.meta
    }

    fn kinds(&self) -> &'static [&'static str] {
        &["call_expression"]
    }

    fn wants(&self, path: &str, text: &str) -> bool {
        text.contains("express") && !path.contains("lib/casehard/")
    }

    fn may_edit(&self, facts: &Facts) -> bool {
        facts
            .downcast_ref::<FileFacts>()
            .is_some_and(|f| !f.sites.is_empty() || f.session.is_some())
    }

    fn scan(&self, file: &FileView<'_>) -> Option<Facts> {
        let mut facts = FileFacts::default();
        let mut session_rank = 0;
        for call in file.nodes("call_expression") {
            if let Some((rank, at, app)) = session_mount(call) {
                if rank >= session_rank {
                    session_rank = rank;
                    facts.session = Some((at, app));
                }
                continue;
            }
            let Some((method, path, args)) = crate::passes::routes::route_call(call, METHODS)
            else {
                continue;
            };
            if method == "use" && path == "/mfa" {
                facts.mfa_mounted = true;
            }
            let guarded = args.iter().any(|a| a.text() == "requireMfa");
            if on_plane(&path) && args.len() >= 2 && !guarded {
                // Last before the handler: the app's own sign-in and role checks run first, so
                // only its admins can put an action up for approval.
                let statement = call
                    .ancestors()
                    .find(|a| a.kind() == "expression_statement")
                    .map_or(call.range().start, |s| s.range().start);
                let receiver = call
                    .child_in("function")
                    .and_then(|f| f.child_in("object"))
                    .map(|o| o.text().to_string())
                    .unwrap_or_default();
                facts.sites.push(Site {
                    route: path,
                    at: args[args.len() - 1].range().start,
                    guards: args[1..args.len() - 1]
                        .iter()
                        .map(|a| a.text().to_string())
                        .collect(),
                    statement,
                    receiver,
                });
            }
        }
        if facts.sites.is_empty() && facts.session.is_none() && !facts.mfa_mounted {
            return None;
        }
        facts.imports = imports::scan(&file.tree.root(), file.text);
        Some(Box::new(facts))
    }

    fn finish(
        &self,
        project: &ProjectView<'_>,
        facts: &BTreeMap<String, Facts>,
        out: &mut PassOutput,
    ) {
        let stack = project.stack;
        if !stack.frameworks.contains(&Framework::Express) {
            return;
        }
        let files: Vec<(&str, &FileFacts)> = facts_of::<FileFacts>(facts).collect();
        let Some((first_path, first)) = files.iter().find(|(_, f)| !f.sites.is_empty()) else {
            return;
        };
        let ws = project.workspace;
        let manual = |out: &mut PassOutput, why: String| {
            out.proposals.push(Proposal {
                rule: EXPRESS_TOTP.into(),
                path: (*first_path).into(),
                at: first.sites[0].at..first.sites[0].at,
                message: format!(
                    "{} is reachable with a password alone; {why}",
                    first.sites[0].route
                )
                .into(),
                applicability: Applicability::Manual,
                edits: vec![],
            });
        };
        let manifests = crate::passes::deps::manifests(ws);
        let declares = |name: &str| {
            manifests
                .iter()
                .any(|m| m.declared.iter().any(|d| d.name == name))
        };
        let sessions = stack.auth.contains(&Auth::Passport)
            || declares("express-session")
            || declares("cookie-session");
        // Without a server-side session, an app that verifies its own tokens: the TOTP routes
        // go behind its token check, and a verification is an HttpOnly cookie.
        let tokens = !sessions && stack.auth.contains(&Auth::Jwt);
        if !sessions && !tokens {
            return manual(out, "casehard wires TOTP into apps with express-session, passport or their own JWT check; put a second-factor check in front of it".into());
        }
        let Some(client) = clients::of_app(ws, stack) else {
            return manual(out, crate::passes::mfa_core::NO_CLIENT.into());
        };
        let mounted = files.iter().any(|(_, f)| f.mfa_mounted);
        let session_path = files
            .iter()
            .find(|(_, f)| f.session.is_some())
            .map(|(p, _)| *p);
        // The token check: the first of a site's own checks that is not about roles or admins.
        let token_mount = files.iter().find_map(|(p, f)| {
            f.sites.iter().find_map(|s| {
                let guard = s.guards.iter().find(|g| {
                    let lower = g.to_lowercase();
                    !g.contains('(') && !lower.contains("admin") && !lower.contains("role")
                })?;
                Some((*p, s, guard.clone()))
            })
        });
        if tokens && token_mount.is_none() && !mounted {
            return manual(out, "casehard found no token check (such as `authenticateToken`) on the admin and payment routes to put in front of the TOTP routes".into());
        }
        if sessions && session_path.is_none() && !mounted {
            return manual(out, "casehard found no `app.use(session(...))` or `app.use(passport.session())` to mount the TOTP routes after".into());
        }
        let helper = helper_path(ws, "mfa.ts");

        for (path, file) in &files {
            let style = &project.style_of(path);
            let mut edits: Vec<Edit> = file
                .sites
                .iter()
                .map(|s| Edit::insert(s.at, "requireMfa, "))
                .collect();
            let mut names = vec![];
            if !file.sites.is_empty() {
                names.push("requireMfa");
            }
            if let Some((_, site, guard)) = token_mount
                .as_ref()
                .filter(|(p, _, _)| tokens && !mounted && p == path)
            {
                let text = ws.text(path).map_or("", |t| t.body);
                let line = text[..site.statement].rfind('\n').map_or(0, |n| n + 1);
                let indent = &text[line..site.statement];
                edits.push(Edit::insert(
                    site.statement,
                    format!(
                        "// casehard {EXPRESS_TOTP}: TOTP enrolment and verification, behind the app's token check.\n{indent}{}.use({}, {guard}, mfaRouter){}\n{indent}",
                        site.receiver,
                        style.string("/mfa"),
                        style.semi()
                    ),
                ));
                names.insert(0, "mfaRouter");
            }
            if sessions && Some(*path) == session_path && !mounted {
                let (at, app) = file.session.as_ref().expect("the session file");
                edits.push(Edit::insert(
                    *at,
                    format!(
                        "\n// casehard {EXPRESS_TOTP}: TOTP enrolment and verification, after the session.\n{app}.use({}, mfaRouter){}",
                        style.string("/mfa"),
                        style.semi()
                    ),
                ));
                names.insert(0, "mfaRouter");
            }
            if edits.is_empty() {
                continue;
            }
            edits.extend(imports::add_named_imports(
                ws,
                &file.imports,
                style,
                path,
                &names,
                &helper,
            ));
            let routes: Vec<&str> = file.sites.iter().map(|s| s.route.as_str()).collect();
            let message = if routes.is_empty() {
                "the TOTP enrolment and verification routes are mounted at /mfa".to_string()
            } else {
                format!(
                    "{} {} reachable with a password alone: requireMfa now asks for a TOTP verification (fresh for destructive writes), holds listed admin writes for a second admin and records each action",
                    routes.join(", "),
                    if routes.len() == 1 { "is" } else { "are" }
                )
            };
            let at = file.sites.first().map_or(edits[0].start, |s| s.at);
            out.proposals.push(Proposal {
                rule: EXPRESS_TOTP.into(),
                path: (*path).into(),
                at: at..at,
                message: message.into(),
                applicability: Applicability::Review,
                edits,
            });
        }

        out.new_files.extend(helper_file(
            project,
            EXPRESS_TOTP,
            &helper,
            "mfa/express-mfa.ts",
            json!({ "cookie_sessions": tokens }),
            format!("{helper}: requireMfa and the TOTP routes for Express"),
        ));
        crate::passes::mfa_core::core(project, EXPRESS_TOTP, &client, tokens, true, out);
    }
}
