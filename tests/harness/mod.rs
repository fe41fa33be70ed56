//! What the integration tests share: running casehard in-process on files, reading snapshots
//! from the top-level `snapshots/` folder, and temporary git repositories.
#![allow(dead_code)]

use casehard::config::Config;
use casehard::engine::{self, Options, Outcome};
use casehard::lang::{has_syntax_error, Lang};
use casehard::render::diff::{self, Colors};
use casehard::render::report;
use casehard::rules::{Catalog, Selection};
use casehard::workspace::Workspace;
use std::path::{Path, PathBuf};
use std::process::Command;

pub fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// insta settings: snapshots live in the top-level `snapshots/` folder under their own name.
pub fn snapshot_settings() -> insta::Settings {
    let mut s = insta::Settings::clone_current();
    s.set_snapshot_path(manifest_dir().join("snapshots"));
    s.set_prepend_module_to_snapshot(false);
    s
}

pub fn catalog() -> Catalog {
    Catalog::load(&[]).expect("built-in catalog loads")
}

pub fn only(id: &str) -> Options {
    Options {
        selection: Selection {
            only: Some([id.to_string()].into()),
            skip: Default::default(),
        },
        ..Options::default()
    }
}

pub fn run(ws: Workspace, options: &Options) -> Outcome {
    let config = Config::from_workspace(&ws).expect("config");
    engine::run(ws, &catalog(), &config, options).expect("engine runs")
}

/// Findings and diff, as a snapshot shows them.
pub fn describe(outcome: &Outcome) -> String {
    let mut out = String::from("--- findings\n");
    for f in &outcome.findings {
        out.push_str(&report::finding_line(f));
        out.push('\n');
    }
    for p in &outcome.problems {
        out.push_str(&format!(
            "{}:{}:{}: error: {}\n",
            p.path, p.line, p.column, p.message
        ));
    }
    out.push_str("--- diff\n");
    out.push_str(&diff::render(outcome, Colors::default()));
    out
}

/// Every changed source file in the outcome parses without error.
pub fn assert_output_parses(outcome: &Outcome) {
    for path in outcome.before.keys() {
        let Some(lang) = Lang::for_path(path) else {
            continue;
        };
        let text = outcome.workspace.text(path).expect("utf-8 output");
        let tree = lang.parse(text.body).expect("parses");
        assert!(
            !has_syntax_error(&tree),
            "{path} does not parse after the fix:\n{}",
            text.body
        );
    }
}

/// Running again on the output proposes no change.
pub fn assert_idempotent(outcome: &Outcome, options: &Options) {
    let again = run(outcome.workspace.clone(), options);
    assert!(
        !again.has_changes(),
        "second run still changes files:\n{}",
        describe(&again)
    );
    assert!(
        again
            .findings
            .iter()
            .all(|f| f.applicability == casehard::plan::Applicability::Manual),
        "second run still has fixable findings:\n{}",
        describe(&again)
    );
}

pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args([
            "-c",
            "user.name=casehard-test",
            "-c",
            "user.email=test@casehard.invalid",
            "-c",
            "init.defaultBranch=main",
            "-c",
            "commit.gpgsign=false",
        ])
        .args(args)
        .current_dir(dir)
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Copies a folder (regular files and folders only).
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// A temporary git repository holding a copy of `fixture`, committed.
pub fn repo_with(fixture: &Path) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(fixture, dir.path());
    git(dir.path(), &["init", "-q"]);
    git(dir.path(), &["add", "-A"]);
    git(dir.path(), &["commit", "-q", "-m", "generated app"]);
    dir
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Runs the casehard binary.
pub fn casehard(dir: &Path, args: &[&str]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_casehard"))
        .args(args)
        .current_dir(dir)
        .env_remove("NO_COLOR")
        .output()
        .expect("casehard runs");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Runs the casehard binary with `input` on standard input; stdout is kept as bytes.
pub fn casehard_with_input(dir: &Path, args: &[&str], input: &[u8]) -> (i32, Vec<u8>, String) {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_casehard"))
        .args(args)
        .current_dir(dir)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("casehard starts");
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let out = child.wait_with_output().expect("casehard runs");
    writer.join().unwrap();
    (
        out.status.code().unwrap_or(-1),
        out.stdout,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Every regular file under `dir` (relative path → bytes), `.git` left out.
pub fn tree_of(dir: &Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, at: &Path, out: &mut std::collections::BTreeMap<String, Vec<u8>>) {
        for entry in std::fs::read_dir(at).unwrap() {
            let entry = entry.unwrap();
            let path = entry.path();
            if entry.file_name() == ".git" {
                continue;
            }
            if entry.file_type().unwrap().is_dir() {
                walk(root, &path, out);
            } else {
                let rel = path
                    .strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                out.insert(rel, std::fs::read(&path).unwrap());
            }
        }
    }
    let mut out = std::collections::BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

/// Runs a program of the project's toolchain (npm, node, npx) in `dir`; its success and its
/// output. A missing program fails the test with how to get it.
pub fn run_program(dir: &Path, program: &str, args: &[&str]) -> (bool, String) {
    let out = Command::new(program)
        .args(args)
        .current_dir(dir)
        .env("npm_config_audit", "false")
        .env("npm_config_fund", "false")
        .env("npm_config_update_notifier", "false")
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run {program} (install Node.js and npm; .ci/run does): {e}")
        });
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), log)
}

