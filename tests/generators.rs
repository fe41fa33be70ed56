//! Real app generators from the npm registry, at pinned versions: their output is piped through
//! `casehard pipe`, casehard's changes are kept as snapshots, the hardened app's dependencies
//! are installed (`--ignore-scripts`) and it is type-checked with its own `tsc` (Prisma's
//! client types generated first). The hardened app must add no type error the generated one
//! did not have. Needs npm and the registry.

mod harness;

use harness::*;
use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Stdio};

fn generate(dir: &Path, name: &str, command: &[&str]) -> std::path::PathBuf {
    let (ok, log) = run_program(dir, "npx", command);
    assert!(ok, "{name}: the generator failed:\n{log}");
    let out = dir.join(name);
    assert!(
        out.join("package.json").exists(),
        "{name}: no package.json:\n{log}"
    );
    out
}

fn tar_of(dir: &Path) -> Vec<u8> {
    let out = Command::new("tar")
        .args(["-C", dir.to_str().unwrap(), "-cf", "-", "."])
        .output()
        .unwrap();
    assert!(out.status.success());
    out.stdout
}

fn extract(bytes: &[u8], into: &Path) {
    let mut tar = Command::new("tar")
        .args(["-x", "-C", into.to_str().unwrap()])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(tar.stdin.as_mut().unwrap(), bytes).unwrap();
    assert!(tar.wait().unwrap().success());
}

/// Type errors as (file, code, message), without positions (casehard's edits move lines).
fn type_errors(dir: &Path) -> BTreeSet<String> {
    let (_, log) = run_program(
        dir,
        "node",
        &["node_modules/typescript/bin/tsc", "--noEmit", "-p", "."],
    );
    log.lines()
        .filter(|l| l.contains(": error TS"))
        .map(|l| {
            let file = l.split('(').next().unwrap_or(l);
            let rest = l.split_once(": error ").map_or(l, |(_, r)| r);
            format!("{file}: {rest}")
        })
        .collect()
}

fn check_generator(name: &str, command: &[&str]) {
    let work = tempfile::tempdir().unwrap();
    let generated = generate(work.path(), name, command);
    let archive = tar_of(&generated);

    // The change casehard makes, as a reviewer reads it.
    let (code, diff, stderr) =
        casehard_with_input(work.path(), &["pipe", "--to", "diff"], &archive);
    assert!(code == 0 || code == 1, "{name}: {stderr}");
    let findings: String = stderr
        .lines()
        .filter(|l| l.contains(": ") && l.contains('['))
        .map(|l| format!("{l}\n"))
        .collect();
    snapshot_settings().bind(|| {
        insta::assert_snapshot!(
            format!("generator__{name}"),
            format!(
                "--- findings\n{findings}--- diff\n{}",
                String::from_utf8_lossy(&diff)
            )
        )
    });

    // The hardened project, as `generator | casehard pipe --to tar | tar -x` leaves it.
    let (code, hardened_tar, stderr) =
        casehard_with_input(work.path(), &["pipe", "--to", "tar"], &archive);
    assert!(code == 0 || code == 1, "{name}: {stderr}");
    let hardened = work.path().join(format!("{name}-hardened"));
    std::fs::create_dir_all(&hardened).unwrap();
    extract(&hardened_tar, &hardened);
    let (ok, log) = run_program(&hardened, "npm", &["install", "--ignore-scripts"]);
    assert!(ok, "{name}: npm install of the hardened app failed:\n{log}");
    std::os::unix::fs::symlink(
        hardened.join("node_modules"),
        generated.join("node_modules"),
    )
    .unwrap();

    // Prisma's client types are generated from the schema; the query engine the generator
    // and schema engine the CLI would download are not needed for that, so placeholder paths
    // let it run without reaching their download host.
    if hardened.join("node_modules/prisma/build/index.js").exists() {
        prisma_generate_offline(&hardened);
    }
    let before = type_errors(&generated);
    let after = type_errors(&hardened);
    let added: Vec<&String> = after.difference(&before).collect();
    assert!(added.is_empty(), "{name}: casehard's changes add type errors:\n{added:#?}\n(the generated app had {} errors)", before.len());
    // And a second pass over the hardened app changes nothing.
    let (_, again, _) =
        casehard_with_input(work.path(), &["pipe", "--to", "diff"], &tar_of(&hardened));
    assert!(
        again.is_empty(),
        "{name}: a second run still changes:\n{}",
        String::from_utf8_lossy(&again)
    );
}

#[test]
fn create_t3_app_pages_router_prisma_nextauth() {
    check_generator(
        "t3-prisma",
        &[
            "-y",
            "create-t3-app@7.40.0",
            "t3-prisma",
            "--CI",
            "--noInstall",
            "--noGit",
            "--trpc",
            "--prisma",
            "--nextAuth",
            "--tailwind",
            "--appRouter",
            "false",
            "--dbProvider",
            "postgres",
        ],
    );
}

#[test]
fn create_t3_app_app_router_drizzle() {
    check_generator(
        "t3-drizzle",
        &[
            "-y",
            "create-t3-app@7.40.0",
            "t3-drizzle",
            "--CI",
            "--noInstall",
            "--noGit",
            "--trpc",
            "--drizzle",
            "--nextAuth",
            "--tailwind",
            "--appRouter",
            "--dbProvider",
            "postgres",
        ],
    );
}

#[test]
fn create_next_app() {
    check_generator(
        "next-app",
        &[
            "-y",
            "create-next-app@15.5.6",
            "next-app",
            "--ts",
            "--app",
            "--src-dir",
            "--eslint",
            "--no-tailwind",
            "--import-alias",
            "@/*",
            "--use-npm",
            "--skip-install",
            "--disable-git",
            "--no-turbopack",
            "--yes",
        ],
    );
}
