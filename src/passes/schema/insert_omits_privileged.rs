//! `schema/insert-omits-privileged`: drizzle-zod insert and update schemas omit the columns the
//! server owns.

use crate::lang::Fields;
use crate::lang::Lang;
use crate::passes::{facts_of, Facts, FileView, Pass, PassOutput, ProjectView};
use crate::plan::{Applicability, Area, Edit, Proposal, Severity};
use crate::rules::{Docs, Origin, RuleMeta};
use crate::schema::drizzle::{self, DrizzleFacts};
use crate::schema::is_privileged_column;
use ast_grep_core::tree_sitter::StrDoc;
use ast_grep_core::Node;
use std::collections::BTreeMap;

pub const ID: &str = "schema/insert-omits-privileged";
const SCHEMA_FACTORIES: &[&str] = &["createInsertSchema", "createUpdateSchema"];

type N<'a> = Node<'a, StrDoc<Lang>>;

pub struct InsertOmitsPrivileged {
    meta: [RuleMeta; 1],
}

impl Default for InsertOmitsPrivileged {
    fn default() -> Self {
        InsertOmitsPrivileged {
            meta: [RuleMeta {
                id: ID.into(),
                title: "Insert and update schemas omit server-owned columns".into(),
                severity: Severity::Warning,
                area: Area::Schemas,
                applicability: Applicability::Review,
                origin: Origin::Pass("src/passes/schema/insert_omits_privileged.rs"),
                docs: Docs {
                    what: "Finds drizzle-zod `createInsertSchema(table)` and `createUpdateSchema(table)` for tables that have server-owned or privileged columns — ids, owner ids (userId, ownerId, authorId, createdBy), role and admin flags, plan, credits, balance, Stripe and subscription ids, timestamps — and omits those columns with `.omit({...})`, merging into an `.omit` that is already there. The columns are read from the table's `pgTable(...)` definition in the project.".into(),
                    why: "A schema generated from the table accepts every column, so a client that posts `{\"userId\": \"<victim>\", \"role\": \"admin\", \"credits\": 1e9}` writes them straight into the row: mass assignment. Server-owned columns must come from the session and the server, never from the request body.".into(),
                    before: "export const insertPostSchema = createInsertSchema(posts);".into(),
                    after: "export const insertPostSchema = createInsertSchema(posts).omit({ id: true, userId: true, createdAt: true });".into(),
                    fix_safety: Some("Review: code that relied on the client sending these columns must now set them on the server (for example `userId: session.user.id`); TypeScript points at every such place.".into()),
                    references: vec![
                        "CWE-915: Improperly Controlled Modification of Dynamically-Determined Object Attributes".into(),
                        "OWASP API3:2023 Broken Object Property Level Authorization".into(),
                        "https://orm.drizzle.team/docs/zod".into(),
                    ],
                },
            }],
        }
    }
}

/// A `createInsertSchema(table)` call and what already restricts it.
#[derive(Debug)]
struct SchemaCall {
    call: std::ops::Range<usize>,
    table: String,
    factory: String,
    /// The object of an `.omit({...})` applied to it: (its range, keys, multi-line indent).
    omit: Option<OmitObject>,
    /// A `.pick(...)` already allow-lists the columns.
    picked: bool,
}

#[derive(Debug)]
struct OmitObject {
    keys: Vec<String>,
    /// Where a new `key: true` goes, and whether a comma must come first.
    insert_at: usize,
    needs_comma: bool,
    empty: Option<std::ops::Range<usize>>,
    line_indent: Option<String>,
}

struct FileFacts {
    drizzle: std::sync::Arc<DrizzleFacts>,
    calls: Vec<SchemaCall>,
}

impl Pass for InsertOmitsPrivileged {
    fn rules(&self) -> &[RuleMeta] {
        &self.meta
    }

