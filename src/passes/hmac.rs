//! `webhook/hmac-timing`: hand-rolled webhook signature checks compared with `===`.
//!
//! In a module that computes an HMAC (`createHmac(...)`), an equality between a computed
//! signature (digest, HMAC, hash) and another value becomes a call to an injected
//! `signaturesMatch`, which compares in constant time and never matches a missing signature.
//! When the signed input carries a timestamp variable (`update(`${timestamp}.${body}`)`), the
//! comparison also requires `withinWindow(timestamp)`: a signature older than five minutes is a
//! replay.

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

pub const HMAC_TIMING: &str = "webhook/hmac-timing";
const MATCH: &str = "signaturesMatch";
const WINDOW: &str = "withinWindow";

type N<'a> = Node<'a, StrDoc<Lang>>;

pub struct HmacTiming {
    meta: [RuleMeta; 1],
}

impl Default for HmacTiming {
    fn default() -> Self {
        HmacTiming {
            meta: [crate::passes::rule_meta(
                "src/passes/hmac.rs",
                Area::Payments,
                HMAC_TIMING,
                "Signatures are compared in constant time, inside a time window",
                Severity::Warning,
                Applicability::Review,
                [
                    "In modules that compute an HMAC, replaces `===`, `!==`, `==` and `!=` between a computed signature (digest, HMAC, hash) and another value with `signaturesMatch(a, b)` from an injected helper: a constant-time comparison (`timingSafeEqual` on equal-length buffers) that never matches a missing signature. When the signed input includes a timestamp variable, the check also requires `withinWindow(timestamp)` (300 seconds).",
                    "String comparison stops at the first byte that differs, so the time it takes leaks how much of a guessed signature is right; with enough requests an attacker recovers a valid signature byte by byte. A signed timestamp that is never checked lets a captured request be replayed forever.",
                    "const digest = createHmac(\"sha256\", secret).update(`${timestamp}.${body}`).digest(\"hex\");\nif (digest !== signature) return new Response(\"bad signature\", { status: 401 });",
                    "const digest = createHmac(\"sha256\", secret).update(`${timestamp}.${body}`).digest(\"hex\");\nif (!(signaturesMatch(digest, signature) && withinWindow(timestamp))) return new Response(\"bad signature\", { status: 401 });",
                    "Review: requests signed more than five minutes ago (or with the timestamp in another unit than seconds or milliseconds) are now refused; where the provider is Stripe, its SDK's constructEvent does all of this.",
                ],
                &["CWE-208: Observable Timing Discrepancy", "CWE-294: Authentication Bypass by Capture-replay"],
            )],
        }
    }
}

/// `a === b` between a signature and another value.
struct Comparison {
    range: std::ops::Range<usize>,
    left: String,
    right: String,
    negated: bool,
}

struct FileFacts {
    comparisons: Vec<Comparison>,
    /// The variable holding the signed timestamp, when the signed input has one.
    timestamp: Option<String>,
    imports: ImportFacts,
}

fn signature_like(text: &str) -> bool {
    let t = text.to_lowercase();
    ["sig", "digest", "hmac", "hash", "mac"]
        .iter()
        .any(|w| t.contains(w))
}

fn comparison(node: &N) -> Option<Comparison> {
    let operator = node.child_in("operator")?.text().to_string();
    let negated = match operator.as_str() {
        "===" | "==" => false,
        "!==" | "!=" => true,
        _ => return None,
    };
    let (left, right) = (node.child_in("left")?, node.child_in("right")?);
    let literal = |n: &N| {
        matches!(
            n.kind().as_ref(),
            "string" | "null" | "undefined" | "number" | "true" | "false" | "template_string"
        )
    };
    if literal(&left) || literal(&right) {
        return None;
    }
    if !(signature_like(&left.text()) || signature_like(&right.text())) {
        return None;
    }
    // `a.length === b.length` guards a comparison; it is not one.
    if left.text().ends_with(".length") || right.text().ends_with(".length") {
        return None;
    }
    Some(Comparison {
        range: node.range(),
        left: left.text().to_string(),
        right: right.text().to_string(),
        negated,
    })
}

