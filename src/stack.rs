//! Facts about the project detected once: framework, database layer, auth, payments, package
//! manager, code style, and which files handle requests.

use crate::lang::Lang;
use crate::workspace::Workspace;
use regex::Regex;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::LazyLock;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Framework {
    NextApp,
    NextPages,
    Express,
    Hono,
    Trpc,
    SupabaseEdge,
    Vite,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Database {
    Supabase,
    Prisma,
    Drizzle,
    NodePostgres,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Auth {
    SupabaseAuth,
    NextAuth,
    Clerk,
    Passport,
    Jwt,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PackageManager {
    Npm,
    Pnpm,
    Yarn,
    Bun,
}

/// How the project writes code, so injected code looks like its own.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct Style {
    pub quote: char,
    pub semicolons: bool,
    pub indent: String,
}

impl Default for Style {
    fn default() -> Self {
        Style {
            quote: '"',
            semicolons: true,
            indent: "  ".into(),
        }
    }
}

impl Style {
    /// A string literal in the project's quote style.
    pub fn string(&self, s: &str) -> String {
        let q = self.quote;
        format!("{q}{}{q}", self.escaped(s))
    }

    /// `s` escaped to go between the project's quotes, so that a value read from the project
    /// (an import path from a file's name) stays one string whatever it holds; templates write
    /// such values with `{{string x}}`, which calls [`Style::string`].
    fn escaped(&self, s: &str) -> String {
        let q = self.quote;
        let mut out = String::with_capacity(s.len());
        let mut chars = s.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '\\' => out.push_str("\\\\"),
                c if c == q => {
                    out.push('\\');
                    out.push(c);
                }
                // A line break ends a '…' or "…" string; a template literal may hold one.
                '\n' if q != '`' => out.push_str("\\n"),
                '\r' if q != '`' => out.push_str("\\r"),
                '\u{2028}' if q != '`' => out.push_str("\\u2028"),
                '\u{2029}' if q != '`' => out.push_str("\\u2029"),
                '$' if q == '`' && chars.peek() == Some(&'{') => out.push_str("\\$"),
                c => out.push(c),
            }
        }
        out
    }

    /// An array of string literals in the project's quotes: `["a", "b"]`.
    pub fn strings<S: AsRef<str>>(&self, items: impl IntoIterator<Item = S>) -> String {
        let items: Vec<String> = items.into_iter().map(|i| self.string(i.as_ref())).collect();
        format!("[{}]", items.join(", "))
    }

    /// A statement terminator: `;` or nothing.
    pub fn semi(&self) -> &'static str {
        if self.semicolons {
            ";"
        } else {
            ""
        }
    }
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct Stack {
    pub frameworks: BTreeSet<Framework>,
    pub databases: BTreeSet<Database>,
    pub auth: BTreeSet<Auth>,
    pub stripe: bool,
    /// node-postgres (`pg`) is a dependency: its `.query(text, values)` numbers parameters
    /// `$1`, `$2`, ...
    pub pg: bool,
    /// Another SQL driver the project depends on, whose `.query` marks parameters otherwise
    /// (`?`, `@name`), if there is one.
    pub other_sql_driver: Option<String>,
    pub zod: bool,
    pub package_manager: Option<PackageManager>,
    pub style: Style,
    /// The project formats with Prettier: its settings decide the style of every file.
    pub prettier: bool,
    /// Files that handle requests: route handlers, API routes, server actions, Express/Hono
    /// routes, tRPC routers, edge functions.
    pub request_handlers: BTreeSet<String>,
    /// Request handlers and the modules they import: where input schemas live.
    pub request_input: BTreeSet<String>,
}

static ROUTE_FILE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(^|/)(app/(.+/)?route\.[cm]?[jt]sx?$|pages/api/|supabase/functions/[^/]+/index\.[jt]sx?$)").unwrap()
});
static EXPORTED_VERB: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"export\s+(async\s+function|function|const)\s+(GET|POST|PUT|PATCH|DELETE)\b")
        .unwrap()
});
static SERVER_ROUTE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\b\w+\s*\.\s*(get|post|put|patch|delete|all)\s*\(\s*['`\x22]/").unwrap()
});
static IMPORT_FROM: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r#"(?:\bfrom\s*|\bimport\s*\(?\s*)['"]([^'"]+)['"]"#).unwrap());

