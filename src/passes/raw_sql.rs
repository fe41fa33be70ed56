//! `sql/interpolated-query`: node-postgres queries built by pasting values into the SQL text.
//!
//! `pool.query(`SELECT * FROM users WHERE email = '${email}'`)` lets whoever controls `email`
//! rewrite the query (`' OR '1'='1`). node-postgres sends parameters as text with no type, so
//! Postgres reads `$1` exactly as it read the literal that was pasted there; the query becomes
//! `pool.query(`SELECT * FROM users WHERE email = $1`, [email])`. A value pasted inside a
//! quoted SQL string (`'%${q}%'`) becomes one parameter holding that whole string. Values in
//! any other place (a table or column name, `IN (${ids})`, `ORDER BY ${sort}`) cannot be
//! parameters without changing what the query means; such a query is reported, not changed.
//!
//! The same text in Drizzle's `sql.raw(`...`)` becomes Drizzle's `sql` tag, which sends each
//! `${...}` as a parameter (untyped on node-postgres and postgres.js, as above). Prisma's
//! `$queryRawUnsafe` and `$executeRawUnsafe` are reported only: Prisma sends parameters typed
//! (a string as `text`), so `= ${id}` against a `uuid` column would fail where `'${id}'` did not.

use crate::lang::{Fields, Lang};
use crate::passes::{facts_of, imports, Facts, FileView, Pass, PassOutput, ProjectView};
use crate::plan::{Applicability, Area, Edit, Proposal, Severity};
use crate::rules::RuleMeta;
use crate::stack::Database;
use ast_grep_core::tree_sitter::StrDoc;
use ast_grep_core::Node;
use std::collections::BTreeMap;

pub const INTERPOLATED_QUERY: &str = "sql/interpolated-query";

type N<'a> = Node<'a, StrDoc<Lang>>;

pub struct InterpolatedQuery {
    meta: [RuleMeta; 1],
}

impl Default for InterpolatedQuery {
    fn default() -> Self {
        InterpolatedQuery {
            meta: [crate::passes::rule_meta(
                "src/passes/raw_sql.rs",
                Area::Schemas,
                INTERPOLATED_QUERY,
                "SQL text is never built from values",
                Severity::Error,
                Applicability::Review,
                [
                    "In a project on node-postgres (`pg`), a `.query(...)` whose only argument is a template literal of SQL (`SELECT`, `INSERT`, `UPDATE`, `DELETE`, `WITH`) with `${...}` in it: each value compared, assigned, limited or inserted (`= ${id}`, `LIKE ${q}`, `LIMIT ${n}`, `VALUES (${a}, ${b})`) becomes a numbered parameter (`$1`) passed in an array, and a value inside a quoted SQL string (`'${email}'`, `'%${q}%'`) makes the whole string one parameter. A value anywhere else — an identifier, `IN (${ids})`, `ORDER BY ${column}`, a comment — is reported and the query left as it is, as is every such query in a project that also depends on another SQL driver (`mysql2`, `better-sqlite3`, ...), whose `.query` takes other placeholders. With Drizzle on node-postgres or postgres.js, `sql.raw(`...`)` (with `sql` imported from drizzle-orm) becomes Drizzle's `sql` tag the same way, each value a `${...}` of it. Prisma's `$queryRawUnsafe` and `$executeRawUnsafe` with pasted values are reported: Prisma types its parameters, so moving a quoted value out of the text can need a cast only the reader can choose.",
                    "A value pasted into SQL text is SQL: `' OR '1'='1` as an email reads every user, `1; DROP TABLE users` as an id runs a second statement. Parameters are sent apart from the text and are never parsed as SQL.",
                    "const { rows } = await pool.query(`SELECT * FROM users WHERE email = '${email}'`);",
                    "const { rows } = await pool.query(`SELECT * FROM users WHERE email = $1`, [email]);",
                    "Review: node-postgres sends parameters untyped, so Postgres infers each from its place as it did the literal; a value that was `null` or `undefined` is now SQL NULL rather than the text 'null' or 'undefined'.",
                ],
                &["CWE-89: Improper Neutralization of Special Elements used in an SQL Command ('SQL Injection')"],
            )],
        }
    }
}

