//! Adding a named import to a module, once, in the module's own style.

use crate::lang::Fields;
use crate::lang::Lang;
use crate::plan::Edit;
use crate::stack::{resolve_module, Style};
use crate::workspace::Workspace;
use ast_grep_core::tree_sitter::StrDoc;
use ast_grep_core::Node;

type N<'a> = Node<'a, StrDoc<Lang>>;

/// The imports at the top of a module, as far as adding one needs to know.
#[derive(Clone, Debug, Default)]
pub struct ImportFacts {
    /// Local names already bound by imports.
    pub bound: Vec<String>,
    /// (local name, module specifier) for each `import { name } from "m"` that keeps the
    /// exported name (not `import { a as b }`, nor type-only).
    pub unrenamed: Vec<(String, String)>,
    /// (module specifier, where to add `, Name` inside its braces) for `import { a } from "m"`.
    pub named: Vec<(String, usize)>,
    /// Where a new import statement goes (after the last import, or at the top after any
    /// directive such as "use server").
    pub insert_at: usize,
    /// Whether `insert_at` is at the start of the file (the new line goes before, not after).
    pub at_top: bool,
    pub newline: &'static str,
    /// The alias the module uses for the source root (`@/` or `~/`), if any.
    pub alias: Option<&'static str>,
}

pub fn scan(root: &N, text: &str) -> ImportFacts {
    let mut facts = ImportFacts {
        newline: if text.contains("\r\n") { "\r\n" } else { "\n" },
        at_top: true,
        ..ImportFacts::default()
    };
    for stmt in root.children() {
        match stmt.kind().as_ref() {
            "import_statement" => {
                facts.insert_at = stmt.range().end;
                facts.at_top = false;
                let source = stmt
                    .child_in("source")
                    .map(|s| s.text().trim_matches(|c| c == '"' || c == '\'').to_string());
                for alias in ["@/", "~/"] {
                    if source.as_deref().is_some_and(|s| s.starts_with(alias)) {
                        facts.alias.get_or_insert(alias);
                    }
                }
                // A value name added to `import type { a }` would be a type.
                let type_only = stmt.children().any(|c| c.kind() == "type");
                for clause in stmt.children().filter(|c| c.kind() == "import_clause") {
                    for part in clause.children() {
                        match part.kind().as_ref() {
                            "identifier" => facts.bound.push(part.text().to_string()),
                            "named_imports" => {
                                for spec in
                                    part.children().filter(|c| c.kind() == "import_specifier")
                                {
                                    let local =
                                        spec.child_in("alias").or_else(|| spec.child_in("name"));
                                    if let Some(l) = local {
                                        facts.bound.push(l.text().to_string());
                                    }
                                    let value =
                                        !type_only && !spec.children().any(|c| c.kind() == "type");
                                    if let (Some(src), None, Some(name), true) = (
                                        &source,
                                        spec.child_in("alias"),
                                        spec.child_in("name"),
                                        value,
                                    ) {
                                        facts
                                            .unrenamed
                                            .push((name.text().to_string(), src.clone()));
                                    }
                                }
                                let last = part
                                    .children()
                                    .filter(|c| c.kind() == "import_specifier")
                                    .last();
                                if let (Some(src), Some(last), false) = (&source, last, type_only) {
                                    facts.named.push((src.clone(), last.range().end));
                                }
                            }
                            "namespace_import" => {
                                if let Some(id) = part.children().find(|c| c.kind() == "identifier")
                                {
                                    facts.bound.push(id.text().to_string());
                                }
                            }
                            _ => {}
                        }
                    }
                }
            }
            "expression_statement" if facts.at_top && is_directive(&stmt) => {
                facts.insert_at = stmt.range().end;
                facts.at_top = false;
            }
            _ => {}
        }
    }
    facts
}

impl ImportFacts {
    /// Whether `name` is bound by `import { name } from "<module>"`, unrenamed.
    pub fn imports(&self, name: &str, module: &str) -> bool {
        self.unrenamed.iter().any(|(n, m)| n == name && m == module)
    }
}

fn is_directive(stmt: &N) -> bool {
    stmt.children().next().is_some_and(|c| c.kind() == "string")
}

/// The edit that makes `name` from the module at `module_path` available in the file at
/// `path`, or `None` when it already is.
pub fn add_named_import(
    ws: &Workspace,
    facts: &ImportFacts,
    style: &Style,
    path: &str,
    name: &str,
    module_path: &str,
) -> Option<Edit> {
    add_named_imports(ws, facts, style, path, &[name], module_path)
}

