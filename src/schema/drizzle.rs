//! Drizzle table definitions: `pgTable("name", { ... })`, the callback column form
//! `pgTable("name", (d) => ({ ... }))`, and tables made by a `pgTableCreator(...)` function.

use crate::lang::Fields;
use ast_grep_core::tree_sitter::StrDoc;
use ast_grep_core::Node;

type N<'a> = Node<'a, StrDoc<crate::lang::Lang>>;

/// Functions that define a table without the project declaring them.
pub const TABLE_FUNCTIONS: &[&str] = &["pgTable", "mysqlTable", "sqliteTable"];
const CREATOR_FUNCTIONS: &[&str] = &["pgTableCreator", "mysqlTableCreator", "sqliteTableCreator"];

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Column {
    /// The property name in TypeScript.
    pub key: String,
    /// The SQL column name, when the builder names it (`uuid("user_id")`).
    pub sql_name: Option<String>,
    /// The builder that makes it (`uuid`, `varchar`, `integer`...).
    pub builder: Option<String>,
    /// `.references(() => users.id)`: the table variable and its column key.
    pub references: Option<(String, String)>,
    /// `.primaryKey()` on the column.
    pub primary: bool,
}

/// A call that may define a table; whether it does depends on `callee` being a table function
/// or a creator declared somewhere in the project.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableDef {
    /// The variable the table is bound to.
    pub var: String,
    pub callee: String,
    /// The name as written (a creator may add a prefix).
    pub name: String,
    pub columns: Vec<Column>,
    /// Column keys of a `primaryKey({ columns: [...] })` in the extra-config argument.
    pub composite_key: Vec<String>,
    /// Byte offset of the declaration.
    pub at: usize,
}

/// A table function made by `pgTableCreator((name) => `prefix_${name}`)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Creator {
    pub name: String,
    pub callee: String,
    /// The text around `${name}` in the naming function, when it is a template string.
    pub affixes: Option<(String, String)>,
}

#[derive(Clone, Debug, Default)]
pub struct DrizzleFacts {
    pub tables: Vec<TableDef>,
    /// Table functions made by `pgTableCreator(...)` in this file.
    pub creators: Vec<Creator>,
}

/// Tables and table creators declared in one file, from its `variable_declarator` nodes.
pub fn scan(declarators: &[N]) -> DrizzleFacts {
    let mut facts = DrizzleFacts::default();
    for decl in declarators {
        let (Some(name), Some(value)) = (decl.child_in("name"), decl.child_in("value")) else {
            continue;
        };
        if name.kind() != "identifier" || value.kind() != "call_expression" {
            continue;
        }
        let Some(callee) = value.child_in("function").map(|f| f.text().to_string()) else {
            continue;
        };
        if CREATOR_FUNCTIONS.contains(&callee.as_str()) {
            facts.creators.push(Creator {
                name: name.text().to_string(),
                callee,
                affixes: creator_affixes(&value),
            });
            continue;
        }
        let args = crate::lang::call_args(&value);
        let (Some(first), Some(second)) = (args.first(), args.get(1)) else {
            continue;
        };
        let Some(table_name) = string_value(first) else {
            continue;
        };
        let Some(columns) = column_object(second) else {
            continue;
        };
        facts.tables.push(TableDef {
            var: name.text().to_string(),
            callee,
            name: table_name,
            columns: columns_of(&columns),
            composite_key: args.get(2).map(composite_key).unwrap_or_default(),
            at: decl.range().start,
        });
    }
    facts.tables.shrink_to_fit();
    facts
}

pub use crate::lang::string_value;

/// The columns object: the object itself, or what a `(d) => ({ ... })` callback returns.
fn column_object<'a>(node: &N<'a>) -> Option<N<'a>> {
    match node.kind().as_ref() {
        "object" => Some(node.clone()),
        "arrow_function" => {
            let mut body = node.child_in("body")?;
            while body.kind() == "parenthesized_expression" {
                let inner = body.children().find(|c| c.is_named())?;
                body = inner;
            }
            (body.kind() == "object").then_some(body)
        }
        _ => None,
    }
}

