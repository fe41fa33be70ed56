//! The project as an in-memory set of files: path → bytes and mode.
//!
//! Paths are relative, `/`-separated and validated by [`checked_path`]: nothing that is loaded
//! or written can name a place outside the project root.

pub mod archive;
mod dir;
pub mod git_tree;

pub use dir::{load_dir, LoadOptions};

use crate::error::Error;
use crate::lang::Lang;
use std::borrow::Cow;
use std::collections::BTreeMap;

/// Files larger than this are skipped: generated source is never this large, lockfiles and
/// bundles that are this large are not ours to rewrite.
pub const MAX_FILE_BYTES: u64 = 2 * 1024 * 1024;
/// SQL files may be larger: migrations are the schema casehard reads, and the ones it writes
/// for an app of a thousand tables pass 2 MiB (skipping them, a second run wrote them again).
pub const MAX_SQL_BYTES: u64 = 64 * 1024 * 1024;

/// The size past which the file at `path` is skipped.
pub fn max_bytes(path: &str) -> u64 {
    if path.ends_with(".sql") {
        MAX_SQL_BYTES
    } else {
        MAX_FILE_BYTES
    }
}

/// Folders that hold installed packages, build output or VCS data, never source.
pub const SKIPPED_DIRS: &[&str] = &[
    "node_modules",
    ".next",
    "dist",
    "build",
    ".git",
    "coverage",
    ".turbo",
    ".vercel",
];

const BOM: &[u8] = b"\xEF\xBB\xBF";

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileEntry {
    pub bytes: Vec<u8>,
    /// Unix permission bits (e.g. 0o644).
    pub mode: u32,
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum SkipReason {
    IgnoredDir,
    Symlink,
    Binary,
    TooLarge(u64),
    NotUtf8,
    NotRegular,
}

impl std::fmt::Display for SkipReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SkipReason::IgnoredDir => write!(f, "dependency or build folder"),
            SkipReason::Symlink => write!(f, "symbolic link, not followed"),
            SkipReason::Binary => write!(f, "binary (contains a NUL byte)"),
            SkipReason::TooLarge(n) => write!(f, "{n} bytes, over the 2 MiB limit"),
            SkipReason::NotUtf8 => write!(f, "not UTF-8 text, left untouched"),
            SkipReason::NotRegular => write!(f, "not a regular file"),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Skipped {
    pub path: String,
    pub reason: SkipReason,
}

#[derive(Clone, Debug, Default)]
pub struct Workspace {
    /// The files casehard reads and may change.
    pub files: BTreeMap<String, FileEntry>,
    /// Files carried through untouched and unread (binaries, large files, dependency folders,
    /// non-UTF-8 sources) when the project came from an archive and goes back out as one.
    pub passthrough: BTreeMap<String, FileEntry>,
    pub skipped: Vec<Skipped>,
}

/// What a changed path was before the run.
#[derive(Clone, Debug)]
pub enum Before {
    /// casehard created the file.
    Created,
    /// The file was read; the [`Undo`] takes its current bytes back to those it was read with.
    Edited(Undo),
}

impl Before {
    pub fn is_created(&self) -> bool {
        matches!(self, Before::Created)
    }
}

/// The way back from a changed file's current bytes to the bytes it was read with, kept as the
/// reverse of each change instead of a copy of the old text: a run that fixes half of a large
/// project would otherwise hold every changed file twice until it ends.
#[derive(Clone, Debug, Default)]
pub struct Undo {
    /// One entry per change, oldest first; each reverts the bytes that change produced.
    steps: Vec<Box<[Revert]>>,
}

/// `len` bytes at `at` (in the text after a change) were `old` before it.
#[derive(Clone, Debug)]
struct Revert {
    at: usize,
    len: usize,
    old: Box<[u8]>,
}

impl Undo {
    /// Records a change from `was` to `now`, made by `edits` — `(start, end, inserted length)`
    /// in `was` after `offset` bytes (a byte-order mark), ascending and disjoint. The reverse
    /// is checked against `was` on the spot; should it not give `was` back, the whole old
    /// text is kept instead, so what is recorded is always right.
    pub fn record(
        &mut self,
        was: &[u8],
        now: &[u8],
        offset: usize,
        edits: &[(usize, usize, usize)],
    ) {
        let mut step = Vec::with_capacity(edits.len());
        let mut shift: isize = 0;
        for &(start, end, new_len) in edits {
            let Some(old) = was.get(offset + start..offset + end) else {
                step.clear();
                break;
            };
            step.push(Revert {
                at: (offset + start).saturating_add_signed(shift),
                len: new_len,
                old: old.into(),
            });
            shift += new_len as isize - (end - start) as isize;
        }
        if step.is_empty() || !reverts_to(now, &step, was) {
            step = vec![Revert {
                at: 0,
                len: now.len(),
                old: was.into(),
            }];
        }
        self.steps.push(step.into_boxed_slice());
    }

    /// The bytes as read, from the file's current bytes.
    pub fn original(&self, now: &[u8]) -> Vec<u8> {
        let mut text = now.to_vec();
        for step in self.steps.iter().rev() {
            // Every step was checked when recorded, against the bytes it now applies to.
            text = revert(&text, step).expect("an undo step fits the text it was recorded on");
        }
        text
    }
}

/// Whether `text` with `step` applied is `was`, compared piece by piece without building it
/// (the check runs on every change of every file).
fn reverts_to(text: &[u8], step: &[Revert], was: &[u8]) -> bool {
    let (mut at, mut old_at) = (0, 0);
    let same = |piece: &[u8], old_at: &mut usize| {
        let end = *old_at + piece.len();
        let ok = was.get(*old_at..end) == Some(piece);
        *old_at = end;
        ok
    };
    for r in step {
        let Some(kept) = text.get(at..r.at) else {
            return false;
        };
        if !same(kept, &mut old_at) || !same(&r.old, &mut old_at) {
            return false;
        }
        let Some(next) = r.at.checked_add(r.len) else {
            return false;
        };
        at = next;
    }
    match text.get(at..) {
        Some(rest) => same(rest, &mut old_at) && old_at == was.len(),
        None => false,
    }
}

/// `text` with each revert applied (ascending, disjoint); `None` if one falls outside it.
fn revert(text: &[u8], step: &[Revert]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len());
    let mut at = 0;
    for r in step {
        out.extend_from_slice(text.get(at..r.at)?);
        out.extend_from_slice(&r.old);
        at = r.at.checked_add(r.len)?;
    }
    out.extend_from_slice(text.get(at..)?);
    Some(out)
}

