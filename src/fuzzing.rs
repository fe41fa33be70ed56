//! The property the fuzz target (fuzz/) checks, here so that crashes it finds are kept as
//! ordinary regression tests (tests/fuzz_regressions.rs) that run on stable.

use crate::config::Config;
use crate::engine::{self, Options};
use crate::error::Error;
use crate::lang::{has_syntax_error, Lang};
use crate::rules::Catalog;
use crate::workspace::Workspace;

/// Where the text is placed (see [`PAGES_PLACES`] for the Pages Router project): a route handler (request scope, server rules) on a path that
/// both a development route and a sign-in route would take, so `debug/dev-route` and
/// `auth/rate-limit` edit the same handlers too; and a component (TSX), as an App Router page
/// on a development path, so a default-exported function also gets `debug/dev-route`'s guard
/// and import.
const PLACES: &[&str] = &["app/api/debug/login/route.ts", "src/app/debug/page.tsx"];

/// In the Pages Router project (see [`PROJECTS`]), the component is a Pages Router page on a
/// development path instead, which `debug/dev-route` gives a data function.
const PAGES_PLACES: &[&str] = &["app/api/debug/login/route.ts", "src/pages/debug.tsx"];

/// The index in [`PROJECTS`] of the one whose component input is a Pages Router page.
const PAGES_PROJECT: usize = 2;

/// The project the text is placed in: without a package.json (only the rules that need no
/// stack), or one of three generator stacks, so that the passes that need one run on the text
/// too (`sql/interpolated-query` on node-postgres, the Drizzle tables and tRPC wiring of
/// `rls/owner-policies`, `mfa/supabase-aal2`, ...). Which one is a function of the text (see
/// [`project_for`]), so a saved input replays in the project that found it. Versions are exact,
/// so `deps/pin-exact` has nothing to say about the fixed files.
pub const PROJECTS: &[&[(&str, &str)]] = &[
    &[],
    // Replit Agent style: Express on node-postgres with passport, and a migration with an
    // owned table, so the RLS pass writes a migration and wires the text's pg client.
    &[
        (
            "package.json",
            r#"{"dependencies":{"express":"4.21.2","pg":"8.13.1","passport":"0.7.0","passport-local":"1.0.0","stripe":"17.4.0","zod":"3.23.8"}}"#,
        ),
        (
            "db/migrations/0001_init.sql",
            "create table users (id uuid primary key, email text not null);\ncreate table notes (id serial primary key, user_id uuid not null references users (id), body text not null);\n",
        ),
    ],
    // create-t3-app style: Next.js, Drizzle (tables the text defines with `pgTable`), NextAuth
    // and tRPC; its component input is a Pages Router page.
    &[(
        "package.json",
        r#"{"dependencies":{"next":"15.0.3","drizzle-orm":"0.36.4","postgres":"3.4.5","next-auth":"5.0.0-beta.25","@trpc/server":"11.0.0-rc.608","stripe":"17.4.0","zod":"3.23.8"}}"#,
    )],
    // Lovable / v0 style: Next.js on Supabase with Stripe.
    &[
        (
            "package.json",
            r#"{"dependencies":{"next":"15.0.3","@supabase/supabase-js":"2.46.1","@supabase/ssr":"0.5.2","stripe":"17.4.0","zod":"3.23.8"}}"#,
        ),
        (
            "supabase/migrations/20240101000000_init.sql",
            "create table public.profiles (id uuid primary key references auth.users (id), name text);\n",
        ),
    ],
];

/// The index in [`PROJECTS`] of the project `text` is fuzzed in: the sum of its bytes, so any
/// change to the text may move it, and the fuzzer reaches every project from every seed.
pub fn project_for(text: &str) -> usize {
    text.bytes().map(usize::from).sum::<usize>() % PROJECTS.len()
}

/// Runs the catalog over `text` in each place; panics on any violation of the properties: a
/// run that does not converge, a changed file that no longer parses when the input did, an
/// original (the diff's old side) that is not the input, or a result that the shortcuts
/// change: the prefilter (files and nodes left out of rules that cannot match them) and the
/// early fixes (a file fixed during its scan).
pub fn check(catalog: &Catalog, text: &str) {
    check_in(catalog, text, project_for(text));
}