/// [`add_named_import`] for several names from one module, in one edit.
pub fn add_named_imports(
    ws: &Workspace,
    facts: &ImportFacts,
    style: &Style,
    path: &str,
    names: &[&str],
    module_path: &str,
) -> Option<Edit> {
    let missing: Vec<&str> = names
        .iter()
        .copied()
        .filter(|n| !facts.bound.iter().any(|b| b == n))
        .collect();
    if missing.is_empty() || path == module_path {
        return None;
    }
    let name = missing.join(", ");
    let dir = path.rsplit_once('/').map_or("", |(d, _)| d);
    let alias_root = crate::stack::alias_root(ws);
    // An existing `import { a } from "<same module>"` gets `, name`.
    for (spec, at) in &facts.named {
        let resolved = if spec.starts_with('.') {
            crate::stack::join_relative(dir, spec).and_then(|b| resolve_module(ws, &b))
        } else if let Some(rest) = spec.strip_prefix("@/").or_else(|| spec.strip_prefix("~/")) {
            crate::stack::join_relative(alias_root, &format!("./{rest}"))
                .and_then(|b| resolve_module(ws, &b))
        } else {
            None
        };
        if resolved.as_deref() == Some(module_path) {
            return Some(Edit::insert(*at, format!(", {name}")));
        }
    }
    let spec = specifier(ws, facts.alias, path, module_path);
    let stmt = format!(
        "import {{ {name} }} from {}{}",
        style.string(&spec),
        style.semi()
    );
    Some(import_edit(facts, &stmt))
}

/// The edit that makes `name` from the package `package` (`next/navigation`) available, or
/// `None` when the file already binds it: `, name` in an existing `import { a } from "package"`,
/// or an import statement of its own.
pub fn add_package_import(
    facts: &ImportFacts,
    style: &Style,
    name: &str,
    package: &str,
) -> Option<Edit> {
    if facts.bound.iter().any(|b| b == name) {
        return None;
    }
    if let Some((_, at)) = facts.named.iter().find(|(spec, _)| spec == package) {
        return Some(Edit::insert(*at, format!(", {name}")));
    }
    Some(import_edit(
        facts,
        &format!(
            "import {{ {name} }} from {}{}",
            style.string(package),
            style.semi()
        ),
    ))
}

/// How the module at `path` names the module at `target`: through the project's source alias
/// (`~/lib/x`) when the project uses one, else relatively (`../lib/x`).
pub fn specifier(ws: &Workspace, alias: Option<&str>, path: &str, target: &str) -> String {
    let dir = path.rsplit_once('/').map_or("", |(d, _)| d);
    if crate::passes::is_edge_function(path) {
        // Deno resolves a module by its full path, extension included, and knows no alias.
        return relative_path(dir, target);
    }
    let under_alias = match crate::stack::alias_root(ws) {
        "" => Some(target),
        root => target.strip_prefix(root).and_then(|r| r.strip_prefix('/')),
    };
    match (alias, under_alias) {
        (Some(alias), Some(rest)) => format!("{alias}{}", strip_module_ext(rest)),
        _ => relative_specifier(dir, target),
    }
}

/// The edit that adds the import statement `stmt` after the file's imports.
pub fn import_edit(facts: &ImportFacts, stmt: &str) -> Edit {
    if facts.at_top {
        // A blank line parts the new import from the code, as imports are parted.
        Edit::insert(0, format!("{stmt}{0}{0}", facts.newline))
    } else {
        Edit::insert(facts.insert_at, format!("{}{stmt}", facts.newline))
    }
}

/// `./x` or `../lib/x` from `dir` to `target` (extension and `/index` dropped).
pub fn relative_specifier(dir: &str, target: &str) -> String {
    relative_path(dir, strip_module_ext(target))
}

/// `./x.ts` or `../lib/x.ts`: the path from `dir` to `target`, as it is.
fn relative_path(dir: &str, target: &str) -> String {
    let from: Vec<&str> = dir.split('/').filter(|s| !s.is_empty()).collect();
    let to: Vec<&str> = target.split('/').collect();
    let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
    let ups = from.len() - common;
    let mut parts: Vec<String> = Vec::new();
    if ups == 0 {
        parts.push(".".into());
    } else {
        parts.extend(std::iter::repeat_n("..".to_string(), ups));
    }
    parts.extend(to[common..].iter().map(|s| s.to_string()));
    parts.join("/")
}