/// The text of a file split into the parts casehard keeps apart: a UTF-8 byte-order mark is
/// stripped before parsing and put back when writing, so edit offsets never count it.
pub struct Text<'a> {
    pub bom: bool,
    pub body: &'a str,
}

impl Workspace {
    /// Builds a workspace from path → content pairs (tests, pipes). Paths are checked.
    pub fn from_files<I, P, B>(files: I) -> Result<Workspace, Error>
    where
        I: IntoIterator<Item = (P, B)>,
        P: AsRef<str>,
        B: Into<Vec<u8>>,
    {
        let mut ws = Workspace::default();
        for (path, bytes) in files {
            let path = checked_path(path.as_ref())?;
            ws.insert(path, bytes.into(), 0o644);
        }
        Ok(ws)
    }

    pub fn insert(&mut self, path: String, bytes: Vec<u8>, mode: u32) {
        self.files.insert(path, FileEntry { bytes, mode });
    }

    pub fn get(&self, path: &str) -> Option<&FileEntry> {
        self.files.get(path)
    }

    /// Every file, read or carried, in path order.
    pub fn all_files(&self) -> impl Iterator<Item = (&String, &FileEntry)> {
        let mut all: Vec<(&String, &FileEntry)> =
            self.files.iter().chain(&self.passthrough).collect();
        all.sort_by(|a, b| a.0.cmp(b.0));
        all.into_iter()
    }

    /// Adds a file from an archive: read if it is source-like text, carried otherwise.
    pub(crate) fn add_from_archive(
        &mut self,
        path: String,
        bytes: Vec<u8>,
        mode: u32,
        ignored: bool,
    ) {
        let reason = if ignored || path.split('/').any(|part| SKIPPED_DIRS.contains(&part)) {
            Some(SkipReason::IgnoredDir)
        } else if bytes.len() as u64 > max_bytes(&path) {
            Some(SkipReason::TooLarge(bytes.len() as u64))
        } else if bytes.contains(&0) {
            Some(SkipReason::Binary)
        } else {
            None
        };
        match reason {
            Some(reason) => {
                self.skipped.push(Skipped {
                    path: path.clone(),
                    reason,
                });
                self.passthrough.insert(path, FileEntry { bytes, mode });
            }
            None => self.insert(path, bytes, mode),
        }
    }

