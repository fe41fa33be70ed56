//! What rules and passes propose, and what the engine reports back.

use serde::{Deserialize, Serialize};

/// How far a fix can be trusted (after ruff's fix safety).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Applicability {
    /// Keeps the meaning of the code for every legitimate use.
    Safe,
    /// Applied, but changes behaviour for some callers: a reviewer must check it.
    Review,
    /// No automatic fix: a person has to decide.
    Manual,
}

impl Applicability {
    pub fn as_str(&self) -> &'static str {
        match self {
            Applicability::Safe => "safe",
            Applicability::Review => "review",
            Applicability::Manual => "manual",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
    Info,
}

impl Severity {
    pub fn as_str(&self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "info",
        }
    }
}

/// The checklist areas every rule belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Area {
    Auth,
    Rbac,
    Payments,
    Schemas,
    SupplyChain,
    Ops,
}

impl Area {
    pub fn as_str(&self) -> &'static str {
        match self {
            Area::Auth => "auth",
            Area::Rbac => "rbac",
            Area::Payments => "payments",
            Area::Schemas => "schemas",
            Area::SupplyChain => "supply-chain",
            Area::Ops => "ops",
        }
    }
}

/// One replacement in a file's text (after any byte-order mark), in byte offsets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Edit {
    pub start: usize,
    pub end: usize,
    pub text: String,
}

impl Edit {
    pub fn insert(at: usize, text: impl Into<String>) -> Edit {
        Edit {
            start: at,
            end: at,
            text: text.into(),
        }
    }
    /// Shrinks an edit to the bytes that really change: a fix template that rewrites a whole call
    /// to append `.strict()` becomes an insertion, so it no longer overlaps a fix nested inside.
    pub fn trim(&mut self, body: &str) {
        let Some(old) = body.get(self.start..self.end) else {
            return;
        };
        let (old_b, new_b) = (old.as_bytes(), self.text.as_bytes());
        let mut prefix = old_b.iter().zip(new_b).take_while(|(a, b)| a == b).count();
        while prefix > 0 && !(old.is_char_boundary(prefix) && self.text.is_char_boundary(prefix)) {
            prefix -= 1;
        }
        let max_suffix = old_b.len().min(new_b.len()) - prefix;
        let mut suffix = old_b
            .iter()
            .rev()
            .zip(new_b.iter().rev())
            .take(max_suffix)
            .take_while(|(a, b)| a == b)
            .count();
        while suffix > 0
            && !(old.is_char_boundary(old.len() - suffix)
                && self.text.is_char_boundary(self.text.len() - suffix))
        {
            suffix -= 1;
        }
        self.text = self.text[prefix..self.text.len() - suffix].to_string();
        self.end -= suffix;
        self.start += prefix;
    }
    pub fn replace(range: std::ops::Range<usize>, text: impl Into<String>) -> Edit {
        Edit {
            start: range.start,
            end: range.end,
            text: text.into(),
        }
    }
}

/// A problem found by a rule or pass, with the fix for it if there is one. All edits are in
/// `path` and are applied together or not at all.
///
/// The names are shared: a file's proposals hold one copy of its path, and a rule's proposals
/// one copy of its id and of its message when the message names nothing it matched (a large
/// project's first run holds a hundred thousand proposals at once).
#[derive(Clone, Debug)]
pub struct Proposal {
    pub rule: std::sync::Arc<str>,
    pub path: std::sync::Arc<str>,
    /// Where the problem is, in byte offsets of the text the rule saw.
    pub at: std::ops::Range<usize>,
    pub message: std::sync::Arc<str>,
    pub applicability: Applicability,
    pub edits: Vec<Edit>,
}

/// A file a pass creates. Created only if no file is at `path` (keyed by path, like
/// OpenRewrite), so a second run never rewrites it.
#[derive(Clone, Debug)]
pub struct NewFile {
    pub rule: String,
    pub path: String,
    pub content: String,
    /// Why the file is created, reported as a finding the change fixes.
    pub message: String,
    /// Findings elsewhere that this file fixes (a migration fixes the tables it secures).
    pub fixes: Vec<Proposal>,
}

/// What happened to a finding.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "status", content = "reason")]
pub enum Status {
    /// No fix was offered: it stays open.
    Open,
    /// Its fix is part of the change.
    Fixed,
    /// Its fix was dropped because it broke the file; nothing was written for it.
    FixDropped(String),
    /// Its fix exists but was not applied (its tier was not selected).
    FixNotApplied,
}

