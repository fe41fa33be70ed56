//! `webhook/stripe-signature`: Stripe webhook route handlers that trust an unverified body.
//!
//! A Next.js route handler whose body feeds Stripe event handling (`event.type`, event names
//! such as `checkout.session.completed`, or a path naming a webhook) and that reads the body
//! with `await req.text()` or `await req.json()` without `constructEvent`: the line that reads
//! the body becomes a call to a verification helper (injected once, from
//! templates/nextjs/stripe-webhook.ts.hbs) that fails closed; the rest of the handler, its
//! `switch` on event types included, stays as it was.

use crate::lang::Lang;
use crate::passes::imports::{self, ImportFacts};
use crate::passes::{facts_of, Facts, FileView, Pass, PassOutput, ProjectView};
use crate::plan::{Applicability, Area, Edit, NewFile, Proposal, Severity};
use crate::rules::{Docs, Origin, RuleMeta};
use crate::stack::alias_root;
use ast_grep_core::tree_sitter::StrDoc;
use ast_grep_core::Node;
use serde_json::json;
use std::collections::BTreeMap;

pub const SIGNATURE: &str = "webhook/stripe-signature";
const HELPER: &str = "verifyStripeWebhook";
const EVENT_NAMES: &[&str] = &[
    "checkout.session.completed",
    "customer.subscription",
    "invoice.paid",
    "invoice.payment",
    "payment_intent.",
];

type N<'a> = Node<'a, StrDoc<Lang>>;

pub struct StripeSignature {
    meta: [RuleMeta; 1],
}

impl Default for StripeSignature {
    fn default() -> Self {
        StripeSignature {
            meta: [RuleMeta {
                id: SIGNATURE.into(),
                title: "Stripe webhooks are verified before they are trusted".into(),
                severity: Severity::Error,
                area: Area::Payments,
                applicability: Applicability::Review,
                origin: Origin::Pass("src/passes/webhook.rs"),
                docs: Docs {
                    what: "Finds Next.js route handlers that handle Stripe events from a body they never verified (`JSON.parse(await req.text())`, `await req.json()`, no `constructEvent`), and makes the line that reads the body call an injected helper that verifies the `stripe-signature` header with the Stripe SDK (`constructEventAsync` with an explicit 300-second tolerance, Web Crypto so edge runtimes work too). Without `STRIPE_WEBHOOK_SECRET` the helper answers 500; a missing, forged or stale signature gets a bare 400. The handler's own logic is untouched.".into(),
                    why: "Anyone who finds the endpoint can POST `{\"type\": \"checkout.session.completed\", ...}` and be granted a plan, credits or a paid order for free; an old genuine event can be replayed. Only the signature proves Stripe sent it, and only the timestamp inside it bounds replays.".into(),
                    before: "export async function POST(req: Request) {\n  const payload = await req.text();\n  const event = JSON.parse(payload);\n  switch (event.type) { /* ... */ }\n}".into(),
                    after: "export async function POST(req: Request) {\n  const verified = await verifyStripeWebhook(req);\n  if (!verified.ok) return verified.response;\n  const payload = verified.payload;\n  const event = JSON.parse(payload);\n  switch (event.type) { /* ... */ }\n}".into(),
                    fix_safety: Some("Review: set STRIPE_WEBHOOK_SECRET (the endpoint's signing secret from the Stripe dashboard or `stripe listen`) in every environment, or every webhook is refused with 500.".into()),
                    references: vec![
                        "CWE-345: Insufficient Verification of Data Authenticity".into(),
                        "CWE-294: Authentication Bypass by Capture-replay".into(),
                        "https://docs.stripe.com/webhooks#verify-webhook-signatures".into(),
                    ],
                },
            }],
        }
    }
}

/// A statement in a handler that reads the body unverified.
#[derive(Debug)]
struct BodyRead {
    /// The whole `const x = await req.text();` statement.
    statement: std::ops::Range<usize>,
    request: String,
    variable: String,
    /// `json()`: the replacement must parse the verified payload itself.
    json: bool,
    indent: String,
}

struct FileFacts {
    reads: Vec<BodyRead>,
    imports: ImportFacts,
}

fn is_webhook_file(path: &str, text: &str) -> bool {
    let route =
        path.ends_with("/route.ts") || path.ends_with("/route.js") || path.ends_with("/route.tsx");
    let stripe_events = text.contains("event.type") || EVENT_NAMES.iter().any(|e| text.contains(e));
    route
        && stripe_events
        && (path.contains("webhook") || path.contains("stripe") || text.contains("stripe"))
}