impl Stack {
    /// The style of code inserted into a file with `text`: the file's own quotes, semicolons and
    /// indentation where it shows them, the project's where it does not, and the project's
    /// Prettier settings over both (Prettier rewrites every file to them anyway).
    pub fn style_of(&self, text: &str) -> Style {
        if self.prettier {
            return self.style.clone();
        }
        let mut votes = StyleVotes::default();
        votes.count(text);
        votes.over(&self.style)
    }

    pub fn detect(ws: &Workspace) -> Stack {
        let deps = dependency_names(ws);
        let has = |name: &str| deps.contains(name);
        let mut s = Stack::default();

        if has("next") {
            if ws
                .files
                .keys()
                .any(|p| p.starts_with("app/") || p.starts_with("src/app/"))
            {
                s.frameworks.insert(Framework::NextApp);
            }
            if ws
                .files
                .keys()
                .any(|p| p.starts_with("pages/") || p.starts_with("src/pages/"))
            {
                s.frameworks.insert(Framework::NextPages);
            }
        }
        for (dep, fw) in [
            ("express", Framework::Express),
            ("hono", Framework::Hono),
            ("@trpc/server", Framework::Trpc),
            ("vite", Framework::Vite),
        ] {
            if has(dep) {
                s.frameworks.insert(fw);
            }
        }
        if ws
            .files
            .keys()
            .any(|p| p.starts_with("supabase/functions/"))
        {
            s.frameworks.insert(Framework::SupabaseEdge);
        }
        if has("@supabase/supabase-js")
            || has("@supabase/ssr")
            || ws.files.keys().any(|p| p.starts_with("supabase/"))
        {
            s.databases.insert(Database::Supabase);
        }
        if has("@prisma/client") || has("prisma") || ws.files.keys().any(|p| p.ends_with(".prisma"))
        {
            s.databases.insert(Database::Prisma);
        }
        if has("drizzle-orm") {
            s.databases.insert(Database::Drizzle);
        }
        if has("pg") || has("postgres") {
            s.databases.insert(Database::NodePostgres);
        }
        if has("@supabase/ssr")
            || has("@supabase/auth-helpers-nextjs")
            || has("@supabase/supabase-js")
        {
            s.auth.insert(Auth::SupabaseAuth);
        }
        if has("next-auth") || has("@auth/core") {
            s.auth.insert(Auth::NextAuth);
        }
        if deps.iter().any(|d| d.starts_with("@clerk/")) {
            s.auth.insert(Auth::Clerk);
        }
        if has("passport") {
            s.auth.insert(Auth::Passport);
        }
        if has("jsonwebtoken") || has("jose") {
            s.auth.insert(Auth::Jwt);
        }
        s.stripe = has("stripe") || has("@stripe/stripe-js");
        s.pg = has("pg");
        s.other_sql_driver = [
            "mysql2",
            "mysql",
            "better-sqlite3",
            "sqlite3",
            "sqlite",
            "@libsql/client",
            "mssql",
            "tedious",
            "oracledb",
        ]
        .iter()
        .find(|d| has(d))
        .map(|d| d.to_string());
        s.zod = has("zod");
        s.package_manager = package_manager(ws);
        (s.style, s.prettier) = detect_style(ws);
        s.request_handlers = ws
            .sources()
            .filter(|(p, _)| ws.text(p).is_some_and(|t| is_request_handler(p, t.body)))
            .map(|(p, _)| p.to_string())
            .collect();
        s.refresh_request_scope(ws);
        s
    }

    /// Recomputes which modules request handlers import (a fix may add an import); returns
    /// the files that entered the scope.
    pub fn refresh_request_scope(&mut self, ws: &Workspace) -> Vec<String> {
        let mut scope = self.request_handlers.clone();
        for handler in &self.request_handlers {
            if let Some(text) = ws.text(handler) {
                scope.extend(local_imports(ws, handler, text.body));
            }
        }
        let added = scope.difference(&self.request_input).cloned().collect();
        self.request_input = scope;
        added
    }
}