    /// Whether a path is taken, read or carried.
    pub fn contains(&self, path: &str) -> bool {
        self.files.contains_key(path) || self.passthrough.contains_key(path)
    }

    /// The file's text, if it is UTF-8.
    pub fn text(&self, path: &str) -> Option<Text<'_>> {
        let bytes = &self.files.get(path)?.bytes;
        split_bom(bytes)
    }

    /// Paths of the files casehard parses, with their grammar, in path order.
    pub fn sources(&self) -> impl Iterator<Item = (&str, Lang)> {
        self.files
            .keys()
            .filter_map(|p| Lang::for_path(p).map(|l| (p.as_str(), l)))
    }

    /// Moves source files that are not UTF-8 into `skipped`: they stay on disk as they are.
    pub(crate) fn set_aside_non_utf8_sources(&mut self) {
        let bad: Vec<String> = self
            .files
            .iter()
            .filter(|(p, f)| Lang::for_path(p).is_some() && split_bom(&f.bytes).is_none())
            .map(|(p, _)| p.clone())
            .collect();
        for path in bad {
            if let Some(entry) = self.files.remove(&path) {
                self.passthrough.insert(path.clone(), entry);
            }
            self.skipped.push(Skipped {
                path,
                reason: SkipReason::NotUtf8,
            });
        }
        self.skipped.sort();
    }
}

pub fn split_bom(bytes: &[u8]) -> Option<Text<'_>> {
    let (bom, rest) = match bytes.strip_prefix(BOM) {
        Some(rest) => (true, rest),
        None => (false, bytes),
    };
    std::str::from_utf8(rest)
        .ok()
        .map(|body| Text { bom, body })
}

/// The body of `bytes` (without a byte-order mark) if they are UTF-8, borrowed when they are,
/// moved into the string when they are owned (an original rebuilt from its undo).
pub fn body_of(bytes: Cow<'_, [u8]>) -> Option<Cow<'_, str>> {
    match bytes {
        Cow::Borrowed(b) => split_bom(b).map(|t| Cow::Borrowed(t.body)),
        Cow::Owned(mut b) => {
            if b.starts_with(BOM) {
                b.drain(..BOM.len());
            }
            String::from_utf8(b).ok().map(Cow::Owned)
        }
    }
}

/// Joins a body with the byte-order mark it was read with.
pub fn join_bom(bom: bool, body: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + 3);
    if bom {
        out.extend_from_slice(BOM);
    }
    out.extend_from_slice(body.as_bytes());
    out
}

