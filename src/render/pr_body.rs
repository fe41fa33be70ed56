//! The pull-request body: what changed and why, grouped by checklist area, what a reviewer
//! must check, what casehard could not fix, and the quick audit before launch.

use crate::engine::Outcome;
use crate::plan::{Applicability, Area, Finding, Status};
use crate::rules::Catalog;
use std::collections::BTreeMap;
use std::fmt::Write as _;

const AREAS: &[(Area, &str)] = &[
    (Area::Auth, "Auth"),
    (Area::Rbac, "RBAC"),
    (Area::Payments, "Payments"),
    (Area::Schemas, "Schemas"),
    (Area::SupplyChain, "Supply chain"),
    (Area::Ops, "Ops"),
];

/// One row of the quick audit before launch.
struct AuditCheck {
    question: &'static str,
    /// Rule id prefixes whose findings answer it.
    rules: &'static [&'static str],
}

const AUDIT: &[AuditCheck] = &[
    AuditCheck {
        question: "No admin or payment action without MFA",
        rules: &["mfa/"],
    },
    AuditCheck {
        question: "Every admin action logged",
        rules: &["audit/"],
    },
    AuditCheck {
        question: "Auth cookies, sessions and tokens hardened; sign-in rate-limited",
        rules: &["auth/"],
    },
    AuditCheck {
        question: "Every query checked by policy or RLS",
        rules: &["rls/", "authz/"],
    },
    AuditCheck {
        question: "Request input validated strictly; owners, roles and SQL never taken from it",
        rules: &["schema/", "sql/"],
    },
    AuditCheck {
        question: "Webhooks verified and idempotent; payment calls carry idempotency keys",
        rules: &["webhook/", "payments/"],
    },
    AuditCheck {
        question: "Secrets rotated, debug off, dependencies pinned",
        rules: &["secrets/", "debug/", "deps/"],
    },
    AuditCheck {
        question: "Entitlements tied to RBAC",
        rules: &["billing/"],
    },
];