fn columns_of(object: &N) -> Vec<Column> {
    let mut columns: Vec<Column> = object
        .children()
        .filter(|c| c.kind() == "pair")
        .filter_map(|pair| {
            let key = pair.child_in("key")?;
            let key = match key.kind().as_ref() {
                "property_identifier" => key.text().to_string(),
                "string" => string_value(&key)?,
                _ => return None,
            };
            let value = pair.child_in("value");
            let sql_name = value.as_ref().and_then(first_builder_name);
            let chain = value.as_ref().map(chain_of).unwrap_or_default();
            let builder = chain.first().map(|(name, _)| name.clone());
            let primary = chain.iter().any(|(name, _)| name == "primaryKey");
            let references = chain
                .iter()
                .find(|(name, _)| name == "references")
                .and_then(|(_, call)| referenced_column(call));
            Some(Column {
                key,
                sql_name,
                builder,
                references,
                primary,
            })
        })
        .collect();
    // Kept for the whole run, for every table of the project: no spare capacity.
    columns.shrink_to_fit();
    columns
}

/// `uuid("user_id").notNull()` → `user_id`: the string argument of the innermost call.
fn first_builder_name(value: &N) -> Option<String> {
    let mut node = value.clone();
    loop {
        if node.kind() != "call_expression" {
            return None;
        }
        let func = node.child_in("function")?;
        if func.kind() == "member_expression" {
            let object = func.child_in("object")?;
            if object.kind() == "call_expression" {
                node = object;
                continue;
            }
        }
        let first = node
            .child_in("arguments")?
            .children()
            .find(|c| c.is_named())?;
        return string_value(&first);
    }
}

/// The calls of a builder chain, innermost first: `uuid("x").notNull().references(...)` →
/// `[uuid, notNull, references]`; `d.integer()` → `[integer]`.
fn chain_of<'a>(value: &N<'a>) -> Vec<(String, N<'a>)> {
    let mut out = vec![];
    let mut node = value.clone();
    while node.kind() == "call_expression" {
        let Some(func) = node.child_in("function") else {
            break;
        };
        let (name, next) = match func.kind().as_ref() {
            "identifier" => (func.text().to_string(), None),
            "member_expression" => {
                let property = func.child_in("property").map(|p| p.text().to_string());
                let object = func.child_in("object");
                match (property, object) {
                    (Some(p), Some(o)) if o.kind() == "call_expression" => (p, Some(o)),
                    (Some(p), _) => (p, None),
                    _ => break,
                }
            }
            _ => break,
        };
        out.push((name, node.clone()));
        match next {
            Some(n) => node = n,
            None => break,
        }
    }
    out.reverse();
    out
}

/// `references(() => users.id)` → `(users, id)`.
fn referenced_column(call: &N) -> Option<(String, String)> {
    let arrow = call
        .child_in("arguments")?
        .children()
        .find(|c| c.kind() == "arrow_function")?;
    let body = arrow.child_in("body")?;
    if body.kind() != "member_expression" {
        return None;
    }
    let object = body.child_in("object")?;
    let property = body.child_in("property")?;
    (object.kind() == "identifier")
        .then(|| (object.text().to_string(), property.text().to_string()))
}

/// `(t) => [primaryKey({ columns: [t.a, t.b] })]` (or the object form) → `[a, b]`.
fn composite_key(extra: &N) -> Vec<String> {
    extra
        .dfs()
        .find(|n| {
            n.kind() == "call_expression"
                && n.child_in("function")
                    .is_some_and(|f| f.text() == "primaryKey")
        })
        .map(|call| {
            call.dfs()
                .filter(|n| n.kind() == "member_expression")
                .filter_map(|m| m.child_in("property").map(|p| p.text().to_string()))
                .collect()
        })
        .unwrap_or_default()
}

/// ``(name) => `acme_${name}` `` → `("acme_", "")`.
fn creator_affixes(call: &N) -> Option<(String, String)> {
    let arrow = call
        .child_in("arguments")?
        .children()
        .find(|c| c.kind() == "arrow_function")?;
    let param = arrow
        .child_in("parameter")
        .or_else(|| arrow.child_in("parameters"))?
        .text()
        .trim_matches(|c| c == '(' || c == ')')
        .trim()
        .to_string();
    let body = arrow.child_in("body")?;
    if body.kind() != "template_string" {
        return None;
    }
    let t = body.text();
    let inner = &t[1..t.len() - 1];
    let hole = format!("${{{param}}}");
    let at = inner.find(&hole)?;
    let (before, after) = (&inner[..at], &inner[at + hole.len()..]);
    (!before.contains("${") && !after.contains("${"))
        .then(|| (before.to_string(), after.to_string()))
}

