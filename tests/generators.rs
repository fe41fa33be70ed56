//! Real app generators from the npm registry, at pinned versions: their output is piped through
//! `casehard pipe`, casehard's changes are kept as snapshots, the hardened app's dependencies
//! are installed (`--ignore-scripts`) and it is type-checked with its own `tsc` (Prisma's
//! client types generated first). The hardened app must add no type error the generated one
//! did not have. create-t3-app's Drizzle app is also run: its tables (as drizzle-kit writes
//! them) and casehard's migration go onto the real PostgreSQL, and the hardened app's own
//! driver and tRPC router show the policies hold and the app still works under them. Needs
//! npm, the registry and PostgreSQL.

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

/// Type errors as (file, code, message), without positions (casehard's edits move lines). A
/// solution-style tsconfig (create-vite's: no files of its own, only `references`) is built as
/// its `build` script does, with `tsc -b` (forced: the build info sits in the shared
/// node_modules); any other is checked with `tsc --noEmit -p .`.
fn type_errors(dir: &Path) -> BTreeSet<String> {
    let config = std::fs::read_to_string(dir.join("tsconfig.json")).unwrap_or_default();
    let args: &[&str] = if config.contains("\"references\"") {
        &["node_modules/typescript/bin/tsc", "-b", "--force"]
    } else {
        &["node_modules/typescript/bin/tsc", "--noEmit", "-p", "."]
    };
    let (_, log) = run_program(dir, "node", args);
    // Errors in a file, and those in no file (a broken tsconfig).
    log.lines()
        .filter(|l| l.contains(": error TS") || l.starts_with("error TS"))
        .map(|l| {
            let file = l.split('(').next().unwrap_or(l);
            let rest = l.split_once(": error ").map_or(l, |(_, r)| r);
            format!("{file}: {rest}")
        })
        .collect()
}

/// A generator's output and casehard's hardening of it (with its dependencies installed), kept
/// for the checks one generator's output allows.
struct Checked {
    _work: tempfile::TempDir,
    generated: std::path::PathBuf,
    hardened: std::path::PathBuf,
}

