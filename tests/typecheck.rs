//! The hardened demo app installs from its pinned manifest and lockfile, and type-checks with
//! its own TypeScript wherever the generated one did. Needs npm and the npm registry; `.ci/run`
//! provides both, and a missing npm fails this test.

mod harness;

use harness::*;
use std::path::Path;
use std::process::Command;

fn run_in(dir: &Path, program: &str, args: &[&str]) -> (bool, String) {
    let out = Command::new(program)
        .args(args)
        .current_dir(dir)
        .env("npm_config_audit", "false")
        .env("npm_config_fund", "false")
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run {program} (install Node.js and npm; .ci/run does): {e}")
        });
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn the_hardened_demo_installs_and_type_checks() {
    let demo = manifest_dir().join("tests/fixtures/apps/nextjs-supabase-stripe");
    let generated = tempfile::tempdir().unwrap();
    copy_dir(&demo, generated.path());
    let hardened = tempfile::tempdir().unwrap();
    copy_dir(&demo, hardened.path());
    let fix = casehard(hardened.path(), &["fix", ".", "--allow-no-vcs"]);
    assert_eq!(fix.code, 1, "manual findings stay open:\n{}", fix.stderr);

    // Installs from what casehard left: pinned package.json, lockfile in step.
    let (ok, log) = run_in(hardened.path(), "npm", &["ci", "--ignore-scripts"]);
    assert!(ok, "npm ci refused the hardened app:\n{log}");

    // The generated app type-checks (with the same packages), and so does the hardened one.
    std::os::unix::fs::symlink(
        hardened.path().join("node_modules"),
        generated.path().join("node_modules"),
    )
    .unwrap();
    let tsc = |dir: &Path| {
        run_in(
            dir,
            "node",
            &["node_modules/typescript/bin/tsc", "--noEmit", "-p", "."],
        )
    };
    let (ok, log) = tsc(generated.path());
    assert!(
        ok,
        "the generated demo should type-check before casehard:\n{log}"
    );
    let (ok, log) = tsc(hardened.path());
    assert!(ok, "the hardened demo no longer type-checks:\n{log}");
}
