//! `mfa/nextauth-totp`: a Next.js app with NextAuth sessions and tRPC whose admin procedures
//! run on a password (or OAuth) session alone. Each `adminProcedure`-style procedure gains a
//! check that this browser verified a TOTP code recently (`requireMfa`, a tRPC middleware);
//! the context carries the verification cookie; enrolment and verification are API routes.

use crate::lang::Fields;
use crate::passes::imports::{self, ImportFacts};
use crate::passes::mfa_core::{core, core_path};
use crate::passes::{clients, facts_of, helper_file, helper_path, Facts, FileView, Pass};
use crate::passes::{PassOutput, ProjectView};
use crate::plan::{Applicability, Area, Edit, Proposal, Severity};
use crate::rules::RuleMeta;
use crate::stack::Auth;
use serde_json::json;
use std::collections::BTreeMap;

pub const NEXTAUTH_TOTP: &str = "mfa/nextauth-totp";
/// The session getter create-t3-app's Pages Router variant exports from `server/auth.ts`.
const SESSION_FN: &str = "getServerAuthSession";

pub struct TrpcMfa {
    meta: [RuleMeta; 1],
}

impl Default for TrpcMfa {
    fn default() -> Self {
        TrpcMfa {
            meta: [crate::passes::rule_meta(
                "src/passes/mfa_trpc.rs",
                Area::Auth,
                NEXTAUTH_TOTP,
                "tRPC admin procedures require a second factor",
                Severity::Error,
                Applicability::Review,
                [
                    "In a Next.js app with NextAuth and tRPC (the create-t3-app shape), finds the admin procedures (exported `*Procedure`s built with `.use(...)` that are named for admins or whose own middleware checks a role or an admin flag, such as `staffProcedure` checking `role !== \"staff\"`; one built on another that gets the check is left alone) and ends each with `.use(requireMfa)`, a tRPC middleware injected next to them: the call passes when this browser verified a TOTP code in the last 30 minutes (10 for destructive mutations: names with delete, role, balance, credit, refund, payout, ban), and admin mutations naming roles, balances or credits (`[mfa] dual_approval`) wait (PRECONDITION_FAILED, `pending_approval <id>`) until a second admin makes the same call with the same input and the header `X-Casehard-Approval: <id>`; refusals and admin mutations are audit records. The tRPC context gains the verification cookie and approval header; `POST /api/mfa/enroll` and `POST /api/mfa/verify` (Pages API routes using the app's `getServerAuthSession`, or App Router route handlers using Auth.js's `auth()`) enroll an authenticator (`otpauth`, pinned; secrets sealed under `MFA_ENCRYPTION_KEY`) and set an HttpOnly, Secure, SameSite=Strict cookie whose hash is stored with the user.",
                    "NextAuth signs admins in with a password, a magic link or an OAuth account: one factor. Whoever holds it can change roles and credits alone, with no record of who did.",
                    "export const adminProcedure = protectedProcedure.use(({ ctx, next }) => {\n  if (ctx.session.user.role !== \"admin\") throw new TRPCError({ code: \"FORBIDDEN\" });\n  return next();\n});",
                    "const requireMfa = t.middleware(async ({ ctx, next, path, type, getRawInput }) => { /* checkMfa, recordMfa */ });\nexport const adminProcedure = protectedProcedure.use(({ ctx, next }) => {\n  if (ctx.session.user.role !== \"admin\") throw new TRPCError({ code: \"FORBIDDEN\" });\n  return next();\n}).use(requireMfa);",
                    "Review: set MFA_ENCRYPTION_KEY, apply the migration, run `npm install` so the lockfile records otpauth; admins enroll at POST /api/mfa/enroll and verify at POST /api/mfa/verify (a page for it is the app's to write), and the client sends X-Casehard-Approval for approvals.",
                ],
                &[
                    "CWE-308: Use of Single-factor Authentication",
                    "CWE-654: Reliance on a Single Factor in a Security Decision",
                    "https://trpc.io/docs/server/middlewares",
                ],
            )],
        }
    }
}

/// An exported admin procedure: where `.use(requireMfa)` goes and where its statement starts.
struct AdminProcedure {
    name: String,
    /// The procedure it is built on (`protectedProcedure` in `protectedProcedure.use(...)`).
    base: String,
    end: usize,
    statement: usize,
}

#[derive(Default)]
struct FileFacts {
    /// The `initTRPC` instance's name (`t`).
    t: Option<String>,
    admin: Vec<AdminProcedure>,
    /// In `createTRPCContext`'s returned object: (right after its `{`, the options' name, the
    /// indentation of its properties).
    context: Option<(usize, String, String)>,
    /// The context already carries the verification.
    context_done: bool,
    imports: ImportFacts,
}

/// Where the comments right above `node` (nothing but whitespace between) begin.
fn leading_comments_start(node: &crate::lang::N, text: &str) -> usize {
    let mut start = node.range().start;
    let mut previous = node.prev();
    while let Some(comment) = previous.filter(|p| p.kind() == "comment") {
        if !text[comment.range().end..start].trim().is_empty() {
            break;
        }
        start = comment.range().start;
        previous = comment.prev();
    }
    start
}

