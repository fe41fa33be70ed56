//! `payments/idempotency-key`: Stripe writes made while handling a user's request without an
//! idempotency key. A double click, a client retry or a proxy retry then charges, refunds or
//! subscribes twice. The call's resource is wrapped in an injected `idempotent(...)`, which
//! adds a key derived from what the call sends (and a one-minute window) when the call names a
//! customer or an object; the call itself is unchanged.

use crate::lang::Fields;
use crate::lang::Lang;
use crate::passes::imports::{self, ImportFacts};
use crate::passes::{
    facts_of, helper_file, helper_for, Facts, FileView, Pass, PassOutput, ProjectView,
};
use crate::plan::{Applicability, Area, Edit, Proposal, Severity};
use crate::rules::RuleMeta;
use ast_grep_core::tree_sitter::StrDoc;
use ast_grep_core::Node;
use serde_json::json;
use std::collections::BTreeMap;

pub const IDEMPOTENCY_KEY: &str = "payments/idempotency-key";
const HELPER: &str = "idempotent";

/// Stripe writes made on a user's behalf, and how many arguments come before the options.
const WRITES: &[(&str, usize)] = &[
    ("checkout.sessions.create", 1),
    ("paymentIntents.create", 1),
    ("paymentIntents.confirm", 2),
    ("refunds.create", 1),
    ("subscriptions.create", 1),
    ("subscriptions.update", 2),
    ("subscriptions.cancel", 2),
    ("customers.create", 1),
    ("invoices.create", 1),
    ("invoiceItems.create", 1),
    ("transfers.create", 1),
    ("payouts.create", 1),
];

type N<'a> = Node<'a, StrDoc<Lang>>;

pub struct OutboundIdempotency {
    meta: [RuleMeta; 1],
}

impl Default for OutboundIdempotency {
    fn default() -> Self {
        OutboundIdempotency {
            meta: [crate::passes::rule_meta(
                "src/passes/outbound.rs",
                Area::Payments,
                IDEMPOTENCY_KEY,
                "Stripe writes made for a user request carry an idempotency key",
                Severity::Warning,
                Applicability::Review,
                [
                    "In code that handles requests, finds Stripe writes (checkout sessions, payment intents, refunds, subscription changes, customers, invoices, transfers, payouts) called without request options, and wraps the resource in an injected `idempotent(...)`: when the call names a customer or an object, it gets an idempotency key derived from what it sends within a one-minute window, so repeats of the same action are performed once.",
                    "Users double-click, browsers and proxies retry, and generated clients retry on timeouts: without a key each repeat is a new charge, refund or subscription.",
                    "const session = await stripe.checkout.sessions.create({ customer, mode: \"payment\", line_items });",
                    "const session = await idempotent(stripe.checkout.sessions, \"checkout.sessions\").create({ customer, mode: \"payment\", line_items });",
                    "Review: the same write for the same customer inside a minute now returns the first result instead of a second object; a call that names no customer or object is left without a key (a key from its contents alone could collide across users): pass `{ idempotencyKey }` from a client-generated request id there.",
                ],
                &["https://docs.stripe.com/api/idempotent_requests", "CWE-837: Improper Enforcement of a Single, Unique Action"],
            )],
        }
    }
}

/// A Stripe write without options: the resource expression and the call's method.
struct Write {
    /// The resource (`stripe.checkout.sessions`), which gets wrapped.
    resource: std::ops::Range<usize>,
    resource_text: String,
    /// `checkout.sessions`.
    name: String,
    method: String,
}

struct FileFacts {
    writes: Vec<Write>,
    imports: ImportFacts,
}

fn write_call(call: &N) -> Option<Write> {
    let func = call.child_in("function")?;
    if func.kind() != "member_expression" {
        return None;
    }
    let method = func.child_in("property")?.text().to_string();
    let resource = func.child_in("object")?;
    let chain = resource.text().to_string();
    // `stripe.checkout.sessions`: a client named for Stripe, then the resource path.
    let (client, path) = chain.split_once('.')?;
    if !client.to_lowercase().contains("stripe")
        || chain.contains('(')
        || chain.contains(char::is_whitespace)
    {
        return None;
    }
    let full = format!("{path}.{method}");
    let (_, arity) = WRITES.iter().find(|(w, _)| *w == full)?;
    let args = crate::lang::call_args(call).len();
    (args == *arity).then(|| Write {
        resource: resource.range(),
        resource_text: chain.clone(),
        name: path.to_string(),
        method,
    })
}

impl Pass for OutboundIdempotency {
    fn rules(&self) -> &[RuleMeta] {
        &self.meta
    }
    fn kinds(&self) -> &'static [&'static str] {
        &["call_expression"]
    }
    fn wants(&self, _path: &str, text: &str) -> bool {
        text.contains("stripe") && !text.contains("idempotent(")
    }
    fn may_edit(&self, facts: &Facts) -> bool {
        facts
            .downcast_ref::<FileFacts>()
            .is_some_and(|f| !f.writes.is_empty())
    }
    fn scan(&self, file: &FileView<'_>) -> Option<Facts> {
        let writes: Vec<Write> = file
            .nodes("call_expression")
            .iter()
            .filter_map(write_call)
            .collect();
        if writes.is_empty() {
            return None;
        }
        Some(Box::new(FileFacts {
            writes,
            imports: imports::scan(&file.tree.root(), file.text),
        }))
    }

    fn finish(
        &self,
        project: &ProjectView<'_>,
        facts: &BTreeMap<String, Facts>,
        out: &mut PassOutput,
    ) {
        let ws = project.workspace;
        // Only code that runs for a request (handlers, server actions, what they import).
        let files: Vec<(&str, &FileFacts)> = facts_of::<FileFacts>(facts)
            .filter(|(p, _)| project.stack.request_input.contains(*p))
            .collect();
        if files.is_empty() {
            return;
        }
        let mut helpers = std::collections::BTreeSet::new();
        for (path, file) in &files {
            let helper = helper_for(ws, path, "stripe-idempotency.ts");
            let style = &project.style_of(path);
            for (n, w) in file.writes.iter().enumerate() {
                let mut edits = vec![Edit::replace(
                    w.resource.clone(),
                    format!("{HELPER}({}, {})", w.resource_text, style.string(&w.name)),
                )];
                if n == 0 {
                    if let Some(import) =
                        imports::add_named_import(ws, &file.imports, style, path, HELPER, &helper)
                    {
                        edits.insert(0, import);
                    }
                }
                helpers.insert(helper.clone());
                out.proposals.push(Proposal {
                    rule: IDEMPOTENCY_KEY.into(),
                    path: (*path).into(),
                    at: w.resource.clone(),
                    message: format!(
                        "`{}.{}` runs for a user request without an idempotency key: a double click or a retry does it twice; it now carries a key derived from what it sends when it names a customer or an object",
                        w.resource_text, w.method
                    ).into(),
                    applicability: Applicability::Review,
                    edits,
                });
            }
        }
        for helper in helpers {
            out.new_files.extend(helper_file(
                project,
                IDEMPOTENCY_KEY,
                &helper,
                "payments/stripe-idempotency.ts",
                json!({}),
                format!("{helper}: idempotency keys for Stripe writes"),
            ));
        }
    }
}