/// The SQL name a table gets: its name with the creator's prefix and suffix.
pub fn sql_name(def: &TableDef, creators: &[&Creator]) -> Option<String> {
    if TABLE_FUNCTIONS.contains(&def.callee.as_str()) {
        return Some(def.name.clone());
    }
    let creator = creators.iter().find(|c| c.name == def.callee)?;
    let (before, after) = creator.affixes.as_ref()?;
    Some(format!("{before}{}{after}", def.name))
}

/// Keeps the definitions whose callee really defines tables in this project.
pub fn resolve<'a>(all: impl Iterator<Item = &'a DrizzleFacts> + Clone) -> Vec<&'a TableDef> {
    let creators: Vec<&str> = all
        .clone()
        .flat_map(|f| f.creators.iter().map(|c| c.name.as_str()))
        .collect();
    all.flat_map(|f| f.tables.iter())
        .filter(|t| {
            TABLE_FUNCTIONS.contains(&t.callee.as_str()) || creators.contains(&t.callee.as_str())
        })
        .collect()
}

/// The project's tables by the variable they are bound to and by the name they are given, for
/// the passes that look one up for every call or write (a scan of every table per lookup was
/// quadratic on large projects).
pub struct TableIndex<'a> {
    by_var: std::collections::HashMap<&'a str, Vec<&'a TableDef>>,
    by_name: std::collections::HashMap<&'a str, Vec<&'a TableDef>>,
}

