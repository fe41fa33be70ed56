//! The casehard binary, run as a user would, in temporary git repositories.

mod harness;

use harness::*;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

const FLAWED_ROUTE: &str = "import { z } from \"zod\";\n\nconst schema = z.object({ title: z.string() });\n\nexport async function POST(req: Request) {\n  return Response.json(schema.parse(await req.json()));\n}\n";

fn project(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (path, text) in files {
        let p = dir.path().join(path);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, text).unwrap();
    }
    git(dir.path(), &["init", "-q"]);
    git(dir.path(), &["add", "-A"]);
    git(dir.path(), &["commit", "-q", "-m", "init"]);
    dir
}

fn read(dir: &Path, p: &str) -> String {
    fs::read_to_string(dir.join(p)).unwrap()
}

#[test]
fn exit_codes_follow_the_contract() {
    let flawed = project(&[("app/api/posts/route.ts", FLAWED_ROUTE)]);
    assert_eq!(casehard(flawed.path(), &["check", "."]).code, 1);
    assert_eq!(casehard(flawed.path(), &["diff", "."]).code, 1);

    let clean = project(&[(
        "app/api/posts/route.ts",
        &FLAWED_ROUTE.replace("string() })", "string() }).strict()"),
    )]);
    let run = casehard(clean.path(), &["check", "."]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(casehard(clean.path(), &["diff", "."]).stdout, "");

    assert_eq!(casehard(clean.path(), &["check", "--no-such-flag"]).code, 2);
    let run = casehard(
        clean.path(),
        &["check", ".", "--skip", "schema/no-such-rule"],
    );
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("unknown rule id `schema/no-such-rule`"),
        "{}",
        run.stderr
    );
    let run = casehard(clean.path(), &["check", "does-not-exist"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.starts_with("error: does-not-exist:"),
        "{}",
        run.stderr
    );
}

#[test]
fn fix_refuses_a_dirty_tree_and_lists_the_files() {
    let dir = project(&[
        ("app/api/posts/route.ts", FLAWED_ROUTE),
        ("README.md", "hi\n"),
    ]);
    fs::write(dir.path().join("README.md"), "edited\n").unwrap();
    fs::write(dir.path().join("notes.txt"), "new\n").unwrap();
    let run = casehard(dir.path(), &["fix", "."]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("README.md (modified)"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("notes.txt (untracked)"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("--allow-dirty") && run.stderr.contains("casehard diff"),
        "{}",
        run.stderr
    );
    assert_eq!(
        read(dir.path(), "app/api/posts/route.ts"),
        FLAWED_ROUTE,
        "nothing written"
    );

    let run = casehard(dir.path(), &["fix", ".", "--allow-dirty"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(read(dir.path(), "app/api/posts/route.ts").contains(".strict()"));
    assert_eq!(
        read(dir.path(), "README.md"),
        "edited\n",
        "the user's edit is kept"
    );
}

#[test]
fn fix_refuses_a_folder_outside_version_control() {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir_all(dir.path().join("app/api/posts")).unwrap();
    fs::write(dir.path().join("app/api/posts/route.ts"), FLAWED_ROUTE).unwrap();
    let run = casehard(dir.path(), &["fix", "."]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("--allow-no-vcs"), "{}", run.stderr);
    assert_eq!(read(dir.path(), "app/api/posts/route.ts"), FLAWED_ROUTE);
    assert_eq!(
        casehard(dir.path(), &["fix", ".", "--allow-no-vcs"]).code,
        0
    );
    assert!(read(dir.path(), "app/api/posts/route.ts").contains(".strict()"));
}

#[test]
fn writes_are_atomic_and_keep_the_mode() {
    let dir = project(&[("app/api/posts/route.ts", FLAWED_ROUTE)]);
    let path = dir.path().join("app/api/posts/route.ts");
    fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
    git(dir.path(), &["commit", "-q", "-am", "mode"]);
    let inode_before = fs::metadata(&path).unwrap().ino();
    assert_eq!(casehard(dir.path(), &["fix", "."]).code, 0);
    let meta = fs::metadata(&path).unwrap();
    assert_eq!(meta.mode() & 0o777, 0o755, "mode kept");
    assert_ne!(
        meta.ino(),
        inode_before,
        "replaced by rename, not rewritten in place"
    );
    let leftovers: Vec<_> = fs::read_dir(path.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".casehard-"))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
}

#[test]
fn diff_is_accepted_by_git_apply_and_equals_fix() {
    let demo = manifest_dir().join("tests/fixtures/apps/nextjs-supabase-stripe");
    let by_diff = repo_with(&demo);
    let by_fix = repo_with(&demo);
    let run = casehard(by_diff.path(), &["diff", "."]);
    assert_eq!(run.code, 1);
    let patch = by_diff.path().join("../casehard.patch");
    fs::write(&patch, &run.stdout).unwrap();
    let patch = patch.canonicalize().unwrap();
    let patch = patch.to_str().unwrap();
    git(by_diff.path(), &["apply", "--check", patch]);
    git(by_diff.path(), &["apply", patch]);
    assert_eq!(
        casehard(by_fix.path(), &["fix", "."]).code,
        1,
        "manual findings stay open"
    );
    git(by_diff.path(), &["add", "-A"]);
    git(by_fix.path(), &["add", "-A"]);
    assert_eq!(
        git(by_diff.path(), &["write-tree"]),
        git(by_fix.path(), &["write-tree"]),
        "git apply of the diff and fix give the same tree"
    );
}

#[test]
fn crlf_bom_and_final_newline_are_kept() {
    let crlf = format!("\u{feff}{}", FLAWED_ROUTE.replace('\n', "\r\n"));
    let no_final_newline = FLAWED_ROUTE.trim_end();
    let dir = project(&[
        ("app/api/a/route.ts", &crlf),
        ("app/api/b/route.ts", no_final_newline),
    ]);
    assert_eq!(casehard(dir.path(), &["fix", "."]).code, 0);
    let a = fs::read(dir.path().join("app/api/a/route.ts")).unwrap();
    assert!(a.starts_with(b"\xEF\xBB\xBF"), "BOM kept");
    let a = String::from_utf8(a).unwrap();
    assert!(a.contains(".strict()"));
    assert_eq!(
        a.matches('\n').count(),
        a.matches("\r\n").count(),
        "every line still ends in CRLF"
    );
    assert_eq!(a.replace(").strict();", ");"), crlf, "only the fix changed");
    let b = read(dir.path(), "app/api/b/route.ts");
    assert!(!b.ends_with('\n') && b.contains(".strict()"));
}

#[test]
fn symlinks_out_of_the_root_are_not_followed() {
    let outside = tempfile::tempdir().unwrap();
    fs::create_dir_all(outside.path().join("api/leak")).unwrap();
    fs::write(outside.path().join("api/leak/route.ts"), FLAWED_ROUTE).unwrap();
    fs::write(outside.path().join("route.ts"), FLAWED_ROUTE).unwrap();
    let dir = project(&[("app/api/posts/route.ts", FLAWED_ROUTE)]);
    std::os::unix::fs::symlink(
        outside.path().join("route.ts"),
        dir.path().join("app/api/posts/linked.ts"),
    )
    .unwrap();
    std::os::unix::fs::symlink(
        outside.path().join("api"),
        dir.path().join("app/linked-dir"),
    )
    .unwrap();
    git(dir.path(), &["add", "-A"]);
    git(dir.path(), &["commit", "-q", "-m", "links"]);

    let run = casehard(dir.path(), &["diff", ".", "-v"]);
    assert!(!run.stdout.contains("linked"), "{}", run.stdout);
    assert!(
        run.stderr
            .contains("skipped app/api/posts/linked.ts: symbolic link, not followed"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("skipped app/linked-dir: symbolic link, not followed"),
        "{}",
        run.stderr
    );
    assert_eq!(casehard(dir.path(), &["fix", "."]).code, 0);
    assert_eq!(read(outside.path(), "route.ts"), FLAWED_ROUTE);
    assert_eq!(read(outside.path(), "api/leak/route.ts"), FLAWED_ROUTE);
}

#[test]
fn a_file_with_a_syntax_error_is_reported_and_not_rewritten() {
    let broken = FLAWED_ROUTE.replace("export async function", "export async function function");
    let dir = project(&[
        ("app/api/broken/route.ts", &broken),
        ("app/api/ok/route.ts", FLAWED_ROUTE),
    ]);
    let run = casehard(dir.path(), &["fix", "."]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("app/api/broken/route.ts:5:"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("syntax error"), "{}", run.stderr);
    assert_eq!(read(dir.path(), "app/api/broken/route.ts"), broken);
    assert!(
        read(dir.path(), "app/api/ok/route.ts").contains(".strict()"),
        "the rest is still fixed"
    );
}

/// A handler made to be costly: each owner field destructured from the body makes
/// schema/owner-from-body look through every later statement, so checking it all would take
/// many seconds (quadratic in the destructurings).
fn costly_route(n: usize) -> String {
    format!(
        "import {{ z }} from \"zod\";\nimport {{ db, posts }} from \"@/db\";\n\nconst schema = z.object({{ title: z.string() }});\n\nexport async function POST(req: Request) {{\n  const input = schema.parse(await req.json());\n{}{}  return Response.json(input);\n}}\n",
        "  const { userId } = await req.json();\n".repeat(n),
        "  await db.insert(posts).values({ userId });\n".repeat(n),
    )
}

#[test]
fn a_file_whose_rules_run_past_the_time_limit_is_reported_and_not_rewritten() {
    let costly = costly_route(2000);
    let dir = project(&[
        ("app/api/costly/route.ts", &costly),
        ("app/api/ok/route.ts", FLAWED_ROUTE),
    ]);
    let run = casehard(dir.path(), &["fix", "--scan-time-limit", "0.2", "."]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let problem = run
        .stderr
        .lines()
        .find(|l| l.starts_with("app/api/costly/route.ts:"))
        .unwrap_or_else(|| panic!("no problem reported for the costly file: {}", run.stderr));
    assert!(
        problem.contains(": error: casehard stopped checking this file after 200.00ms, here, most of it spent on schema/owner-from-body"),
        "{problem}"
    );
    // Where it stopped is a line of the file.
    let line: usize = problem.split(':').nth(1).unwrap().parse().unwrap();
    assert!((1..=costly.lines().count()).contains(&line), "{problem}");
    assert!(
        run.stderr.contains("1 file(s) not checked"),
        "{}",
        run.stderr
    );
    // Not rewritten, though its schema has the flaw zod-strict fixes; the rest is fixed.
    assert_eq!(read(dir.path(), "app/api/costly/route.ts"), costly);
    assert!(read(dir.path(), "app/api/ok/route.ts").contains(".strict()"));
}

#[test]
fn the_time_limit_takes_only_a_number_of_seconds() {
    let dir = project(&[("app/api/ok/route.ts", FLAWED_ROUTE)]);
    for bad in ["-1", "soon", "inf", "1e30"] {
        let flag = format!("--scan-time-limit={bad}");
        let run = casehard(dir.path(), &["diff", &flag, "."]);
        assert_eq!(run.code, 2, "{bad}: {}", run.stderr);
        assert!(
            run.stderr
                .contains(&format!("`{bad}` is not a number of seconds")),
            "{bad}: {}",
            run.stderr
        );
    }
    // 0 is no limit.
    let run = casehard(dir.path(), &["diff", "--scan-time-limit", "0", "."]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stdout.contains(".strict()"), "{}", run.stdout);
}

#[test]
fn non_utf8_source_is_reported_and_left_alone() {
    let dir = project(&[("app/api/posts/route.ts", FLAWED_ROUTE)]);
    let latin1 = b"const s = \"caf\xe9\";\n";
    fs::write(dir.path().join("app/legacy.ts"), latin1).unwrap();
    git(dir.path(), &["add", "-A"]);
    git(dir.path(), &["commit", "-q", "-m", "latin1"]);
    let run = casehard(dir.path(), &["fix", "."]);
    assert!(
        run.stderr
            .contains("skipped app/legacy.ts: not UTF-8 text, left untouched"),
        "{}",
        run.stderr
    );
    assert_eq!(fs::read(dir.path().join("app/legacy.ts")).unwrap(), latin1);
}

const RULE_HEAD: &str = "title = \"t\"\nseverity = \"warning\"\narea = \"ops\"\napplicability = \"safe\"\nmessage = \"m\"\n";
const RULE_DOCS: &str = "[docs]\nwhat = \"w\"\nwhy = \"y\"\nbefore = \"b\"\nafter = \"a\"\n";

fn rules_dir(name: &str, body: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir_all(dir.path().join("custom")).unwrap();
    fs::write(dir.path().join(format!("custom/{name}.toml")), body).unwrap();
    dir
}

#[test]
fn a_malformed_rule_file_is_rejected_with_its_name_and_field() {
    let rules = rules_dir(
        "bad",
        &format!("{RULE_HEAD}fix = \"x\"\n[rule]\npatern = \"foo()\"\n{RULE_DOCS}"),
    );
    let dir = project(&[("a.ts", "foo();\n")]);
    let rules_arg = rules.path().to_str().unwrap();
    let run = casehard(dir.path(), &["check", ".", "--rules", rules_arg]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("custom/bad.toml"), "{}", run.stderr);
    assert!(run.stderr.contains("field `rule`"), "{}", run.stderr);
    assert!(run.stderr.contains("patern"), "{}", run.stderr);
    assert_eq!(
        run.stderr.lines().count(),
        1,
        "one clear sentence: {}",
        run.stderr
    );
}

#[test]
fn duplicate_rule_ids_are_rejected() {
    let rules = rules_dir(
        "x",
        &format!("{RULE_HEAD}fix = \"bar()\"\n[rule]\npattern = \"foo()\"\n{RULE_DOCS}"),
    );
    fs::create_dir_all(rules.path().join("schema")).unwrap();
    fs::copy(
        rules.path().join("custom/x.toml"),
        rules.path().join("schema/zod-strict.toml"),
    )
    .unwrap();
    let dir = project(&[("a.ts", "foo();\n")]);
    let run = casehard(
        dir.path(),
        &["check", ".", "--rules", rules.path().to_str().unwrap()],
    );
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("duplicate rule id `schema/zod-strict`"),
        "{}",
        run.stderr
    );
}

#[test]
fn extra_rules_run_and_a_fix_that_breaks_the_parse_is_dropped() {
    let rules = rules_dir(
        "unclosed",
        &format!("{RULE_HEAD}fix = \"bar($A\"\n[rule]\npattern = \"foo($A)\"\n{RULE_DOCS}"),
    );
    let dir = project(&[("a.ts", "foo(1);\nconst x = 2;\n")]);
    let run = casehard(
        dir.path(),
        &["fix", ".", "--rules", rules.path().to_str().unwrap()],
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("[custom/unclosed]"), "{}", run.stderr);
    assert!(run.stderr.contains("syntax error"), "{}", run.stderr);
    assert_eq!(
        read(dir.path(), "a.ts"),
        "foo(1);\nconst x = 2;\n",
        "nothing written"
    );
}

#[test]
fn rules_that_keep_rewriting_are_named() {
    let rules = rules_dir(
        "grow",
        &format!("{RULE_HEAD}fix = \"foo(foo($A))\"\n[rule]\npattern = \"foo($A)\"\n{RULE_DOCS}"),
    );
    let dir = project(&[("a.ts", "foo(1);\n")]);
    let run = casehard(
        dir.path(),
        &["diff", ".", "--rules", rules.path().to_str().unwrap()],
    );
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("did not converge after 10 rounds"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("custom/grow"), "{}", run.stderr);
    assert!(
        run.stderr.contains("the last round changed a.ts"),
        "the file the rule keeps rewriting is named: {}",
        run.stderr
    );
}

#[test]
fn config_selects_rules_and_rejects_unknown_keys() {
    let dir = project(&[
        ("app/api/posts/route.ts", FLAWED_ROUTE),
        ("casehard.toml", "[rules]\nskip = [\"schema/zod-strict\"]\n"),
    ]);
    assert_eq!(casehard(dir.path(), &["check", "."]).code, 0);
    fs::write(dir.path().join("casehard.toml"), "[rules]\nskipp = []\n").unwrap();
    let run = casehard(dir.path(), &["check", "."]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("casehard.toml: line 2"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("skipp"), "{}", run.stderr);
}

#[test]
fn json_format_is_versioned_and_complete() {
    let dir = project(&[("app/api/posts/route.ts", FLAWED_ROUTE)]);
    let run = casehard(dir.path(), &["diff", ".", "--format", "json"]);
    assert_eq!(run.code, 1);
    let v: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(v["version"], 1);
    assert_eq!(v["clean"], false);
    assert_eq!(v["changes"][0]["path"], "app/api/posts/route.ts");
    assert_eq!(v["findings"][0]["rule"], "schema/zod-strict");
    assert_eq!(v["findings"][0]["line"], 3);
    assert_eq!(v["findings"][0]["status"], "fixed");
    assert!(v["diff"]
        .as_str()
        .unwrap()
        .contains("+const schema = z.object({ title: z.string() }).strict();"));
}

#[test]
fn color_follows_the_flag() {
    let dir = project(&[("app/api/posts/route.ts", FLAWED_ROUTE)]);
    assert!(casehard(dir.path(), &["diff", ".", "--color", "always"])
        .stdout
        .contains("\x1b[32m+"));
    assert!(!casehard(dir.path(), &["diff", ".", "--color", "never"])
        .stdout
        .contains('\x1b'));
    assert!(
        !casehard(dir.path(), &["diff", "."]).stdout.contains('\x1b'),
        "auto: not a terminal"
    );
}

#[test]
fn rules_and_explain_document_the_catalog() {
    let dir = tempfile::tempdir().unwrap();
    let run = casehard(dir.path(), &["rules"]);
    assert_eq!(run.code, 0);
    for id in [
        "schema/zod-strict",
        "schema/insert-omits-privileged",
        "schema/mass-assignment",
        "schema/owner-from-body",
    ] {
        assert!(
            run.stdout.contains(id),
            "{id} missing from:\n{}",
            run.stdout
        );
        let explain = casehard(dir.path(), &["explain", id]);
        assert_eq!(explain.code, 0);
        for heading in [
            "## What it does",
            "## Why is this bad?",
            "## Example",
            "## Fix safety",
            "## References",
        ] {
            assert!(explain.stdout.contains(heading), "{id}: no {heading}");
        }
    }
    assert_eq!(casehard(dir.path(), &["explain", "nope/nope"]).code, 2);
}