/// Who runs the SQL text, which decides how values can be passed apart from it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Runner {
    /// node-postgres's `.query(text)`: `$1` in the text, the values in an array after it.
    Pg,
    /// Drizzle's `sql.raw(text)`: the `sql` tag, each value a `${...}` of it.
    DrizzleRaw,
    /// Prisma's `$queryRawUnsafe(text)` / `$executeRawUnsafe(text)`: reported only.
    PrismaUnsafe,
}

/// How a value stands in the SQL once it is a parameter.
#[derive(Clone, Copy)]
enum Placeholder {
    /// `$1`, `$2`, ... with the values in an array after the text, joined by the separator.
    Numbered,
    /// `${value}` inside a tagged template.
    Tagged,
}

/// A query with values pasted into its SQL.
struct Query {
    runner: Runner,
    /// What the fix replaces: the template literal (`.query`) or the whole call (`sql.raw`).
    template: std::ops::Range<usize>,
    /// The template and the values array that replace it; `None` when some value sits where a
    /// parameter cannot.
    fixed: Option<String>,
    /// What the finding says about the values.
    values: usize,
}

struct FileFacts {
    queries: Vec<Query>,
    /// Whether the module imports `sql` from drizzle-orm (what `sql.raw` must be to be fixed).
    drizzle_sql: bool,
}

/// Where the SQL text is at a point: in code, or inside something a parameter cannot stand in.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum SqlState {
    Code,
    /// Inside `'...'`, which began at this byte of the rebuilt text.
    Single,
    Double,
    LineComment,
    BlockComment,
}

/// Advances `state` over static SQL text, calling `on_quote(i)` at each `'` that opens or
/// closes a string (at its byte `i` of `text`). `''` inside a string is an escaped quote.
fn scan_sql(text: &str, mut state: SqlState, mut on_quote: impl FnMut(usize)) -> SqlState {
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        let next = bytes.get(i + 1).copied();
        match state {
            SqlState::Code => match (b, next) {
                (b'\'', _) => {
                    on_quote(i);
                    state = SqlState::Single;
                }
                (b'"', _) => state = SqlState::Double,
                (b'-', Some(b'-')) => state = SqlState::LineComment,
                (b'/', Some(b'*')) => state = SqlState::BlockComment,
                _ => {}
            },
            SqlState::Single => match (b, next) {
                (b'\'', Some(b'\'')) => i += 1,
                (b'\'', _) => {
                    on_quote(i);
                    state = SqlState::Code;
                }
                _ => {}
            },
            SqlState::Double => match (b, next) {
                (b'"', Some(b'"')) => i += 1,
                (b'"', _) => state = SqlState::Code,
                _ => {}
            },
            SqlState::LineComment => {
                if b == b'\n' {
                    state = SqlState::Code;
                }
            }
            SqlState::BlockComment => {
                if b == b'*' && next == Some(b'/') {
                    i += 1;
                    state = SqlState::Code;
                }
            }
        }
        i += 1;
    }
    state
}

/// Whether a value right after `before` (the SQL so far, outside any string) stands where a
/// literal does: after a comparison or assignment, `LIKE`, `LIMIT`, `OFFSET`, or in a
/// `VALUES (...)` list with nothing but values since `VALUES`.
fn value_position(before: &str) -> bool {
    let trimmed = before.trim_end();
    let words = || trimmed.rsplit(|c: char| !(c.is_ascii_alphanumeric() || c == '_'));
    // The word the text ends with, and the last keyword (`$1` and numbers are none).
    let last = words().next().unwrap_or("");
    let keyword = words()
        .find(|w| w.chars().any(|c| c.is_ascii_alphabetic()))
        .unwrap_or("");
    trimmed.ends_with(['=', '<', '>'])
        || ["like", "ilike", "limit", "offset"]
            .iter()
            .any(|k| last.eq_ignore_ascii_case(k))
        || (trimmed.ends_with(['(', ',']) && keyword.eq_ignore_ascii_case("values"))
}

