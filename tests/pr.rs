//! `casehard pr` against a temporary repository with a local bare repository as its remote.

mod harness;

use harness::*;
use std::fs;
use std::path::Path;

fn demo() -> std::path::PathBuf {
    manifest_dir().join("tests/fixtures/apps/nextjs-supabase-stripe")
}

/// A repository holding the demo on `main`, with a bare repository as `origin`.
fn setup() -> (tempfile::TempDir, tempfile::TempDir) {
    let repo = repo_with(&demo());
    let remote = tempfile::tempdir().unwrap();
    git(remote.path(), &["init", "-q", "--bare"]);
    git(
        repo.path(),
        &["remote", "add", "origin", remote.path().to_str().unwrap()],
    );
    (repo, remote)
}

fn rev(dir: &Path, r: &str) -> String {
    git(dir, &["rev-parse", r]).trim().to_string()
}

#[test]
fn creates_and_pushes_the_branch_with_only_casehards_changes() {
    let (repo, remote) = setup();
    let dir = repo.path();
    // The user's uncommitted edit, in a file casehard also changes.
    let route = dir.join("src/app/api/projects/route.ts");
    let mut text = fs::read_to_string(&route).unwrap();
    text.push_str("// work in progress\n");
    fs::write(&route, &text).unwrap();

    let body = dir.join("../pr-body.md");
    let run = casehard(
        dir,
        &[
            "pr",
            ".",
            "--push",
            "origin",
            "--body-file",
            body.to_str().unwrap(),
        ],
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("created casehard/harden"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("gh pr create --base main --head casehard/harden --title 'casehard: harden launchpad-saas'"), "{}", run.stderr);

    // On the branch: exactly casehard's change on top of main.
    let tip = rev(dir, "casehard/harden");
    assert_eq!(rev(dir, "casehard/harden^"), rev(dir, "main"));
    let changed = git(dir, &["diff", "--name-only", "main", "casehard/harden"]);
    assert_eq!(
        changed.lines().collect::<Vec<_>>(),
        vec![
            ".npmrc",
            "package-lock.json",
            "package.json",
            "src/app/actions/profile.ts",
            "src/app/api/debug/route.ts",
            "src/app/api/projects/[id]/route.ts",
            "src/app/api/projects/route.ts",
            "src/app/api/webhooks/stripe/route.ts",
            "src/app/debug/page.tsx",
            "src/app/mfa/page.tsx",
            "src/lib/casehard/mfa.ts",
            "src/lib/casehard/stripe-webhook.ts",
            "src/lib/casehard/webhook-events.ts",
            "src/lib/validations.ts",
            "src/middleware.ts",
            "supabase/migrations/20240101000001_casehard_rls.sql",
            "supabase/migrations/20240101000002_casehard_mfa.sql",
            "supabase/migrations/20240101000003_casehard_webhook_events.sql"
        ]
    );
    let committed = git(
        dir,
        &["show", "casehard/harden:src/app/api/projects/route.ts"],
    );
    assert!(committed.contains("insertProjectSchema.parse(body)"));
    assert!(
        !committed.contains("work in progress"),
        "the user's uncommitted edit is not in the commit"
    );
    assert!(
        git(dir, &["log", "-1", "--format=%B", "casehard/harden"]).contains("Casehard-Version: ")
    );

    // The work tree, index and HEAD are as the user left them.
    assert_eq!(fs::read_to_string(&route).unwrap(), text);
    assert_eq!(
        git(dir, &["symbolic-ref", "HEAD"]).trim(),
        "refs/heads/main"
    );
    assert_eq!(
        git(dir, &["status", "--porcelain"]).trim(),
        "M src/app/api/projects/route.ts"
    );

    // Pushed.
    assert_eq!(rev(remote.path(), "refs/heads/casehard/harden"), tip);

    // The body lists every change and the audit table.
    let body = fs::read_to_string(&body).unwrap();
    for needle in [
        "### Changes by area",
        "#### Schemas",
        "**`schema/zod-strict`**",
        "**`schema/insert-omits-privileged`**",
        "**`schema/mass-assignment`**",
        "`src/app/actions/profile.ts:7`",
        "`src/lib/validations.ts:5`",
        "`src/app/api/projects/route.ts:32`",
        "**Reviewer, check:**",
        "### Needs a person",
        "- [ ] `src/app/api/comments/route.ts:13` `schema/owner-from-body`",
        "### Quick audit before launch",
        "| No admin or payment action without MFA | pass | 4 finding(s) fixed by this change",
        "| Every admin action logged | not checked |",
        "#### RBAC",
        "**`rls/owner-policies`**",
        "| Every query checked by policy or RLS | pass | 4 finding(s) fixed by this change",
        "#### Payments",
        "**`webhook/stripe-signature`**",
        "| Webhooks verified and idempotent; payment calls carry idempotency keys | pass | 5 finding(s) fixed by this change (",
        "| Request input validated strictly; owners, roles and SQL never taken from it | fail | 1 open: `src/app/api/comments/route.ts:13` `schema/owner-from-body`",
        "#### Supply chain",
        "**`deps/pin-exact`**",
        "| Secrets rotated, debug off, dependencies pinned | fail | 2 open: `package-lock.json:398` `deps/install-scripts`",
        "| Entitlements tied to RBAC |",
    ] {
        assert!(body.contains(needle), "body lacks {needle:?}:\n{body}");
    }
}

#[test]
fn a_rerun_with_nothing_new_makes_no_commit() {
    let (repo, _remote) = setup();
    let dir = repo.path();
    assert_eq!(casehard(dir, &["pr", "."]).code, 1);
    let tip = rev(dir, "casehard/harden");
    let run = casehard(dir, &["pr", "."]);
    assert!(run.stderr.contains("is up to date"), "{}", run.stderr);
    assert_eq!(rev(dir, "casehard/harden"), tip);
}

#[test]
fn a_moved_base_rebuilds_the_branch() {
    let (repo, _remote) = setup();
    let dir = repo.path();
    assert_eq!(casehard(dir, &["pr", "."]).code, 1);
    let old_tip = rev(dir, "casehard/harden");
    fs::create_dir_all(dir.join("src/app/api/tags")).unwrap();
    fs::write(
        dir.join("src/app/api/tags/route.ts"),
        "import { z } from \"zod\";\n\nconst tagSchema = z.object({ label: z.string() });\n\nexport async function POST(req: Request) {\n  return Response.json(tagSchema.parse(await req.json()));\n}\n",
    )
    .unwrap();
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-q", "-m", "tags"]);
    let run = casehard(dir, &["pr", "."]);
    assert!(
        run.stderr.contains("rebuilt casehard/harden"),
        "{}",
        run.stderr
    );
    assert_ne!(rev(dir, "casehard/harden"), old_tip);
    assert_eq!(
        rev(dir, "casehard/harden^"),
        rev(dir, "main"),
        "based on the new main"
    );
    assert!(
        git(dir, &["show", "casehard/harden:src/app/api/tags/route.ts"]).contains("}).strict();")
    );
    assert_eq!(
        git(dir, &["rev-list", "--count", "main..casehard/harden"]).trim(),
        "1"
    );
}

#[test]
fn a_foreign_commit_on_the_branch_is_refused() {
    let (repo, _remote) = setup();
    let dir = repo.path();
    assert_eq!(casehard(dir, &["pr", "."]).code, 1);
    git(dir, &["checkout", "-q", "casehard/harden"]);
    fs::write(dir.join("NOTES.md"), "reviewer notes\n").unwrap();
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-q", "-m", "my own notes"]);
    let tip = rev(dir, "HEAD");
    git(dir, &["checkout", "-q", "main"]);
    let run = casehard(dir, &["pr", "."]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("holds commits casehard did not make"),
        "{}",
        run.stderr
    );
    assert_eq!(rev(dir, "casehard/harden"), tip, "not overwritten");
}

#[test]
fn since_limits_findings_to_the_files_of_later_commits() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let flawed = "import { z } from \"zod\";\n\nconst s = z.object({ a: z.string() });\n\nexport async function POST(req: Request) {\n  return Response.json(s.parse(await req.json()));\n}\n";
    fs::create_dir_all(d.join("app/api/one")).unwrap();
    fs::write(d.join("app/api/one/route.ts"), flawed).unwrap();
    git(d, &["init", "-q"]);
    git(d, &["add", "-A"]);
    git(d, &["commit", "-q", "-m", "first"]);
    fs::create_dir_all(d.join("app/api/two")).unwrap();
    fs::write(d.join("app/api/two/route.ts"), flawed).unwrap();
    git(d, &["add", "-A"]);
    git(d, &["commit", "-q", "-m", "second"]);

    let all = casehard(d, &["check", "."]);
    assert!(
        all.stderr.contains("app/api/one/route.ts") && all.stderr.contains("app/api/two/route.ts")
    );
    let since = casehard(d, &["diff", ".", "--since", "HEAD~1"]);
    assert_eq!(since.code, 1);
    assert!(
        since.stdout.contains("b/app/api/two/route.ts") && !since.stdout.contains("app/api/one"),
        "{}",
        since.stdout
    );
    assert!(
        since.stderr.contains("app/api/two/route.ts") && !since.stderr.contains("app/api/one"),
        "{}",
        since.stderr
    );
    let pr = casehard(d, &["pr", ".", "--since", "HEAD~1"]);
    assert_eq!(
        git(d, &["diff", "--name-only", "HEAD", "casehard/harden"]).trim(),
        "app/api/two/route.ts",
        "{}",
        pr.stderr
    );
    assert_eq!(
        casehard(d, &["check", ".", "--since", "HEAD"]).code,
        0,
        "nothing changed since HEAD"
    );

    // A project casehard would add files to (.npmrc): a commit that touches nothing casehard
    // flags leaves nothing to change or report since it.
    std::fs::write(
        d.join("package.json"),
        "{ \"name\": \"x\", \"dependencies\": { \"zod\": \"^3.23.0\" } }\n",
    )
    .unwrap();
    git(d, &["add", "-A"]);
    git(d, &["commit", "-q", "-m", "manifest"]);
    std::fs::write(d.join("README.md"), "notes\n").unwrap();
    git(d, &["add", "-A"]);
    git(d, &["commit", "-q", "-m", "readme"]);
    let unrelated = casehard(d, &["diff", ".", "--since", "HEAD~1"]);
    assert_eq!(
        (unrelated.code, unrelated.stdout.as_str()),
        (0, ""),
        "{}",
        unrelated.stderr
    );
    let with_manifest = casehard(d, &["diff", ".", "--since", "HEAD~2"]);
    assert!(
        with_manifest.stderr.contains("package.json"),
        "the manifest's finding is in scope: {}",
        with_manifest.stderr
    );
}

#[test]
fn pr_outside_a_repository_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let run = casehard(dir.path(), &["pr", "."]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("not inside a git repository"),
        "{}",
        run.stderr
    );
}
