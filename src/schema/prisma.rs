//! Prisma schemas (`schema.prisma`, or the multi-file `prisma/schema/*.prisma`) read into the
//! same tables the SQL replay produces: a model is a table (`@@map` names it, `@@schema` places
//! it), a scalar field a column (`@map`, native types such as `@db.Uuid`), `@id`/`@@id` the
//! primary key, and a relation field with `fields:`/`references:` a foreign key.
//!
//! The Prisma schema language is line-oriented: one field or block attribute per line, blocks
//! opened by `model Name {` and closed by `}`. That is all this reader relies on.

use super::sql::{pg_identifier, ForeignKey, Loc, Table};
use std::collections::BTreeMap;

/// A line casehard could not read as a field, with where it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unread {
    pub at: Loc,
    pub line: String,
}

#[derive(Clone, Debug, Default)]
pub struct PrismaSchema {
    /// `schema.table` → table.
    pub tables: BTreeMap<String, Table>,
    pub unread: Vec<Unread>,
    /// The datasource provider, when a file names it (`postgresql`, `mysql`, `sqlite`...).
    pub provider: Option<String>,
}

struct Field {
    name: String,
    column: String,
    ty: String,
    /// A list (`String[]`, `Post[]`).
    list: bool,
    attrs: String,
}

struct Model {
    name: String,
    table: String,
    schema: String,
    fields: Vec<Field>,
    block_id: Vec<String>,
    at: Loc,
}

/// The schema files of a project: `prisma/**/*.prisma` and a root `schema.prisma`.
pub fn schema_files<'a>(paths: impl Iterator<Item = &'a String>) -> Vec<String> {
    let mut out: Vec<String> = paths
        .filter(|p| {
            p.ends_with(".prisma") && (p.starts_with("prisma/") || p.as_str() == "schema.prisma")
        })
        .cloned()
        .collect();
    out.sort();
    out
}

/// Removes a `//` comment that is not inside a string.
fn strip_comment(line: &str) -> &str {
    let mut in_string = false;
    let bytes = line.as_bytes();
    for i in 0..bytes.len() {
        match bytes[i] {
            b'"' if i == 0 || bytes[i - 1] != b'\\' => in_string = !in_string,
            b'/' if !in_string && bytes.get(i + 1) == Some(&b'/') => return &line[..i],
            _ => {}
        }
    }
    line
}

/// The first string argument of `@name(...)` in `attrs`: `@map("user_id")` → `user_id`.
fn attr_string(attrs: &str, name: &str) -> Option<String> {
    let start = attrs.find(&format!("{name}("))? + name.len() + 1;
    let rest = attrs[start..].trim_start().strip_prefix('"')?;
    rest.find('"').map(|end| rest[..end].to_string())
}

/// The names in a `key: [a, b]` list inside `attrs` (`fields: [userId]`), or a bare list
/// right after `@@id(`.
fn attr_list(attrs: &str, key: &str) -> Option<Vec<String>> {
    let start = attrs.find(key)? + key.len();
    let rest = attrs[start..].trim_start();
    let rest = rest.strip_prefix(':').unwrap_or(rest).trim_start();
    let inner = rest.strip_prefix('[')?;
    let end = inner.find(']')?;
    Some(
        inner[..end]
            .split(',')
            // `[a(sort: Desc)]` names `a`.
            .map(|s| s.split('(').next().unwrap_or("").trim().to_string())
            .filter(|s| !s.is_empty())
            .collect(),
    )
}