/// The timestamp variable in the argument of an HMAC's `.update(...)`.
fn signed_timestamp(call: &N) -> Option<String> {
    let func = call.child_in("function")?;
    if func.kind() != "member_expression" || func.child_in("property")?.text() != "update" {
        return None;
    }
    if !func.text().contains("createHmac(") {
        return None;
    }
    let args = call.child_in("arguments")?;
    let found = args
        .dfs()
        .filter(|n| n.kind() == "identifier")
        .map(|n| n.text().to_string())
        .find(|name| name.to_lowercase().contains("timestamp") || name == "ts");
    found
}

impl Pass for HmacTiming {
    fn rules(&self) -> &[RuleMeta] {
        &self.meta
    }
    fn kinds(&self) -> &'static [&'static str] {
        &["binary_expression", "call_expression"]
    }
    fn wants(&self, _path: &str, text: &str) -> bool {
        text.contains("createHmac(")
    }
    fn may_edit(&self, facts: &Facts) -> bool {
        facts
            .downcast_ref::<FileFacts>()
            .is_some_and(|f| !f.comparisons.is_empty())
    }
    fn scan(&self, file: &FileView<'_>) -> Option<Facts> {
        let comparisons: Vec<Comparison> = file
            .nodes("binary_expression")
            .iter()
            .filter_map(comparison)
            .collect();
        if comparisons.is_empty() {
            return None;
        }
        let timestamp = file
            .nodes("call_expression")
            .iter()
            .find_map(signed_timestamp);
        Some(Box::new(FileFacts {
            comparisons,
            timestamp,
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
        let mut helpers = std::collections::BTreeSet::new();
        for (path, file) in &files {
            let style = &project.style_of(path);
            let helper = helper_for(ws, path, "signatures.ts");
            helpers.insert(helper.clone());
            for (n, c) in file.comparisons.iter().enumerate() {
                let matched = format!("{MATCH}({}, {})", c.left, c.right);
                let check = match &file.timestamp {
                    Some(ts) => format!("({matched} && {WINDOW}({ts}))"),
                    None => matched,
                };
                let text = if c.negated {
                    format!("!{check}")
                } else {
                    check
                };
                let mut edits = vec![Edit::replace(c.range.clone(), text)];
                if n == 0 {
                    let mut names = vec![MATCH];
                    if file.timestamp.is_some() {
                        names.push(WINDOW);
                    }
                    let missing: Vec<&str> = names
                        .into_iter()
                        .filter(|n| !file.imports.bound.iter().any(|b| b == n))
                        .collect();
                    // One import for both names (`import { a, b } from ...`).
                    if let Some(import) = imports::add_named_import(
                        ws,
                        &file.imports,
                        style,
                        path,
                        &missing.join(", "),
                        &helper,
                    )
                    .filter(|_| !missing.is_empty())
                    {
                        edits.insert(0, import);
                    }
                }
                let window = match &file.timestamp {
                    Some(ts) => format!(", and `{ts}` must be within five minutes"),
                    None => {
                        ", and nothing bounds replays: the signed input has no timestamp".into()
                    }
                };
                out.proposals.push(Proposal {
                    rule: HMAC_TIMING.into(),
                    path: (*path).into(),
                    at: c.range.clone(),
                    message: format!(
                        "`{} {} {}` compares a signature with an operator that stops at the first differing byte, leaking it byte by byte; it is now compared in constant time{window}",
                        c.left,
                        if c.negated { "!==" } else { "===" },
                        c.right
                    ).into(),
                    applicability: Applicability::Review,
                    edits,
                });
            }
        }
        for helper in helpers {
            out.new_files.extend(helper_file(
                project,
                HMAC_TIMING,
                &helper,
                "webhook/signatures.ts",
                json!({}),
                format!("{helper}: constant-time signature comparison and the replay window"),
            ));
        }
    }
}
