//! What every MFA variant (`mfa/express-totp`, `mfa/nextauth-totp`) writes the same way:
//! `otpauth` in the manifest, the core module (TOTP factors, dual approval, audit log, through
//! the app's own database client) and the migration of its tables.

use crate::passes::{clients, helper_file, helper_path, imports, PassOutput, ProjectView};
use crate::plan::{Applicability, Proposal};
use serde_json::json;

/// Why a variant cannot wire MFA into an app without a client `clients::of_app` finds.
pub const NO_CLIENT: &str = "casehard found no exported Prisma, Drizzle or node-postgres client to keep TOTP secrets, approvals and audit records in";
/// The TOTP library the helper uses, pinned exactly.
const OTPAUTH: (&str, &str) = ("otpauth", "9.5.2");
/// Words of destructive writes (in a URL or procedure path): they need a verification from
/// the last 10 minutes.
const STEP_UP_WORDS: &[&str] = &[
    "role", "balance", "credit", "refund", "payout", "delete", "ban",
];

/// What every MFA variant shares: `otpauth` in the manifest, the core module (TOTP factors,
/// dual approval, audit log, through the app's `client`) and the migration of its tables
/// (`cookie_sessions`: with the table of verified browsers; `factors`: with the TOTP factors —
/// a provider that verifies the second factor itself needs only the approvals and the log).
pub fn core(
    project: &ProjectView<'_>,
    rule: &str,
    client: &clients::Client,
    cookie_sessions: bool,
    factors: bool,
    out: &mut PassOutput,
) {
    let ws = project.workspace;
    let stack = project.stack;
    let style = &stack.style;
    let manifests = crate::passes::deps::manifests(ws);
    let root = manifests.iter().find(|m| m.dir.is_empty());
    if let Some(manifest) = root.filter(|_| factors) {
        if let Some(edit) = ws
            .text(&manifest.path)
            .and_then(|t| crate::deps::add_dependency(t.body, OTPAUTH.0, OTPAUTH.1))
        {
            out.proposals.push(Proposal {
                rule: rule.into(),
                path: manifest.path.as_str().into(),
                at: edit.start..edit.start,
                message: format!(
                    "{} {} (exact) for the TOTP codes; run `{}` so the lockfile records it",
                    OTPAUTH.0,
                    OTPAUTH.1,
                    install_command(stack)
                )
                .into(),
                applicability: Applicability::Review,
                edits: vec![edit],
            });
        }
    }
    let helper = core_path(ws);
    let module = imports::relative_specifier(crate::passes::deps::dir_of(&helper), &client.path);
    out.new_files.extend(helper_file(
        project,
        rule,
        &helper,
        "mfa/mfa-core.ts",
        json!({
            "client": client.name,
            "module": module,
            "pg": client.kind == clients::Kind::Pool,
            "prisma": client.kind == clients::Kind::Prisma,
            "drizzle": client.kind == clients::Kind::Drizzle,
            "step_up": style.strings(STEP_UP_WORDS),
            "approval": approval_words(project),
            "cookie_sessions": cookie_sessions,
            "factors": factors,
            // Written by `{{string}}`: one string literal whatever the name holds.
            "issuer": root.and_then(|m| m.name.as_deref()).unwrap_or("app"),
        }),
        if factors {
            format!("{helper}: TOTP factors sealed under MFA_ENCRYPTION_KEY, dual approval and the audit log")
        } else {
            format!("{helper}: dual approval and the audit log")
        },
    ));
    crate::passes::server_tables_migration(
        project,
        crate::passes::ServerTables {
            rule,
            table: if factors {
                "casehard_mfa_factors"
            } else {
                "casehard_approvals"
            },
            name: "mfa",
            template: "sql/mfa.sql",
            extra: json!({ "helper": helper, "cookie_sessions": cookie_sessions, "factors": factors, "functions": false }),
            what: if factors {
                "TOTP factors, pending approvals and the audit log"
            } else {
                "pending approvals and the audit log"
            },
        },
        out,
    );
}

/// The words of admin writes a second admin must approve (casehard.toml `[mfa] dual_approval`),
/// as a TypeScript array.
pub fn approval_words(project: &ProjectView<'_>) -> String {
    let words = &project.config.mfa.dual_approval;
    project
        .stack
        .style
        .strings(words.iter().map(|w| w.to_lowercase()))
}

/// Where the shared core module goes.
pub fn core_path(ws: &crate::workspace::Workspace) -> String {
    helper_path(ws, "mfa-core.ts")
}

fn install_command(stack: &crate::stack::Stack) -> &'static str {
    use crate::stack::PackageManager;
    match stack.package_manager {
        Some(PackageManager::Pnpm) => "pnpm install",
        Some(PackageManager::Yarn) => "yarn install",
        Some(PackageManager::Bun) => "bun install",
        Some(PackageManager::Npm) | None => "npm install",
    }
}