/// The Postgres type Prisma creates for a scalar field, or `None` for a relation or unknown
/// type (which the caller resolves against the enums and models it knows).
fn column_type(ty: &str, attrs: &str) -> Option<String> {
    if let Some(i) = attrs.find("@db.") {
        let native: String = attrs[i + 4..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect();
        let mapped = match native.as_str() {
            "Uuid" => "uuid",
            "Text" => "text",
            "VarChar" => "varchar",
            "Char" => "bpchar",
            "Citext" => "citext",
            "Integer" => "int4",
            "SmallInt" => "int2",
            "BigInt" => "int8",
            "Timestamptz" => "timestamptz",
            "Timestamp" => "timestamp",
            "JsonB" => "jsonb",
            "Json" => "json",
            other => return Some(other.to_lowercase()),
        };
        return Some(mapped.into());
    }
    let t = match ty {
        "String" => "text",
        "Int" => "int4",
        "BigInt" => "int8",
        "Boolean" => "bool",
        "DateTime" => "timestamp",
        "Float" => "float8",
        "Decimal" => "numeric",
        "Json" => "jsonb",
        "Bytes" => "bytea",
        _ => {
            return ty
                .strip_prefix("Unsupported(\"")
                .and_then(|r| r.strip_suffix("\")"))
                .map(str::to_string)
        }
    };
    Some(t.into())
}

/// Reads every schema file; models that span files (multi-file schemas) resolve together.
pub fn read(files: &[(String, String)]) -> PrismaSchema {
    let mut out = PrismaSchema::default();
    let mut models: Vec<Model> = vec![];
    let mut enums: BTreeMap<String, String> = BTreeMap::new();
    for (file, text) in files {
        let mut block: Option<(&str, String)> = None; // (kind, name)
        let mut offset = 0;
        for raw in text.split_inclusive('\n') {
            let line_at = offset;
            offset += raw.len();
            let line = strip_comment(raw).trim();
            if line.is_empty() {
                continue;
            }
            let Some((kind, name)) = &block else {
                let words: Vec<&str> = line.split_whitespace().collect();
                if words.len() >= 3 && words.last() == Some(&"{") {
                    let kind = match words[0] {
                        "model" => "model",
                        "enum" => "enum",
                        "datasource" => "datasource",
                        _ => "other",
                    };
                    let name = words[1].to_string();
                    if kind == "model" {
                        models.push(Model {
                            name: name.clone(),
                            table: pg_identifier(&name),
                            schema: "public".into(),
                            fields: vec![],
                            block_id: vec![],
                            at: Loc {
                                file: file.clone(),
                                offset: line_at + (raw.len() - raw.trim_start().len()),
                            },
                        });
                    }
                    if kind == "enum" {
                        enums.insert(name.clone(), name.clone());
                    }
                    block = Some((kind, name));
                }
                continue;
            };
            if line == "}" {
                block = None;
                continue;
            }
            match *kind {
                "datasource" => {
                    if let Some(v) = line.strip_prefix("provider") {
                        let v = v.trim_start().trim_start_matches('=').trim();
                        out.provider = Some(v.trim_matches('"').to_string());
                    }
                }
                "enum" => {
                    if let Some(db) = line
                        .starts_with("@@map")
                        .then(|| attr_string(line, "@@map"))
                        .flatten()
                    {
                        enums.insert(name.clone(), db);
                    }
                }
                "model" => {
                    let model = models.last_mut().expect("a model block has its model");
                    if line.starts_with("@@") {
                        if line.starts_with("@@map") {
                            if let Some(t) = attr_string(line, "@@map") {
                                model.table = pg_identifier(&t);
                            }
                        } else if line.starts_with("@@schema") {
                            if let Some(s) = attr_string(line, "@@schema") {
                                model.schema = pg_identifier(&s);
                            }
                        } else if line.starts_with("@@id") {
                            model.block_id = attr_list(line, "@@id(fields")
                                .or_else(|| attr_list(line, "@@id("))
                                .unwrap_or_default();
                        }
                        continue;
                    }
                    let mut words = line.split_whitespace();
                    let (Some(fname), Some(fty)) = (words.next(), words.next()) else {
                        out.unread.push(Unread {
                            at: Loc {
                                file: file.clone(),
                                offset: line_at,
                            },
                            line: line.into(),
                        });
                        continue;
                    };
                    let attrs = words.collect::<Vec<_>>().join(" ");
                    let ty = fty.trim_end_matches('?').trim_end_matches("[]").to_string();
                    let column = pg_identifier(
                        &attr_string(&attrs, "@map").unwrap_or_else(|| fname.to_string()),
                    );
                    model.fields.push(Field {
                        name: fname.into(),
                        column,
                        ty,
                        list: fty.ends_with("[]"),
                        attrs,
                    });
                }
                _ => {}
            }
        }
    }
    let by_name: BTreeMap<&str, &Model> = models.iter().map(|m| (m.name.as_str(), m)).collect();
    let column_of = |model: &Model, field: &str| -> String {
        model
            .fields
            .iter()
            .find(|f| f.name == field)
            .map_or_else(|| field.to_string(), |f| f.column.clone())
    };
    for m in &models {
        let mut table = Table {
            schema: m.schema.clone(),
            name: m.table.clone(),
            columns: vec![],
            primary_key: m.block_id.iter().map(|f| column_of(m, f)).collect(),
            foreign_keys: vec![],
            rls: false,
            forced: false,
            policies: vec![],
            defined: m.at.clone(),
            disabled_after_enable: None,
        };
        for f in &m.fields {
            if let Some(target) = by_name.get(f.ty.as_str()) {
                // A relation field: a foreign key when this side holds it.
                if let (Some(fields), Some(refs)) = (
                    attr_list(&f.attrs, "fields"),
                    attr_list(&f.attrs, "references"),
                ) {
                    table.foreign_keys.push(ForeignKey {
                        columns: fields.iter().map(|c| column_of(m, c)).collect(),
                        table: format!("{}.{}", target.schema, target.table),
                        ref_columns: refs.iter().map(|c| column_of(target, c)).collect(),
                    });
                }
                continue;
            }
            if f.list {
                // A scalar list (`String[]`) is an array column.
                let base = column_type(&f.ty, &f.attrs).unwrap_or_else(|| f.ty.to_lowercase());
                table.columns.push((f.column.clone(), format!("_{base}")));
                continue;
            }
            let ty = column_type(&f.ty, &f.attrs)
                .or_else(|| enums.get(&f.ty).cloned())
                .unwrap_or_else(|| f.ty.clone());
            table.columns.push((f.column.clone(), ty));
            if f.attrs
                .split_whitespace()
                .any(|a| a == "@id" || a.starts_with("@id("))
            {
                table.primary_key = vec![f.column.clone()];
            }
        }
        out.tables.insert(table.qualified(), table);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_models_maps_ids_and_relations_across_files() {
        let files = vec![
            (
                "prisma/schema/base.prisma".to_string(),
                r#"datasource db {
  provider = "postgresql" // the only one with RLS
  url      = env("DATABASE_URL")
}
enum Role {
  USER
  ADMIN
  @@map("role")
}
model User {
  id    String @id @default(uuid()) @db.Uuid
  email String @unique
  role  Role   @default(USER)
  posts Post[]
  tags  String[]
  @@map("users")
}
"#
                .to_string(),
            ),
            (
                "prisma/schema/post.prisma".to_string(),
                r#"model Post {
  id       Int    @id @default(autoincrement())
  authorId String @map("author_id") @db.Uuid
  author   User   @relation(fields: [authorId], references: [id], onDelete: Cascade)
  @@map("posts")
  @@schema("app")
}
model Like {
  userId String
  postId Int
  @@id([userId, postId])
}
"#
                .to_string(),
            ),
        ];
        let s = read(&files);
        assert_eq!(s.provider.as_deref(), Some("postgresql"));
        let users = &s.tables["public.users"];
        assert_eq!(users.primary_key, vec!["id"]);
        assert_eq!(users.column_type("id"), Some("uuid"));
        assert_eq!(users.column_type("role"), Some("role"));
        assert_eq!(users.column_type("tags"), Some("_text"));
        assert_eq!(users.column_type("posts"), None);
        assert_eq!(users.defined.offset, files[0].1.find("model User").unwrap());
        let posts = &s.tables["app.posts"];
        assert_eq!(posts.primary_key, vec!["id"]);
        assert_eq!(posts.column_type("author_id"), Some("uuid"));
        assert_eq!(posts.column_type("id"), Some("int4"));
        assert_eq!(
            posts.foreign_keys,
            vec![ForeignKey {
                columns: vec!["author_id".into()],
                table: "public.users".into(),
                ref_columns: vec!["id".into()],
            }]
        );
        assert_eq!(
            s.tables["public.Like"].primary_key,
            vec!["userId", "postId"]
        );
    }

    #[test]
    fn names_are_cut_as_postgres_cuts_them() {
        // 62 ASCII bytes then a two-byte character: PostgreSQL keeps the 62 bytes.
        let long_column = format!("{}é_tail", "c".repeat(62));
        let text = format!(
            "model {} {{\n  id    Int    @id\n  label String @map(\"{long_column}\")\n}}\nmodel Pin {{\n  id     Int @id\n  spaceId Int\n  space  {} @relation(fields: [spaceId], references: [id])\n}}\n",
            "M".repeat(70),
            "M".repeat(70)
        );
        let s = read(&[("schema.prisma".to_string(), text)]);
        let table = &s.tables[&format!("public.{}", "M".repeat(63))];
        assert_eq!(table.columns[1].0, "c".repeat(62));
        assert_eq!(
            s.tables["public.Pin"].foreign_keys[0].table,
            format!("public.{}", "M".repeat(63))
        );
    }
}
