//! Throughput of casehard against the floor set by parsing alone, on generated corpora of
//! generator-style TypeScript (route handlers, drizzle schemas, React components, helpers).
//!
//!     cargo bench --bench throughput              # 2,000 files per corpus
//!     CASEHARD_BENCH_FILES=10000 cargo bench --bench throughput
//!     CASEHARD_BENCH_CORPUS=/tmp/corpus cargo bench --bench throughput   # keep a copy to profile
//!     CASEHARD_BENCH_ONLY=stress cargo bench --bench throughput   # one of typical, stress, rules, demo, monorepo, shapes
//!     CASEHARD_BENCH_WRITE_ONLY=1 CASEHARD_BENCH_CORPUS=/tmp/corpus cargo bench --bench throughput   # write the corpora, measure nothing
//!
//! Prints a table per corpus; it asserts nothing (speed is measured, never tested). Peak
//! memory is measured on a fresh process per run (this benchmark re-executed for one phase),
//! so one phase's peak never hides another's.

use casehard::config::Config;
use casehard::engine::{self, Options};
use casehard::lang::Lang;
use casehard::render::diff::{self, Colors};
use casehard::render::report;
use casehard::rules::Catalog;
use casehard::workspace::{load_dir, LoadOptions, Workspace};
use rayon::prelude::*;
use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

const RUNS: usize = 3;

