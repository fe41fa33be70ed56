//! Writing the changes into the project: each file atomically (a temporary file in the same
//! folder, then a rename), with its mode kept, never through a symbolic link, never outside
//! the root.

use crate::engine::Outcome;
use crate::error::Error;
use crate::workspace::{checked_path, FileEntry};
use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// Writes every change; returns the paths written. All targets are checked before the first
/// write, so a refused path leaves the project untouched.
pub fn write_changes(root: &Path, outcome: &Outcome) -> Result<Vec<String>, Error> {
    let mut plan: Vec<(PathBuf, &FileEntry, &str)> = Vec::new();
    for rel in outcome.before.keys() {
        let after = outcome
            .workspace
            .get(rel)
            .expect("changed file is in the workspace");
        let target = safe_target(root, rel)?;
        check_unchanged_on_disk(&target, outcome.original(rel).as_deref())?;
        plan.push((target, after, rel));
    }
    let mut written = Vec::new();
    for (target, after, rel) in plan {
        write_atomic(root, &target, &after.bytes, after.mode)?;
        written.push(rel.to_string());
    }
    Ok(written)
}

/// The absolute path for `rel`, refusing any existing component that is a symbolic link or
/// not a directory.
pub fn safe_target(root: &Path, rel: &str) -> Result<PathBuf, Error> {
    let rel = checked_path(rel)?;
    let mut at = root.to_path_buf();
    let parts: Vec<&str> = rel.split('/').collect();
    for (i, part) in parts.iter().enumerate() {
        at.push(part);
        match fs::symlink_metadata(&at) {
            Ok(meta) if meta.file_type().is_symlink() => {
                return Err(Error::UnsafePath {
                    path: rel.clone(),
                    reason: format!(
                        "{} is a symbolic link; casehard does not write through links",
                        at.display()
                    ),
                })
            }
            Ok(meta) if i + 1 < parts.len() && !meta.is_dir() => {
                return Err(Error::UnsafePath {
                    path: rel.clone(),
                    reason: format!("{} is not a directory", at.display()),
                })
            }
            _ => {}
        }
    }
    Ok(at)
}

/// `expected`: the bytes the file was read with, `None` for one casehard creates.
fn check_unchanged_on_disk(target: &Path, expected: Option<&[u8]>) -> Result<(), Error> {
    let on_disk = fs::read(target).ok();
    if on_disk.as_deref() != expected {
        return Err(Error::io(
            target,
            std::io::Error::other(
                "changed on disk while casehard ran; nothing was written, run it again",
            ),
        ));
    }
    Ok(())
}

fn write_atomic(root: &Path, target: &Path, bytes: &[u8], mode: u32) -> Result<(), Error> {
    let parent = target.parent().unwrap_or(root);
    create_dirs_within(root, parent)?;
    let mut tmp = tempfile::Builder::new()
        .prefix(".casehard-")
        .tempfile_in(parent)
        .map_err(|e| Error::io(parent, e))?;
    tmp.write_all(bytes).map_err(|e| Error::io(target, e))?;
    tmp.as_file().sync_all().map_err(|e| Error::io(target, e))?;
    fs::set_permissions(tmp.path(), fs::Permissions::from_mode(mode))
        .map_err(|e| Error::io(target, e))?;
    tmp.persist(target)
        .map_err(|e| Error::io(target, e.error))?;
    Ok(())
}

/// Creates the missing folders of `dir` one by one, none of them through a link.
fn create_dirs_within(root: &Path, dir: &Path) -> Result<(), Error> {
    let rel = dir.strip_prefix(root).unwrap_or(Path::new(""));
    let mut at = root.to_path_buf();
    for part in rel.components() {
        at.push(part);
        match fs::symlink_metadata(&at) {
            Ok(m) if m.is_dir() && !m.file_type().is_symlink() => {}
            Ok(_) => {
                return Err(Error::UnsafePath {
                    path: at.display().to_string(),
                    reason: "exists and is not a plain directory".into(),
                })
            }
            Err(_) => fs::create_dir(&at).map_err(|e| Error::io(&at, e))?,
        }
    }
    Ok(())
}
