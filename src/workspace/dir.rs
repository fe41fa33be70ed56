//! Loading a project directory: honors .gitignore, never follows a symbolic link.

use super::{max_bytes, FileEntry, SkipReason, Skipped, Workspace, SKIPPED_DIRS};
use crate::error::Error;
use rayon::prelude::*;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

#[derive(Clone, Debug, Default)]
pub struct LoadOptions {
    /// Record skipped dependency and build folders too (for `-v`).
    pub list_ignored_dirs: bool,
}

/// Reads every file under `root` into memory.
pub fn load_dir(root: &Path, opts: &LoadOptions) -> Result<Workspace, Error> {
    let meta = fs::metadata(root).map_err(|e| Error::io(root, e))?;
    if !meta.is_dir() {
        return Err(Error::NotADirectory(root.to_path_buf()));
    }
    let mut skipped = Vec::new();
    let mut wanted: Vec<(String, PathBuf)> = Vec::new();

    let walker = ignore::WalkBuilder::new(root)
        .hidden(false)
        .git_ignore(true)
        .git_exclude(true)
        .git_global(false)
        .require_git(false)
        .ignore(false)
        .follow_links(false)
        .sort_by_file_name(|a, b| a.cmp(b))
        .filter_entry(|e| {
            let is_dir = e.file_type().is_some_and(|t| t.is_dir());
            !(is_dir
                && e.depth() > 0
                && SKIPPED_DIRS.contains(&e.file_name().to_str().unwrap_or("")))
        })
        .build();

    for entry in walker {
        let entry = entry.map_err(|e| Error::Walk {
            root: root.to_path_buf(),
            message: e.to_string(),
        })?;
        if entry.depth() == 0 {
            continue;
        }
        let Some(rel) = relative(root, entry.path()) else {
            continue;
        };
        let Some(ft) = entry.file_type() else {
            continue;
        };
        if ft.is_dir() {
            continue;
        }
        if ft.is_symlink() {
            skipped.push(Skipped {
                path: rel,
                reason: SkipReason::Symlink,
            });
        } else if !ft.is_file() {
            skipped.push(Skipped {
                path: rel,
                reason: SkipReason::NotRegular,
            });
        } else {
            wanted.push((rel, entry.into_path()));
        }
    }
    if opts.list_ignored_dirs {
        skipped.extend(ignored_dirs(root));
    }

    let read: Vec<Result<(String, ReadResult), Error>> = wanted
        .into_par_iter()
        .map(|(rel, path)| read_one(&path, max_bytes(&rel)).map(|r| (rel, r)))
        .collect();
    let mut ws = Workspace::default();
    for item in read {
        let (rel, res) = item?;
        match res {
            Ok(entry) => {
                ws.files.insert(rel, entry);
            }
            Err(reason) => skipped.push(Skipped { path: rel, reason }),
        }
    }
    ws.skipped = skipped;
    ws.set_aside_non_utf8_sources();
    Ok(ws)
}

/// A file's entry, or why it was skipped.
type ReadResult = Result<FileEntry, SkipReason>;

fn read_one(path: &Path, limit: u64) -> Result<ReadResult, Error> {
    // symlink_metadata: the walker saw a regular file, but never trust a race into a link.
    let meta = fs::symlink_metadata(path).map_err(|e| Error::io(path, e))?;
    if meta.file_type().is_symlink() {
        return Ok(Err(SkipReason::Symlink));
    }
    if meta.len() > limit {
        return Ok(Err(SkipReason::TooLarge(meta.len())));
    }
    let bytes = fs::read(path).map_err(|e| Error::io(path, e))?;
    if bytes.contains(&0) {
        return Ok(Err(SkipReason::Binary));
    }
    Ok(Ok(FileEntry {
        bytes,
        mode: meta.permissions().mode() & 0o7777,
    }))
}

fn relative(root: &Path, path: &Path) -> Option<String> {
    let rel = path.strip_prefix(root).ok()?;
    let parts: Option<Vec<&str>> = rel.components().map(|c| c.as_os_str().to_str()).collect();
    Some(parts?.join("/"))
}

/// The dependency and build folders that were not read, for the verbose listing.
fn ignored_dirs(root: &Path) -> Vec<Skipped> {
    let mut out = Vec::new();
    let walker = ignore::WalkBuilder::new(root)
        .hidden(false)
        .git_ignore(true)
        .require_git(false)
        .follow_links(false)
        .sort_by_file_name(|a, b| a.cmp(b))
        .filter_entry(|e| {
            // Descend everywhere except into the skipped folders themselves.
            e.depth() == 0
                || !e
                    .path()
                    .parent()
                    .and_then(|p| p.file_name())
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| SKIPPED_DIRS.contains(&n))
        })
        .build();
    for entry in walker.flatten() {
        let is_dir = entry.file_type().is_some_and(|t| t.is_dir());
        let name = entry.file_name().to_str().unwrap_or("");
        if is_dir && entry.depth() > 0 && SKIPPED_DIRS.contains(&name) {
            if let Some(rel) = relative(root, entry.path()) {
                out.push(Skipped {
                    path: format!("{rel}/"),
                    reason: SkipReason::IgnoredDir,
                });
            }
        }
    }
    out
}