fn check_generator(name: &str, command: &[&str]) -> Checked {
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
    // The check can fail: a generated app that does not type-check at all is no control.
    assert!(
        generated.join("tsconfig.json").exists(),
        "{name}: no tsconfig.json to type-check with"
    );
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
    Checked {
        _work: work,
        generated,
        hardened,
    }
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
    let checked = check_generator(
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
    policies_hold_under_the_app_s_own_driver(&checked);
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

/// The React + TypeScript app Vite scaffolds, which Lovable's and bolt.new's apps start from.
#[test]
fn create_vite_react_ts() {
    let checked = check_generator(
        "vite-react-ts",
        &[
            "-y",
            "create-vite@6.5.0",
            "vite-react-ts",
            "--template",
            "react-ts",
        ],
    );
    // The generated app type-checks clean, and `tsc -b` reaches its sources: an error put in
    // one is reported.
    assert!(type_errors(&checked.generated).is_empty());
    let probe = checked.hardened.join("src/probe.ts");
    std::fs::write(&probe, "export const broken: number = \"x\";\n").unwrap();
    let errors = type_errors(&checked.hardened);
    assert!(
        errors.iter().any(|e| e.starts_with("src/probe.ts: TS2322")),
        "{errors:#?}"
    );
}

/// The generated app's tables as drizzle-kit writes them (`drizzle-kit generate`, which reads
/// the schema and connects to nothing), then casehard's migration, on the real PostgreSQL, as
/// the role the app connects as; the hardened app's own `db`, schema and `withUser`, compiled
/// with its TypeScript, drive them through drizzle and postgres.js. Before casehard's migration
/// every query reaches every user's posts; after it, only the user's own.
fn policies_hold_under_the_app_s_own_driver(checked: &Checked) {
    let Checked {
        generated,
        hardened,
        ..
    } = checked;
    let db = PlainDb::new("t3_drizzle");
    let url = db.url();
    let env = [
        ("SKIP_ENV_VALIDATION", "1"),
        ("NODE_ENV", "test"),
        ("DATABASE_URL", url.as_str()),
    ];
    let out = Command::new("node")
        .args(["node_modules/drizzle-kit/bin.cjs", "generate"])
        .envs(env)
        .current_dir(generated)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "drizzle-kit generate: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let tables: Vec<String> = std::fs::read_dir(generated.join("drizzle"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "sql"))
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect();
    assert_eq!(tables.len(), 1, "drizzle-kit wrote one migration");
    let ours = std::fs::read_to_string(hardened.join("db/casehard_rls.sql")).unwrap();
    db.sql(&format!("set role {};\n{}", db.role, tables[0]))
        .unwrap_or_else(|e| panic!("the generated app's tables: {e}"));
    // Each app is compiled once: its router, and through it its db, schema and (hardened)
    // `withUser`; NextAuth's `auth()` is stood in for (the callers pass the session themselves).
    for dir in [generated, hardened] {
        compile_cjs(dir, &["src/server/api/root.ts"], true);
        std::fs::write(
            dir.join("test-auth.cjs"),
            "exports.auth = async () => null;\n",
        )
        .unwrap();
    }
    let seed = "truncate \"t3-drizzle_post\", \"t3-drizzle_user\" cascade; \
        insert into \"t3-drizzle_user\" (id, email) values ('u1', 'a@example.com'), ('u2', 'b@example.com'); \
        insert into \"t3-drizzle_post\" (name, \"createdById\", \"createdAt\") values ('a', 'u1', now()), ('b', 'u2', now());";
    db.sql(seed).unwrap();
    let drizzle_script = format!("{PRELUDE}{DRIZZLE_SCRIPT}");
    let before = run_node(hardened, &drizzle_script, &[], &env);
    assert_eq!(
        before,
        [
            "db reads posts a,b",
            "db reads users 2",
            "u1 reads a,b",
            "u1 renames u2's 1",
            "u1 writes as u2 1",
            "u1 writes its own 1",
            "no user refused",
        ],
        "control: without casehard's migration every query reaches every user's posts"
    );
    db.sql(seed).unwrap();
    db.sql(&format!("set role {};\n{ours}", db.role))
        .unwrap_or_else(|e| panic!("casehard's migration: {e}\n{ours}"));
    let after = run_node(hardened, &drizzle_script, &[], &env);
    assert_eq!(
        after,
        [
            "db reads posts ",
            "db reads users 2",
            "u1 reads a",
            "u1 renames u2's 0",
            "u1 writes as u2 refused",
            "u1 writes its own 1",
            "no user refused",
        ],
        "after casehard's migration"
    );
    assert_eq!(
        db.sql("select name from \"t3-drizzle_post\" where \"createdById\" = 'u2'")
            .unwrap(),
        "b",
        "u2's post is as u2 left it"
    );

    // The app's own tRPC router, through its protected procedures, as two signed-in users and
    // no one (NextAuth's `auth()` stood in for: the callers pass the session themselves).
    // create-t3-app's `getLatest` reads the newest post of anyone.
    let plain = PlainDb::new("t3_drizzle_plain");
    plain
        .sql(&format!("set role {};\n{}", plain.role, tables[0]))
        .unwrap();
    let seed_users = "truncate \"t3-drizzle_post\", \"t3-drizzle_user\" cascade; \
        insert into \"t3-drizzle_user\" (id, email) values ('u1', 'a@example.com'), ('u2', 'b@example.com');";
    plain.sql(seed_users).unwrap();
    db.sql(seed_users).unwrap();
    let router = |dir: &Path, db: &PlainDb| {
        let url = db.url();
        // Production mode: create-t3-app's timing middleware delays every call in development.
        let env = [
            ("SKIP_ENV_VALIDATION", "1"),
            ("NODE_ENV", "production"),
            ("DATABASE_URL", url.as_str()),
        ];
        let lines = run_node(dir, &format!("{PRELUDE}{ROUTER_SCRIPT}"), &[], &env);
        lines
            .into_iter()
            .filter(|l| !l.starts_with("[TRPC]"))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        router(generated, &plain),
        [
            "u1 creates ok",
            "u2 creates ok",
            "u1's latest u2's plan",
            "u2's latest u2's plan",
            "signed out UNAUTHORIZED",
        ],
        "control: the generated app shows u1 the newest post of anyone"
    );
    assert_eq!(
        router(generated, &db),
        [
            "u1 creates INTERNAL_SERVER_ERROR",
            "u2 creates INTERNAL_SERVER_ERROR",
            "u1's latest none",
            "u2's latest none",
            "signed out UNAUTHORIZED",
        ],
        "control: casehard's migration without its wiring of the router refuses every write"
    );
    assert_eq!(
        router(hardened, &db),
        [
            "u1 creates ok",
            "u2 creates ok",
            "u1's latest u1's first",
            "u2's latest u2's plan",
            "signed out UNAUTHORIZED",
        ],
        "the hardened app on casehard's migration: each user's own posts, through the app's router"
    );
}

/// What both scripts below start with: the app's `~/` imports resolved as its tsconfig does
/// (NextAuth's module stood in for), and `attempt`, which prints what a call returned, a tRPC
/// error's code, or `refused`.
const PRELUDE: &str = r#"
const Module = require("node:module");
const path = require("node:path");
const resolve = Module._resolveFilename;
Module._resolveFilename = function (request, ...rest) {
  if (request === "~/server/auth") request = path.join(__dirname, "test-auth.cjs");
  else if (request.startsWith("~/")) request = path.join(__dirname, "out/src", request.slice(2));
  return resolve.call(this, request, ...rest);
};
async function attempt(label, work) {
  try {
    console.log(`${label} ${await work()}`);
  } catch (e) {
    console.log(`${label} ${e?.name === "TRPCError" ? e.code : "refused"}`);
  }
}
"#;

/// Calls the t3 app's router (`createCaller`) as u1, u2 and no one.
const ROUTER_SCRIPT: &str = r#"
const { createCaller } = require("./out/src/server/api/root.js");
const { db } = require("./out/src/server/db/index.js");
const as = (id) =>
  createCaller({
    db,
    session: id ? { user: { id }, expires: "2099-01-01T00:00:00.000Z" } : null,
    headers: new Headers(),
  });
(async () => {
  await attempt("u1 creates", async () => (await as("u1").post.create({ name: "u1's first" }), "ok"));
  await new Promise((r) => setTimeout(r, 20));
  await attempt("u2 creates", async () => (await as("u2").post.create({ name: "u2's plan" }), "ok"));
  await attempt("u1's latest", async () => (await as("u1").post.getLatest())?.name ?? "none");
  await attempt("u2's latest", async () => (await as("u2").post.getLatest())?.name ?? "none");
  await attempt("signed out", async () => (await as(null).post.getLatest())?.name ?? "none");
  process.exit(0);
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
"#;

/// Queries through the hardened t3 app's own modules (`~/` resolved as its tsconfig does).
const DRIZZLE_SCRIPT: &str = r#"
const { eq } = require("drizzle-orm");
const { db } = require("./out/src/server/db/index.js");
const { posts, users } = require("./out/src/server/db/schema.js");
const { withUser } = require("./out/src/server/db/casehard-rls.js");
const names = (rows) => rows.map((r) => r.name).sort().join(",");
(async () => {
  await attempt("db reads posts", async () => names(await db.select().from(posts)));
  await attempt("db reads users", async () => (await db.select().from(users)).length);
  await attempt("u1 reads", async () => names(await withUser("u1", (tx) => tx.select().from(posts))));
  await attempt("u1 renames u2's", async () =>
    (await withUser("u1", (tx) => tx.update(posts).set({ name: "taken" }).where(eq(posts.createdById, "u2")).returning())).length);
  await attempt("u1 writes as u2", async () =>
    (await withUser("u1", (tx) => tx.insert(posts).values({ name: "forged", createdById: "u2" }).returning())).length);
  await attempt("u1 writes its own", async () =>
    (await withUser("u1", (tx) => tx.insert(posts).values({ name: "c", createdById: "u1" }).returning())).length);
  await attempt("no user", async () => names(await withUser("", (tx) => tx.select().from(posts))));
  process.exit(0);
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
"#;