fn strip_module_ext(p: &str) -> &str {
    let p = [".tsx", ".ts", ".jsx", ".js", ".mts", ".mjs"]
        .iter()
        .find_map(|e| p.strip_suffix(e))
        .unwrap_or(p);
    p.strip_suffix("/index").unwrap_or(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn knows_which_module_an_unrenamed_value_import_comes_from() {
        let facts_of = |src: &str| {
            let tree = Lang::TypeScript.parse(src).unwrap();
            scan(&tree.root(), src)
        };
        assert!(
            facts_of("import { eq, sql } from \"drizzle-orm\";\n").imports("sql", "drizzle-orm")
        );
        for other in [
            "import { sql } from \"./db\";\n",
            "import { sql as s } from \"drizzle-orm\";\n",
            "import { raw as sql } from \"drizzle-orm\";\n",
            "import type { sql } from \"drizzle-orm\";\n",
            "import { type sql } from \"drizzle-orm\";\n",
            "import * as sql from \"drizzle-orm\";\n",
            "const x = 1;\nexport { sql } from \"drizzle-orm\";\n",
        ] {
            assert!(!facts_of(other).imports("sql", "drizzle-orm"), "{other}");
        }
    }

    #[test]
    fn relative_specifiers() {
        assert_eq!(
            relative_specifier("src/app/api/x", "src/lib/v.ts"),
            "../../../lib/v"
        );
        assert_eq!(relative_specifier("src/lib", "src/lib/v.ts"), "./v");
        assert_eq!(relative_specifier("", "db/index.ts"), "./db");
    }

    #[test]
    fn adds_after_last_import_or_merges_into_braces() {
        let ws = Workspace::from_files([("src/a.ts", ""), ("src/v.ts", "")]).unwrap();
        let style = Style {
            quote: '\'',
            semicolons: false,
            indent: "  ".into(),
        };
        let src = "'use server'\nimport { x } from 'y'\nconst a = 1\n";
        let tree = Lang::TypeScript.parse(src).unwrap();
        let facts = scan(&tree.root(), src);
        let e = add_named_import(&ws, &facts, &style, "src/a.ts", "s", "src/v.ts").unwrap();
        assert_eq!(e.start, src.find("\nconst").unwrap());
        assert_eq!(e.text, "\nimport { s } from './v'");

        let src = "import { t } from './v';\n";
        let tree = Lang::TypeScript.parse(src).unwrap();
        let facts = scan(&tree.root(), src);
        let e = add_named_import(&ws, &facts, &style, "src/a.ts", "s", "src/v.ts").unwrap();
        assert_eq!(e.text, ", s");
        assert!(add_named_import(&ws, &facts, &style, "src/a.ts", "t", "src/v.ts").is_none());
    }

    #[test]
    fn a_package_import_joins_a_value_import_of_the_package_never_a_type_import() {
        let style = Style {
            quote: '"',
            semicolons: true,
            indent: "  ".into(),
        };
        let facts_of = |src: &str| {
            let tree = Lang::Tsx.parse(src).unwrap();
            scan(&tree.root(), src)
        };
        let joined = "import { useRouter } from \"next/navigation\";\n";
        let e = add_package_import(&facts_of(joined), &style, "notFound", "next/navigation");
        let after_use_router = joined.find(" }").unwrap();
        assert_eq!(
            e.map(|e| (e.start, e.text)),
            Some((after_use_router, ", notFound".into()))
        );
        let typed = "import type { ReadonlyURLSearchParams } from \"next/navigation\";\n";
        let e =
            add_package_import(&facts_of(typed), &style, "notFound", "next/navigation").unwrap();
        assert_eq!(e.start, typed.len() - 1);
        assert_eq!(e.text, "\nimport { notFound } from \"next/navigation\";");
        let bound = "import { notFound } from \"next/navigation\";\n";
        assert!(
            add_package_import(&facts_of(bound), &style, "notFound", "next/navigation").is_none()
        );
    }

    #[test]
    fn edge_functions_import_by_the_full_relative_path() {
        let ws = Workspace::from_files([
            (
                "tsconfig.json",
                r#"{ "compilerOptions": { "paths": { "@/*": ["./src/*"] } } }"#,
            ),
            ("src/a.ts", ""),
        ])
        .unwrap();
        let shared = "supabase/functions/_shared/casehard-x.ts";
        let edge = "supabase/functions/pay/index.ts";
        assert_eq!(
            specifier(&ws, Some("@/"), edge, shared),
            "../_shared/casehard-x.ts"
        );
        assert_eq!(
            specifier(&ws, None, edge, "supabase/functions/_shared/util/index.ts"),
            "../_shared/util/index.ts"
        );
        // Everything else keeps the extension-less, aliased form.
        assert_eq!(
            specifier(&ws, Some("@/"), "src/a.ts", "src/lib/x.ts"),
            "@/lib/x"
        );
    }
}
