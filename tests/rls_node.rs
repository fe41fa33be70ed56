//! The helper casehard injects for plain Postgres, run under Node against the real PostgreSQL:
//! the Drizzle demo is hardened, its migrations and casehard's are applied as the app's own
//! (table-owning, non-superuser) role, and the app's code, compiled with TypeScript, queries
//! through `withUser` as user A. Needs npm, the npm registry and PostgreSQL (`.ci/run`
//! provides them); a missing one fails the test.

mod harness;

use harness::*;

const A: &str = "user-a";
const B: &str = "user-b";

#[test]
fn drizzle_queries_through_with_user_reach_only_the_users_rows() {
    let app = tempfile::tempdir().unwrap();
    copy_dir(
        &manifest_dir().join("tests/fixtures/rls/drizzle"),
        app.path(),
    );
    let fix = casehard(app.path(), &["fix", ".", "--allow-no-vcs"]);
    assert!(fix.code == 0 || fix.code == 1, "{}", fix.stderr);
    assert!(
        app.path().join("src/server/db/casehard-rls.ts").exists(),
        "casehard injects the helper next to the client:\n{}",
        fix.stderr
    );
    assert!(
        fix.stderr.contains("`db` names no user"),
        "the unwired client is reported:\n{}",
        fix.stderr
    );

    let db = PlainDb::new("node");
    let own =
        ["drizzle/0000_init.sql"].map(|f| std::fs::read_to_string(app.path().join(f)).unwrap());
    let ours = std::fs::read_to_string(app.path().join("drizzle/0001_casehard_rls.sql")).unwrap();
    db.apply(&own, &ours);
    db.sql(&format!(
        "insert into \"acme-user\" (id, email) values ('{A}', 'a@x'), ('{B}', 'b@x');
         insert into \"acme-task\" (title, created_by_id) values ('a1', '{A}'), ('b1', '{B}'), ('b2', '{B}');"
    ))
    .unwrap();

    // The packages the app declares, at its pinned versions, and a compiler.
    npm_install(
        app.path(),
        &[
            "drizzle-orm@0.36.4",
            "pg@8.13.1",
            "@types/pg@8.11.10",
            "@types/node@22.10.1",
            "typescript@5.7.2",
        ],
    );
    let script = format!(
        r#"import {{ eq }} from "drizzle-orm";
import {{ db, pool }} from "./src/server/db";
import {{ withUser }} from "./src/server/db/casehard-rls";
import {{ tasks }} from "./src/server/db/schema";

async function attempt(work: () => Promise<unknown>): Promise<string> {{
  try {{
    await work();
    return "accepted";
  }} catch {{
    return "rejected";
  }}
}}

async function main() {{
  const mine = await withUser("{A}", (tx) => tx.select().from(tasks));
  console.log("a-reads", mine.length, mine.every((t) => t.createdById === "{A}"));
  console.log("no-user-reads", (await db.select().from(tasks)).length);
  console.log("forged-insert", await attempt(() => withUser("{A}", (tx) => tx.insert(tasks).values({{ title: "x", createdById: "{B}" }}))));
  console.log("own-insert", await attempt(() => withUser("{A}", (tx) => tx.insert(tasks).values({{ title: "y", createdById: "{A}" }}))));
  const updated = await withUser("{A}", (tx) => tx.update(tasks).set({{ title: "h" }}).where(eq(tasks.createdById, "{B}")).returning());
  console.log("update-b", updated.length);
  const deleted = await withUser("{A}", (tx) => tx.delete(tasks).where(eq(tasks.createdById, "{B}")).returning());
  console.log("delete-b", deleted.length);
  console.log("empty-id", await attempt(() => withUser("", async () => 1)));
  console.log("b-reads", (await withUser("{B}", (tx) => tx.select().from(tasks))).length);
  console.log("after", (await db.select().from(tasks)).length);
  await pool.end();
}}

main().catch((e) => {{
  console.error(e);
  process.exit(1);
}});
"#
    );
    std::fs::write(app.path().join("run.ts"), script).unwrap();
    let config = serde_json::json!({
        "compilerOptions": { "strict": true, "outDir": "out", "rootDir": ".", "module": "commonjs", "moduleResolution": "node", "target": "es2020", "esModuleInterop": true, "skipLibCheck": true },
        "files": ["run.ts"],
    });
    std::fs::write(app.path().join("tsconfig.json"), config.to_string()).unwrap();
    let (ok, log) = run_program(
        app.path(),
        "node",
        &["node_modules/typescript/bin/tsc", "-p", "."],
    );
    assert!(ok, "the hardened app's code does not compile:\n{log}");
    let out = std::process::Command::new("node")
        .arg("out/run.js")
        .current_dir(app.path())
        .env("DATABASE_URL", db.url())
        .output()
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines,
        [
            "a-reads 1 true",
            "no-user-reads 0",
            "forged-insert rejected",
            "own-insert accepted",
            "update-b 0",
            "delete-b 0",
            "empty-id rejected",
            "b-reads 2",
            "after 0",
        ]
    );
    assert_eq!(
        db.sql("select count(*) from \"acme-task\"").unwrap(),
        "4",
        "B's rows are all still there, and A's new one"
    );
}