/// `createTRPCContext = async (opts) => { ...; return { ... } }`: where the new property goes.
fn context_site(value: &crate::lang::N, text: &str) -> Option<(usize, String, String)> {
    let param = crate::passes::routes::param_names(value)?
        .into_iter()
        .next()?;
    let object = value
        .child_in("body")?
        .dfs()
        .filter(|n| n.kind() == "return_statement")
        .filter_map(|r| r.children().find(|c| c.kind() == "object"))
        .last()?;
    let first = object.children().find(|c| c.is_named())?;
    Some((
        object.range().start + 1,
        param,
        crate::passes::line_indent(text, first.range().start),
    ))
}

/// Where the enrolment and verification routes go and how they read the session.
enum Shape<'a> {
    /// create-t3-app's Pages Router: `getServerAuthSession` from `getter`, routes in `pages/api`.
    Pages {
        getter: &'a str,
        pages: &'static str,
    },
    /// Auth.js (next-auth 5) with an App Router: `auth` from `auth`, routes in `app/api`.
    App { auth: &'a str, app: &'static str },
}

fn shape_of(ws: &crate::workspace::Workspace) -> Option<Shape<'_>> {
    let exporting = |exports: &dyn Fn(&str) -> bool| {
        ws.sources()
            .map(|(p, _)| p)
            .find(|p| ws.text(p).is_some_and(|t| exports(t.body)))
    };
    let getter = exporting(&|t| {
        ["export const", "export function", "export async function"]
            .iter()
            .any(|d| t.contains(&format!("{d} {SESSION_FN}")))
    });
    let pages = ["src/pages", "pages"]
        .into_iter()
        .find(|d| ws.files.keys().any(|p| p.starts_with(&format!("{d}/"))));
    if let (Some(getter), Some(pages)) = (getter, pages) {
        return Some(Shape::Pages { getter, pages });
    }
    let auth = exporting(&|t| {
        t.contains("NextAuth(")
            && [
                "export { auth",
                "export const { auth",
                "export const auth",
                "export async function auth",
            ]
            .iter()
            .any(|n| t.contains(n))
    })?;
    let app = crate::passes::mfa::app_dir(ws)?;
    Some(Shape::App { auth, app })
}

impl Pass for TrpcMfa {
    fn rules(&self) -> &[RuleMeta] {
        &self.meta
    }