    fn kinds(&self) -> &'static [&'static str] {
        &["call_expression", "variable_declarator"]
    }

    fn wants(&self, _path: &str, text: &str) -> bool {
        text.contains("Table") || SCHEMA_FACTORIES.iter().any(|f| text.contains(f))
    }

    fn may_edit(&self, facts: &Facts) -> bool {
        facts
            .downcast_ref::<FileFacts>()
            .is_some_and(|f| !f.calls.is_empty())
    }

    fn scan(&self, file: &FileView<'_>) -> Option<Facts> {
        let drizzle = file.drizzle();
        let calls: Vec<SchemaCall> = file
            .nodes("call_expression")
            .iter()
            .filter_map(|n| schema_call(n, file.text))
            .collect();
        if drizzle.tables.is_empty() && drizzle.creators.is_empty() && calls.is_empty() {
            return None;
        }
        Some(Box::new(FileFacts { drizzle, calls }))
    }

    fn finish(
        &self,
        _project: &ProjectView<'_>,
        facts: &BTreeMap<String, Facts>,
        out: &mut PassOutput,
    ) {
        let files: Vec<(&str, &FileFacts)> = facts_of::<FileFacts>(facts).collect();
        let tables = drizzle::TableIndex::new(files.iter().map(|(_, f)| &*f.drizzle));
        for (path, file) in &files {
            for call in &file.calls {
                if call.picked {
                    continue;
                }
                // Two tables bound to the same name in different files: casehard cannot tell
                // which one is meant, so it changes nothing.
                let [table] = tables.bound_to(&call.table) else {
                    continue;
                };
                let already: Vec<&str> = call
                    .omit
                    .iter()
                    .flat_map(|o| o.keys.iter().map(String::as_str))
                    .collect();
                let missing: Vec<&str> = table
                    .columns
                    .iter()
                    .map(|c| c.key.as_str())
                    .filter(|k| is_privileged_column(k) && !already.contains(k))
                    .collect();
                if missing.is_empty() {
                    continue;
                }
                let edit = match &call.omit {
                    Some(o) => merge_into_omit(o, &missing),
                    None => Edit::insert(
                        call.call.end,
                        format!(".omit({{ {} }})", mask(&missing, ", ")),
                    ),
                };
                out.proposals.push(Proposal {
                    rule: ID.into(),
                    path: (*path).into(),
                    at: call.call.clone(),
                    message: format!(
                        "{}({}) accepts server-owned columns from the client: {}; omit them",
                        call.factory,
                        call.table,
                        missing.join(", ")
                    )
                    .into(),
                    applicability: Applicability::Review,
                    edits: vec![edit],
                });
            }
        }
    }
}

fn mask(keys: &[&str], sep: &str) -> String {
    keys.iter()
        .map(|k| format!("{}: true", property_key(k)))
        .collect::<Vec<_>>()
        .join(sep)
}

/// A key as an object property: bare when it is an identifier, quoted otherwise.
fn property_key(k: &str) -> String {
    let ident = k
        .chars()
        .next()
        .is_some_and(|c| c.is_alphabetic() || c == '_' || c == '$')
        && k.chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == '$');
    if ident {
        k.to_string()
    } else {
        format!("{k:?}")
    }
}

fn merge_into_omit(o: &OmitObject, missing: &[&str]) -> Edit {
    if let Some(range) = &o.empty {
        return Edit::replace(range.clone(), format!("{{ {} }}", mask(missing, ", ")));
    }
    match &o.line_indent {
        Some(indent) => {
            let lines: String = missing
                .iter()
                .map(|k| format!("\n{indent}{}: true,", property_key(k)))
                .collect();
            let text = if o.needs_comma {
                format!(",{}", lines.trim_end_matches(','))
            } else {
                lines
            };
            Edit::insert(o.insert_at, text)
        }
        None => {
            let text = mask(missing, ", ");
            Edit::insert(
                o.insert_at,
                if o.needs_comma {
                    format!(", {text}")
                } else {
                    format!(" {text},")
                },
            )
        }
    }
}