/// The project [`PROJECTS`]`[project_index]` with `text` at `place`.
fn project_with(project_index: usize, place: &str, text: &str) -> Workspace {
    let files = PROJECTS[project_index]
        .iter()
        .copied()
        .chain([(place, text)]);
    Workspace::from_files(files).expect("fixed paths are valid")
}

/// [`check`] in the project [`PROJECTS`]`[project]`.
pub fn check_in(catalog: &Catalog, text: &str, project_index: usize) {
    let places = if project_index == PAGES_PROJECT {
        PAGES_PLACES
    } else {
        PLACES
    };
    for place in places {
        let ws = project_with(project_index, place, text);
        let lang = Lang::for_path(place).expect("source path");
        let parsed = lang
            .parse(text)
            .map(|t| !has_syntax_error(&t))
            .unwrap_or(false);
        // No time limit: the two runs must agree whatever the machine's speed (a hang is the
        // fuzzer's to report, by its own timeout).
        let unlimited = || Options {
            scan_time_limit: None,
            ..Options::default()
        };
        let shortcuts = unlimited();
        let plain = Options {
            prefilter: false,
            early_fixes: false,
            ..unlimited()
        };
        let everything = engine::run(ws.clone(), catalog, &Config::default(), &plain);
        match engine::run(ws, catalog, &Config::default(), &shortcuts) {
            Ok(outcome) => {
                let everything = everything
                    .expect("the run without shortcuts fails where the one with them does not");
                assert!(
                    format!("{:?}", outcome.findings) == format!("{:?}", everything.findings)
                        && outcome.workspace.get(place).map(|f| &f.bytes)
                            == everything.workspace.get(place).map(|f| &f.bytes),
                    "{place}: the shortcuts change the result:\n{text}"
                );
                // The diff's old side is rebuilt from the fixed text: it must be the input.
                if let Some(original) = outcome.original(place) {
                    assert!(
                        original.as_ref() == text.as_bytes(),
                        "{place}: the text rebuilt as read differs from the input:\n--- input\n{text}\n--- rebuilt\n{}",
                        String::from_utf8_lossy(&original)
                    );
                }
                for path in outcome.before.keys() {
                    let body = outcome
                        .workspace
                        .text(path)
                        .expect("casehard writes UTF-8")
                        .body;
                    // A migration casehard writes or edits is PostgreSQL, whatever the text
                    // made of the tables.
                    if path.ends_with(".sql") {
                        if let Err(e) = pg_query::parse(body, pg_query::ParserOptions::DEFAULT) {
                            panic!("{path}: casehard's SQL does not parse ({e}):\n--- input\n{text}\n--- output\n{body}");
                        }
                        continue;
                    }
                    let Some(lang) = Lang::for_path(path) else {
                        continue;
                    };
                    let tree = lang.parse(body).expect("parses");
                    assert!(
                        !parsed || !has_syntax_error(&tree),
                        "{path}: the input parsed, casehard's output does not:\n--- input\n{text}\n--- output\n{body}"
                    );
                }
            }
            Err(Error::NoConvergence { rules, .. }) => {
                panic!("rules keep rewriting {place}: {rules:?}\n{text}")
            }
            Err(_) => {}
        }
    }
}

/// A route handler the file projects hold, so that stack detection and the rules have code to
/// read beside the file being fuzzed.
const ROUTE: (&str, &str) = (
    "app/api/notes/route.ts",
    "import { z } from \"zod\";\n\nconst input = z.object({ body: z.string() });\n\nexport async function POST(req: Request) {\n  const data = input.parse(await req.json());\n  return Response.json(data);\n}\n",
);

/// A Next.js app's package.json with ranges, which `deps/pin-exact` pins from a lockfile.
const RANGED_PACKAGE: (&str, &str) = (
    "package.json",
    r#"{
  "name": "app",
  "private": true,
  "dependencies": {
    "next": "^15.0.3",
    "react": "^19.0.0",
    "stripe": "17.4.0",
    "zod": "^3.23.8"
  },
  "devDependencies": {
    "typescript": "~5.6.3"
  }
}
"#,
);