    fn kinds(&self) -> &'static [&'static str] {
        &["variable_declarator"]
    }

    fn wants(&self, _path: &str, text: &str) -> bool {
        text.contains("initTRPC")
    }

    fn may_edit(&self, facts: &Facts) -> bool {
        facts
            .downcast_ref::<FileFacts>()
            .is_some_and(|f| !f.admin.is_empty() || f.context.is_some())
    }

    fn scan(&self, file: &FileView<'_>) -> Option<Facts> {
        let mut facts = FileFacts::default();
        let mut guarded: Vec<String> = vec![];
        for declarator in file.nodes("variable_declarator") {
            let (Some(name), Some(value)) =
                (declarator.child_in("name"), declarator.child_in("value"))
            else {
                continue;
            };
            let name = name.text().to_string();
            let text = value.text();
            if text.contains("initTRPC") {
                facts.t = Some(name);
                continue;
            }
            if name == "createTRPCContext" {
                facts.context_done = text.contains("casehardMfa");
                facts.context = context_site(&value, file.text);
                continue;
            }
            let exported = declarator
                .ancestors()
                .any(|a| a.kind() == "export_statement");
            // Named for admins, or checking a role or an admin flag in its own middleware.
            let lower = text.to_lowercase();
            let admin = name.ends_with("Procedure")
                && (name.to_lowercase().contains("admin")
                    || lower.contains("role")
                    || lower.contains("admin"));
            if exported && admin && text.contains("requireMfa") {
                guarded.push(name);
                continue;
            }
            if exported && admin && value.kind() == "call_expression" && text.contains(".use(") {
                // Before the statement's doc comment, which stays with it.
                let statement = declarator
                    .ancestors()
                    .find(|a| a.kind() == "export_statement")
                    .map_or(declarator.range().start, |s| {
                        leading_comments_start(&s, file.text)
                    });
                let base = text
                    .split(|c: char| !(c.is_alphanumeric() || c == '_' || c == '$'))
                    .next()
                    .unwrap_or_default()
                    .to_string();
                facts.admin.push(AdminProcedure {
                    name,
                    base,
                    end: value.range().end,
                    statement,
                });
            }
        }
        // A procedure built on another one that gets the check already has it.
        guarded.extend(facts.admin.iter().map(|a| a.name.clone()));
        facts.admin.retain(|a| !guarded.contains(&a.base));
        if facts.admin.is_empty() && facts.context.is_none() {
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
        if !stack.auth.contains(&Auth::NextAuth) {
            return;
        }
        let Some((path, file)) = facts_of::<FileFacts>(facts).find(|(_, f)| !f.admin.is_empty())
        else {
            return;
        };
        let ws = project.workspace;
        let style = &project.style_of(path);
        let s = style.semi();
        let first = &file.admin[0];
        let manual = |out: &mut PassOutput, why: &str| {
            out.proposals.push(Proposal {
                rule: NEXTAUTH_TOTP.into(),
                path: path.into(),
                at: first.statement..first.statement,
                message: format!("`{}` runs on a single-factor session; {why}", first.name).into(),
                applicability: Applicability::Manual,
                edits: vec![],
            });
        };
        let Some(shape) = shape_of(ws) else {
            return manual(out, "casehard wires TOTP into apps whose `server/auth` exports `getServerAuthSession` with a Pages Router (create-t3-app's Pages Router shape) or Auth.js's `auth` with an App Router; require a second factor in this procedure");
        };
        let (Some(t), Some((context_at, options, indent))) = (&file.t, &file.context) else {
            return manual(out, "casehard did not find the `initTRPC` instance and `createTRPCContext` in this file to add the check to");
        };
        let Some(client) = clients::of_app(ws, stack) else {
            return manual(out, crate::passes::mfa_core::NO_CLIENT);
        };

        let helper = helper_path(ws, "mfa-trpc.ts");
        let i = &style.indent;
        let q = |v: &str| style.string(v);
        let mut edits = vec![Edit::insert(
            first.statement,
            format!(
                "// casehard {NEXTAUTH_TOTP}: admin procedures need a recent TOTP verification of this browser.\n\
                 const requireMfa = {t}.middleware(async ({{ ctx, next, path, type, getRawInput }}) => {{\n\
                 {i}const call = {{ userId: ctx.session?.user?.id, request: ctx.casehardMfa, path, write: type === {mutation}, input: await getRawInput() }}{s}\n\
                 {i}const denied = await checkMfa(call){s}\n\
                 {i}if (denied) throw new TRPCError(denied){s}\n\
                 {i}const result = await next(){s}\n\
                 {i}await recordMfa(call, result.ok){s}\n\
                 {i}return result{s}\n\
                 }}){s}\n\n",
                mutation = q("mutation"),
            ),
        )];
        edits.extend(
            file.admin
                .iter()
                .map(|a| Edit::insert(a.end, ".use(requireMfa)")),
        );
        if !file.context_done {
            edits.push(Edit::insert(
                *context_at,
                format!("\n{indent}casehardMfa: mfaRequestOf({options}),"),
            ));
        }
        edits.extend(imports::add_named_imports(
            ws,
            &file.imports,
            style,
            path,
            &["checkMfa", "mfaRequestOf", "recordMfa"],
            &helper,
        ));
        edits.extend(imports::add_package_import(
            &file.imports,
            style,
            "TRPCError",
            "@trpc/server",
        ));
        let names: Vec<&str> = file.admin.iter().map(|a| a.name.as_str()).collect();
        let (verb, now) = if names.len() == 1 {
            ("runs", "it now needs")
        } else {
            ("run", "they now need")
        };
        out.proposals.push(Proposal {
            rule: NEXTAUTH_TOTP.into(),
            path: path.into(),
            at: first.statement..first.statement,
            message: format!(
                "{} {verb} on a single-factor session: {now} a TOTP verification of this browser (fresh for destructive mutations), listed admin mutations wait for a second admin, and each is recorded",
                names.join(", "),
            ).into(),
            applicability: Applicability::Review,
            edits,
        });

        let core_module = core_path(ws);
        // The new routes import the way the tRPC module does.
        let spec = |from: &str, to: &str| imports::specifier(ws, file.imports.alias, from, to);
        out.new_files.extend(helper_file(
            project,
            NEXTAUTH_TOTP,
            &helper,
            "mfa/trpc-mfa.ts",
            json!({}),
            format!("{helper}: the check of admin procedures, tied to a verified browser"),
        ));
        for (name, verify) in [("enroll", false), ("verify", true)] {
            let (route, template, session_fn, auth_file) = match &shape {
                Shape::Pages { getter, pages } => (
                    format!("{pages}/api/mfa/{name}.ts"),
                    "mfa/pages-mfa-route.ts",
                    SESSION_FN,
                    *getter,
                ),
                Shape::App { auth, app } => (
                    format!("{app}/api/mfa/{name}/route.ts"),
                    "mfa/app-mfa-route.ts",
                    "auth",
                    *auth,
                ),
            };
            out.new_files.extend(helper_file(
                project,
                NEXTAUTH_TOTP,
                &route,
                template,
                json!({
                    "verify": verify,
                    "session_fn": session_fn,
                    "auth_module": spec(&route, auth_file),
                    "core_module": spec(&route, &core_module),
                }),
                format!(
                    "{route}: {}",
                    if verify {
                        "checks a TOTP code and marks this browser verified"
                    } else {
                        "starts enrolling a TOTP authenticator"
                    }
                ),
            ));
        }
        core(project, NEXTAUTH_TOTP, &client, true, true, out);
    }
}