/// A finding as reported: positions are 1-based and refer to the file as it was read.
#[derive(Clone, Debug, Serialize)]
pub struct Finding {
    pub rule: String,
    pub severity: Severity,
    pub area: Area,
    pub applicability: Applicability,
    pub path: String,
    pub line: usize,
    pub column: usize,
    pub message: String,
    #[serde(flatten)]
    pub status: Status,
    /// The fix against the file as it was read (byte offsets after any BOM), when the finding
    /// was made on unmodified text; SARIF reports it as an artifact change.
    #[serde(skip)]
    pub original_edits: Vec<Edit>,
}

impl Finding {
    /// Still needs a person after this run.
    pub fn is_open(&self) -> bool {
        !matches!(self.status, Status::Fixed)
    }
}

/// 1-based line and column (in characters) of a byte offset.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..floor_char_boundary(text, offset)];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

/// The starts of a text's lines, for [`line_col`] of many offsets in one text.
pub struct LineIndex(Vec<usize>);

impl LineIndex {
    pub fn new(text: &str) -> LineIndex {
        let starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        LineIndex(starts)
    }

    /// Line `number` (1-based) of `text`, the text this index was made from, without its line
    /// ending; none past the last line, as [`str::lines`] counts them.
    pub fn line<'t>(&self, text: &'t str, number: usize) -> Option<&'t str> {
        let start = *self.0.get(number.checked_sub(1)?)?;
        if start == text.len() {
            return None;
        }
        Some(match self.0.get(number) {
            // Ended by `\n`: a `\r` before it is part of the line ending.
            Some(next) => {
                let line = &text[start..next - 1];
                line.strip_suffix('\r').unwrap_or(line)
            }
            None => &text[start..],
        })
    }

    /// [`line_col`] of `offset` in `text`, the text this index was made from.
    pub fn line_col(&self, text: &str, offset: usize) -> (usize, usize) {
        let offset = floor_char_boundary(text, offset.min(text.len()));
        let line = self.0.partition_point(|&start| start <= offset);
        let start = self.0[line - 1];
        (line, text[start..offset].chars().count() + 1)
    }
}

/// A text with its lines indexed, for placing many offsets in it.
pub type Indexed<'a> = (std::borrow::Cow<'a, str>, LineIndex);

/// Indexes the lines of `text`.
pub fn indexed(text: std::borrow::Cow<'_, str>) -> Indexed<'_> {
    let index = LineIndex::new(&text);
    (text, index)
}

fn floor_char_boundary(text: &str, mut i: usize) -> usize {
    while i > 0 && !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edits_shrink_to_what_changes() {
        let body = "z.object({ a: z.object({}) })";
        let mut e = Edit::replace(0..body.len(), format!("{body}.strict()"));
        e.trim(body);
        assert_eq!(
            (e.start, e.end, e.text.as_str()),
            (body.len(), body.len(), ".strict()")
        );
        let mut e = Edit::replace(0..5, "abXde");
        e.trim("abcde");
        assert_eq!((e.start, e.end, e.text.as_str()), (2, 3, "X"));
        let mut e = Edit::replace(0..4, "aéa");
        e.trim("aêa");
        assert_eq!(&"aêa"[..e.start], "a");
        assert_eq!(e.text, "é");
    }

    #[test]
    fn a_line_index_gives_the_lines_str_lines_gives() {
        for text in [
            "",
            "a",
            "\n",
            "ab\ncd\n\né€x\r\nlast",
            "x\n\n",
            "a\r\n",
            "\r\n\r\nb",
            "a\r\r\nb\r",
        ] {
            let index = LineIndex::new(text);
            let lines: Vec<&str> = text.lines().collect();
            for number in 0..lines.len() + 3 {
                let expected = number.checked_sub(1).and_then(|i| lines.get(i)).copied();
                assert_eq!(index.line(text, number), expected, "{text:?} line {number}");
            }
        }
    }

    #[test]
    fn a_line_index_gives_what_line_col_gives_at_every_offset() {
        for text in ["", "a", "\n", "ab\ncd\n\né€x\r\nlast", "x\n\n"] {
            let index = LineIndex::new(text);
            for offset in 0..text.len() + 3 {
                assert_eq!(
                    index.line_col(text, offset),
                    line_col(text, offset),
                    "{text:?} at {offset}"
                );
            }
        }
    }

    #[test]
    fn line_col_counts_characters_from_one() {
        let t = "ab\ncé d\n";
        assert_eq!(line_col(t, 0), (1, 1));
        assert_eq!(line_col(t, 3), (2, 1));
        assert_eq!(line_col(t, 7), (2, 4));
    }
}
