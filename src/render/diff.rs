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

/// Writes the diff of the whole outcome one file at a time, and each file's a line at a time,
/// so a large change is never held whole in memory (the RLS migration of a large project is
/// 15 MB).
pub fn write(
    outcome: &Outcome,
    colors: Colors,
    out: &mut impl std::io::Write,
) -> std::io::Result<()> {
    use rayon::prelude::*;
    let paths: Vec<&String> = outcome.before.keys().collect();
    // Files are diffed a group at a time, in parallel, and written in order: the output is
    // the same as file by file, and only one group's diffs are held at once.
    let group = FILES_AT_ONCE * rayon::current_num_threads().max(1);
    for paths in paths.chunks(group) {
        let diffs: Vec<Vec<u8>> = paths
            .par_iter()
            .map(|path| diff_of(outcome, path, colors))
            .collect();
        for diff in diffs {
            out.write_all(&diff)?;
        }
    }
    Ok(())
}

/// Files diffed in parallel per thread before their diffs are written.
const FILES_AT_ONCE: usize = 16;

/// The diff of one changed path, from its bytes as read to its bytes now; empty for a path
/// the workspace no longer has.
fn diff_of(outcome: &Outcome, path: &str, colors: Colors) -> Vec<u8> {
    let mut diff = Vec::new();
    if let Some(after) = outcome.workspace.get(path) {
        let old = outcome.original(path);
        let old = old.as_deref().map(String::from_utf8_lossy);
        let new = String::from_utf8_lossy(&after.bytes);
        write_file_diff(&mut diff, path, old.as_deref(), &new, after.mode, colors)
            .expect("writing to memory does not fail");
    }
    diff
}

/// One file's diff with git headers; `old` is `None` for a new file.
fn write_file_diff(
    out: &mut impl std::io::Write,
    path: &str,
    old: Option<&str>,
    new: &str,
    mode: u32,
    colors: Colors,
) -> std::io::Result<()> {
    let mut header = format!("diff --git a/{path} b/{path}\n");
    let (from, old_text) = match old {
        Some(t) => (format!("a/{path}"), t),
        None => {
            header.push_str(&format!("new file mode {:o}\n", 0o100000 | (mode & 0o777)));
            ("/dev/null".to_string(), "")
        }
    };
    header.push_str(&format!("--- {from}\n+++ b/{path}\n"));
    for line in header.split_inclusive('\n') {
        out.write_all(colors.paint("1", line).as_bytes())?;
    }
    let diff = TextDiff::from_lines(old_text, new);
    let mut painted = Painted {
        out,
        colors,
        line: Vec::new(),
    };
    diff.unified_diff()
        .context_radius(CONTEXT)
        .missing_newline_hint(true)
        .to_writer(&mut painted)?;
    painted.flush_line()
}

/// Writes the lines of a diff's body, each painted by its first byte when colors are on.
struct Painted<'o, W: std::io::Write> {
    out: &'o mut W,
    colors: Colors,
    /// The line being written, when colors are on.
    line: Vec<u8>,
}

impl<W: std::io::Write> Painted<'_, W> {
    fn flush_line(&mut self) -> std::io::Result<()> {
        if self.line.is_empty() {
            return Ok(());
        }
        let line = String::from_utf8_lossy(&self.line);
        let painted = match line.as_bytes().first() {
            Some(b'@') => self.colors.paint("36", &line),
            Some(b'+') => self.colors.paint("32", &line),
            Some(b'-') => self.colors.paint("31", &line),
            _ => line.into_owned(),
        };
        self.out.write_all(painted.as_bytes())?;
        self.line.clear();
        Ok(())
    }
}

impl<W: std::io::Write> std::io::Write for Painted<'_, W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if !self.colors.enabled {
            return self.out.write(buf);
        }
        let mut rest = buf;
        while let Some(nl) = rest.iter().position(|&b| b == b'\n') {
            self.line.extend_from_slice(&rest[..=nl]);
            self.flush_line()?;
            rest = &rest[nl + 1..];
        }
        self.line.extend_from_slice(rest);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file_diff(old: Option<&str>, new: &str, colors: Colors) -> String {
        let mut out = Vec::new();
        write_file_diff(&mut out, "a.ts", old, new, 0o644, colors).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn colors_paint_each_line_of_the_plain_diff() {
        let old: String = (0..40).map(|i| format!("line {i}\n")).collect();
        let new = old
            .replace("line 3\n", "line three\n")
            .replace("line 30\n", "")
            + "tail";
        let plain = file_diff(Some(&old), &new, Colors::default());
        // Three hunks, a removal, an addition and a last line without a newline.
        assert_eq!(plain.matches("\n@@ ").count(), 3, "{plain}");
        assert!(
            plain.contains("\n-line 30\n") && plain.contains("\n+tail\n"),
            "{plain}"
        );
        assert!(plain.ends_with("\\ No newline at end of file\n"), "{plain}");
        let colors = Colors { enabled: true };
        let painted: String = plain
            .split_inclusive('\n')
            .map(|line| match line.as_bytes().first() {
                Some(b'@') => colors.paint("36", line),
                Some(b'+') if line.starts_with("+++ ") => colors.paint("1", line),
                Some(b'-') if line.starts_with("--- ") => colors.paint("1", line),
                Some(b'+') => colors.paint("32", line),
                Some(b'-') => colors.paint("31", line),
                Some(b'd') | Some(b'n') => colors.paint("1", line),
                _ => line.to_string(),
            })
            .collect();
        assert_eq!(file_diff(Some(&old), &new, colors), painted);
    }

    #[test]
    fn a_new_file_is_all_additions() {
        let plain = file_diff(None, "a\nb\n", Colors::default());
        assert_eq!(
            plain,
            "diff --git a/a.ts b/a.ts\nnew file mode 100644\n--- /dev/null\n+++ b/a.ts\n@@ -0,0 +1,2 @@\n+a\n+b\n"
        );
    }

    #[test]
    fn many_files_are_written_in_path_order_as_one_by_one() {
        use crate::config::Config;
        use crate::engine::{self, Options};
        use crate::rules::Catalog;
        use crate::workspace::Workspace;
        // More files than one group, and numbered so path order is not creation order.
        let files: Vec<(String, String)> = (0..150)
            .map(|i| {
                (
                    format!("src/app/api/r{i}/route.ts"),
                    format!(
                        "import {{ z }} from \"zod\";\nconst inputSchema = z.object({{ name{i}: z.string() }});\nexport async function POST(req: Request) {{\n  return Response.json(inputSchema.parse(await req.json()));\n}}\n"
                    ),
                )
            })
            .collect();
        let ws = Workspace::from_files(files).unwrap();
        let catalog = Catalog::load(&[]).unwrap();
        let outcome = engine::run(ws, &catalog, &Config::default(), &Options::default()).unwrap();
        let mut all = Vec::new();
        write(&outcome, Colors::default(), &mut all).unwrap();
        let one_by_one: Vec<u8> = outcome
            .before
            .keys()
            .flat_map(|path| diff_of(&outcome, path, Colors::default()))
            .collect();
        let all = String::from_utf8(all).unwrap();
        assert!(all.matches("\ndiff --git ").count() >= 149, "{all}");
        assert_eq!(all, String::from_utf8(one_by_one).unwrap());
    }
}