impl<'a> TableIndex<'a> {
    /// Indexes the definitions [`resolve`] keeps.
    pub fn new(all: impl Iterator<Item = &'a DrizzleFacts> + Clone) -> TableIndex<'a> {
        let mut index = TableIndex {
            by_var: Default::default(),
            by_name: Default::default(),
        };
        for table in resolve(all) {
            index.by_var.entry(&table.var).or_default().push(table);
            index.by_name.entry(&table.name).or_default().push(table);
        }
        index
    }

    /// The tables bound to the variable `var` (more than one: files disagree).
    pub fn bound_to(&self, var: &str) -> &[&'a TableDef] {
        self.by_var.get(var).map_or(&[], Vec::as_slice)
    }

    /// The tables given the name `name` in their definition.
    pub fn named(&self, name: &str) -> &[&'a TableDef] {
        self.by_name.get(name).map_or(&[], Vec::as_slice)
    }
}

/// The Postgres type a column builder creates.
fn pg_type(builder: &str) -> String {
    match builder {
        "uuid" => "uuid",
        "text" => "text",
        "varchar" => "varchar",
        "char" => "bpchar",
        "integer" | "serial" => "int4",
        "smallint" | "smallserial" => "int2",
        "bigint" | "bigserial" => "int8",
        "boolean" => "bool",
        "timestamp" => "timestamp",
        "date" => "date",
        "json" => "json",
        "jsonb" => "jsonb",
        "numeric" => "numeric",
        "real" => "float4",
        "doublePrecision" => "float8",
        other => return other.to_lowercase(),
    }
    .into()
}

/// The Postgres tables the project defines with `pgTable` or a `pgTableCreator` function, in
/// the shape the SQL replay gives (public schema, SQL names, foreign keys resolved).
pub fn pg_tables(files: &[(&str, &DrizzleFacts)]) -> Vec<super::sql::Table> {
    use super::sql::{pg_identifier, ForeignKey, Loc, Table};
    let creators: Vec<&Creator> = files
        .iter()
        .flat_map(|(_, f)| f.creators.iter())
        .filter(|c| c.callee == "pgTableCreator")
        .collect();
    let defs: Vec<(&str, &TableDef, String)> = files
        .iter()
        .flat_map(|(path, f)| f.tables.iter().map(move |t| (*path, t)))
        .filter(|(_, t)| t.callee == "pgTable" || creators.iter().any(|c| c.name == t.callee))
        .filter_map(|(path, t)| sql_name(t, &creators).map(|n| (path, t, pg_identifier(&n))))
        .collect();
    let column_name = |c: &Column| pg_identifier(c.sql_name.as_deref().unwrap_or(&c.key));
    defs.iter()
        .map(|(path, def, name)| {
            let mut primary_key: Vec<String> = def
                .columns
                .iter()
                .filter(|c| c.primary)
                .map(column_name)
                .collect();
            if !def.composite_key.is_empty() {
                primary_key = def
                    .composite_key
                    .iter()
                    .filter_map(|k| def.columns.iter().find(|c| &c.key == k))
                    .map(column_name)
                    .collect();
            }
            let foreign_keys = def
                .columns
                .iter()
                .filter_map(|c| {
                    let (var, key) = c.references.as_ref()?;
                    let (_, target, target_name) = defs.iter().find(|(_, t, _)| &t.var == var)?;
                    let target_column = target.columns.iter().find(|tc| &tc.key == key)?;
                    Some(ForeignKey {
                        columns: vec![column_name(c)],
                        table: format!("public.{target_name}"),
                        ref_columns: vec![column_name(target_column)],
                    })
                })
                .collect();
            Table {
                schema: "public".into(),
                name: name.clone(),
                columns: def
                    .columns
                    .iter()
                    .map(|c| {
                        (
                            column_name(c),
                            c.builder.as_deref().map(pg_type).unwrap_or_default(),
                        )
                    })
                    .collect(),
                primary_key,
                foreign_keys,
                rls: false,
                forced: false,
                policies: vec![],
                defined: Loc {
                    file: path.to_string(),
                    offset: def.at,
                },
                disabled_after_enable: None,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lang::Lang;

    /// What the scan finds in `src`'s declarations.
    fn facts_of(src: &str) -> DrizzleFacts {
        let tree = Lang::TypeScript.parse(src).unwrap();
        let decls: Vec<_> = tree
            .root()
            .dfs()
            .filter(|n| n.kind() == "variable_declarator")
            .collect();
        scan(&decls)
    }

    #[test]
    fn reads_object_and_callback_forms() {
        let src = r#"
import { pgTable, pgTableCreator, uuid, text } from "drizzle-orm/pg-core";
export const createTable = pgTableCreator((name) => `app_${name}`);
export const posts = pgTable("posts", {
  id: uuid("id").primaryKey(),
  userId: uuid("user_id").notNull(),
  "title": text("title"),
});
export const notes = createTable("note", (d) => ({
  id: d.integer().primaryKey(),
  ownerId: d.varchar({ length: 255 }),
}), (t) => [t.id]);
const notATable = makeThing("x", { a: 1 });
"#;
        let facts = facts_of(src);
        assert_eq!(facts.creators[0].name, "createTable");
        assert_eq!(
            facts.creators[0].affixes,
            Some(("app_".to_string(), String::new()))
        );
        let tables = resolve(std::iter::once(&facts));
        assert_eq!(tables.len(), 2);
        assert_eq!(tables[0].var, "posts");
        assert_eq!(tables[0].columns[1].key, "userId");
        assert_eq!(tables[0].columns[1].sql_name.as_deref(), Some("user_id"));
        assert_eq!(tables[0].columns[2].key, "title");
        assert_eq!(tables[1].name, "note");
        let pg = pg_tables(&[("schema.ts", &facts)]);
        assert_eq!(pg[1].name, "app_note");
        assert_eq!(
            pg[1].columns[1],
            ("ownerId".to_string(), "varchar".to_string())
        );
        assert_eq!(pg[1].primary_key, vec!["id"]);
        assert_eq!(pg[0].primary_key, vec!["id"]);
        assert_eq!(pg[0].column_type("user_id"), Some("uuid"));
        assert_eq!(
            tables[1]
                .columns
                .iter()
                .map(|c| c.key.as_str())
                .collect::<Vec<_>>(),
            vec!["id", "ownerId"]
        );
    }

    #[test]
    fn table_and_column_names_are_cut_as_postgres_cuts_them() {
        let table = "t".repeat(70);
        let column = "c".repeat(70);
        let src = format!(
            "import {{ pgTable, integer }} from \"drizzle-orm/pg-core\";\nexport const things = pgTable(\"{table}\", {{\n  id: integer(\"{column}\").primaryKey(),\n}});\nexport const pins = pgTable(\"pins\", {{\n  thing: integer(\"thing\").references(() => things.id),\n}});\n"
        );
        let facts = facts_of(&src);
        let pg = pg_tables(&[("schema.ts", &facts)]);
        assert_eq!(pg[0].name, &table[..63]);
        assert_eq!(pg[0].primary_key, vec![&column[..63]]);
        assert_eq!(
            pg[1].foreign_keys[0].table,
            format!("public.{}", &table[..63])
        );
        assert_eq!(pg[1].foreign_keys[0].ref_columns, vec![&column[..63]]);
    }
}