/// Validates a project-relative path: `/`-separated, no empty, `.` or `..` components, not
/// absolute, no backslashes or NUL. Returns it normalized (a leading `./` removed).
pub fn checked_path(path: &str) -> Result<String, Error> {
    let bad = |why: &str| Error::UnsafePath {
        path: path.to_string(),
        reason: why.to_string(),
    };
    let trimmed = path.strip_prefix("./").unwrap_or(path);
    if trimmed.is_empty() {
        return Err(bad("empty path"));
    }
    if trimmed.starts_with('/') || trimmed.contains(':') && trimmed.chars().nth(1) == Some(':') {
        return Err(bad("absolute path"));
    }
    if trimmed.contains('\\') || trimmed.contains('\0') {
        return Err(bad("backslash or NUL in path"));
    }
    for part in trimmed.split('/') {
        match part {
            "" => return Err(bad("empty path component")),
            "." => return Err(bad("`.` component")),
            ".." => return Err(bad("`..` leaves the project root")),
            _ => {}
        }
    }
    Ok(trimmed.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Applies `(start, end, text)` edits (ascending, disjoint) after `offset` bytes, returning
    /// the new bytes and the edits as the engine records them.
    fn change(
        was: &[u8],
        offset: usize,
        edits: &[(usize, usize, &str)],
    ) -> (Vec<u8>, Vec<(usize, usize, usize)>) {
        let mut now = was[..offset].to_vec();
        let mut at = offset;
        for (s, e, t) in edits {
            now.extend_from_slice(&was[at..offset + s]);
            now.extend_from_slice(t.as_bytes());
            at = offset + e;
        }
        now.extend_from_slice(&was[at..]);
        (
            now,
            edits.iter().map(|(s, e, t)| (*s, *e, t.len())).collect(),
        )
    }

    #[test]
    fn undo_gives_back_the_text_as_read_through_several_changes() {
        let read = "\u{feff}const a = z.object({ x: 1 });\nconst b = z.object({});\n".as_bytes();
        let mut undo = Undo::default();
        // Round one: two insertions and a replacement, after the byte-order mark.
        let (one, edits) = change(
            read,
            3,
            &[(6, 6, "safe"), (28, 28, ".strict()"), (36, 41, "c")],
        );
        undo.record(read, &one, 3, &edits);
        assert_eq!(undo.original(&one), read);
        // Round two: a deletion and an insertion at the very end.
        let (two, edits) = change(
            &one,
            3,
            &[(0, 6, ""), (one.len() - 3, one.len() - 3, "// end\n")],
        );
        undo.record(&one, &two, 3, &edits);
        assert_ne!(two, one);
        assert_eq!(undo.original(&two), read);
        // Only the reverted bytes are kept, not a copy of the file.
        let kept: usize = undo
            .steps
            .iter()
            .flat_map(|s| s.iter())
            .map(|r| r.old.len())
            .sum();
        assert_eq!(kept, "b = z".len() + "const ".len());
    }

    #[test]
    fn body_of_strips_the_mark_and_copies_nothing_it_can_borrow() {
        let read = "\u{feff}let a = 1;".as_bytes();
        assert!(matches!(
            body_of(Cow::Borrowed(read)),
            Some(Cow::Borrowed("let a = 1;"))
        ));
        match body_of(Cow::Owned(read.to_vec())) {
            Some(Cow::Owned(s)) => assert_eq!(s, "let a = 1;"),
            other => panic!("{other:?}"),
        }
        assert_eq!(body_of(Cow::Borrowed(&b"ok"[..])).as_deref(), Some("ok"));
        assert_eq!(body_of(Cow::Owned(vec![0xff, 0xfe])), None);
        assert_eq!(body_of(Cow::Borrowed(&[0xff][..])), None);
    }

    #[test]
    fn undo_keeps_the_whole_text_when_the_edits_do_not_describe_the_change() {
        let was = b"let a = 1;";
        let now = b"let b = 22;";
        let mut undo = Undo::default();
        // Claims one inserted byte where the text changed elsewhere.
        undo.record(was, now, 0, &[(0, 0, 1)]);
        assert_eq!(undo.original(now), was);
        // Edits outside the old text.
        let mut undo = Undo::default();
        undo.record(was, now, 0, &[(40, 41, 0)]);
        assert_eq!(undo.original(now), was);
    }

    #[test]
    fn rejects_paths_that_leave_the_root() {
        for p in [
            "../x",
            "a/../../x",
            "/etc/passwd",
            "a//b",
            "a\\b",
            "",
            "C:/x",
        ] {
            assert!(checked_path(p).is_err(), "{p} should be rejected");
        }
        assert_eq!(checked_path("./src/a.ts").unwrap(), "src/a.ts");
        assert_eq!(checked_path("src/a..b.ts").unwrap(), "src/a..b.ts");
    }

    #[test]
    fn large_sql_is_read_and_large_source_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let big = "-- x\n".repeat(600_000);
        std::fs::create_dir_all(dir.path().join("db")).unwrap();
        std::fs::write(dir.path().join("db/casehard_rls.sql"), &big).unwrap();
        std::fs::write(dir.path().join("bundle.js"), &big).unwrap();
        let ws = load_dir(dir.path(), &LoadOptions::default()).unwrap();
        assert!(ws.contains("db/casehard_rls.sql"));
        assert!(!ws.contains("bundle.js"));
        assert!(ws.skipped.iter().any(|s| s.path == "bundle.js"));
    }

    #[test]
    fn bom_is_split_and_restored() {
        let bytes = b"\xEF\xBB\xBFconst a = 1;\r\n";
        let t = split_bom(bytes).unwrap();
        assert!(t.bom);
        assert_eq!(t.body, "const a = 1;\r\n");
        assert_eq!(join_bom(t.bom, t.body), bytes.to_vec());
    }

    #[test]
    fn non_utf8_sources_are_set_aside() {
        let mut ws =
            Workspace::from_files([("a.ts", b"\xff\xfe".to_vec()), ("b.ts", b"x".to_vec())])
                .unwrap();
        ws.set_aside_non_utf8_sources();
        assert!(ws.get("a.ts").is_none());
        assert_eq!(ws.skipped[0].reason, SkipReason::NotUtf8);
        assert!(ws.get("b.ts").is_some());
    }
}
