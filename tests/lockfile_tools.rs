//! The pinned manifests still match their lockfiles, as the package managers themselves judge:
//! npm leaves the lockfile byte for byte as casehard wrote it and `npm ci` accepts it; pnpm's
//! frozen install accepts it. Each check is first shown to fail on a manifest pinned without
//! updating the lockfile's record. Needs npm (and the npm registry for npx and metadata);
//! `.ci/run` installs it. A missing npm fails these tests.

mod harness;

use harness::*;
use std::path::Path;

/// A copy of a fixture project after `casehard fix` (all rules).
fn pinned_copy(fixture: &Path) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(fixture, dir.path());
    let run = casehard(dir.path(), &["fix", ".", "--allow-no-vcs"]);
    assert!(run.code == 0 || run.code == 1, "{}", run.stderr);
    dir
}

/// A copy whose package.json is pinned by hand but whose lockfile still records the ranges.
fn stale_copy(fixture: &Path, range: &str, exact: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(fixture, dir.path());
    let manifest = dir.path().join("package.json");
    let text = std::fs::read_to_string(&manifest).unwrap();
    assert!(text.contains(range));
    std::fs::write(&manifest, text.replacen(range, exact, 1)).unwrap();
    dir
}

fn npm_keeps_lockfile(dir: &Path, lockfile: &str) -> (bool, String) {
    let before = std::fs::read(dir.join(lockfile)).unwrap();
    let (ok, log) = run_program(
        dir,
        "npm",
        &["install", "--package-lock-only", "--ignore-scripts"],
    );
    assert!(ok, "npm install --package-lock-only failed:\n{log}");
    let after = std::fs::read(dir.join(lockfile)).unwrap();
    (before == after, log)
}

fn fixture(name: &str) -> std::path::PathBuf {
    manifest_dir()
        .join("tests/fixtures/rules/deps/pin-exact")
        .join(name)
}

#[test]
fn npm_accepts_the_pinned_manifests() {
    // The check can fail: a stale record makes npm rewrite the lockfile.
    let stale = stale_copy(&fixture("invalid-npm-v3"), "\"^3.23.0\"", "\"3.25.76\"");
    assert!(
        !npm_keeps_lockfile(stale.path(), "package-lock.json").0,
        "control: npm should rewrite a stale lockfile"
    );

    for (name, lockfile) in [
        ("invalid-npm-v3", "package-lock.json"),
        ("invalid-npm-v2", "package-lock.json"),
        ("invalid-shrinkwrap", "npm-shrinkwrap.json"),
        ("invalid-workspaces", "package-lock.json"),
    ] {
        let dir = pinned_copy(&fixture(name));
        let manifest = std::fs::read_to_string(dir.path().join("package.json")).unwrap();
        // Ranges outside peerDependencies are gone (peer ranges stay ranges).
        let pinned = ["\"^3.23.0\"", "\"~2.1.0\"", "\"^2.1.0\"", "\"latest\""]
            .iter()
            .all(|r| !manifest.contains(r));
        assert!(pinned, "{name} was not pinned:\n{manifest}");
        let (kept, log) = npm_keeps_lockfile(dir.path(), lockfile);
        assert!(
            kept,
            "{name}: npm rewrote the lockfile casehard left:\n{log}"
        );
        let (ok, log) = run_program(dir.path(), "npm", &["ci", "--ignore-scripts", "--dry-run"]);
        assert!(ok, "{name}: npm ci refused:\n{log}");
    }
    // v1 has no record of the manifest; npm ci still accepts the pinned one.
    let dir = pinned_copy(&fixture("invalid-npm-v1"));
    let (ok, log) = run_program(dir.path(), "npm", &["ci", "--ignore-scripts", "--dry-run"]);
    assert!(ok, "npm v1: npm ci refused:\n{log}");
}

#[test]
fn npm_accepts_the_hardened_demo_app() {
    let dir = pinned_copy(&manifest_dir().join("tests/fixtures/apps/nextjs-supabase-stripe"));
    let (kept, log) = npm_keeps_lockfile(dir.path(), "package-lock.json");
    assert!(kept, "npm rewrote the demo's lockfile:\n{log}");
    let (ok, log) = run_program(dir.path(), "npm", &["ci", "--ignore-scripts", "--dry-run"]);
    assert!(ok, "npm ci refused the demo:\n{log}");
}

#[test]
fn pnpm_frozen_install_accepts_the_pinned_manifests() {
    for (name, pnpm) in [
        ("invalid-pnpm-v9", "pnpm@9.15.9"),
        ("invalid-pnpm-v6", "pnpm@8.15.9"),
    ] {
        let frozen = [
            "-y",
            pnpm,
            "install",
            "--frozen-lockfile",
            "--lockfile-only",
            "--ignore-scripts",
        ];
        let stale = stale_copy(&fixture(name), "\"^3.23.0\"", "\"3.25.76\"");
        let (ok, _) = run_program(stale.path(), "npx", &frozen);
        assert!(!ok, "control: {pnpm} should refuse a stale lockfile");
        let dir = pinned_copy(&fixture(name));
        let (ok, log) = run_program(dir.path(), "npx", &frozen);
        assert!(ok, "{name}: {pnpm} refused the pinned manifest:\n{log}");
    }
}
