//! SARIF 2.1.0 for code-scanning dashboards (GitHub code scanning and the like): the rules
//! with their documentation, a result per finding with its location, and the fix as an
//! artifact change against the file as it was read; a file casehard could not check (it does
//! not parse, or its rules ran past the time limit) is an error notification of the run's
//! invocation, which then did not execute successfully.

use crate::engine::Outcome;
use crate::plan::{Severity, Status};
use crate::rules::Catalog;
use crate::workspace::split_bom;
use serde_json::{json, Value};

const SCHEMA: &str = "https://json.schemastore.org/sarif-2.1.0.json";

fn level(s: Severity) -> &'static str {
    match s {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Info => "note",
    }
}

pub fn render(outcome: &Outcome, catalog: &Catalog) -> String {
    let metas = catalog.metas();
    let rules: Vec<Value> = metas
        .iter()
        .map(|m| {
            json!({
                "id": m.id,
                "name": m.title,
                "shortDescription": { "text": m.title },
                "fullDescription": { "text": m.docs.what.trim() },
                "help": { "text": m.explain(), "markdown": m.explain() },
                "defaultConfiguration": { "level": level(m.severity) },
                "properties": {
                    "tags": ["security", m.area.as_str()],
                    "applicability": m.applicability.as_str(),
                },
            })
        })
        .collect();
    let results: Vec<Value> = outcome
        .findings
        .iter()
        .map(|f| {
            let mut result = json!({
                "ruleId": f.rule,
                "ruleIndex": metas.iter().position(|m| m.id == f.rule),
                "level": level(f.severity),
                "message": { "text": f.message },
                "locations": [location(&f.path, f.line, f.column)],
                "properties": {
                    "applicability": f.applicability.as_str(),
                    "status": match &f.status {
                        Status::Open => "open",
                        Status::Fixed => "fixed",
                        Status::FixDropped(_) => "fix-dropped",
                        Status::FixNotApplied => "fix-not-applied",
                    },
                },
            });
            if !f.original_edits.is_empty() {
                let bom = bom_len(outcome, &f.path);
                let replacements: Vec<Value> = f
                    .original_edits
                    .iter()
                    .map(|e| {
                        json!({
                            "deletedRegion": { "byteOffset": e.start + bom, "byteLength": e.end - e.start },
                            "insertedContent": { "text": e.text },
                        })
                    })
                    .collect();
                result["fixes"] = json!([{
                    "description": { "text": format!("casehard {}", f.rule) },
                    "artifactChanges": [{
                        "artifactLocation": { "uri": f.path },
                        "replacements": replacements,
                    }],
                }]);
            }
            result
        })
        .collect();
    let notifications: Vec<Value> = outcome
        .problems
        .iter()
        .map(|p| {
            json!({
                "level": "error",
                "message": { "text": p.message },
                "locations": [location(&p.path, p.line, p.column)],
            })
        })
        .collect();
    let log = json!({
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": { "driver": {
                "name": "casehard",
                "version": env!("CARGO_PKG_VERSION"),
                "rules": rules,
            }},
            "invocations": [{
                "executionSuccessful": notifications.is_empty(),
                "toolExecutionNotifications": notifications,
            }],
            "columnKind": "unicodeCodePoints",
            "results": results,
        }],
    });
    serde_json::to_string_pretty(&log).expect("serializes") + "\n"
}

/// A SARIF location: a file and a 1-based line and column.
fn location(path: &str, line: usize, column: usize) -> Value {
    json!({
        "physicalLocation": {
            "artifactLocation": { "uri": path },
            "region": { "startLine": line, "startColumn": column },
        }
    })
}

/// Length of the byte-order mark the file was read with: SARIF offsets count it.
fn bom_len(outcome: &Outcome, path: &str) -> usize {
    // A created file's offsets count its text as created.
    let bytes = match outcome.original(path) {
        Some(bytes) => bytes,
        None => match outcome.workspace.get(path) {
            Some(entry) => (&entry.bytes[..]).into(),
            None => return 0,
        },
    };
    match split_bom(&bytes) {
        Some(t) if t.bom => 3,
        _ => 0,
    }
}
