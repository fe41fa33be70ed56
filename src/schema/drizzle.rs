//! Drizzle table definitions: `pgTable("name", { ... })`, the callback column form
//! `pgTable("name", (d) => ({ ... }))`, and tables made by a `pgTableCreator(...)` function.

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
}

#[derive(Clone, Debug, Default)]
pub struct DrizzleFacts {
    pub tables: Vec<TableDef>,
    /// Names bound to `pgTableCreator(...)` in this file.
    pub creators: Vec<String>,
}

/// Tables and table creators declared in one file, from its `variable_declarator` nodes.
pub fn scan(declarators: &[N]) -> DrizzleFacts {
    let mut facts = DrizzleFacts::default();
    for decl in declarators {
        let (Some(name), Some(value)) = (decl.field("name"), decl.field("value")) else {
            continue;
        };
        if name.kind() != "identifier" || value.kind() != "call_expression" {
            continue;
        }
        let Some(callee) = value.field("function").map(|f| f.text().to_string()) else {
            continue;
        };
        if CREATOR_FUNCTIONS.contains(&callee.as_str()) {
            facts.creators.push(name.text().to_string());
            continue;
        }
        let args: Vec<N> = value
            .field("arguments")
            .map(|a| {
                a.children()
                    .filter(|c| c.is_named() && c.kind() != "comment")
                    .collect()
            })
            .unwrap_or_default();
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
        });
    }
    facts
}

/// The text of a plain string literal.
pub fn string_value(node: &N) -> Option<String> {
    if node.kind() != "string" {
        return None;
    }
    let t = node.text();
    Some(t[1..t.len().saturating_sub(1)].to_string())
}

/// The columns object: the object itself, or what a `(d) => ({ ... })` callback returns.
fn column_object<'a>(node: &N<'a>) -> Option<N<'a>> {
    match node.kind().as_ref() {
        "object" => Some(node.clone()),
        "arrow_function" => {
            let mut body = node.field("body")?;
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
    object
        .children()
        .filter(|c| c.kind() == "pair")
        .filter_map(|pair| {
            let key = pair.field("key")?;
            let key = match key.kind().as_ref() {
                "property_identifier" => key.text().to_string(),
                "string" => string_value(&key)?,
                _ => return None,
            };
            let sql_name = pair.field("value").and_then(|v| first_builder_name(&v));
            Some(Column { key, sql_name })
        })
        .collect()
}

/// `uuid("user_id").notNull()` → `user_id`: the string argument of the innermost call.
fn first_builder_name(value: &N) -> Option<String> {
    let mut node = value.clone();
    loop {
        if node.kind() != "call_expression" {
            return None;
        }
        let func = node.field("function")?;
        if func.kind() == "member_expression" {
            let object = func.field("object")?;
            if object.kind() == "call_expression" {
                node = object;
                continue;
            }
        }
        let first = node.field("arguments")?.children().find(|c| c.is_named())?;
        return string_value(&first);
    }
}

/// Keeps the definitions whose callee really defines tables in this project.
pub fn resolve<'a>(all: impl Iterator<Item = &'a DrizzleFacts> + Clone) -> Vec<&'a TableDef> {
    let creators: Vec<&str> = all
        .clone()
        .flat_map(|f| f.creators.iter().map(String::as_str))
        .collect();
    all.flat_map(|f| f.tables.iter())
        .filter(|t| {
            TABLE_FUNCTIONS.contains(&t.callee.as_str()) || creators.contains(&t.callee.as_str())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lang::Lang;

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
        let tree = Lang::TypeScript.parse(src).unwrap();
        let decls: Vec<_> = tree
            .root()
            .dfs()
            .filter(|n| n.kind() == "variable_declarator")
            .collect();
        let facts = scan(&decls);
        assert_eq!(facts.creators, vec!["createTable"]);
        let tables = resolve(std::iter::once(&facts));
        assert_eq!(tables.len(), 2);
        assert_eq!(tables[0].var, "posts");
        assert_eq!(tables[0].columns[1].key, "userId");
        assert_eq!(tables[0].columns[1].sql_name.as_deref(), Some("user_id"));
        assert_eq!(tables[0].columns[2].key, "title");
        assert_eq!(tables[1].name, "note");
        assert_eq!(
            tables[1]
                .columns
                .iter()
                .map(|c| c.key.as_str())
                .collect::<Vec<_>>(),
            vec!["id", "ownerId"]
        );
    }
}