fn schema_call(call: &N, text: &str) -> Option<SchemaCall> {
    let factory = call.child_in("function")?;
    let factory = factory.text();
    if !SCHEMA_FACTORIES.contains(&factory.as_ref()) {
        return None;
    }
    let table = call
        .child_in("arguments")?
        .children()
        .find(|c| c.is_named())?;
    if table.kind() != "identifier" {
        return None;
    }
    let mut omit = None;
    let mut picked = false;
    // Walk up the method chain: createInsertSchema(t).extend(...).omit({...})
    let mut link = call.clone();
    while let Some(member) = link.parent().filter(|p| p.kind() == "member_expression") {
        let Some(outer) = member.parent().filter(|p| p.kind() == "call_expression") else {
            break;
        };
        match member
            .child_in("property")
            .map(|p| p.text().to_string())
            .as_deref()
        {
            Some("pick") => picked = true,
            Some("omit") if omit.is_none() => {
                let object = outer
                    .child_in("arguments")?
                    .children()
                    .find(|c| c.is_named())?;
                if object.kind() != "object" {
                    // `.omit(someMask)`: not ours to edit.
                    return None;
                }
                omit = Some(omit_object(&object, text));
            }
            _ => {}
        }
        link = outer;
    }
    Some(SchemaCall {
        call: call.range(),
        table: table.text().to_string(),
        factory: factory.to_string(),
        omit,
        picked,
    })
}

fn omit_object(object: &N, text: &str) -> OmitObject {
    let pairs: Vec<N> = object
        .children()
        .filter(|c| c.kind() == "pair" || c.kind() == "shorthand_property_identifier")
        .collect();
    let keys = pairs
        .iter()
        .filter_map(|p| {
            let k = if p.kind() == "pair" {
                p.child_in("key")?
            } else {
                p.clone()
            };
            Some(k.text().trim_matches(|c| c == '"' || c == '\'').to_string())
        })
        .collect();
    let Some(last) = pairs.last() else {
        return OmitObject {
            keys,
            insert_at: object.range().start + 1,
            needs_comma: false,
            empty: Some(object.range()),
            line_indent: None,
        };
    };
    let after_last = last.range().end;
    let trailing_comma = last.next().is_some_and(|n| n.text() == ",");
    let insert_at = if trailing_comma {
        after_last + 1
    } else {
        after_last
    };
    let multi_line = object.text().contains('\n');
    let line_indent = multi_line.then(|| crate::passes::line_indent(text, last.range().start));
    OmitObject {
        keys,
        insert_at,
        needs_comma: !trailing_comma,
        empty: None,
        line_indent,
    }
}

#[cfg(test)]
mod tests {
    use crate::config::Config;
    use crate::engine::{self, Options};
    use crate::rules::{Catalog, Selection};
    use crate::workspace::Workspace;

    fn findings(files: &[(&str, &str)]) -> Vec<(String, String)> {
        let ws = Workspace::from_files(files.iter().map(|(p, t)| (*p, *t))).unwrap();
        let options = Options {
            selection: Selection {
                only: Some([super::ID.to_string()].into()),
                skip: Default::default(),
            },
            ..Options::default()
        };
        let catalog = Catalog::load(&[]).unwrap();
        let outcome = engine::run(ws, &catalog, &Config::default(), &options).unwrap();
        outcome
            .findings
            .into_iter()
            .map(|f| (f.path, f.message))
            .collect()
    }

    const TABLE: &str = "import { pgTable, text, uuid } from \"drizzle-orm/pg-core\";\nexport const notes = pgTable(\"notes\", { id: uuid(\"id\").primaryKey(), ownerId: uuid(\"owner_id\"), body: text(\"body\") });\n";
    const USE: &str = "import { createInsertSchema } from \"drizzle-zod\";\nimport { notes } from \"./a\";\nexport const insertNoteSchema = createInsertSchema(notes);\n";

    #[test]
    fn a_table_is_found_by_its_name_in_another_file_unless_two_files_bind_that_name() {
        let one = findings(&[("src/db/a.ts", TABLE), ("src/db/use.ts", USE)]);
        assert_eq!(one.len(), 1, "{one:?}");
        assert_eq!(one[0].0, "src/db/use.ts");
        assert!(one[0].1.contains("id, ownerId"), "{one:?}");
        let two = findings(&[
            ("src/db/a.ts", TABLE),
            ("src/db/b.ts", TABLE),
            ("src/db/use.ts", USE),
        ]);
        assert!(two.is_empty(), "which `notes` is meant is unknown: {two:?}");
    }
}