/// The files other than TypeScript that casehard reads, each at the path a generator writes it
/// to, in a project that makes casehard read it: the Express app on node-postgres and the
/// Supabase app of [`PROJECTS`] for migrations and the configuration, a create-t3-app on Prisma
/// for a Prisma schema, and a Next.js app with ranged dependencies for the package files,
/// lockfiles and CI files. A lockfile's input may also carry the package.json it locks (see
/// [`check_file`]), which replaces the project's; a Prisma schema at [`PRISMA_MIGRATED`], its
/// migration.
pub const FILE_PLACES: &[(&str, &[(&str, &str)])] = &[
    ("db/migrations/0002_more.sql", PROJECTS[1]),
    ("supabase/migrations/20240102000000_more.sql", PROJECTS[3]),
    ("prisma/schema.prisma", &[PRISMA_PACKAGE, ROUTE]),
    ("package.json", &[ROUTE]),
    ("package-lock.json", &[RANGED_PACKAGE, ROUTE]),
    ("pnpm-lock.yaml", &[RANGED_PACKAGE, ROUTE]),
    ("yarn.lock", &[RANGED_PACKAGE, ROUTE]),
    ("bun.lock", &[RANGED_PACKAGE, ROUTE]),
    (".npmrc", &[RANGED_PACKAGE, ROUTE]),
    ("Dockerfile", &[RANGED_PACKAGE, ROUTE]),
    (".github/workflows/ci.yml", &[RANGED_PACKAGE, ROUTE]),
    ("casehard.toml", PROJECTS[3]),
    // PRISMA_MIGRATED: the schema with the migration that creates its tables.
    (
        "prisma/schema.prisma",
        &[PRISMA_PACKAGE, ROUTE, PRISMA_INIT, PRISMA_LOCK],
    ),
];

/// The place in [`FILE_PLACES`] where a Prisma schema is fuzzed with the migration that
/// creates its tables (the text after the NUL byte), so the two readers of one schema, the
/// Prisma reader and the SQL replay, are fuzzed against each other.
pub const PRISMA_MIGRATED: usize = 12;

/// The file of a place's project that the text after a NUL byte replaces.
pub fn companion(place: usize) -> &'static str {
    if place == PRISMA_MIGRATED {
        PRISMA_INIT.0
    } else {
        "package.json"
    }
}

/// A create-t3-app's package.json on Prisma.
const PRISMA_PACKAGE: (&str, &str) = (
    "package.json",
    r#"{"dependencies":{"next":"15.0.3","@prisma/client":"5.22.0","next-auth":"4.24.10","@trpc/server":"11.0.0-rc.608","stripe":"17.4.0","zod":"3.23.8"},"devDependencies":{"prisma":"5.22.0"}}"#,
);

/// The first migration `prisma migrate dev` writes, for a users table and one owned table.
const PRISMA_INIT: (&str, &str) = (
    "prisma/migrations/20240105120000_init/migration.sql",
    "-- CreateTable\nCREATE TABLE \"users\" (\n    \"id\" UUID NOT NULL,\n    \"email\" TEXT NOT NULL,\n\n    CONSTRAINT \"users_pkey\" PRIMARY KEY (\"id\")\n);\n\n-- CreateTable\nCREATE TABLE \"notes\" (\n    \"id\" SERIAL NOT NULL,\n    \"owner_ref\" UUID NOT NULL,\n    \"title\" TEXT NOT NULL,\n\n    CONSTRAINT \"notes_pkey\" PRIMARY KEY (\"id\")\n);\n\n-- AddForeignKey\nALTER TABLE \"notes\" ADD CONSTRAINT \"notes_owner_ref_fkey\" FOREIGN KEY (\"owner_ref\") REFERENCES \"users\"(\"id\") ON DELETE CASCADE ON UPDATE CASCADE;\n",
);

const PRISMA_LOCK: (&str, &str) = (
    "prisma/migrations/migration_lock.toml",
    "provider = \"postgresql\"\n",
);

/// The index in [`FILE_PLACES`] a file of the project at `path` is fuzzed as, by its name:
/// how a fixture becomes a seed.
pub fn file_place_for(path: &str) -> Option<usize> {
    let name = path.rsplit('/').next().unwrap_or(path);
    let place = |p: &str| FILE_PLACES.iter().position(|(at, _)| *at == p);
    match name {
        // The Supabase project's migration, the Express project's, the Prisma schema.
        _ if name.ends_with(".sql") && path.contains("supabase/") => Some(1),
        _ if name.ends_with(".sql") => Some(0),
        _ if name.ends_with(".prisma") => Some(2),
        _ if name.ends_with(".yml") || (name.ends_with(".yaml") && name != "pnpm-lock.yaml") => {
            place(".github/workflows/ci.yml")
        }
        _ if name.starts_with("Dockerfile") => place("Dockerfile"),
        _ => place(name),
    }
}

