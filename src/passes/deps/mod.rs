//! The `deps/` passes: supply chain. Pinning works on package.json and the lockfile, which
//! are data, not source: these passes read them in `finish` and scan no source file.

pub mod pin;
pub mod supply_chain;

use crate::deps::lockfile::{self, Lock, LOCKFILES};
use crate::deps::{parse_manifest, Manifest};
use crate::workspace::Workspace;
use std::sync::{Arc, Mutex};

/// Every package.json casehard reads (dependency folders are never read).
pub fn manifests(ws: &Workspace) -> Vec<Manifest> {
    ws.files
        .keys()
        .filter(|p| *p == "package.json" || p.ends_with("/package.json"))
        .filter_map(|p| parse_manifest(p, ws.text(p)?.body))
        .collect()
}

/// The version range the first manifest that declares `name` gives it.
pub fn declared_range(ws: &Workspace, name: &str) -> Option<String> {
    manifests(ws)
        .into_iter()
        .flat_map(|m| m.declared)
        .find(|d| d.name == name)
        .map(|d| d.spec)
}

/// The paths of the project's lockfiles.
fn lockfile_paths(ws: &Workspace) -> impl Iterator<Item = &String> {
    ws.files.keys().filter(|p| {
        LOCKFILES
            .iter()
            .any(|l| *p == l || p.ends_with(&format!("/{l}")))
    })
}

/// Every lockfile, parsed; a lockfile that does not parse is returned as an error message.
pub fn lockfiles(ws: &Workspace) -> Vec<Result<Lock, (String, String)>> {
    lockfile_paths(ws)
        .filter_map(|p| {
            let text = ws.text(p)?;
            Some(lockfile::parse(p, text.body).map_err(|e| (p.clone(), e)))
        })
        .collect()
}

/// The parsed lockfiles, shared.
pub type Lockfiles = Arc<Vec<Result<Lock, (String, String)>>>;

/// The lockfiles as last parsed in a run, with the bytes they were parsed from: a round whose
/// lockfiles are those bytes still reuses them (a run of several rounds parsed an unchanged
/// package-lock.json once per round).
#[derive(Default)]
pub struct LockCache(Mutex<Option<(ParsedFrom, Lockfiles)>>);

/// Each lockfile's path and the bytes it was parsed from.
type ParsedFrom = Vec<(String, Vec<u8>)>;

impl LockCache {
    pub fn get(&self, ws: &Workspace) -> Lockfiles {
        let paths: Vec<&String> = lockfile_paths(ws).collect();
        let mut slot = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((seen, parsed)) = &*slot {
            let same = seen.len() == paths.len()
                && seen
                    .iter()
                    .zip(&paths)
                    .all(|((path, bytes), now)| path == *now && ws.files[*now].bytes == *bytes);
            if same {
                return parsed.clone();
            }
        }
        let parsed = Arc::new(lockfiles(ws));
        let seen = paths
            .into_iter()
            .map(|p| (p.clone(), ws.files[p].bytes.clone()))
            .collect();
        *slot = Some((seen, parsed.clone()));
        parsed
    }
}

/// The folder a path is in (`""` at the root).
pub fn dir_of(path: &str) -> &str {
    path.rsplit_once('/').map_or("", |(d, _)| d)
}

/// The lockfile that governs a manifest: the nearest one in its folder or above, and the
/// manifest's importer key relative to it.
pub fn lock_for<'l>(
    locks: impl IntoIterator<Item = &'l Lock>,
    manifest: &Manifest,
) -> Option<(&'l Lock, String)> {
    locks
        .into_iter()
        .filter_map(|l| {
            let lock_dir = dir_of(&l.path);
            let importer = if lock_dir.is_empty() {
                Some(manifest.dir.clone())
            } else if manifest.dir == lock_dir {
                Some(String::new())
            } else {
                manifest
                    .dir
                    .strip_prefix(&format!("{lock_dir}/"))
                    .map(str::to_string)
            }?;
            Some((l, importer, lock_dir.len()))
        })
        .max_by_key(|(_, _, depth)| *depth)
        .map(|(l, importer, _)| (l, importer))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn npm_lock(version: &str) -> String {
        format!(
            r#"{{"lockfileVersion": 3, "packages": {{"": {{}}, "node_modules/zod": {{"version": "{version}"}}}}}}"#
        )
    }

    fn zod_version(parsed: &Lockfiles) -> String {
        let lock = parsed[0].as_ref().unwrap();
        lock.packages[0].version.clone()
    }

    #[test]
    fn lockfiles_are_parsed_again_only_when_their_bytes_change() {
        let cache = LockCache::default();
        let mut ws = Workspace::from_files([
            ("package-lock.json", npm_lock("3.23.8")),
            ("src/a.ts", "x".to_string()),
        ])
        .unwrap();
        let first = cache.get(&ws);
        assert_eq!(zod_version(&first), "3.23.8");
        // Another file changed: the same parse.
        ws.files.get_mut("src/a.ts").unwrap().bytes = b"y".to_vec();
        assert!(Arc::ptr_eq(&first, &cache.get(&ws)));
        // The lockfile changed: parsed again.
        ws.files.get_mut("package-lock.json").unwrap().bytes = npm_lock("3.24.1").into_bytes();
        let second = cache.get(&ws);
        assert!(!Arc::ptr_eq(&first, &second));
        assert_eq!(zod_version(&second), "3.24.1");
        // A lockfile added: parsed again, both.
        let mut more =
            Workspace::from_files([("apps/web/package-lock.json", npm_lock("1.0.0"))]).unwrap();
        ws.files.append(&mut more.files);
        let third = cache.get(&ws);
        assert_eq!(third.len(), 2);
        assert!(Arc::ptr_eq(&third, &cache.get(&ws)));
    }
}