/// A part of the template: SQL text as written in the source, or a `${...}` value.
enum Part<'a> {
    Text(&'a str),
    Value(&'a str),
}

/// The template's parts, between its backticks.
fn parts<'a>(template: &N<'a>, source: &'a str) -> Vec<Part<'a>> {
    let inner = template.range().start + 1..template.range().end - 1;
    let mut out = Vec::new();
    let mut at = inner.start;
    for sub in template
        .children()
        .filter(|c| c.kind() == "template_substitution")
    {
        let r = sub.range();
        out.push(Part::Text(&source[at..r.start]));
        let expr = sub
            .children()
            .find(|c| c.is_named() && c.kind() != "comment")
            .map_or("", |e| &source[e.range()]);
        out.push(Part::Value(expr));
        at = r.end;
    }
    out.push(Part::Text(&source[at..inner.end]));
    out
}

/// A quoted SQL string being read: where its `'` is in the rebuilt SQL, its content as a
/// JavaScript template (text and `${...}`), and the values in it.
struct Quoted {
    open: usize,
    content: String,
    values: Vec<String>,
}

/// The template rewritten with a parameter for each value (`$n` and the values array after
/// `separator`, or `${value}` in a tagged template); `None` when a value sits where a
/// parameter cannot stand, or the text already numbers parameters.
fn parameterize(parts: &[Part<'_>], placeholder: Placeholder, separator: &str) -> Option<String> {
    let mut sql = String::new();
    let mut values: Vec<String> = Vec::new();
    // Where the value just pushed stands in the SQL.
    let stand_in = |values: &[String]| match placeholder {
        Placeholder::Numbered => format!("${}", values.len()),
        Placeholder::Tagged => format!("${{{}}}", values[values.len() - 1]),
    };
    let mut state = SqlState::Code;
    let mut quoted: Option<Quoted> = None;
    for part in parts {
        match part {
            Part::Text(text) => {
                // `$1` already in the text would collide with the new numbers; in a `$$`
                // body (a function's or a `DO` block's) `$1` is no parameter.
                if text
                    .as_bytes()
                    .windows(2)
                    .any(|w| w[0] == b'$' && (w[1].is_ascii_digit() || w[1] == b'$'))
                {
                    return None;
                }
                let mut quotes: Vec<usize> = Vec::new();
                state = scan_sql(text, state, |i| quotes.push(i));
                let mut last = 0;
                for i in quotes {
                    match quoted.take() {
                        None => {
                            sql.push_str(&text[last..i]);
                            quoted = Some(Quoted {
                                open: sql.len(),
                                content: String::new(),
                                values: Vec::new(),
                            });
                            sql.push('\'');
                        }
                        // A string without values stays as written.
                        Some(q) if q.values.is_empty() => sql.push_str(&text[last..=i]),
                        // One that holds values becomes one parameter: the value itself when
                        // it is all the string holds, else the string as a template.
                        Some(mut q) => {
                            q.content.push_str(&text[last..i].replace("''", "'"));
                            sql.truncate(q.open);
                            let whole = format!("${{{}}}", q.values[0]);
                            values.push(if q.values.len() == 1 && q.content == whole {
                                q.values.swap_remove(0)
                            } else {
                                format!("`{}`", q.content)
                            });
                            sql.push_str(&stand_in(&values));
                        }
                    }
                    last = i + 1;
                }
                let rest = &text[last..];
                sql.push_str(rest);
                if let Some(q) = quoted.as_mut() {
                    q.content.push_str(&rest.replace("''", "'"));
                }
            }
            Part::Value(expr) => match state {
                SqlState::Single if !expr.is_empty() => {
                    let q = quoted.as_mut()?;
                    q.content.push_str(&format!("${{{expr}}}"));
                    q.values.push(expr.to_string());
                }
                SqlState::Code if !expr.is_empty() && value_position(&sql) => {
                    values.push(expr.to_string());
                    sql.push_str(&stand_in(&values));
                }
                _ => return None,
            },
        }
    }
    if !matches!(state, SqlState::Code | SqlState::LineComment) {
        return None;
    }
    Some(match placeholder {
        Placeholder::Numbered => format!("`{sql}`{separator}[{}]", values.join(", ")),
        Placeholder::Tagged => format!("`{sql}`"),
    })
}

/// The SQL keywords a query's text starts with.
fn starts_like_sql(parts: &[Part<'_>]) -> bool {
    let Some(Part::Text(first)) = parts.first() else {
        return false;
    };
    let word: String = first
        .trim_start()
        .chars()
        .take_while(|c| c.is_ascii_alphabetic())
        .collect::<String>()
        .to_ascii_lowercase();
    ["select", "insert", "update", "delete", "with"].contains(&word.as_str())
}

fn query<'a>(call: &N<'a>, source: &'a str) -> Option<Query> {
    let function = call.child_in("function")?;
    if function.kind() != "member_expression" {
        return None;
    }
    let property = function.child_in("property")?;
    let runner = match property.text().as_ref() {
        "query" => Runner::Pg,
        "raw"
            if function
                .child_in("object")
                .is_some_and(|o| o.text() == "sql") =>
        {
            Runner::DrizzleRaw
        }
        "$queryRawUnsafe" | "$executeRawUnsafe" => Runner::PrismaUnsafe,
        _ => return None,
    };
    let args = call.child_in("arguments")?;
    let mut named = args
        .children()
        .filter(|c| c.is_named() && c.kind() != "comment");
    let template = named.next()?;
    if named.next().is_some() || template.kind() != "template_string" {
        return None;
    }
    let parts = parts(&template, source);
    let values = parts.iter().filter(|p| matches!(p, Part::Value(_))).count();
    if values == 0 || !starts_like_sql(&parts) {
        return None;
    }
    // A template on a line of its own (one argument per line) gets its values on the next.
    let start = template.range().start;
    let line = &source[source[..start].rfind('\n').map_or(0, |i| i + 1)..start];
    let separator = if line.trim().is_empty() {
        format!(",\n{line}")
    } else {
        ", ".to_string()
    };
    let (range, fixed) = match runner {
        Runner::Pg => (
            template.range(),
            parameterize(&parts, Placeholder::Numbered, &separator),
        ),
        Runner::DrizzleRaw => (
            call.range(),
            parameterize(&parts, Placeholder::Tagged, "").map(|t| format!("sql{t}")),
        ),
        Runner::PrismaUnsafe => (template.range(), None),
    };
    Some(Query {
        runner,
        template: range,
        fixed,
        values,
    })
}

impl Pass for InterpolatedQuery {
    fn rules(&self) -> &[RuleMeta] {
        &self.meta
    }
    fn kinds(&self) -> &'static [&'static str] {
        &["call_expression"]
    }
    fn wants(&self, _path: &str, text: &str) -> bool {
        text.contains("${")
            && (text.contains(".query(")
                || text.contains("sql.raw(")
                || text.contains("RawUnsafe("))
    }
    fn may_edit(&self, facts: &Facts) -> bool {
        facts
            .downcast_ref::<FileFacts>()
            .is_some_and(|f| f.queries.iter().any(|q| q.fixed.is_some()))
    }
    fn scan(&self, file: &FileView<'_>) -> Option<Facts> {
        let queries: Vec<Query> = file
            .nodes("call_expression")
            .iter()
            .filter_map(|c| query(c, file.text))
            .collect();
        let drizzle_sql = queries.iter().any(|q| q.runner == Runner::DrizzleRaw)
            && imports::scan(&file.tree.root(), file.text).imports("sql", "drizzle-orm");
        (!queries.is_empty()).then(|| {
            Box::new(FileFacts {
                queries,
                drizzle_sql,
            }) as Facts
        })
    }
    fn finish(
        &self,
        project: &ProjectView<'_>,
        facts: &BTreeMap<String, Facts>,
        out: &mut PassOutput,
    ) {
        let stack = project.stack;
        let dbs = &stack.databases;
        // Parameters untyped, as the literals they replace: node-postgres and postgres.js.
        let pg = dbs.contains(&Database::NodePostgres);
        for (path, file) in facts_of::<FileFacts>(facts) {
            for q in &file.queries {
                let fixable = match q.runner {
                    // `$1` placeholders are node-postgres's; with another SQL driver in the
                    // project the `.query` may be that driver's, which marks them otherwise.
                    Runner::Pg if stack.pg => stack.other_sql_driver.is_none(),
                    // A `sql` that is not drizzle-orm's is not ours to read.
                    Runner::DrizzleRaw if dbs.contains(&Database::Drizzle) && file.drizzle_sql => {
                        pg
                    }
                    Runner::PrismaUnsafe if dbs.contains(&Database::Prisma) => false,
                    _ => continue,
                };
                let n = q.values;
                let values = if n == 1 { "a value" } else { "values" };
                let pasted = format!("this query pastes {values} into its SQL text, where a crafted value rewrites the query");
                let (it, param) = if n == 1 {
                    ("it is", "a parameter")
                } else {
                    ("they are", "parameters")
                };
                let stands = if n == 1 {
                    "it stands"
                } else {
                    "at least one stands"
                };
                let cannot = "where a parameter cannot (a name, `IN (...)`, `ORDER BY`, inside quotes of another kind)";
                let (message, applicability, edits) = match (&q.fixed, q.runner) {
                    (Some(text), Runner::Pg) if fixable => (
                        format!("{pasted}; {it} now passed as {param}"),
                        Applicability::Review,
                        vec![Edit::replace(q.template.clone(), text.clone())],
                    ),
                    (Some(text), Runner::DrizzleRaw) if fixable => (
                        format!("{pasted}; the query is now Drizzle's `sql` tag, which sends {} as {param}", if n == 1 { "it" } else { "them" }),
                        Applicability::Review,
                        vec![Edit::replace(q.template.clone(), text.clone())],
                    ),
                    (Some(_), Runner::Pg) => (
                        format!("{pasted}; the project also depends on `{}`, so casehard cannot tell whether this is node-postgres's `.query` (`$1`) or that driver's: pass values as that driver's parameters and pick names from a fixed list", stack.other_sql_driver.as_deref().unwrap_or("another SQL driver")),
                        Applicability::Manual,
                        vec![],
                    ),
                    (None, Runner::Pg) => (
                        format!("{pasted}; {stands} {cannot}: pass values as parameters (`$1`, `[value]`) and pick names from a fixed list"),
                        Applicability::Manual,
                        vec![],
                    ),
                    (_, Runner::DrizzleRaw) => (
                        format!("{pasted}; {}: build it with Drizzle's `sql` tag, which sends each `${{...}}` as a parameter, and pick names from a fixed list (`sql.identifier`)", if q.fixed.is_none() { format!("{stands} {cannot}") } else { "casehard rewrites `sql.raw` only on node-postgres or postgres.js, whose parameters are untyped like the literals they replace".to_string() }),
                        Applicability::Manual,
                        vec![],
                    ),
                    _ => (
                        format!("{pasted}; write it as a tagged template of `$queryRaw` or `$executeRaw`, which sends each `${{...}}` as a parameter (Prisma types parameters: cast where a column is not text, `${{id}}::uuid`), and pick names from a fixed list"),
                        Applicability::Manual,
                        vec![],
                    ),
                };
                out.proposals.push(Proposal {
                    rule: INTERPOLATED_QUERY.into(),
                    path: path.into(),
                    at: q.template.clone(),
                    message: message.into(),
                    applicability,
                    edits,
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fix(template: &str) -> Option<String> {
        let src = format!("pool.query({template});");
        let tree = Lang::TypeScript.parse(&src).unwrap();
        let root = tree.root();
        let call = root.dfs().find(|n| n.kind() == "call_expression").unwrap();
        query(&call, &src).and_then(|q| q.fixed)
    }

    #[test]
    fn values_become_parameters_where_literals_stood() {
        assert_eq!(
            fix("`SELECT * FROM users WHERE email = '${email}'`").as_deref(),
            Some("`SELECT * FROM users WHERE email = $1`, [email]")
        );
        assert_eq!(
            fix("`select id from notes where user_id = ${user.id} and body ilike '%${q}%' limit ${n}`").as_deref(),
            Some("`select id from notes where user_id = $1 and body ilike $2 limit $3`, [user.id, `%${q}%`, n]")
        );
        assert_eq!(
            fix("`INSERT INTO notes (body, tag) VALUES (${body}, 'it''s ${tag}')`").as_deref(),
            Some("`INSERT INTO notes (body, tag) VALUES ($1, $2)`, [body, `it's ${tag}`]")
        );
        // A quoted string with no value in it stays as written.
        assert_eq!(
            fix("`UPDATE users SET role = 'admin', name = ${name} WHERE id = ${id}`").as_deref(),
            Some("`UPDATE users SET role = 'admin', name = $1 WHERE id = $2`, [name, id]")
        );
    }

    #[test]
    fn drizzle_raw_sql_becomes_the_sql_tag() {
        let fix = |call: &str| {
            let src = format!("db.execute({call});");
            let tree = Lang::TypeScript.parse(&src).unwrap();
            let root = tree.root();
            let call = root
                .dfs()
                .filter(|n| n.kind() == "call_expression")
                .find(|n| n.text().starts_with("sql.raw"))
                .unwrap();
            query(&call, &src).and_then(|q| q.fixed.map(|f| (src[q.template].to_string(), f)))
        };
        assert_eq!(
            fix("sql.raw(`select id from notes where user_id = ${uid} and body ilike '%${q}%' and tag = '${tag}' limit ${n}`)"),
            Some((
                "sql.raw(`select id from notes where user_id = ${uid} and body ilike '%${q}%' and tag = '${tag}' limit ${n}`)".into(),
                "sql`select id from notes where user_id = ${uid} and body ilike ${`%${q}%`} and tag = ${tag} limit ${n}`".into()
            ))
        );
        assert_eq!(
            fix("sql.raw(`select * from ${table} where id = ${id}`)"),
            None
        );
        // Prisma's unsafe calls are found but never rewritten.
        let src = "prisma.$queryRawUnsafe(`SELECT * FROM \"User\" WHERE email = '${email}'`);";
        let tree = Lang::TypeScript.parse(src).unwrap();
        let root = tree.root();
        let call = root.dfs().find(|n| n.kind() == "call_expression").unwrap();
        let q = query(&call, src).unwrap();
        assert_eq!((q.runner, q.fixed.is_none()), (Runner::PrismaUnsafe, true));
    }

    #[test]
    fn values_that_are_not_literals_leave_the_query_to_the_reader() {
        for template in [
            "`SELECT * FROM ${table} WHERE id = ${id}`",
            "`SELECT * FROM users ORDER BY ${sort}`",
            "`SELECT * FROM users WHERE id IN (${ids})`",
            "`SELECT \"${column}\" FROM users`",
            "`SELECT * FROM users WHERE id = $1 AND org = ${org}`",
            "`INSERT INTO t (a) VALUES (now(), ${a})`",
            "`DO $$ BEGIN PERFORM f(${a}); END $$`",
        ] {
            assert_eq!(fix(template), None, "{template}");
        }
        // Not SQL, or nothing pasted: not a finding at all.
        let src = "api.query(`users/${id}`); pool.query(`SELECT 1`);";
        let tree = Lang::TypeScript.parse(src).unwrap();
        let found = tree
            .root()
            .dfs()
            .filter(|n| n.kind() == "call_expression")
            .filter_map(|c| query(&c, src))
            .count();
        assert_eq!(found, 0);
    }
}
