//! Loading a project from a commit's tree: what `casehard pr` hardens, so that the user's
//! uncommitted work never enters the change.

use super::{checked_path, SkipReason, Skipped, Workspace};
use crate::error::Error;
use git2::{ObjectType, Repository, Tree, TreeWalkMode, TreeWalkResult};
use std::path::Path;

/// Reads every file under `prefix` (a folder of the repository, `""` for all of it) in `tree`.
/// Paths in the workspace are relative to `prefix`. Symbolic links and submodules are listed
/// as skipped, never followed.
pub fn load_tree(repo: &Repository, tree: &Tree<'_>, prefix: &str) -> Result<Workspace, Error> {
    let git_err = |e: git2::Error| Error::Git {
        repo: repo.path().to_path_buf(),
        message: e.message().to_string(),
    };
    let root = if prefix.is_empty() {
        tree.clone()
    } else {
        let entry = tree.get_path(Path::new(prefix)).map_err(git_err)?;
        entry
            .to_object(repo)
            .and_then(|o| o.peel_to_tree())
            .map_err(git_err)?
    };
    let mut found: Vec<(String, git2::Oid, i32)> = Vec::new();
    let mut skipped = Vec::new();
    root.walk(TreeWalkMode::PreOrder, |dir, entry| {
        let Ok(name) = entry.name() else {
            return TreeWalkResult::Ok;
        };
        let path = format!("{dir}{name}");
        match (entry.kind(), entry.filemode()) {
            (Some(ObjectType::Blob), 0o120000) => skipped.push(Skipped {
                path,
                reason: SkipReason::Symlink,
            }),
            (Some(ObjectType::Blob), mode) => found.push((path, entry.id(), mode)),
            (Some(ObjectType::Commit), _) => skipped.push(Skipped {
                path,
                reason: SkipReason::NotRegular,
            }),
            _ => {}
        }
        TreeWalkResult::Ok
    })
    .map_err(git_err)?;
    let mut ws = Workspace::default();
    for (path, id, mode) in found {
        let path = checked_path(&path)?;
        let blob = repo.find_blob(id).map_err(git_err)?;
        let mode = if mode & 0o111 != 0 { 0o755 } else { 0o644 };
        ws.add_from_archive(path, blob.content().to_vec(), mode, false);
    }
    ws.skipped.extend(skipped);
    ws.set_aside_non_utf8_sources();
    ws.skipped.sort();
    Ok(ws)
}