/// A small deterministic generator, so every run measures the same corpus.
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    fn pick(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// The share of files of each kind, and how many schemas a route file holds.
#[derive(Clone, Copy)]
struct Mix {
    name: &'static str,
    /// Out of 100: route handlers, components, helpers; the rest are drizzle schema files.
    routes: u64,
    components: u64,
    helpers: u64,
    /// Schema + handler blocks per route file (the file is padded to ~10 KB with helpers).
    schemas_per_route: usize,
}

/// What generators emit: mostly components and helpers, a few handlers with a schema or
/// three, a schema module now and then.
const TYPICAL: Mix = Mix {
    name: "typical",
    routes: 12,
    components: 55,
    helpers: 28,
    schemas_per_route: 3,
};

/// Four files in ten are handlers with 16 to 18 flawed schemas and mass assignments each:
/// some 24,000 fixes over 2,000 files, half the files rewritten.
const STRESS: Mix = Mix {
    name: "stress",
    routes: 40,
    components: 30,
    helpers: 20,
    schemas_per_route: 16,
};

fn route(i: usize, rng: &mut Lcg, schemas: usize) -> String {
    let mut s = String::from("import { NextResponse } from \"next/server\";\nimport { z } from \"zod\";\nimport { db } from \"@/db\";\nimport { items } from \"@/db/schema\";\n\n");
    let blocks = schemas + rng.pick(3) as usize;
    for b in 0..blocks {
        let strict = if rng.pick(3) == 0 { ".strict()" } else { "" };
        writeln!(s, "const input{b}Schema = z.object({{\n  name: z.string().min(1).max(120),\n  description: z.string().max(2000).optional(),\n  tags: z.array(z.string()).max(10),\n  meta: z.object({{ source: z.string(), version: z.number().int() }}),\n}}){strict};\n").unwrap();
        writeln!(s, "async function handle{b}(req: Request, userId: string) {{\n  const body = input{b}Schema.parse(await req.json());\n  const total = body.tags.reduce((acc, t) => acc + t.length, 0);\n  if (total > 500) {{\n    return NextResponse.json({{ error: \"too many tags\" }}, {{ status: 400 }});\n  }}\n  const [row] = await db.insert(items).values({{ ...body, userId }}).returning();\n  return NextResponse.json(row, {{ status: 201 }});\n}}\n").unwrap();
    }
    writeln!(
        s,
        "export async function POST(req: Request) {{\n  return handle0(req, \"user-{i}\");\n}}\n"
    )
    .unwrap();
    let mut pad = 0;
    while s.len() < 9_000 {
        write_formatter(&mut s, i, pad);
        pad += 1;
    }
    s
}

fn write_formatter(s: &mut String, i: usize, b: usize) {
    writeln!(s, "export function format{i}x{b}(value: number, locale = \"en-US\"): string {{\n  if (!Number.isFinite(value)) return \"-\";\n  const rounded = Math.round(value * 100) / 100;\n  return new Intl.NumberFormat(locale, {{ maximumFractionDigits: 2 }}).format(rounded);\n}}\n").unwrap();
}

fn component(i: usize, rng: &mut Lcg) -> String {
    let mut s =
        String::from("\"use client\";\n\nimport { useState, useEffect } from \"react\";\n\n");
    let blocks = 12 + rng.pick(6) as usize;
    for b in 0..blocks {
        writeln!(s, "export function Card{i}x{b}({{ title, items }}: {{ title: string; items: string[] }}) {{\n  const [open, setOpen] = useState(false);\n  const [count, setCount] = useState<number>(0);\n  useEffect(() => {{\n    setCount(items.filter((x) => x.length > {b}).length);\n  }}, [items]);\n  return (\n    <div className=\"rounded-lg border p-4 shadow-sm\">\n      <button onClick={{() => setOpen(!open)}} className=\"font-semibold\">{{title}} ({{count}})</button>\n      {{open && (\n        <ul className=\"mt-2 space-y-1\">\n          {{items.map((item) => (\n            <li key={{item}} className=\"text-sm text-muted-foreground\">{{item}}</li>\n          ))}}\n        </ul>\n      )}}\n    </div>\n  );\n}}\n").unwrap();
    }
    s
}

fn helpers(i: usize, rng: &mut Lcg) -> String {
    let mut s = String::from("import { clsx, type ClassValue } from \"clsx\";\n\n");
    let blocks = 28 + rng.pick(8) as usize;
    for b in 0..blocks {
        write_formatter(&mut s, i, b);
    }
    s
}

fn schema(i: usize, rng: &mut Lcg) -> String {
    let mut s = String::from("import { pgTable, text, uuid, integer, timestamp } from \"drizzle-orm/pg-core\";\nimport { createInsertSchema } from \"drizzle-zod\";\n\n");
    let blocks = 10 + rng.pick(4) as usize;
    for b in 0..blocks {
        writeln!(s, "export const table{i}x{b} = pgTable(\"table_{i}_{b}\", {{\n  id: uuid(\"id\").primaryKey().defaultRandom(),\n  userId: uuid(\"user_id\").notNull(),\n  title: text(\"title\").notNull(),\n  body: text(\"body\"),\n  score: integer(\"score\").default(0),\n  createdAt: timestamp(\"created_at\").defaultNow().notNull(),\n}});\n\nexport const insertTable{i}x{b}Schema = createInsertSchema(table{i}x{b});\n").unwrap();
    }
    s
}

fn write_corpus(dir: &Path, files: usize, mix: Mix) -> u64 {
    let mut rng = Lcg(42);
    let mut bytes = 0u64;
    std::fs::write(
        dir.join("package.json"),
        "{\"dependencies\":{\"next\":\"14.2.18\",\"zod\":\"3.23.8\",\"drizzle-orm\":\"0.36.4\"}}",
    )
    .unwrap();
    for i in 0..files {
        let roll = rng.pick(100);
        let (path, text) = if roll < mix.routes {
            (
                format!("src/app/api/r{i}/route.ts"),
                route(i, &mut rng, mix.schemas_per_route),
            )
        } else if roll < mix.routes + mix.components {
            (format!("src/components/c{i}.tsx"), component(i, &mut rng))
        } else if roll < mix.routes + mix.components + mix.helpers {
            (format!("src/lib/h{i}.ts"), helpers(i, &mut rng))
        } else {
            (format!("src/db/s{i}.ts"), schema(i, &mut rng))
        };
        let p = dir.join(&path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        bytes += text.len() as u64;
        std::fs::write(p, text).unwrap();
    }
    bytes
}

fn best_of<T>(mut f: impl FnMut() -> T) -> (Duration, T) {
    let mut best = Duration::MAX;
    let mut last = None;
    for _ in 0..RUNS {
        let t = Instant::now();
        let out = f();
        best = best.min(t.elapsed());
        last = Some(out);
    }
    (best, last.unwrap())
}

/// (a): read every file and parse each source once, in parallel, as the engine does;
/// (a') with `walk`, also visit every node once (the least any rule engine must do).
fn parse_all(root: &Path, walk: bool) -> usize {
    let ws = load_dir(root, &LoadOptions::default()).unwrap();
    let sources: Vec<(&str, Lang)> = ws.sources().collect();
    sources
        .par_iter()
        .map(|(p, lang)| {
            let tree = lang.parse(ws.text(p).unwrap().body).unwrap();
            if walk {
                tree.root().dfs().count()
            } else {
                usize::from(tree.root().get_inner_node().has_error())
            }
        })
        .sum()
}

/// (b) and (c): the whole `casehard diff` pipeline, in process: the diff and then the summary
/// of findings are streamed to sinks that count their bytes, as the command streams them to
/// standard output and standard error. Returns the diff's size.
fn full_diff(ws: Workspace, catalog: &Catalog) -> (usize, Workspace) {
    let config = Config::from_workspace(&ws).unwrap();
    // As `casehard diff` runs it: fixes against the files as read are kept only for SARIF.
    let options = Options {
        original_edits: false,
        ..Options::default()
    };
    let outcome = engine::run(ws, catalog, &config, &options).unwrap();
    let mut sink = Counted(0);
    diff::write(&outcome, Colors::default(), &mut sink).unwrap();
    report::write_text(&outcome, false, &mut Counted(0)).unwrap();
    (sink.0, outcome.workspace)
}

/// A writer that keeps only the number of bytes written to it.
struct Counted(usize);

impl std::io::Write for Counted {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len();
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The phase a re-executed child runs (`parse`, `walk` or `diff`) on the corpus in `dir`.
fn child_phase(phase: &str, dir: &Path, catalog: &Catalog) {
    match phase {
        "parse" => {
            parse_all(dir, false);
        }
        "walk" => {
            parse_all(dir, true);
        }
        "diff" => {
            let ws = load_dir(dir, &LoadOptions::default()).unwrap();
            full_diff(ws, catalog);
        }
        other => panic!("unknown phase {other}"),
    }
    println!("peak_kib {}", own_peak_kib());
}

/// Peak resident memory, in bytes, of `phase` run on `dir` in a fresh process. The child
/// reports its own high-water mark (`VmHWM`, kept per address space, so it starts afresh at
/// exec; the rusage of a spawned child would count the parent's memory it was forked from).
fn peak_memory(phase: &str, dir: &Path) -> u64 {
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .env("CASEHARD_BENCH_PHASE", phase)
        .env("CASEHARD_BENCH_DIR", dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "the {phase} child failed");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("peak_kib "))
        .and_then(|n| n.trim().parse::<u64>().ok())
        .expect("the child reports its peak")
        * 1024
}

/// This process's peak resident memory so far, in KiB (Linux `VmHWM`).
fn own_peak_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// Writes a workspace's files under `dir` (the hardened corpus, for the second run's child).
fn write_workspace(ws: &Workspace, dir: &Path) {
    for (path, file) in &ws.files {
        let target = dir.join(path);
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::write(target, &file.bytes).unwrap();
    }
}

fn main() {
    // SAFETY: before the catalog compiles its patterns, the first trees; as the command does.
    unsafe { casehard::lang::use_tree_allocator() };
    casehard::engine::set_malloc_arenas();
    let catalog = Catalog::load(&[]).unwrap();
    if let (Ok(phase), Some(dir)) = (
        std::env::var("CASEHARD_BENCH_PHASE"),
        std::env::var_os("CASEHARD_BENCH_DIR"),
    ) {
        return child_phase(&phase, Path::new(&dir), &catalog);
    }
    let files: usize = std::env::var("CASEHARD_BENCH_FILES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);
    println!(
        "{} threads, best of {RUNS} runs each",
        rayon::current_num_threads()
    );
    let only = std::env::var("CASEHARD_BENCH_ONLY").ok();
    let runs = |name: &str| only.as_deref().is_none_or(|o| o == name);
    for mix in [TYPICAL, STRESS] {
        if runs(mix.name) {
            measure(files, mix, &catalog);
        }
    }
    if runs("rules") {
        rules_scaling(files);
    }
    if runs("demo") {
        measure_demo_apps(&catalog);
    }
    if runs("monorepo") {
        pin_monorepo(2000, &catalog);
    }
    if runs("shapes") {
        shapes(&catalog);
    }
}

/// One route handler of a shape whose cost grows faster than its size, at sizes doubling: the
/// rules that walk up the tree from every match, or on through every later statement, pay
/// for the depth or the length of what they walk. Prints each size's time and how much it
/// grew per doubling (2x is linear, 4x quadratic).
fn shapes(catalog: &Catalog) {
    // Each shape is the body of one route handler, which `handler` wraps.
    type Shape = (&'static str, fn(usize) -> String);
    let shapes: [Shape; 4] = [
        ("z.object nested n deep (schema/zod-strict)", |n| {
            format!(
                "  const s = {}z.string(){};\n  s.parse(await req.json());\n",
                "z.object({ a: ".repeat(n),
                " })".repeat(n)
            )
        }),
        ("n schemas one after another (linear, for reference)", |n| {
            "  const s = z.object({ a: z.string() }).parse(await req.json());\n".repeat(n)
        }),
        (
            "n owner fields destructured from the body, then n uses (schema/owner-from-body)",
            |n| {
                "  const { userId } = await req.json();\n".repeat(n)
                    + &"  f({ userId });\n".repeat(n)
            },
        ),
        (
            "n bodies bound, then each written whole (schema/mass-assignment)",
            |n| {
                (0..n)
                    .map(|i| format!("  const b{i} = await req.json();\n"))
                    .chain((0..n).map(|i| format!("  await db.insert(posts).values(b{i});\n")))
                    .collect()
            },
        ),
    ];
    let handler = |body: String| {
        format!(
            "import {{ z }} from \"zod\";\nexport async function POST(req: Request) {{\n{body}  return Response.json({{}});\n}}\n"
        )
    };
    println!();
    println!("one handler of a shape, `casehard diff` (one run each):");
    for (name, text) in shapes {
        let mut line = format!("{name}:");
        let mut last: Option<f64> = None;
        for n in [250, 500, 1000] {
            let dir = tempfile::tempdir().unwrap();
            let route = dir.path().join("src/app/api/x");
            std::fs::create_dir_all(&route).unwrap();
            std::fs::write(
                dir.path().join("package.json"),
                r#"{"dependencies":{"zod":"3.23.8"}}"#,
            )
            .unwrap();
            std::fs::write(route.join("route.ts"), handler(text(n))).unwrap();
            let ws = load_dir(dir.path(), &LoadOptions::default()).unwrap();
            let config = Config::from_workspace(&ws).unwrap();
            let t = Instant::now();
            engine::run(ws, catalog, &config, &Options::default()).unwrap();
            let secs = t.elapsed().as_secs_f64();
            line.push_str(&format!(" n={n} {secs:.3} s"));
            if let Some(before) = last {
                line.push_str(&format!(" ({:.1}x)", secs / before));
            }
            last = Some(secs);
        }
        println!("{line}");
    }
}

/// Writes `count` declarative rules under `dir` (`bench/r<i>.toml`), each reporting a call of a
/// method only it names, `$O.casehardBench<i>(...)`, which the corpus never calls. `needle` is
/// each rule's `needs`: a string absent from the corpus (the prefilter leaves the rule out of
/// every file), or one most handlers hold (the rule is tried on every call in them).
fn write_rules(dir: &Path, count: usize, needle: &str) {
    let area = dir.join("bench");
    std::fs::create_dir_all(&area).unwrap();
    for i in 0..count {
        let needle = needle.replace("{i}", &i.to_string());
        let rule = format!(
            r#"title = "Benchmark rule {i}"
severity = "info"
area = "ops"
applicability = "manual"
message = "casehardBench{i} is called"
needs = ["{needle}"]

[rule]
pattern = "$O.casehardBench{i}($$$ARGS)"

[docs]
what = "Reports calls of casehardBench{i}."
why = "It measures what a rule costs."
before = "x.casehardBench{i}()"
after = "x.other()"
"#
        );
        std::fs::write(area.join(format!("r{i}.toml")), rule).unwrap();
    }
}

/// What rules added to the catalog cost: `casehard diff` on the typical corpus with the
/// catalog and 0 to 640 more declarative rules, first rules whose `needs` the corpus never
/// holds, then rules whose `needs` most handlers hold (so each is tried on every call there).
fn rules_scaling(files: usize) {
    let dir = tempfile::tempdir().unwrap();
    write_corpus(dir.path(), files, TYPICAL);
    println!();
    println!("rules added to the catalog, `casehard diff` on the typical corpus ({files} files):");
    println!(
        "{:<52} {:>6} {:>8} {:>7}",
        "added rules", "rules", "seconds", "ratio"
    );
    for (what, needle) in [
        ("each needing a string no file holds", "casehardBench{i}("),
        (
            "each needing `z.object`, tried on every call there",
            "z.object",
        ),
    ] {
        let mut base = None;
        for count in [0, 40, 160, 640] {
            let rules = tempfile::tempdir().unwrap();
            write_rules(rules.path(), count, needle);
            let catalog = Catalog::load(&[rules.path()]).unwrap();
            let (t, _) = best_of(|| {
                let ws = load_dir(dir.path(), &LoadOptions::default()).unwrap();
                full_diff(ws, &catalog)
            });
            let s = t.as_secs_f64();
            let base = *base.get_or_insert(s);
            println!(
                "{:<52} {:>6} {:>8.3} {:>6.2}x",
                format!("{count} {what}"),
                catalog.rules.len(),
                s,
                s / base
            );
        }
    }
}

/// A monorepo of 20 workspace packages over an npm v3 lockfile of `packages` packages; every
/// package.json declares its dependencies with `^` ranges.
fn write_monorepo(dir: &Path, packages: usize) -> usize {
    let mut lock = serde_json::Map::new();
    let workspaces = 20;
    let mut root =
        serde_json::json!({ "name": "mono", "workspaces": ["packages/*"], "devDependencies": {} });
    for i in 0..packages {
        lock.insert(
            format!("node_modules/pkg-{i}"),
            serde_json::json!({ "version": format!("1.{}.{}", i % 7, i % 13), "integrity": "sha512-AAAA", "dependencies": { format!("pkg-{}", (i + 1) % packages): "^1.0.0" } }),
        );
    }
    let mut declared = 0;
    for w in 0..workspaces {
        let mut deps = serde_json::Map::new();
        for i in (w..packages).step_by(workspaces).take(60) {
            deps.insert(
                format!("pkg-{i}"),
                serde_json::json!(format!("^1.{}.0", i % 7)),
            );
            declared += 1;
        }
        let manifest = serde_json::json!({ "name": format!("@mono/w{w}"), "version": "1.0.0", "dependencies": deps });
        let dir_w = dir.join(format!("packages/w{w}"));
        std::fs::create_dir_all(&dir_w).unwrap();
        std::fs::write(
            dir_w.join("package.json"),
            serde_json::to_string_pretty(&manifest).unwrap(),
        )
        .unwrap();
        lock.insert(format!("packages/w{w}"), serde_json::json!({ "name": format!("@mono/w{w}"), "version": "1.0.0", "dependencies": manifest["dependencies"] }));
        lock.insert(
            format!("node_modules/@mono/w{w}"),
            serde_json::json!({ "resolved": format!("packages/w{w}"), "link": true }),
        );
    }
    root["devDependencies"] = serde_json::json!({ "pkg-0": "^1.0.0" });
    lock.insert(String::new(), root.clone());
    let lockfile = serde_json::json!({ "name": "mono", "lockfileVersion": 3, "requires": true, "packages": lock });
    std::fs::write(
        dir.join("package.json"),
        serde_json::to_string_pretty(&root).unwrap(),
    )
    .unwrap();
    std::fs::write(
        dir.join("package-lock.json"),
        serde_json::to_string_pretty(&lockfile).unwrap(),
    )
    .unwrap();
    declared + 1
}

fn pin_monorepo(packages: usize, catalog: &Catalog) {
    let dir = tempfile::tempdir().unwrap();
    let declared = write_monorepo(dir.path(), packages);
    let lock_bytes = std::fs::metadata(dir.path().join("package-lock.json"))
        .unwrap()
        .len();
    let (t, (findings, files)) = best_of(|| {
        let ws = load_dir(dir.path(), &LoadOptions::default()).unwrap();
        let config = Config::from_workspace(&ws).unwrap();
        let options = Options {
            selection: casehard::rules::Selection {
                only: Some(["deps/pin-exact".to_string()].into()),
                skip: Default::default(),
            },
            ..Options::default()
        };
        let outcome = engine::run(ws, catalog, &config, &options).unwrap();
        (outcome.findings.len(), outcome.before.len())
    });
    println!();
    println!(
        "pinning a monorepo: 21 package.json, {declared} declared ranges, npm lockfile of {packages} packages ({:.1} MB): {:.3} s (best of {RUNS}), {findings} findings, {files} files changed",
        lock_bytes as f64 / 1e6,
        t.as_secs_f64()
    );
}

fn measure(files: usize, mix: Mix, catalog: &Catalog) {
    let dir = tempfile::tempdir().unwrap();
    let bytes = write_corpus(dir.path(), files, mix);
    if let Some(keep) = std::env::var_os("CASEHARD_BENCH_CORPUS") {
        let keep = Path::new(&keep).join(mix.name);
        std::fs::create_dir_all(&keep).unwrap();
        write_corpus(&keep, files, mix);
        if std::env::var_os("CASEHARD_BENCH_WRITE_ONLY").is_some() {
            println!("corpus `{}` written to {}", mix.name, keep.display());
            return;
        }
    }
    measure_dir(
        &format!("corpus `{}`", mix.name),
        dir.path(),
        files,
        bytes,
        catalog,
    );
}

/// The demo apps that ship in the repo, each as it is.
fn measure_demo_apps(catalog: &Catalog) {
    let apps = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/apps");
    let mut names: Vec<_> = std::fs::read_dir(&apps)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    names.sort();
    for name in names {
        let dir = apps.join(&name);
        let ws = load_dir(&dir, &LoadOptions::default()).unwrap();
        let files = ws.sources().count();
        let bytes = ws.files.values().map(|f| f.bytes.len() as u64).sum();
        measure_dir(
            &format!("demo app `{}`", name.to_string_lossy()),
            &dir,
            files,
            bytes,
            catalog,
        );
    }
}

/// The table for one project: `files` source files, `bytes` in all.
fn measure_dir(label: &str, dir: &Path, files: usize, bytes: u64, catalog: &Catalog) {
    let mb = bytes as f64 / 1e6;

    let (t_parse, _) = best_of(|| parse_all(dir, false));
    let (t_walk, _) = best_of(|| parse_all(dir, true));
    let (t_diff, (diff_len, hardened)) = best_of(|| {
        let ws = load_dir(dir, &LoadOptions::default()).unwrap();
        full_diff(ws, catalog)
    });
    // The floor for a run that verifies its changes: every file parsed, and every source file
    // it changed or created parsed once more.
    let original = load_dir(dir, &LoadOptions::default()).unwrap();
    let changed: Vec<(&str, Lang)> = hardened
        .sources()
        .filter(|(p, _)| {
            original.files.get(*p).map(|f| &f.bytes) != Some(&hardened.files[*p].bytes)
        })
        .collect();
    let (t_reparse, _) = best_of(|| {
        changed
            .par_iter()
            .map(|(p, lang)| {
                let tree = lang.parse(hardened.text(p).unwrap().body).unwrap();
                usize::from(tree.root().get_inner_node().has_error())
            })
            .sum::<usize>()
    });
    let t_floor = t_parse + t_reparse;
    // What any engine that scans every file and rescans each file it changed pays before it
    // matches anything: (a') and one more walk of every changed file (parsing them again, then
    // less the parse).
    let (t_reparse_walk, _) = best_of(|| {
        changed
            .par_iter()
            .map(|(p, lang)| {
                lang.parse(hardened.text(p).unwrap().body)
                    .unwrap()
                    .root()
                    .dfs()
                    .count()
            })
            .sum::<usize>()
    });
    let t_rescan = t_walk + t_reparse_walk.saturating_sub(t_reparse);
    let (t_again, (again_len, _)) = best_of(|| full_diff(hardened.clone(), catalog));
    // The second run starts from memory; charge it the same load the first one paid.
    let (t_load, _) = best_of(|| load_dir(dir, &LoadOptions::default()).unwrap());
    let t_again = t_again + t_load;

    let hardened_dir = tempfile::tempdir().unwrap();
    write_workspace(&hardened, hardened_dir.path());
    let memory = [
        Some(peak_memory("parse", dir)),
        Some(peak_memory("walk", dir)),
        None,
        None,
        Some(peak_memory("diff", dir)),
        Some(peak_memory("diff", hardened_dir.path())),
    ];

    println!();
    println!(
        "{label}: {files} files, {mb:.2} MB; the first run changes or creates {} source files, its diff is {:.2} MB, the second's {again_len} bytes",
        changed.len(),
        diff_len as f64 / 1e6
    );
    println!(
        "{:<36} {:>8} {:>9} {:>7} {:>7} {:>9}",
        "run", "seconds", "files/s", "MB/s", "ratio", "peak MiB"
    );
    for ((name, t), peak) in [
        ("(a) read + parse only", t_parse),
        ("(a') read + parse + walk every node", t_walk),
        ("(v) (a) + parse what (b) changed", t_floor),
        ("(w) (a') + walk what (b) changed", t_rescan),
        ("(b) casehard diff, whole catalog", t_diff),
        ("(c) second run on hardened output", t_again),
    ]
    .into_iter()
    .zip(memory)
    {
        let s = t.as_secs_f64();
        let peak = peak.map_or("-".to_string(), |p| {
            format!("{:.0}", p as f64 / (1024.0 * 1024.0))
        });
        println!(
            "{:<36} {:>8.3} {:>9.0} {:>7.1} {:>6.2}x {:>9}",
            name,
            s,
            files as f64 / s,
            mb / s,
            s / t_parse.as_secs_f64(),
            peak
        );
    }
    println!(
        "memory target (twice the corpus + 64 MiB): {:.0} MiB",
        (2 * bytes) as f64 / (1024.0 * 1024.0) + 64.0
    );
}
