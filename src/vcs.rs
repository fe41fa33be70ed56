//! Whether the project is safe to rewrite in place: a git work tree without uncommitted changes
//! (like `cargo fix`).

use crate::error::Error;
use git2::{Repository, StatusOptions};
use std::path::Path;

pub enum VcsState {
    Clean,
    Dirty(Vec<String>),
    NotVersioned,
}

/// The state of the work tree under `path` (only changes inside `path` count).
pub fn state(path: &Path) -> Result<VcsState, Error> {
    let repo = match Repository::discover(path) {
        Ok(r) => r,
        Err(_) => return Ok(VcsState::NotVersioned),
    };
    let Some(workdir) = repo.workdir() else {
        return Ok(VcsState::NotVersioned);
    };
    let workdir = workdir.canonicalize().map_err(|e| Error::io(workdir, e))?;
    let inside = path.strip_prefix(&workdir).unwrap_or(Path::new(""));
    let mut opts = StatusOptions::new();
    opts.include_untracked(true)
        .recurse_untracked_dirs(true)
        .include_ignored(false);
    if !inside.as_os_str().is_empty() {
        opts.pathspec(inside);
    }
    let statuses = repo.statuses(Some(&mut opts)).map_err(|e| Error::Git {
        repo: path.to_path_buf(),
        message: e.message().to_string(),
    })?;
    let mut dirty: Vec<String> = statuses
        .iter()
        .filter(|s| !s.status().is_ignored() && s.status() != git2::Status::CURRENT)
        .filter_map(|s| {
            s.path()
                .ok()
                .map(|p| format!("{p} ({})", describe(s.status())))
        })
        .collect();
    dirty.sort();
    Ok(if dirty.is_empty() {
        VcsState::Clean
    } else {
        VcsState::Dirty(dirty)
    })
}

fn describe(s: git2::Status) -> &'static str {
    if s.is_wt_new() {
        "untracked"
    } else if s.is_index_new() || s.is_index_modified() || s.is_index_deleted() {
        "staged"
    } else if s.is_wt_deleted() {
        "deleted"
    } else {
        "modified"
    }
}
