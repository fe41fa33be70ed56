//! Findings for people (text on stderr) and for machines (a versioned JSON document).

use crate::engine::Outcome;
use crate::plan::{Finding, LineIndex, Status};
use crate::workspace::{body_of, SkipReason};
use serde::Serialize;

/// Version of the JSON document's shape; bumped on any incompatible change.
pub const JSON_VERSION: u32 = 1;

pub fn finding_line(f: &Finding) -> String {
    let status = match &f.status {
        Status::Fixed => format!("fixed, {}", f.applicability.as_str()),
        Status::Open => "open, manual".to_string(),
        Status::FixDropped(why) => format!("not fixed: {why}"),
        Status::FixNotApplied => format!("fix not applied, {}", f.applicability.as_str()),
    };
    format!(
        "{}:{}:{}: {}[{}] {} ({status})",
        f.path,
        f.line,
        f.column,
        f.severity.as_str(),
        f.rule,
        f.message
    )
}

/// The summary for stderr: skipped files, unreadable ones, every finding with its code frame.
pub fn text(outcome: &Outcome, verbose: bool) -> String {
    super::to_string(|out| write_text(outcome, verbose, out))
}

/// Writes the summary finding by finding, so thousands of findings are never held as one text.
pub fn write_text(
    outcome: &Outcome,
    verbose: bool,
    out: &mut impl std::io::Write,
) -> std::io::Result<()> {
    for s in &outcome.workspace.skipped {
        if verbose || s.reason == SkipReason::NotUtf8 {
            writeln!(out, "note: skipped {}: {}", s.path, s.reason)?;
        }
    }
    if verbose {
        let n = outcome.workspace.skipped.len();
        writeln!(out, "note: {n} path(s) skipped")?;
    }
    for p in &outcome.problems {
        writeln!(
            out,
            "{}:{}:{}: error: {}",
            p.path, p.line, p.column, p.message
        )?;
    }
    // The findings come sorted by path: each file's lines are indexed once.
    let mut file: Option<(&str, Option<crate::plan::Indexed<'_>>)> = None;
    for f in outcome.findings.iter() {
        writeln!(out, "{}", finding_line(f))?;
        if file.as_ref().is_none_or(|(path, _)| *path != f.path) {
            file = Some((
                &f.path,
                original_text(outcome, &f.path).map(crate::plan::indexed),
            ));
        }
        if let Some((_, Some((text, index)))) = &file {
            if let Some(frame) = code_frame(text, index, f) {
                out.write_all(frame.as_bytes())?;
            }
        }
    }
    let fixed = outcome
        .findings
        .iter()
        .filter(|f| f.status == Status::Fixed)
        .count();
    let open = outcome.findings.len() - fixed;
    let files = outcome.before.len();
    write!(
        out,
        "{} finding(s): {fixed} fixed, {open} open; {files} file(s) changed",
        outcome.findings.len()
    )?;
    if !outcome.problems.is_empty() {
        write!(
            out,
            "; {} file(s) not checked (errors above)",
            outcome.problems.len()
        )?;
    }
    writeln!(out)
}

/// The text of `path` as it was read (none for a file casehard created).
fn original_text<'o>(outcome: &'o Outcome, path: &str) -> Option<std::borrow::Cow<'o, str>> {
    body_of(outcome.original(path)?)
}

/// The finding's line in `text` (the file as it was read, indexed by `index`), with a caret
/// under its column:
///
/// ```text
///    3 | const schema = z.object({ title: z.string() });
///      |                ^
/// ```
pub fn code_frame(text: &str, index: &LineIndex, f: &Finding) -> Option<String> {
    let line = index.line(text, f.line)?.trim_end_matches('\r');
    let number = f.line.to_string();
    let pad = " ".repeat(number.len());
    // Tabs stay tabs so the caret lines up in a terminal.
    let lead: String = line
        .chars()
        .take(f.column.saturating_sub(1))
        .map(|c| if c == '\t' { '\t' } else { ' ' })
        .collect();
    Some(format!(" {number} | {line}\n {pad} | {lead}^\n"))
}

#[derive(Serialize)]
struct JsonChange<'a> {
    path: &'a str,
    status: &'static str,
}

#[derive(Serialize)]
struct JsonReport<'a> {
    version: u32,
    command: &'a str,
    clean: bool,
    changes: Vec<JsonChange<'a>>,
    findings: &'a [Finding],
    problems: &'a [crate::engine::Problem],
    #[serde(skip_serializing_if = "Option::is_none")]
    diff: Option<&'a str>,
}

/// The JSON document for `--format json`.
pub fn json(outcome: &Outcome, command: &str, diff: Option<&str>) -> String {
    let report = JsonReport {
        version: JSON_VERSION,
        command,
        clean: outcome.is_clean(),
        changes: outcome
            .before
            .iter()
            .map(|(p, b)| JsonChange {
                path: p,
                status: if b.is_created() { "added" } else { "modified" },
            })
            .collect(),
        findings: &outcome.findings,
        problems: &outcome.problems,
        diff,
    };
    serde_json::to_string_pretty(&report).expect("report serializes") + "\n"
}
