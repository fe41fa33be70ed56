//! The auto-fix branch: casehard's changes committed on `casehard/harden` (by default) on top
//! of a base commit, without touching HEAD, the index or the work tree, so the user's own
//! uncommitted work is never part of it.
//!
//! The branch always holds exactly one casehard commit on its base. Running again with nothing
//! new makes no commit; when the base moved, the branch is rebuilt on the new base. A branch
//! that holds a commit casehard did not make is refused, never overwritten.

use crate::engine::Outcome;
use crate::error::Error;
use git2::build::TreeUpdateBuilder;
use git2::{
    BranchType, Commit, Cred, CredentialType, FileMode, Oid, PushOptions, RemoteCallbacks,
    Repository, Signature,
};
use std::collections::BTreeSet;
use std::path::Path;

/// The trailer that marks casehard's commits.
pub const TRAILER: &str = "Casehard-Version:";

fn err(repo: &Repository, e: impl std::fmt::Display) -> Error {
    Error::Git {
        repo: repo.workdir().unwrap_or(repo.path()).to_path_buf(),
        message: e.to_string(),
    }
}

/// The repository holding `path`, and `path`'s folder within it (`""` at the top).
pub fn open(path: &Path) -> Result<(Repository, String), Error> {
    let repo = Repository::discover(path).map_err(|_| Error::NoRepository(path.to_path_buf()))?;
    let workdir = repo
        .workdir()
        .ok_or_else(|| Error::NoRepository(path.to_path_buf()))?
        .canonicalize()
        .map_err(|e| Error::io(path, e))?;
    let prefix = path
        .strip_prefix(&workdir)
        .unwrap_or(Path::new(""))
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join("/");
    Ok((repo, prefix))
}

pub fn resolve<'r>(repo: &'r Repository, rev: &str) -> Result<Commit<'r>, Error> {
    repo.revparse_single(rev)
        .and_then(|o| o.peel_to_commit())
        .map_err(|e| err(repo, format!("cannot resolve `{rev}`: {}", e.message())))
}

/// A short name for a revision, for the `gh pr create --base` suggestion.
pub fn base_name(repo: &Repository, rev: Option<&str>) -> String {
    match rev {
        Some(r) => r.to_string(),
        None => repo
            .head()
            .ok()
            .and_then(|h| h.shorthand().ok().map(str::to_string))
            .unwrap_or_else(|| "main".into()),
    }
}

#[derive(Debug, PartialEq, Eq)]
pub enum BranchUpdate {
    /// casehard has nothing to change on this base.
    NothingToChange,
    /// The branch already holds exactly this change on this base.
    UpToDate(Oid),
    /// A new commit; `rebuilt` when the branch existed on another base or with another change.
    Committed { commit: Oid, rebuilt: bool },
}

/// Commits the outcome's changes on `branch`, based on `base`.
pub fn update(
    repo: &Repository,
    base: &Commit<'_>,
    prefix: &str,
    outcome: &Outcome,
    branch: &str,
    message: &str,
) -> Result<BranchUpdate, Error> {
    if !git2::Branch::name_is_valid(branch).unwrap_or(false) {
        return Err(err(repo, format!("`{branch}` is not a valid branch name")));
    }
    let refname = format!("refs/heads/{branch}");
    if repo
        .head()
        .ok()
        .and_then(|h| h.name().ok().map(str::to_string))
        .as_deref()
        == Some(refname.as_str())
    {
        return Err(err(
            repo,
            format!(
                "`{branch}` is checked out; switch to another branch before running `casehard pr`"
            ),
        ));
    }
    let existing = repo
        .find_branch(branch, BranchType::Local)
        .ok()
        .and_then(|b| b.get().target());
    if let Some(tip) = existing {
        let foreign = foreign_commits(repo, tip, base.id())?;
        if !foreign.is_empty() {
            return Err(err(
                repo,
                format!(
                    "branch `{branch}` holds commits casehard did not make ({}); refusing to overwrite them. Merge or move them, or pass --branch with another name",
                    foreign.iter().map(|o| o.to_string()[..10].to_string()).collect::<Vec<_>>().join(", ")
                ),
            ));
        }
    }
    if !outcome.has_changes() {
        return Ok(BranchUpdate::NothingToChange);
    }
    let base_tree = base.tree().map_err(|e| err(repo, e))?;
    let mut builder = TreeUpdateBuilder::new();
    for path in outcome.before.keys() {
        let entry = outcome
            .workspace
            .get(path)
            .expect("changed file is in the workspace");
        let blob = repo.blob(&entry.bytes).map_err(|e| err(repo, e))?;
        let mode = if entry.mode & 0o111 != 0 {
            FileMode::BlobExecutable
        } else {
            FileMode::Blob
        };
        let full = if prefix.is_empty() {
            path.clone()
        } else {
            format!("{prefix}/{path}")
        };
        builder.upsert(full, blob, mode);
    }
    let tree_id = builder
        .create_updated(repo, &base_tree)
        .map_err(|e| err(repo, e))?;
    if let Some(tip) = existing {
        let tip = repo.find_commit(tip).map_err(|e| err(repo, e))?;
        if tip.tree_id() == tree_id && tip.parent_id(0).ok() == Some(base.id()) {
            return Ok(BranchUpdate::UpToDate(tip.id()));
        }
    }
    let tree = repo.find_tree(tree_id).map_err(|e| err(repo, e))?;
    // A fresh CI machine has no user.name: fall back to casehard's own identity.
    let sig = repo
        .signature()
        .or_else(|_| Signature::now("casehard", "casehard@users.noreply.invalid"))
        .map_err(|e| err(repo, e))?;
    let commit = repo
        .commit(None, &sig, &sig, message, &tree, &[base])
        .map_err(|e| err(repo, e))?;
    repo.reference(&refname, commit, true, "casehard pr")
        .map_err(|e| err(repo, e))?;
    Ok(BranchUpdate::Committed {
        commit,
        rebuilt: existing.is_some(),
    })
}

