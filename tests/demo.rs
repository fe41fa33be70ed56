//! The demo apps end to end, as the README's first command runs the first of them.

mod harness;

use casehard::workspace::{load_dir, LoadOptions};
use harness::*;

fn demo() -> std::path::PathBuf {
    manifest_dir().join("tests/fixtures/apps/nextjs-supabase-stripe")
}

/// Every demo app in tests/fixtures/apps: the whole catalog's diff is a snapshot, the output
/// parses, and a second run on the result changes nothing.
#[test]
fn demo_diff_matches_snapshot() {
    let apps = manifest_dir().join("tests/fixtures/apps");
    let mut names: Vec<String> = std::fs::read_dir(&apps)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert!(names.len() >= 2, "{names:?}");
    for name in names {
        let ws = load_dir(&apps.join(&name), &LoadOptions::default()).unwrap();
        let outcome = run(ws, &Default::default());
        assert_output_parses(&outcome);
        assert_idempotent(&outcome, &Default::default());
        snapshot_settings()
            .bind(|| insta::assert_snapshot!(format!("app__{name}"), describe(&outcome)));
    }
}

/// Keeping no syntax tree between phases (every file parsed again) changes nothing but cost.
#[test]
fn the_tree_budget_changes_no_result() {
    let apps = manifest_dir().join("tests/fixtures/apps");
    for name in ["express-drizzle-passport", "nextjs-supabase-stripe"] {
        let load = || load_dir(&apps.join(name), &LoadOptions::default()).unwrap();
        let kept = run(load(), &Default::default());
        let none = casehard::engine::Options {
            tree_budget: 0,
            ..Default::default()
        };
        let reparsed = run(load(), &none);
        assert_eq!(describe(&kept), describe(&reparsed), "{name}");
    }
}

/// Fixes against the files as read (for SARIF) are kept only when asked; nothing else changes.
#[test]
fn original_edits_are_kept_only_when_asked() {
    let load = || load_dir(&demo(), &LoadOptions::default()).unwrap();
    let kept = run(load(), &Default::default());
    let without = casehard::engine::Options {
        original_edits: false,
        ..Default::default()
    };
    let dropped = run(load(), &without);
    assert_eq!(describe(&kept), describe(&dropped));
    assert!(kept.findings.iter().any(|f| !f.original_edits.is_empty()));
    assert!(dropped.findings.iter().all(|f| f.original_edits.is_empty()));
}

/// The engine's shortcuts change nothing but cost: not parsing the files no rule can match and
/// no pass wants (the prefilter), and fixing a file during its scan (early fixes). On the demo
/// apps with the whole catalog, and on every rule's fixtures with that rule alone (where the
/// rule's own `needs` decides which files are parsed), with each shortcut and without it.
#[test]
fn the_shortcuts_change_no_result() {
    let mut projects: Vec<(std::path::PathBuf, casehard::engine::Options)> =
        std::fs::read_dir(manifest_dir().join("tests/fixtures/apps"))
            .unwrap()
            .map(|e| (e.unwrap().path(), Default::default()))
            .collect();
    for area in std::fs::read_dir(manifest_dir().join("tests/fixtures/rules")).unwrap() {
        let area = area.unwrap();
        for rule in std::fs::read_dir(area.path()).unwrap() {
            let rule = rule.unwrap();
            let id = format!(
                "{}/{}",
                area.file_name().to_string_lossy(),
                rule.file_name().to_string_lossy()
            );
            for fixture in std::fs::read_dir(rule.path()).unwrap() {
                projects.push((fixture.unwrap().path(), only(&id)));
            }
        }
    }
    let mut compared = 0;
    for (project, options) in projects {
        let load = || {
            if project.is_dir() {
                load_dir(&project, &LoadOptions::default()).unwrap()
            } else {
                let name = project.file_name().unwrap().to_string_lossy().into_owned();
                let text = std::fs::read_to_string(&project).unwrap();
                casehard::workspace::Workspace::from_files([(name.as_str(), text)]).unwrap()
            }
        };
        let with_shortcuts = describe(&run(load(), &options));
        let without: [(&str, casehard::engine::Options); 2] = [
            (
                "prefilter",
                casehard::engine::Options {
                    prefilter: false,
                    ..options.clone()
                },
            ),
            (
                "early fixes",
                casehard::engine::Options {
                    early_fixes: false,
                    ..options.clone()
                },
            ),
        ];
        for (shortcut, off) in without {
            assert_eq!(
                with_shortcuts,
                describe(&run(load(), &off)),
                "{} with and without the {shortcut}",
                project.display()
            );
        }
        compared += 1;
    }
    assert!(compared > 50, "only {compared} projects compared");
}