/// Whether a file handles requests, judged by its path and a few textual signs.
pub fn is_request_handler(path: &str, text: &str) -> bool {
    if ROUTE_FILE.is_match(path) || EXPORTED_VERB.is_match(text) {
        return true;
    }
    if text.contains("\"use server\"") || text.contains("'use server'") {
        return true;
    }
    let server_lib = text.contains("express") || text.contains("hono") || text.contains("Router(");
    if server_lib && SERVER_ROUTE.is_match(text) {
        return true;
    }
    text.contains("Procedure") && (text.contains(".input(") || text.contains(".mutation("))
}

/// The project files a module imports by relative path or by the `@/` and `~/` aliases.
pub fn local_imports(ws: &Workspace, from: &str, text: &str) -> Vec<String> {
    let dir = match from.rfind('/') {
        Some(i) => &from[..i],
        None => "",
    };
    let alias_root = alias_root(ws);
    let mut out = Vec::new();
    for cap in IMPORT_FROM.captures_iter(text) {
        let spec = &cap[1];
        let base = if spec.starts_with("./") || spec.starts_with("../") {
            join_relative(dir, spec)
        } else {
            spec.strip_prefix("@/")
                .or_else(|| spec.strip_prefix("~/"))
                .map(|rest| join_relative(alias_root, &format!("./{rest}")).unwrap_or_default())
        };
        if let Some(found) = base.and_then(|b| resolve_module(ws, &b)) {
            out.push(found);
        }
    }
    out
}

/// The folder `@/` and `~/` stand for: `src` when the project has one (the create-next-app and
/// create-t3-app default), else the root.
pub fn alias_root(ws: &Workspace) -> &'static str {
    if ws.files.keys().any(|p| p.starts_with("src/")) {
        "src"
    } else {
        ""
    }
}

/// `dir` joined with a `./` or `../` specifier, or `None` if it leaves the root.
pub fn join_relative(dir: &str, spec: &str) -> Option<String> {
    let mut parts: Vec<&str> = dir.split('/').filter(|p| !p.is_empty()).collect();
    for part in spec.split('/') {
        match part {
            "." | "" => {}
            ".." => {
                parts.pop()?;
            }
            p => parts.push(p),
        }
    }
    Some(parts.join("/"))
}

const MODULE_SUFFIXES: &[&str] = &[
    "",
    ".ts",
    ".tsx",
    ".js",
    ".jsx",
    ".mts",
    ".mjs",
    "/index.ts",
    "/index.tsx",
    "/index.js",
];

/// The file a module path names, trying the extensions TypeScript resolution tries.
pub fn resolve_module(ws: &Workspace, base: &str) -> Option<String> {
    let stem = base
        .strip_suffix(".js")
        .filter(|s| {
            ws.files.contains_key(&format!("{s}.ts")) || ws.files.contains_key(&format!("{s}.tsx"))
        })
        .unwrap_or(base);
    MODULE_SUFFIXES
        .iter()
        .map(|s| format!("{stem}{s}"))
        .find(|p| Lang::for_path(p).is_some() && ws.files.contains_key(p))
}

/// Names of all dependencies declared in any package.json of the project.
fn dependency_names(ws: &Workspace) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for path in ws
        .files
        .keys()
        .filter(|p| *p == "package.json" || p.ends_with("/package.json"))
    {
        let Some(text) = ws.text(path) else { continue };
        let Ok(json) = serde_json::from_str::<serde_json::Value>(text.body) else {
            continue;
        };
        for section in [
            "dependencies",
            "devDependencies",
            "optionalDependencies",
            "peerDependencies",
        ] {
            if let Some(obj) = json.get(section).and_then(|v| v.as_object()) {
                names.extend(obj.keys().cloned());
            }
        }
    }
    names
}

