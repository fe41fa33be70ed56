//! A unified diff of every change, in path order, that `git apply` accepts.

use crate::engine::Outcome;
use similar::TextDiff;

/// Context lines around each change.
const CONTEXT: usize = 3;

#[derive(Clone, Copy, Debug, Default)]
pub struct Colors {
    pub enabled: bool,
}

impl Colors {
    fn paint(&self, code: &str, line: &str) -> String {
        if self.enabled && !line.is_empty() {
            let (body, nl) = match line.strip_suffix('\n') {
                Some(b) => (b, "\n"),
                None => (line, ""),
            };
            format!("\x1b[{code}m{body}\x1b[0m{nl}")
        } else {
            line.to_string()
        }
    }
}

/// The diff of the whole outcome.
pub fn render(outcome: &Outcome, colors: Colors) -> String {
    super::to_string(|out| write(outcome, colors, out))
}

/// Writes the diff of the whole outcome one file at a time, so a large change is never held
/// whole in memory.
pub fn write(
    outcome: &Outcome,
    colors: Colors,
    out: &mut impl std::io::Write,
) -> std::io::Result<()> {
    for path in outcome.before.keys() {
        let Some(after) = outcome.workspace.get(path) else {
            continue;
        };
        let old = outcome.original(path);
        let old = old.as_deref().map(String::from_utf8_lossy);
        let new = String::from_utf8_lossy(&after.bytes);
        out.write_all(file_diff(path, old.as_deref(), &new, after.mode, colors).as_bytes())?;
    }
    Ok(())
}

/// One file's diff with git headers; `old` is `None` for a new file.
pub fn file_diff(path: &str, old: Option<&str>, new: &str, mode: u32, colors: Colors) -> String {
    let mut out = String::new();
    out.push_str(&colors.paint("1", &format!("diff --git a/{path} b/{path}\n")));
    let (from, old_text) = match old {
        Some(t) => (format!("a/{path}"), t),
        None => {
            out.push_str(&colors.paint(
                "1",
                &format!("new file mode {:o}\n", 0o100000 | (mode & 0o777)),
            ));
            ("/dev/null".to_string(), "")
        }
    };
    out.push_str(&colors.paint("1", &format!("--- {from}\n")));
    out.push_str(&colors.paint("1", &format!("+++ b/{path}\n")));
    let diff = TextDiff::from_lines(old_text, new);
    let body = diff
        .unified_diff()
        .context_radius(CONTEXT)
        .missing_newline_hint(true)
        .to_string();
    for line in body.split_inclusive('\n') {
        let painted = match line.as_bytes().first() {
            Some(b'@') => colors.paint("36", line),
            Some(b'+') => colors.paint("32", line),
            Some(b'-') => colors.paint("31", line),
            _ => line.to_string(),
        };
        out.push_str(&painted);
    }
    out
}