#[test]
fn check_fix_check_then_nothing_left_but_manual_findings() {
    let repo = repo_with(&demo());
    let dir = repo.path();
    let before = casehard(dir, &["check", "."]);
    assert_eq!(before.code, 1);
    for area in [
        "schema/zod-strict",
        "schema/insert-omits-privileged",
        "schema/mass-assignment",
        "schema/owner-from-body",
    ] {
        assert!(
            before.stderr.contains(area),
            "check should report {area}:\n{}",
            before.stderr
        );
    }

    let fixed = casehard(dir, &["fix", "."]);
    assert_eq!(
        fixed.code, 1,
        "manual findings stay open:\n{}",
        fixed.stderr
    );
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-q", "-m", "casehard fix"]);

    let diff = casehard(dir, &["diff", "."]);
    assert_eq!(diff.stdout, "", "diff after fix is empty");

    let after = casehard(dir, &["check", "."]);
    assert_eq!(after.code, 1);
    let findings: Vec<&str> = after
        .stderr
        .lines()
        .filter(|l| l.contains("[schema/"))
        .collect();
    assert!(!findings.is_empty());
    assert!(
        findings.iter().all(|l| l.ends_with("(open, manual)")),
        "only manual findings remain:\n{}",
        after.stderr
    );

    let tree = git(dir, &["write-tree"]);
    assert_eq!(casehard(dir, &["fix", "."]).code, 1);
    git(dir, &["add", "-A"]);
    assert_eq!(
        git(dir, &["write-tree"]),
        tree,
        "a second fix changes nothing"
    );
}

/// Where each finding is, grouped by rule, file and message.
fn places(
    outcome: &casehard::engine::Outcome,
) -> std::collections::BTreeMap<String, Vec<(usize, usize)>> {
    let mut out: std::collections::BTreeMap<String, Vec<(usize, usize)>> = Default::default();
    for f in &outcome.findings {
        out.entry(format!("{} {} {}", f.rule, f.path, f.message))
            .or_default()
            .push((f.line, f.column));
    }
    out
}

/// A finding is placed in its file as read whatever else changed that file: the whole
/// catalog puts each finding where its rule alone puts it. A created file's findings (the RLS
/// migration's tables) were once placed after the same round's edits to their file (the
/// Drizzle schema's `.omit(...)`), so every table after the first edit pointed into it.
#[test]
fn findings_are_placed_as_their_rule_alone_places_them() {
    let table = |n: usize| {
        format!(
            "export const t{n} = pgTable(\"t_{n}\", {{\n  id: uuid(\"id\").primaryKey().defaultRandom(),\n  userId: uuid(\"user_id\").notNull(),\n  createdAt: timestamp(\"created_at\").defaultNow().notNull(),\n}});\n\nexport const insertT{n}Schema = createInsertSchema(t{n});\n\n"
        )
    };
    let schema = format!(
        "import {{ pgTable, uuid, timestamp }} from \"drizzle-orm/pg-core\";\nimport {{ createInsertSchema }} from \"drizzle-zod\";\n\n{}{}{}",
        table(0),
        table(1),
        table(2)
    );
    let drizzle = casehard::workspace::Workspace::from_files([
        (
            "package.json",
            br#"{"dependencies":{"drizzle-orm":"0.36.4","drizzle-zod":"0.5.1","zod":"3.23.8"}}"#
                .to_vec(),
        ),
        ("src/db/schema.ts", schema.into_bytes()),
    ])
    .unwrap();
    let apps = manifest_dir().join("tests/fixtures/apps");
    let mut projects = vec![("drizzle".to_string(), drizzle)];
    for e in std::fs::read_dir(&apps).unwrap() {
        let e = e.unwrap();
        let ws = load_dir(&e.path(), &LoadOptions::default()).unwrap();
        projects.push((e.file_name().to_string_lossy().into_owned(), ws));
    }
    let mut compared = 0;
    for (name, ws) in projects {
        let all = places(&run(ws.clone(), &Default::default()));
        let rules: std::collections::BTreeSet<&str> =
            all.keys().map(|k| k.split(' ').next().unwrap()).collect();
        for rule in rules {
            for (what, at) in places(&run(ws.clone(), &only(rule))) {
                if let Some(there) = all.get(&what) {
                    assert_eq!(there, &at, "{name}: {what}");
                    compared += 1;
                }
            }
        }
    }
    // The Drizzle schema's three tables alone are three comparisons.
    assert!(compared > 20, "{compared}");
}

/// The MFA core names the app (its package.json `name`) as the TOTP issuer in a string
/// literal; a name with quotes and a line break stays that one string, and the core is written.
#[test]
fn the_app_s_name_stays_inside_the_issuer_string() {
    let dir = manifest_dir().join("tests/fixtures/apps/express-drizzle-passport");
    let mut ws = load_dir(&dir, &LoadOptions::default()).unwrap();
    let package = ws.text("package.json").unwrap().body.replace(
        r#""name": "notes-express""#,
        r#""name": "notes\"; globalThis.pwned = 1; \"\n'x`""#,
    );
    assert!(package.contains("pwned"), "the fixture's name moved");
    ws.insert("package.json".into(), package.into_bytes(), 0o644);
    let outcome = run(ws, &Default::default());
    let core = outcome
        .workspace
        .text("lib/casehard/mfa-core.ts")
        .expect("the MFA core is written")
        .body;
    assert!(
        core.contains(r#"const ISSUER = "notes\"; globalThis.pwned = 1; \"\n'x`";"#),
        "{core}"
    );
    assert_output_parses(&outcome);
}