/// The first paragraph of a documentation field, on one line.
fn first_paragraph(text: &str) -> String {
    text.trim()
        .split("\n\n")
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

fn location(f: &Finding) -> String {
    format!("`{}:{}`", f.path, f.line)
}

pub fn render(outcome: &Outcome, catalog: &Catalog, title: &str) -> String {
    let fixed: Vec<&Finding> = outcome
        .findings
        .iter()
        .filter(|f| f.status == Status::Fixed)
        .collect();
    let open: Vec<&Finding> = outcome.findings.iter().filter(|f| f.is_open()).collect();
    let mut out = String::new();
    writeln!(out, "## {title}\n").unwrap();
    writeln!(
        out,
        "casehard changed {} file(s) to fix {} finding(s); {} finding(s) need a person. Every change below was parsed again after it was made, and running casehard on this branch changes nothing.\n",
        outcome.before.len(),
        fixed.len(),
        open.len()
    )
    .unwrap();
    let files: Vec<String> = outcome
        .before
        .iter()
        .map(|(p, b)| format!("`{p}`{}", if b.is_created() { " (new)" } else { "" }))
        .collect();
    if !files.is_empty() {
        writeln!(out, "Files: {}.\n", files.join(", ")).unwrap();
    }

    writeln!(out, "### Changes by area\n").unwrap();
    let mut any = false;
    for (area, name) in AREAS {
        let mut by_rule: BTreeMap<&str, Vec<&Finding>> = BTreeMap::new();
        for f in fixed.iter().filter(|f| f.area == *area) {
            by_rule.entry(f.rule.as_str()).or_default().push(f);
        }
        if by_rule.is_empty() {
            continue;
        }
        any = true;
        writeln!(out, "#### {name}\n").unwrap();
        for (rule, findings) in by_rule {
            let Some(meta) = catalog.meta(rule) else {
                continue;
            };
            writeln!(
                out,
                "**`{rule}`** — {} (fix: {})\n",
                meta.title,
                meta.applicability.as_str()
            )
            .unwrap();
            writeln!(out, "- **What changed:**").unwrap();
            for f in &findings {
                writeln!(out, "  - {}: {}", location(f), f.message).unwrap();
            }
            writeln!(out, "- **Why:** {}", first_paragraph(&meta.docs.why)).unwrap();
            let check = match (&meta.docs.fix_safety, meta.applicability) {
                // The docs open with the tier ("Review: ..."); the heading already says it.
                (Some(s), _) => {
                    let s = first_paragraph(s);
                    ["Review:", "Manual:", "Safe:"]
                        .iter()
                        .find_map(|p| s.strip_prefix(p))
                        .map_or(s.clone(), |r| r.trim_start().to_string())
                }
                (None, Applicability::Safe) => {
                    "The fix keeps the code's meaning; check the diff reads right.".into()
                }
                (None, _) => {
                    "Check that the app still behaves as intended for its own clients.".into()
                }
            };
            writeln!(out, "- **Reviewer, check:** {check}\n").unwrap();
        }
    }
    if !any {
        writeln!(out, "No automatic changes.\n").unwrap();
    }

    writeln!(out, "### Needs a person\n").unwrap();
    if open.is_empty() {
        writeln!(out, "Nothing: every finding was fixed.\n").unwrap();
    } else {
        for f in &open {
            let why = match &f.status {
                Status::FixDropped(r) => format!(" ({r})"),
                _ => String::new(),
            };
            writeln!(
                out,
                "- [ ] {} `{}` — {}{why}",
                location(f),
                f.rule,
                f.message
            )
            .unwrap();
        }
        writeln!(out).unwrap();
    }
    for p in &outcome.problems {
        writeln!(
            out,
            "- [ ] `{}:{}` was not checked: {}",
            p.path, p.line, p.message
        )
        .unwrap();
    }

    writeln!(out, "### Quick audit before launch\n").unwrap();
    writeln!(out, "| check | status | evidence |\n|---|---|---|").unwrap();
    for check in AUDIT {
        let (status, evidence) = audit(outcome, catalog, check);
        writeln!(out, "| {} | {status} | {evidence} |", check.question).unwrap();
    }
    writeln!(
        out,
        "\n<sub>Generated by casehard {}.</sub>",
        env!("CARGO_PKG_VERSION")
    )
    .unwrap();
    out
}

/// pass, fail, not applicable, or not checked (no rule in the catalog answers it yet).
fn audit(outcome: &Outcome, catalog: &Catalog, check: &AuditCheck) -> (&'static str, String) {
    let covers = |id: &str| check.rules.iter().any(|p| id.starts_with(p));
    let rules: Vec<&str> = catalog
        .metas()
        .iter()
        .map(|m| m.id.as_str())
        .filter(|id| covers(id))
        .collect();
    if check.rules.contains(&"webhook/") && !outcome.stack.stripe {
        return (
            "not applicable",
            "no payment provider in the project's dependencies".into(),
        );
    }
    if rules.is_empty() {
        return (
            "not checked",
            "casehard has no rule for this yet; check by hand".into(),
        );
    }
    let relevant: Vec<&Finding> = outcome
        .findings
        .iter()
        .filter(|f| covers(&f.rule))
        .collect();
    let open: Vec<&&Finding> = relevant.iter().filter(|f| f.is_open()).collect();
    if !open.is_empty() {
        let list: Vec<String> = open
            .iter()
            .take(5)
            .map(|f| format!("{} `{}`", location(f), f.rule))
            .collect();
        return ("fail", format!("{} open: {}", open.len(), list.join(", ")));
    }
    if relevant.is_empty() {
        ("pass", format!("{} found nothing", rules.join(", ")))
    } else {
        (
            "pass",
            format!(
                "{} finding(s) fixed by this change ({})",
                relevant.len(),
                rules.join(", ")
            ),
        )
    }
}
