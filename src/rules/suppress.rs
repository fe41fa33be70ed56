//! Inline suppression: `// casehard-ignore: <rule-id> <reason>` on the line of a finding or the
//! line before it.

use std::collections::HashSet;

const MARKER: &str = "casehard-ignore:";

#[derive(Default, Debug)]
pub struct Suppressions {
    /// (0-based line the comment covers, rule id)
    covered: HashSet<(usize, String)>,
}

impl Suppressions {
    pub fn parse(text: &str) -> Suppressions {
        let mut covered = HashSet::new();
        if !text.contains(MARKER) {
            return Suppressions { covered };
        }
        for (line_no, line) in text.lines().enumerate() {
            let Some(at) = line.find(MARKER) else {
                continue;
            };
            // Only inside a comment: `//` or `/*` before the marker on the same line.
            let before = &line[..at];
            if !(before.contains("//") || before.contains("/*")) {
                continue;
            }
            let rest = line[at + MARKER.len()..].trim_start();
            let Some(id) = rest.split_whitespace().next() else {
                continue;
            };
            let id = id.trim_end_matches("*/").to_string();
            covered.insert((line_no, id.clone()));
            covered.insert((line_no + 1, id));
        }
        Suppressions { covered }
    }

    pub fn is_empty(&self) -> bool {
        self.covered.is_empty()
    }

    /// Whether `rule` is suppressed for a finding that starts on 0-based `line`.
    pub fn covers(&self, line: usize, rule: &str) -> bool {
        self.covered.contains(&(line, rule.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn covers_same_and_next_line_only_for_named_rule() {
        let s = Suppressions::parse(
            "// casehard-ignore: schema/zod-strict webhook payload is proxied\nconst a = 1;\nconst b = 2; // casehard-ignore: x/y reason\n",
        );
        assert!(s.covers(0, "schema/zod-strict"));
        assert!(s.covers(1, "schema/zod-strict"));
        assert!(!s.covers(2, "schema/zod-strict"));
        assert!(s.covers(2, "x/y"));
        assert!(!s.covers(1, "x/y"));
    }

    #[test]
    fn ignores_marker_outside_comments() {
        let s = Suppressions::parse("const s = 'casehard-ignore: a/b';\n");
        assert!(s.is_empty());
    }
}