/// Runs SQL through psql's standard input: statement by statement, as a migration runner does.
pub fn psql(db: &str, sql: &str, stop_on_error: bool) -> Result<String, String> {
    use std::io::Write;
    let mut child = Command::new("psql")
        .args([
            "-h",
            "127.0.0.1",
            "-U",
            "postgres",
            "-d",
            db,
            "-X",
            "-q",
            "-At",
            "-f",
            "-",
        ])
        .args([
            "-v",
            if stop_on_error {
                "ON_ERROR_STOP=1"
            } else {
                "ON_ERROR_STOP=0"
            },
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("psql runs (install postgresql-client)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(sql.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    if out.status.success() && (!stop_on_error || !stderr.contains("ERROR")) {
        Ok(stdout)
    } else {
        Err(stderr)
    }
}

/// A fresh database without Supabase, and an ordinary role that owns the app's tables and
/// is the one the app connects as: the case plain-Postgres apps ship.
pub struct PlainDb {
    pub name: String,
    pub role: String,
}

impl PlainDb {
    pub fn new(tag: &str) -> PlainDb {
        psql("postgres", "select 1", true).unwrap_or_else(|e| {
            panic!("PostgreSQL at 127.0.0.1:5432 is needed (start it: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start): {e}")
        });
        let name = format!("casehard_{tag}_{}", std::process::id());
        let role = format!("{name}_app");
        psql("postgres", &format!("drop database if exists {name}"), true).unwrap();
        psql("postgres", &format!("drop role if exists {role}"), true).unwrap();
        psql("postgres", &format!("create database {name}"), true).unwrap();
        psql(
            "postgres",
            &format!("create role {role} login nosuperuser nobypassrls"),
            true,
        )
        .unwrap();
        let db = PlainDb { name, role };
        db.sql(&format!(
            "grant usage, create on schema public to {}",
            db.role
        ))
        .unwrap();
        db
    }
    /// Runs `sql` as the superuser (seeding data, reading what really is there).
    pub fn sql(&self, sql: &str) -> Result<String, String> {
        psql(&self.name, sql, true)
    }
    /// The URL the app connects with: as its own role.
    pub fn url(&self) -> String {
        format!("postgres://{}@127.0.0.1:5432/{}", self.role, self.name)
    }
    /// Applies the app's migrations and casehard's as the app's role, which so owns the tables.
    pub fn apply(&self, own: &[String], ours: &str) {
        for m in own {
            self.sql(&format!("set role {};\n{m}", self.role))
                .unwrap_or_else(|e| panic!("the app's own migration failed: {e}"));
        }
        self.sql(&format!("set role {};\n{ours}", self.role))
            .unwrap_or_else(|e| panic!("casehard's migration failed: {e}\n{ours}"));
    }
    /// Runs `sql` in a transaction as the app's role, naming `uid` as the app's helper does.
    pub fn as_app(&self, uid: Option<&str>, sql: &str) -> Result<String, String> {
        let user = uid
            .map(|u| format!("select set_config('app.user_id', '{u}', true) is null;"))
            .unwrap_or_default();
        self.sql(&format!(
            "begin; set local role {}; {user} {sql}; commit;",
            self.role
        ))
    }
    pub fn count(&self, uid: Option<&str>, query: &str) -> i64 {
        self.count_of(uid, &format!("select count(*) from ({query}) q"))
    }
    pub fn count_of(&self, uid: Option<&str>, query: &str) -> i64 {
        self.as_app(uid, query)
            .unwrap_or_else(|e| panic!("{query} as {uid:?}: {e}"))
            .lines()
            .last()
            .unwrap()
            .parse()
            .unwrap()
    }
}

impl Drop for PlainDb {
    fn drop(&mut self) {
        let _ = psql(
            "postgres",
            &format!("drop database if exists {} with (force)", self.name),
            true,
        );
        let _ = psql(
            "postgres",
            &format!("drop role if exists {}", self.role),
            true,
        );
    }
}

/// `npm install --ignore-scripts` in `dir` (the project's own dependencies, or `packages`
/// pinned by the caller); panics with npm's output when it fails.
pub fn npm_install(dir: &Path, packages: &[&str]) {
    let mut args = vec!["install", "--ignore-scripts", "--no-audit", "--no-fund"];
    args.extend_from_slice(packages);
    let (ok, log) = run_program(dir, "npm", &args);
    assert!(ok, "npm install in {}:\n{log}", dir.display());
}

/// Compiles the project in `dir` with its own TypeScript (`tsc -p .`); panics with the
/// compiler's errors when it fails.
pub fn tsc(dir: &Path) {
    let (ok, log) = run_program(dir, "node", &["node_modules/typescript/bin/tsc", "-p", "."]);
    assert!(ok, "{} does not compile:\n{log}", dir.display());
}

/// Writes `script` to `dir/run.cjs`, runs it with Node and returns its output lines.
pub fn node_script(dir: &Path, script: &str) -> Vec<String> {
    std::fs::write(dir.join("run.cjs"), script).unwrap();
    let (ok, log) = run_program(dir, "node", &["run.cjs"]);
    assert!(ok, "{log}");
    log.lines().map(str::to_string).collect()
}

/// Writes `script` to `dir/run.cjs`, runs it with Node with `args` and the environment `env`,
/// and returns its output lines; panics with its output when it fails.
pub fn run_node(dir: &Path, script: &str, args: &[&str], env: &[(&str, &str)]) -> Vec<String> {
    std::fs::write(dir.join("run.cjs"), script).unwrap();
    let out = std::process::Command::new("node")
        .arg("run.cjs")
        .args(args)
        .envs(env.iter().copied())
        .current_dir(dir)
        .output()
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout.lines().map(str::to_string).collect()
}

/// Compiles `files` (and what they import) with the app's TypeScript and its own tsconfig to
/// CommonJS in `out/`, for running under Node (`verbatimModuleSyntax` off: it forbids `import`
/// in a CommonJS output; JSX compiled for React's runtime; Next's editor plugin dropped). With
/// `allow_js`, JavaScript modules they import are compiled too.
pub fn compile_cjs(dir: &Path, files: &[&str], allow_js: bool) {
    let config = serde_json::json!({
        "extends": "./tsconfig.json",
        "compilerOptions": {
            "noEmit": false, "outDir": "out", "rootDir": ".", "module": "commonjs",
            "moduleResolution": "node", "verbatimModuleSyntax": false, "jsx": "react-jsx", "plugins": [], "incremental": false, "allowJs": allow_js, "checkJs": false
        },
        "include": [],
        "files": files,
    });
    std::fs::write(dir.join("tsconfig.run.json"), config.to_string()).unwrap();
    let (ok, log) = run_program(
        dir,
        "node",
        &["node_modules/typescript/bin/tsc", "-p", "tsconfig.run.json"],
    );
    assert!(ok, "compiling {files:?} failed:\n{log}");
    // The app is an ES module package; its compiled copy is CommonJS.
    std::fs::write(dir.join("out/package.json"), r#"{"type":"commonjs"}"#).unwrap();
}

/// A strict `tsconfig.json` that compiles `include` to CommonJS in `out/`, for running under
/// Node (with the DOM's `Request` and `Response` types, and its iterables, as Next's own tsconfig
/// has them).
pub fn write_tsconfig(dir: &Path, include: &[&str]) {
    let config = serde_json::json!({
        "compilerOptions": {
            "strict": true, "target": "es2022", "module": "commonjs", "moduleResolution": "node",
            "esModuleInterop": true, "skipLibCheck": true, "outDir": "out", "rootDir": ".",
            "lib": ["es2022", "dom", "dom.iterable"], "jsx": "react-jsx"
        },
        "include": include,
    });
    std::fs::write(dir.join("tsconfig.json"), config.to_string()).unwrap();
}

/// A copy of `fixture` fixed by casehard with `rules` only: every finding fixed, a second run
/// empty.
fn fixed_copy(fixture: &str, rules: &str) -> tempfile::TempDir {
    let fixed = tempfile::tempdir().unwrap();
    copy_dir(&manifest_dir().join(fixture), fixed.path());
    let fix = casehard(
        fixed.path(),
        &["fix", ".", "--allow-no-vcs", "--only", rules],
    );
    assert_eq!(fix.code, 0, "every finding is fixed:\n{}", fix.stderr);
    let again = casehard(fixed.path(), &["diff", ".", "--only", rules]);
    assert_eq!(
        again.code, 0,
        "a second run changes nothing:\n{}",
        again.stdout
    );
    fixed
}

/// [`fixed_copy`] with its npm dependencies (and `packages`) installed.
pub fn hardened(fixture: &str, rules: &str, packages: &[&str]) -> tempfile::TempDir {
    let hardened = fixed_copy(fixture, rules);
    npm_install(hardened.path(), packages);
    hardened
}

/// Two copies of `fixture`: as it is, and [`fixed_copy`]; nothing installed.
pub fn original_and_fixed(fixture: &str, rules: &str) -> (tempfile::TempDir, tempfile::TempDir) {
    let original = tempfile::tempdir().unwrap();
    copy_dir(&manifest_dir().join(fixture), original.path());
    (original, fixed_copy(fixture, rules))
}

/// Two copies of `fixture`: as it is, and fixed by casehard with `rules` only (every finding
/// fixed, a second run empty); the hardened copy's npm dependencies (and `packages`) are
/// installed and shared with the original, so both run on the same packages.
pub fn before_and_after(
    fixture: &str,
    rules: &str,
    packages: &[&str],
) -> (tempfile::TempDir, tempfile::TempDir) {
    let original = tempfile::tempdir().unwrap();
    copy_dir(&manifest_dir().join(fixture), original.path());
    let hardened = hardened(fixture, rules, packages);
    std::os::unix::fs::symlink(
        hardened.path().join("node_modules"),
        original.path().join("node_modules"),
    )
    .unwrap();
    (original, hardened)
}

/// Two copies of the demo app `app` (a path under the repo): as generated, and fixed by
/// casehard with the whole catalog (manual findings left open, a second run changing nothing).
pub fn generated_and_hardened(app: &str) -> (tempfile::TempDir, tempfile::TempDir) {
    let app = manifest_dir().join(app);
    let original = tempfile::tempdir().unwrap();
    copy_dir(&app, original.path());
    let hardened = tempfile::tempdir().unwrap();
    copy_dir(&app, hardened.path());
    let fix = casehard(hardened.path(), &["fix", ".", "--allow-no-vcs"]);
    assert_eq!(fix.code, 1, "manual findings stay open:\n{}", fix.stderr);
    let again = casehard(hardened.path(), &["diff", "."]);
    assert!(
        again.stdout.is_empty() && again.stderr.contains("0 file(s) changed"),
        "a second run changes nothing:\n{}{}",
        again.stdout,
        again.stderr
    );
    (original, hardened)
}

/// `prisma generate` in `dir` without the engines it would download (from a host this machine
/// does not reach): the client's types are all tsc needs, and placeholder paths let it run.
pub fn prisma_generate_offline(dir: &Path) {
    let engine = dir.join("placeholder-engine.so.node");
    std::fs::write(&engine, b"").unwrap();
    let (ok, log) = run_program(
        dir,
        "env",
        &[
            &format!("PRISMA_QUERY_ENGINE_LIBRARY={}", engine.display()),
            &format!("PRISMA_SCHEMA_ENGINE_BINARY={}", engine.display()),
            "node",
            "node_modules/prisma/build/index.js",
            "generate",
        ],
    );
    assert!(ok, "prisma generate in {} failed:\n{log}", dir.display());
}

/// Deno (from the npm registry, pinned) and the Stripe SDK for Node senders, installed in a
/// temporary folder; the folder and the path of the `deno` binary.
pub fn deno_tools() -> (tempfile::TempDir, PathBuf) {
    let tools = tempfile::tempdir().unwrap();
    std::fs::write(tools.path().join("package.json"), r#"{ "private": true }"#).unwrap();
    npm_install(tools.path(), &["deno@2.9.6", "stripe@17.4.0"]);
    let deno = tools.path().join("node_modules/@deno/linux-x64-glibc/deno");
    (tools, deno)
}

/// Prepares `dir` for Deno: npm packages (`npm:` specifiers) in a local `node_modules`, and no
/// `package.json`, whose dependencies Deno would otherwise install (the functions need none).
pub fn deno_project(dir: &Path) {
    std::fs::write(dir.join("deno.json"), r#"{ "nodeModulesDir": "auto" }"#).unwrap();
    let _ = std::fs::remove_file(dir.join("package.json"));
}

/// Deno for a generated project and its hardened copy (see [`deno_tools`], [`deno_project`]),
/// with the hardened `function` type-checked; the tools' folder and the `deno` binary.
pub fn deno_for(original: &Path, hardened: &Path, function: &str) -> (tempfile::TempDir, PathBuf) {
    let (tools, deno) = deno_tools();
    deno_project(original);
    deno_project(hardened);
    deno_check(hardened, &deno, &[function]);
    (tools, deno)
}

/// `deno check` of `files` in `dir`; panics with the type errors when it fails.
pub fn deno_check(dir: &Path, deno: &Path, files: &[&str]) {
    let mut args = vec!["check"];
    args.extend_from_slice(files);
    let out = deno_command(dir, deno)
        .args(&args)
        .output()
        .expect("deno runs");
    assert!(
        out.status.success(),
        "{} does not type-check under Deno:\n{}{}",
        files.join(", "),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn deno_command(dir: &Path, deno: &Path) -> Command {
    let mut command = Command::new(deno);
    command
        .current_dir(dir)
        .env("DENO_DIR", dir.join(".deno-cache"))
        .env("NO_COLOR", "1");
    command
}

/// Patches `Deno.serve` onto a free port of 127.0.0.1, printing `port <n>` once it listens.
const SERVE_ON_A_FREE_PORT: &str = r#"const serve = Deno.serve;
// deno-lint-ignore no-explicit-any
(Deno as any).serve = (handler: any) =>
  serve({ port: 0, hostname: "127.0.0.1", onListen: ({ port }) => console.log("port", port) }, handler);
"#;

/// The edge function `function` (a path in `dir`) served by Deno on a free port, after
/// `prelude` (code that stands in for what the function calls), from `dir/serve.ts`; what it
/// prints after `port <n>` is kept for [`DenoServer::stop`].
pub struct DenoServer {
    child: std::process::Child,
    lines: std::io::Lines<std::io::BufReader<std::process::ChildStdout>>,
    pub port: String,
}

impl DenoServer {
    pub fn start(
        dir: &Path,
        deno: &Path,
        prelude: &str,
        function: &str,
        env: &[(&str, Option<&str>)],
    ) -> DenoServer {
        use std::io::BufRead;
        let script = format!("{prelude}\n{SERVE_ON_A_FREE_PORT}await import(\"./{function}\");\n");
        std::fs::write(dir.join("serve.ts"), script).unwrap();
        let mut command = deno_command(dir, deno);
        command
            .args([
                "run",
                "--allow-net",
                "--allow-env",
                "--allow-read",
                "--allow-write",
                "serve.ts",
            ])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        for (name, value) in env {
            match value {
                Some(v) => command.env(name, v),
                None => command.env_remove(name),
            };
        }
        let mut child = command.spawn().expect("deno runs");
        let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
        let port = loop {
            match lines.next() {
                Some(Ok(line)) if line.starts_with("port ") => break line[5..].to_string(),
                Some(Ok(_)) => continue,
                _ => {
                    let _ = child.kill();
                    let mut err = String::new();
                    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut err)
                        .unwrap();
                    panic!("the Deno server did not start:\n{err}");
                }
            }
        };
        DenoServer { child, lines, port }
    }

    /// Stops the server; what it printed after `port <n>`.
    pub fn stop(mut self) -> Vec<String> {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
        self.lines.map_while(Result::ok).collect()
    }
}
