//! The `deps/` passes: supply chain. Pinning works on package.json and the lockfile, which
//! are data, not source: these passes read them in `finish` and scan no source file.

pub mod pin;
pub mod supply_chain;

use crate::deps::lockfile::{self, Lock, LOCKFILES};
use crate::deps::{parse_manifest, Manifest};
use crate::workspace::Workspace;

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

/// Every lockfile, parsed; a lockfile that does not parse is returned as an error message.
pub fn lockfiles(ws: &Workspace) -> Vec<Result<Lock, (String, String)>> {
    ws.files
        .keys()
        .filter(|p| {
            LOCKFILES
                .iter()
                .any(|l| *p == l || p.ends_with(&format!("/{l}")))
        })
        .filter_map(|p| {
            let text = ws.text(p)?;
            Some(lockfile::parse(p, text.body).map_err(|e| (p.clone(), e)))
        })
        .collect()
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