/// The second fuzz target's property, for the project files casehard reads besides
/// TypeScript: the first byte picks the file's place in [`FILE_PLACES`], the rest is its text;
/// past a NUL byte, the text of the place's [`companion`] (the package.json beside it, used
/// where the project has one, so a lockfile and the manifest it locks are fuzzed together; the
/// migration of a Prisma schema). See [`check_file_in`].
pub fn check_file(catalog: &Catalog, data: &[u8]) {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    let Ok(rest) = std::str::from_utf8(rest) else {
        return;
    };
    let (text, beside) = match rest.split_once('\0') {
        Some((text, beside)) => (text, Some(beside)),
        None => (rest, None),
    };
    check_file_in(
        catalog,
        usize::from(which) % FILE_PLACES.len(),
        text,
        beside,
    );
}

/// The input [`check_file`] reads for `text` at [`FILE_PLACES`]`[place]`, with its [`companion`]
/// `beside`: how a fixture becomes a seed.
pub fn file_input(place: usize, text: &str, beside: Option<&str>) -> Vec<u8> {
    let mut input = vec![place as u8];
    input.extend_from_slice(text.as_bytes());
    if let Some(beside) = beside {
        input.push(0);
        input.extend_from_slice(beside.as_bytes());
    }
    input
}

/// Runs the catalog over a project holding `text` at [`FILE_PLACES`]`[place]` (and `beside`
/// as its [`companion`], if it has one); panics unless:
/// the run converges (a configuration it rejects is the error the command reports, not a
/// crash); the diff's old side of the file is `text`; every file casehard created is well
/// formed for its kind (SQL that PostgreSQL's parser reads, JSON, YAML, TOML, TypeScript
/// without syntax errors), and every file it changed still is where it was before; `.npmrc`
/// keeps every setting but the one it adds; and a second run on the result changes nothing.
pub fn check_file_in(catalog: &Catalog, place: usize, text: &str, beside: Option<&str>) {
    let (path, others) = FILE_PLACES[place];
    let others = others.iter().map(|&(at, body)| match beside {
        Some(m) if at == companion(place) => (at, m),
        _ => (at, body),
    });
    let ws = Workspace::from_files(others.chain([(path, text)])).expect("fixed paths are valid");
    let Ok(config) = Config::from_workspace(&ws) else {
        return;
    };
    let options = Options::default();
    let outcome = match engine::run(ws, catalog, &config, &options) {
        Ok(outcome) => outcome,
        Err(Error::NoConvergence { rules, .. }) => {
            panic!("rules keep rewriting the project with {path}: {rules:?}\n{text}")
        }
        Err(_) => return,
    };
    if let Some(original) = outcome.original(path) {
        assert!(
            original.as_ref() == text.as_bytes(),
            "{path}: the text rebuilt as read differs from the input"
        );
    }
    for changed in outcome.before.keys() {
        let before = outcome
            .original(changed)
            .map(|b| String::from_utf8_lossy(&b).into_owned());
        let after = outcome
            .workspace
            .text(changed)
            .expect("casehard writes UTF-8")
            .body;
        let was_well_formed = before.as_deref().is_none_or(|b| well_formed(changed, b));
        assert!(
            !was_well_formed || well_formed(changed, after),
            "{changed}: casehard's output is not well formed:\n--- input ({path})\n{text}\n--- before\n{}\n--- after\n{after}",
            before.as_deref().unwrap_or("(created)")
        );
        if changed.ends_with(".npmrc") {
            let kept: Vec<&str> = after.lines().map(str::trim).collect();
            for line in before.as_deref().unwrap_or_default().lines().map(str::trim) {
                assert!(
                    line.starts_with("save-exact") || kept.contains(&line),
                    ".npmrc: `{line}` is lost:\n--- before\n{text}\n--- after\n{after}"
                );
            }
        }
    }
    let again = engine::run(outcome.workspace, catalog, &config, &options)
        .expect("the second run fails where the first did not");
    assert!(
        again.before.is_empty(),
        "a second run still changes {:?}; input at {path}:\n{text}",
        again.before.keys().collect::<Vec<_>>()
    );
}