/// Commits on the branch that are not on the base and lack casehard's trailer.
fn foreign_commits(repo: &Repository, tip: Oid, base: Oid) -> Result<Vec<Oid>, Error> {
    let mut walk = repo.revwalk().map_err(|e| err(repo, e))?;
    walk.push(tip).map_err(|e| err(repo, e))?;
    walk.hide(base).map_err(|e| err(repo, e))?;
    let mut foreign = Vec::new();
    for oid in walk {
        let oid = oid.map_err(|e| err(repo, e))?;
        let commit = repo.find_commit(oid).map_err(|e| err(repo, e))?;
        let ours = commit
            .message()
            .is_ok_and(|m| m.lines().any(|l| l.starts_with(TRAILER)));
        if !ours {
            foreign.push(oid);
        }
    }
    Ok(foreign)
}

/// Pushes the branch (forced: it only ever holds casehard's commit). Credentials come from
/// the git credential helpers or an SSH agent; none are stored.
pub fn push(repo: &Repository, remote_name: &str, branch: &str) -> Result<(), Error> {
    let mut remote = repo
        .find_remote(remote_name)
        .or_else(|_| repo.remote_anonymous(remote_name))
        .map_err(|e| err(repo, format!("no remote `{remote_name}`: {}", e.message())))?;
    let config = repo.config().map_err(|e| err(repo, e))?;
    let mut callbacks = RemoteCallbacks::new();
    let mut attempts = 0;
    callbacks.credentials(move |url, username, allowed| {
        attempts += 1;
        if attempts > 3 {
            return Err(git2::Error::from_str(
                "no working credentials (tried the SSH agent and the credential helpers)",
            ));
        }
        if allowed.contains(CredentialType::SSH_KEY) {
            Cred::ssh_key_from_agent(username.unwrap_or("git"))
        } else if allowed.contains(CredentialType::USER_PASS_PLAINTEXT) {
            Cred::credential_helper(&config, url, username)
        } else {
            Cred::default()
        }
    });
    let rejected = std::rc::Rc::new(std::cell::RefCell::new(None::<String>));
    let sink = rejected.clone();
    callbacks.push_update_reference(move |refname, status| {
        if let Some(why) = status {
            *sink.borrow_mut() = Some(format!("{refname}: {why}"));
        }
        Ok(())
    });
    let mut options = PushOptions::new();
    options.remote_callbacks(callbacks);
    let spec = format!("+refs/heads/{branch}:refs/heads/{branch}");
    remote
        .push(&[spec.as_str()], Some(&mut options))
        .map_err(|e| {
            err(
                repo,
                format!("push to `{remote_name}` failed: {}", e.message()),
            )
        })?;
    if let Some(why) = rejected.borrow().clone() {
        return Err(err(
            repo,
            format!("the remote `{remote_name}` rejected the push: {why}"),
        ));
    }
    Ok(())
}

/// Files under `prefix` (relative to it) that differ between `rev` and the work tree
/// (`against` = None, untracked files included) or another commit.
pub fn changed_since(
    repo: &Repository,
    rev: &str,
    prefix: &str,
    against: Option<&Commit<'_>>,
) -> Result<BTreeSet<String>, Error> {
    let old = resolve(repo, rev)?.tree().map_err(|e| err(repo, e))?;
    let mut opts = git2::DiffOptions::new();
    opts.include_untracked(true).recurse_untracked_dirs(true);
    if !prefix.is_empty() {
        opts.pathspec(prefix);
    }
    let diff = match against {
        Some(commit) => {
            let new = commit.tree().map_err(|e| err(repo, e))?;
            repo.diff_tree_to_tree(Some(&old), Some(&new), Some(&mut opts))
        }
        None => repo.diff_tree_to_workdir_with_index(Some(&old), Some(&mut opts)),
    }
    .map_err(|e| err(repo, e))?;
    let mut paths = BTreeSet::new();
    for delta in diff.deltas() {
        for file in [delta.old_file(), delta.new_file()] {
            if let Some(p) = file.path().and_then(|p| p.to_str()) {
                let rel = if prefix.is_empty() {
                    Some(p)
                } else {
                    p.strip_prefix(prefix).and_then(|r| r.strip_prefix('/'))
                };
                if let Some(rel) = rel {
                    paths.insert(rel.to_string());
                }
            }
        }
    }
    Ok(paths)
}