fn package_manager(ws: &Workspace) -> Option<PackageManager> {
    let has = |p: &str| ws.files.contains_key(p);
    if has("pnpm-lock.yaml") {
        Some(PackageManager::Pnpm)
    } else if has("yarn.lock") {
        Some(PackageManager::Yarn)
    } else if has("bun.lock") || has("bun.lockb") {
        Some(PackageManager::Bun)
    } else if has("package-lock.json") || has("npm-shrinkwrap.json") || has("package.json") {
        Some(PackageManager::Npm)
    } else {
        None
    }
}

/// Reads quotes, semicolons and indentation from a prettier config when there is one, else
/// from what the source files do most.
fn detect_style(ws: &Workspace) -> (Style, bool) {
    let mut votes = StyleVotes::default();
    for (path, _) in ws.sources().take(400) {
        let Some(text) = ws.text(path) else { continue };
        votes.count(text.body);
    }
    let mut style = votes.over(&Style::default());
    let prettier = apply_prettier(ws, &mut style);
    (style, prettier)
}

/// What a body of code says about its style: quotes and semicolons of its import lines, and
/// the indentation of the first line inside each block.
#[derive(Default)]
struct StyleVotes {
    single: usize,
    double: usize,
    semi: usize,
    bare: usize,
    indents: BTreeMap<String, usize>,
}

impl StyleVotes {
    fn count(&mut self, text: &str) {
        let mut prev_opens = false;
        for line in text.lines() {
            let t = line.trim_end_matches('\r');
            let trimmed = t.trim_start();
            if trimmed.starts_with("import ")
                && (trimmed.contains(" from ")
                    || trimmed.starts_with("import '")
                    || trimmed.starts_with("import \""))
            {
                if trimmed.contains(" from '") || trimmed.starts_with("import '") {
                    self.single += 1;
                } else if trimmed.contains(" from \"") || trimmed.starts_with("import \"") {
                    self.double += 1;
                }
                if trimmed.ends_with(';') {
                    self.semi += 1;
                } else if trimmed.ends_with('\'') || trimmed.ends_with('"') {
                    self.bare += 1;
                }
            }
            if prev_opens && !trimmed.is_empty() {
                let lead = &t[..t.len() - trimmed.len()];
                if !lead.is_empty() {
                    *self.indents.entry(lead.to_string()).or_default() += 1;
                }
            }
            prev_opens = t.ends_with('{') && t.len() == trimmed.len();
        }
    }

    /// `base` with what the votes decide; a question without votes keeps `base`'s answer.
    fn over(self, base: &Style) -> Style {
        let mut style = base.clone();
        if self.single + self.double > 0 {
            style.quote = if self.single > self.double { '\'' } else { '"' };
        }
        if self.semi + self.bare > 0 {
            style.semicolons = self.semi >= self.bare;
        }
        if let Some((indent, _)) = self.indents.into_iter().max_by_key(|(_, n)| *n) {
            style.indent = indent;
        }
        style
    }
}