/// Whether `text` reads as the kind of file `path` names; files of other kinds are free text.
fn well_formed(path: &str, text: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    if let Some(lang) = Lang::for_path(path) {
        return lang.parse(text).is_ok_and(|t| !has_syntax_error(&t));
    }
    match name.rsplit_once('.').map(|(_, ext)| ext) {
        Some("sql") => pg_query::parse(text, pg_query::ParserOptions::DEFAULT).is_ok(),
        // package.json and package-lock.json are strict JSON; bun.lock is JSONC.
        Some("json") => serde_json::from_str::<serde_json::Value>(text).is_ok(),
        Some("lock") if name == "bun.lock" => {
            jsonc_parser::parse_to_value(text, &Default::default()).is_ok()
        }
        Some("yaml") | Some("yml") => serde_saphyr::from_str::<serde_json::Value>(text).is_ok(),
        Some("toml") => toml::from_str::<toml::Table>(text).is_ok(),
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the run of `text` in `PROJECTS[project]` (as a route handler) changed, and the rules
    /// it found something for.
    fn outcome_in(project: usize, place: &str, text: &str) -> engine::Outcome {
        let catalog = Catalog::load(&[]).unwrap();
        let ws = project_with(project, place, text);
        engine::run(ws, &catalog, &Config::default(), &Options::default()).unwrap()
    }

    fn run_in(project: usize, text: &str) -> (Vec<String>, Vec<String>) {
        let outcome = outcome_in(project, PLACES[0], text);
        let rules = outcome.findings.iter().map(|f| f.rule.clone()).collect();
        (outcome.before.keys().cloned().collect(), rules)
    }

    #[test]
    fn each_stack_reaches_the_passes_it_is_there_for() {
        // node-postgres: the pasted value is parameterized and the migration's table gets RLS.
        let (changed, rules) = run_in(
            1,
            "import { Pool } from \"pg\";\nexport const pool = new Pool();\nexport async function GET(req: Request) {\n  const email = new URL(req.url).searchParams.get(\"email\");\n  return Response.json((await pool.query(`SELECT * FROM users WHERE email = '${email}'`)).rows);\n}\n",
        );
        assert!(
            rules.iter().any(|r| r == "sql/interpolated-query"),
            "{rules:?}"
        );
        assert!(changed.iter().any(|p| p.ends_with(".sql")), "{changed:?}");
        // Drizzle: the tables the text defines get a migration.
        let (changed, _) = run_in(
            2,
            "import { pgTable, serial, text } from \"drizzle-orm/pg-core\";\nexport const posts = pgTable(\"post\", {\n  id: serial(\"id\").primaryKey(),\n  createdById: text(\"created_by_id\").notNull(),\n});\n",
        );
        assert!(changed.iter().any(|p| p.ends_with(".sql")), "{changed:?}");
        // In that project the component is a Pages Router page, which gets a data function.
        let page = "export default function Debug() {\n  return null;\n}\n";
        let outcome = outcome_in(PAGES_PROJECT, PAGES_PLACES[1], page);
        let body = outcome.workspace.text(PAGES_PLACES[1]).unwrap().body;
        assert!(
            body.contains("export async function getStaticProps()"),
            "{body}"
        );
        // Supabase: its migration's table gets RLS in a Supabase migration.
        let (changed, _) = run_in(3, "export const x = 1;\n");
        assert!(
            changed
                .iter()
                .any(|p| p.starts_with("supabase/migrations/")),
            "{changed:?}"
        );
        // Without a package.json none of it happens.
        let (changed, rules) = run_in(
            0,
            "import { Pool } from \"pg\";\nconst pool = new Pool();\npool.query(`SELECT * FROM users WHERE email = '${email}'`);\n",
        );
        assert!(
            !rules.iter().any(|r| r == "sql/interpolated-query"),
            "{rules:?}"
        );
        assert!(!changed.iter().any(|p| p.ends_with(".sql")), "{changed:?}");
    }
}