impl Pass for StripeSignature {
    fn rules(&self) -> &[RuleMeta] {
        &self.meta
    }
    fn kinds(&self) -> &'static [&'static str] {
        &["lexical_declaration"]
    }
    fn wants(&self, path: &str, text: &str) -> bool {
        is_webhook_file(path, text) && !text.contains("constructEvent") && !text.contains(HELPER)
    }
    fn may_edit(&self, facts: &Facts) -> bool {
        facts
            .downcast_ref::<FileFacts>()
            .is_some_and(|f| !f.reads.is_empty())
    }

    fn scan(&self, file: &FileView<'_>) -> Option<Facts> {
        let reads: Vec<BodyRead> = file
            .nodes("lexical_declaration")
            .iter()
            .filter_map(|decl| body_read(decl, file.text))
            .collect();
        if reads.is_empty() {
            return None;
        }
        Some(Box::new(FileFacts {
            reads,
            imports: imports::scan(&file.tree.root(), file.text),
        }))
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
        let style = &project.stack.style;
        let root = alias_root(ws);
        let helper_path = if root.is_empty() {
            "lib/casehard/stripe-webhook.ts".to_string()
        } else {
            format!("{root}/lib/casehard/stripe-webhook.ts")
        };
        let s = style.semi();
        for (path, file) in &files {
            for read in &file.reads {
                let i = &read.indent;
                let payload = if read.json {
                    format!("const {} = JSON.parse(verified.payload){s}", read.variable)
                } else {
                    format!("const {} = verified.payload{s}", read.variable)
                };
                let text = format!(
                    "const verified = await {HELPER}({}){s}\n{i}if (!verified.ok) return verified.response{s}\n{i}{payload}",
                    read.request
                );
                let mut edits = vec![Edit::replace(read.statement.clone(), text)];
                if let Some(import) =
                    imports::add_named_import(ws, &file.imports, style, path, HELPER, &helper_path)
                {
                    edits.insert(0, import);
                }
                out.proposals.push(Proposal {
                    rule: SIGNATURE.into(),
                    path: path.to_string(),
                    at: read.statement.clone(),
                    message: format!(
                        "this Stripe webhook handler trusts the body `{}` without checking its signature: anyone can post a forged event; verify it first (fails closed without STRIPE_WEBHOOK_SECRET)",
                        read.variable
                    ),
                    applicability: Applicability::Review,
                    edits,
                });
            }
        }
        if !ws.contains(&helper_path) {
            let data = json!({
                "rule": SIGNATURE,
                "q": style.quote.to_string(),
                "s": s,
                "i": style.indent,
            });
            if let Ok(content) = crate::templates::render("nextjs/stripe-webhook.ts", &data) {
                out.new_files.push(NewFile {
                    rule: SIGNATURE.into(),
                    path: helper_path.clone(),
                    content,
                    message: format!(
                        "{helper_path}: the verification helper the webhook handlers call"
                    ),
                    fixes: vec![],
                });
            }
        }
    }
}

/// `const x = await req.text()` (or `.json()`) in a handler, with the request's name.
fn body_read(decl: &N, text: &str) -> Option<BodyRead> {
    let declarator = decl
        .children()
        .find(|c| c.kind() == "variable_declarator")?;
    let name = declarator
        .field("name")
        .filter(|n| n.kind() == "identifier")?;
    let value = declarator
        .field("value")
        .filter(|v| v.kind() == "await_expression")?;
    let call = value.children().find(|c| c.kind() == "call_expression")?;
    let func = call
        .field("function")
        .filter(|f| f.kind() == "member_expression")?;
    let method = func.field("property")?.text().to_string();
    let request = func
        .field("object")
        .filter(|o| o.kind() == "identifier")?
        .text()
        .to_string();
    if method != "text" && method != "json" {
        return None;
    }
    // Only inside a function (the handler), never at module level.
    decl.ancestors().find(|a| {
        matches!(
            a.kind().as_ref(),
            "function_declaration" | "arrow_function" | "function_expression"
        )
    })?;
    let start = decl.range().start;
    let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
    Some(BodyRead {
        statement: decl.range(),
        request,
        variable: name.text().to_string(),
        json: method == "json",
        indent: text[line_start..start]
            .chars()
            .take_while(|c| c.is_whitespace())
            .collect(),
    })
}