/// Applies the project's Prettier settings; whether it has any.
fn apply_prettier(ws: &Workspace, style: &mut Style) -> bool {
    let from_file = [".prettierrc", ".prettierrc.json"].iter().find_map(|p| {
        ws.text(p)
            .and_then(|t| serde_json::from_str::<serde_json::Value>(t.body).ok())
    });
    let from_package = ws
        .text("package.json")
        .and_then(|t| serde_json::from_str::<serde_json::Value>(t.body).ok())
        .and_then(|v| v.get("prettier").cloned());
    let Some(cfg) = from_file.or(from_package) else {
        return false;
    };
    if let Some(b) = cfg.get("singleQuote").and_then(|v| v.as_bool()) {
        style.quote = if b { '\'' } else { '"' };
    }
    if let Some(b) = cfg.get("semi").and_then(|v| v.as_bool()) {
        style.semicolons = b;
    }
    if cfg.get("useTabs").and_then(|v| v.as_bool()) == Some(true) {
        style.indent = "\t".into();
    } else if let Some(n) = cfg.get("tabWidth").and_then(|v| v.as_u64()) {
        style.indent = " ".repeat(n as usize);
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_between_the_project_s_quotes_stays_one_string() {
        let style = |quote| Style {
            quote,
            ..Style::default()
        };
        assert_eq!(style('"').escaped(r#"a"b\c'"#), r#"a\"b\\c'"#);
        assert_eq!(style('\'').escaped("a'b\"c"), "a\\'b\"c");
        assert_eq!(style('`').escaped("a`${x}"), "a\\`\\${x}");
        assert_eq!(style('`').string("${x}"), "`\\${x}`");
        // A line break would end a quoted string (U+2028 and U+2029 did before ES2019).
        assert_eq!(style('\'').string("a\nb\r\u{2028}"), "'a\\nb\\r\\u2028'");
        assert_eq!(style('"').string("a\u{2029}"), "\"a\\u2029\"");
        assert_eq!(style('`').string("a\nb"), "`a\nb`");
    }

    #[test]
    fn recognizes_request_handlers() {
        assert!(is_request_handler("app/api/x/route.ts", ""));
        assert!(is_request_handler("src/app/route.ts", ""));
        assert!(is_request_handler("pages/api/a.ts", ""));
        assert!(is_request_handler(
            "lib/a.ts",
            "export async function POST(req: Request) {}"
        ));
        assert!(is_request_handler(
            "lib/a.ts",
            "'use server'\nexport async function f() {}"
        ));
        assert!(is_request_handler(
            "server.ts",
            "import express from 'express'\napp.post('/x', h)"
        ));
        assert!(!is_request_handler(
            "lib/a.ts",
            "export const x = z.object({})"
        ));
        assert!(!is_request_handler(
            "app/page.tsx",
            "export default function Page() {}"
        ));
    }

    #[test]
    fn resolves_local_imports_with_aliases() {
        let ws = Workspace::from_files([
            ("src/app/api/a/route.ts", "import { s } from '@/lib/validations'\nimport x from '../../../lib/db'\nimport z from 'zod'\n"),
            ("src/lib/validations.ts", ""),
            ("src/lib/db/index.ts", ""),
        ])
        .unwrap();
        let mut got = local_imports(
            &ws,
            "src/app/api/a/route.ts",
            ws.text("src/app/api/a/route.ts").unwrap().body,
        );
        got.sort();
        assert_eq!(got, vec!["src/lib/db/index.ts", "src/lib/validations.ts"]);
    }

    #[test]
    fn detects_single_quotes_without_semicolons() {
        let ws = Workspace::from_files([(
            "a.ts",
            "import { a } from 'a'\nimport b from 'b'\nfunction f() {\n    return 1\n}\n",
        )])
        .unwrap();
        let (s, _) = detect_style(&ws);
        assert_eq!(s.quote, '\'');
        assert!(!s.semicolons);
        assert_eq!(s.indent, "    ");
    }

    #[test]
    fn prettier_config_wins() {
        let ws = Workspace::from_files([
            ("a.ts", "import { a } from 'a'\n"),
            (
                ".prettierrc",
                "{\"singleQuote\": false, \"semi\": true, \"tabWidth\": 4}",
            ),
        ])
        .unwrap();
        let (s, prettier) = detect_style(&ws);
        assert_eq!(s.quote, '"');
        assert!(s.semicolons);
        assert_eq!(s.indent, "    ");
        assert!(prettier);
        // Prettier rewrites every file to its settings: a file's own habits do not count.
        let stack = Stack::detect(&ws);
        assert_eq!(stack.style_of("import { a } from 'a'\n"), s);
    }

    #[test]
    fn a_file_shows_its_own_style_where_it_has_evidence() {
        let ws = Workspace::from_files([
            (
                "a.ts",
                "import { a } from \"a\";\nimport { b } from \"b\";\n",
            ),
            (
                "b.ts",
                "import { c } from \"c\";\nfunction f() {\n  return 1;\n}\n",
            ),
        ])
        .unwrap();
        let stack = Stack::detect(&ws);
        assert_eq!((stack.style.quote, stack.style.semicolons), ('"', true));
        let own = stack.style_of("import { a } from 'a'\nfunction f() {\n    return 1\n}\n");
        assert_eq!(
            (own.quote, own.semicolons, own.indent.as_str()),
            ('\'', false, "    ")
        );
        // No imports and no blocks: nothing to go by but the project.
        assert_eq!(stack.style_of("export const x = 1\n"), stack.style);
    }
}
