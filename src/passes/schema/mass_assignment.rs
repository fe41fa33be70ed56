//! `schema/mass-assignment`: request data written whole into a database row.

use crate::lang::Lang;
use crate::lang::{unwrapped, Fields};
use crate::passes::imports::{self, ImportFacts};
use crate::passes::{facts_of, Facts, FileView, Pass, PassOutput, ProjectView};
use crate::plan::{Applicability, Area, Edit, Proposal, Severity};
use crate::rules::{Docs, Origin, RuleMeta};
use crate::schema::drizzle::{self, DrizzleFacts};
use ast_grep_core::tree_sitter::StrDoc;
use ast_grep_core::Node;
use std::collections::BTreeMap;
use std::ops::Range;

pub const ID: &str = "schema/mass-assignment";

type N<'a> = Node<'a, StrDoc<Lang>>;

const PRISMA_WRITES: &[&str] = &["create", "update", "upsert", "createMany", "updateMany"];
const SUPABASE_WRITES: &[&str] = &["insert", "update", "upsert"];
/// The nodes the pass reads: calls (writes), declarators (bindings) and, from the third on, the
/// functions that scope them.
const KINDS: &[&str] = &[
    "call_expression",
    "variable_declarator",
    "function_declaration",
    "function_expression",
    "arrow_function",
    "method_definition",
    "generator_function_declaration",
    "generator_function",
];
const FUNCTION_KINDS: &[&str] = KINDS.split_at(2).1;

pub struct MassAssignment {
    meta: [RuleMeta; 1],
}

impl Default for MassAssignment {
    fn default() -> Self {
        MassAssignment {
            meta: [RuleMeta {
                id: ID.into(),
                title: "Request data is validated before it is written".into(),
                severity: Severity::Error,
                area: Area::Schemas,
                applicability: Applicability::Review,
                origin: Origin::Pass("src/passes/schema/mass_assignment.rs"),
                docs: Docs {
                    what: "Finds request data passed whole into a database write — `prisma.post.create({ data: req.body })`, `db.insert(posts).values(body)` where `body = await req.json()`, Supabase `.from(\"posts\").insert(body)`, `{ ...req.body, ... }` spread into a create or update, or a tRPC `input` declared with `z.any()`/`z.custom<...>()`. Where the project has a zod schema for that table (a drizzle-zod `createInsertSchema(table)`, or a schema named after the table such as `insertPostSchema`), the fix parses the data through it and imports it; otherwise the finding is manual.".into(),
                    why: "The client decides every column of the row: it can set `id`, `userId`, `role`, `credits` or `createdAt` by adding them to the JSON it sends (mass assignment). Parsing through a schema that omits server-owned columns keeps only the fields the form is meant to set.".into(),
                    before: "const body = await req.json();\nawait db.insert(posts).values({ ...body, userId: user.id });".into(),
                    after: "const body = await req.json();\nawait db.insert(posts).values({ ...insertPostSchema.parse(body), userId: user.id });".into(),
                    fix_safety: Some("Review: invalid input now throws a ZodError where it used to reach the database; answer it with a 400. Writes that relied on the client sending server-owned columns must set them on the server.".into()),
                    references: vec![
                        "CWE-915: Improperly Controlled Modification of Dynamically-Determined Object Attributes".into(),
                        "OWASP API3:2023 Broken Object Property Level Authorization".into(),
                    ],
                },
            }],
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Target {
    /// A drizzle table variable.
    Drizzle(String),
    /// A Prisma model accessor (`prisma.post`).
    Prisma(String),
    /// A Supabase table name (`.from("posts")`).
    Supabase(String),
}

impl Target {
    fn label(&self) -> &str {
        match self {
            Target::Drizzle(s) | Target::Prisma(s) | Target::Supabase(s) => s,
        }
    }
}

#[derive(Debug)]
struct Sink {
    data: Range<usize>,
    data_text: String,
    target: Target,
    update: bool,
    spread: bool,
}

#[derive(Debug)]
struct SchemaDecl {
    name: String,
    exported: bool,
    /// The drizzle table of `createInsertSchema(table)`.
    table_var: Option<String>,
    update: bool,
}

struct FileFacts {
    drizzle: std::sync::Arc<DrizzleFacts>,
    schemas: Vec<SchemaDecl>,
    sinks: Vec<Sink>,
    imports: ImportFacts,
}

impl Pass for MassAssignment {
    fn rules(&self) -> &[RuleMeta] {
        &self.meta
    }

    fn kinds(&self) -> &'static [&'static str] {
        KINDS
    }

    fn wants(&self, _path: &str, text: &str) -> bool {
        text.contains("Schema")
            || text.contains("Table")
            || text.contains("z.object")
            || ((text.contains(".body") || text.contains(".json()") || text.contains("input"))
                && (text.contains(".values(")
                    || text.contains(".set(")
                    || text.contains("data")
                    || text.contains(".insert(")
                    || text.contains(".update(")
                    || text.contains(".upsert(")))
    }

    fn may_edit(&self, facts: &Facts) -> bool {
        facts
            .downcast_ref::<FileFacts>()
            .is_some_and(|f| !f.sinks.is_empty())
    }

    fn scan(&self, file: &FileView<'_>) -> Option<Facts> {
        let root = file.tree.root();
        let bindings = Bindings::new(
            file.nodes("variable_declarator"),
            FUNCTION_KINDS
                .iter()
                .flat_map(|k| file.nodes(k))
                .map(|f| f.range())
                .collect(),
        );
        let drizzle = file.drizzle();
        let mut schemas = schema_decls(&root);
        let mut sinks: Vec<Sink> = file
            .nodes("call_expression")
            .iter()
            .flat_map(|c| sinks_of(c, &bindings))
            .collect();
        if drizzle.tables.is_empty()
            && drizzle.creators.is_empty()
            && schemas.is_empty()
            && sinks.is_empty()
        {
            return None;
        }
        let imports = imports::scan(&root, file.text);
        // Kept for the whole run: no spare capacity.
        schemas.shrink_to_fit();
        sinks.shrink_to_fit();
        Some(Box::new(FileFacts {
            drizzle,
            schemas,
            sinks,
            imports,
        }))
    }

    fn finish(
        &self,
        project: &ProjectView<'_>,
        facts: &BTreeMap<String, Facts>,
        out: &mut PassOutput,
    ) {
        let files: Vec<(&str, &FileFacts)> = facts_of::<FileFacts>(facts).collect();
        let tables = drizzle::TableIndex::new(files.iter().map(|(_, f)| &*f.drizzle));
        let index = SchemaIndex::new(&files);
        for (path, file) in &files {
            let style = project.style_of(path);
            for sink in &file.sinks {
                let table_vars: Vec<&str> = match &sink.target {
                    Target::Drizzle(v) => vec![v.as_str()],
                    Target::Supabase(name) => {
                        tables.named(name).iter().map(|t| t.var.as_str()).collect()
                    }
                    Target::Prisma(_) => vec![],
                };
                // A Supabase payload uses SQL column names; a drizzle-zod schema uses the
                // TypeScript keys, and would strip every column whose names differ.
                let usable = |decl: &SchemaDecl| match (&sink.target, &decl.table_var) {
                    (Target::Supabase(_), Some(var)) => tables.bound_to(var).iter().all(|t| {
                        t.columns
                            .iter()
                            .all(|c| c.sql_name.as_deref().is_none_or(|n| n == c.key))
                    }),
                    _ => true,
                };
                let schema = index.find(path, sink, &table_vars, &usable);
                let how = if sink.spread {
                    "spread into"
                } else {
                    "written whole to"
                };
                let Some((schema_path, decl)) = schema else {
                    out.proposals.push(Proposal {
                        rule: ID.into(),
                        path: (*path).into(),
                        at: sink.data.clone(),
                        message: format!(
                            "request data `{}` is {how} `{}`: a client can set any column; validate it with a zod schema that omits server-owned columns",
                            sink.data_text,
                            sink.target.label()
                        ).into(),
                        applicability: Applicability::Manual,
                        edits: vec![],
                    });
                    continue;
                };
                let partial = if sink.update && !decl.update {
                    ".partial()"
                } else {
                    ""
                };
                let mut edits = vec![Edit::replace(
                    sink.data.clone(),
                    format!("{}{partial}.parse({})", decl.name, sink.data_text),
                )];
                if let Some(import) = imports::add_named_import(
                    project.workspace,
                    &file.imports,
                    &style,
                    path,
                    &decl.name,
                    schema_path,
                ) {
                    edits.insert(0, import);
                }
                out.proposals.push(Proposal {
                    rule: ID.into(),
                    path: (*path).into(),
                    at: sink.data.clone(),
                    message: format!(
                        "request data `{}` is {how} `{}`: a client can set any column; parse it through {}",
                        sink.data_text,
                        sink.target.label(),
                        decl.name
                    ).into(),
                    applicability: Applicability::Review,
                    edits,
                });
            }
        }
    }
}

/// The project's schemas, indexed by the table they were made from and by the table their
/// name points at.
struct SchemaIndex<'a> {
    by_table_var: BTreeMap<&'a str, Vec<(&'a str, &'a SchemaDecl)>>,
    by_name_key: BTreeMap<String, Vec<(&'a str, &'a SchemaDecl)>>,
}

impl<'a> SchemaIndex<'a> {
    fn new(files: &[(&'a str, &'a FileFacts)]) -> SchemaIndex<'a> {
        let mut index = SchemaIndex {
            by_table_var: BTreeMap::new(),
            by_name_key: BTreeMap::new(),
        };
        for (path, file) in files {
            for decl in &file.schemas {
                if let Some(var) = &decl.table_var {
                    index
                        .by_table_var
                        .entry(var.as_str())
                        .or_default()
                        .push((path, decl));
                }
                if let Some(key) = schema_table_key(&decl.name) {
                    index.by_name_key.entry(key).or_default().push((path, decl));
                }
            }
        }
        index
    }

    /// The schema for a sink's table: a `createInsertSchema(table)` first, then one named
    /// after the table. Schemas in other files count only when exported.
    fn find(
        &self,
        here: &str,
        sink: &Sink,
        table_vars: &[&str],
        usable: &dyn Fn(&SchemaDecl) -> bool,
    ) -> Option<(&'a str, &'a SchemaDecl)> {
        let ok = |(p, s): &&(&'a str, &'a SchemaDecl)| (s.exported || *p == here) && usable(s);
        let by_table = |want_update: bool| {
            table_vars
                .iter()
                .filter_map(|v| self.by_table_var.get(v))
                .flatten()
                .filter(ok)
                .find(|(_, s)| s.update == want_update)
                .copied()
        };
        let wanted = table_key(sink.target.label());
        let named = self.by_name_key.get(&wanted);
        let by_name = |want_update: bool| {
            named
                .into_iter()
                .flatten()
                .filter(ok)
                .find(|(_, s)| s.update == want_update)
                .copied()
        };
        if sink.update {
            by_table(true)
                .or_else(|| by_name(true))
                .or_else(|| by_table(false))
                .or_else(|| by_name(false))
        } else {
            by_table(false).or_else(|| by_name(false))
        }
    }
}

/// `posts`, `Post`, `blog_posts` → a comparable singular key.
fn table_key(name: &str) -> String {
    let k: String = name
        .chars()
        .filter(|c| *c != '_')
        .flat_map(|c| c.to_lowercase())
        .collect();
    if let Some(stem) = k.strip_suffix("ies") {
        format!("{stem}y")
    } else if k.ends_with("ss") {
        k
    } else {
        k.strip_suffix('s').map(str::to_string).unwrap_or(k)
    }
}

/// `insertPostSchema`, `createPostSchema`, `postSchema`, `PostInput` → `post`.
fn schema_table_key(name: &str) -> Option<String> {
    let lower = name.to_lowercase();
    let stem = lower
        .strip_suffix("schema")
        .or_else(|| lower.strip_suffix("input"))?;
    let stem = ["insert", "create", "new", "update", "upsert"]
        .iter()
        .find_map(|p| stem.strip_prefix(p))
        .unwrap_or(stem);
    (!stem.is_empty()).then(|| table_key(stem))
}

/// Top-level `const X = createInsertSchema(t)...` and `const X = z.object(...)...` declarations.
fn schema_decls(root: &N) -> Vec<SchemaDecl> {
    let mut out = Vec::new();
    for stmt in root.children() {
        let (decl_stmt, exported) = if stmt.kind() == "export_statement" {
            match stmt.child_in("declaration") {
                Some(d) => (d, true),
                None => continue,
            }
        } else {
            (stmt.clone(), false)
        };
        if decl_stmt.kind() != "lexical_declaration" {
            continue;
        }
        for d in decl_stmt
            .children()
            .filter(|c| c.kind() == "variable_declarator")
        {
            let (Some(name), Some(value)) = (d.child_in("name"), d.child_in("value")) else {
                continue;
            };
            let Some(base) = chain_root(&value) else {
                continue;
            };
            let callee = base
                .child_in("function")
                .map(|f| f.text().to_string())
                .unwrap_or_default();
            let first_arg = base
                .child_in("arguments")
                .and_then(|a| a.children().find(|c| c.is_named()));
            let (table_var, update) = match callee.as_str() {
                "createInsertSchema" => (
                    first_arg
                        .filter(|a| a.kind() == "identifier")
                        .map(|a| a.text().to_string()),
                    false,
                ),
                "createUpdateSchema" => (
                    first_arg
                        .filter(|a| a.kind() == "identifier")
                        .map(|a| a.text().to_string()),
                    true,
                ),
                "z.object" | "z.strictObject" => {
                    (None, name.text().to_lowercase().starts_with("update"))
                }
                _ => continue,
            };
            out.push(SchemaDecl {
                name: name.text().to_string(),
                exported,
                table_var,
                update,
            });
        }
    }
    out
}

/// The first call of a method chain: `createInsertSchema(t)` in `createInsertSchema(t).omit(...)`.
fn chain_root<'a>(value: &N<'a>) -> Option<N<'a>> {
    let mut node = value.clone();
    loop {
        if node.kind() != "call_expression" {
            return None;
        }
        let func = node.child_in("function")?;
        match func.kind().as_ref() {
            "member_expression" => {
                let object = func.child_in("object")?;
                if object.kind() == "call_expression" {
                    node = object;
                } else {
                    return Some(node);
                }
            }
            _ => return Some(node),
        }
    }
}

/// Database writes in this call that take request data.
/// A file's variable declarators, and the ranges of its functions: where a name is bound.
struct Bindings<'a> {
    declarators: &'a [N<'a>],
    functions: Vec<std::ops::Range<usize>>,
    /// Each name a declarator binds to its whole value ([`whole_names`]) → those declarators, by
    /// index; made when first asked. Looking a name up here, not in every declarator of the
    /// file, keeps a handler of n declarations and n writes linear.
    by_name: std::cell::OnceCell<std::collections::HashMap<String, Vec<usize>>>,
}

impl<'a> Bindings<'a> {
    fn new(declarators: &'a [N<'a>], functions: Vec<std::ops::Range<usize>>) -> Self {
        Bindings {
            declarators,
            functions,
            by_name: std::cell::OnceCell::new(),
        }
    }

    /// The declarators that bind `name` to their whole value, in the order of the file.
    fn binding(&self, name: &str) -> impl Iterator<Item = &N<'a>> {
        let by_name = self.by_name.get_or_init(|| {
            let mut by_name: std::collections::HashMap<String, Vec<usize>> = Default::default();
            for (i, d) in self.declarators.iter().enumerate() {
                for n in d
                    .child_in("name")
                    .map(|n| whole_names(&n))
                    .unwrap_or_default()
                {
                    by_name.entry(n).or_default().push(i);
                }
            }
            by_name
        });
        by_name
            .get(name)
            .into_iter()
            .flatten()
            .map(|&i| &self.declarators[i])
    }

    /// The innermost function around `at`: the shortest function range that holds it. Faster
    /// than walking up from `at`, which tree-sitter does by descending from the root.
    fn function_around(&self, at: &std::ops::Range<usize>) -> Option<std::ops::Range<usize>> {
        self.functions
            .iter()
            .filter(|f| f.start <= at.start && at.end <= f.end && *f != at)
            .min_by_key(|f| f.end - f.start)
            .cloned()
    }
}

/// Whether a call's callee ends in the name of a write (`.create`, `.insert`, `.values`, ...),
/// read off its text: most calls in a file are not, and this spares them the field lookups.
fn may_write(call: &N) -> bool {
    // A call's callee is its first child.
    let Some(callee) = call.child(0) else {
        return false;
    };
    let text = callee.text();
    let name = text
        .trim_end()
        .rsplit(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '$'))
        .next()
        .unwrap_or_default();
    is_write_name(name)
}

/// Whether a method of that name writes a row: Prisma's and Supabase's writes, and Drizzle's
/// `.values(...)` and `.set(...)`.
fn is_write_name(name: &str) -> bool {
    PRISMA_WRITES.contains(&name)
        || SUPABASE_WRITES.contains(&name)
        || name == "values"
        || name == "set"
}

fn sinks_of(call: &N, bindings: &Bindings) -> Vec<Sink> {
    if !may_write(call) {
        return vec![];
    }
    let Some(func) = call
        .child_in("function")
        .filter(|f| f.kind() == "member_expression")
    else {
        return vec![];
    };
    let Some(property) = func.child_in("property") else {
        return vec![];
    };
    let method = property.text();
    if !is_write_name(&method) {
        return vec![];
    }
    let method = method.to_string();
    let Some(object) = func.child_in("object") else {
        return vec![];
    };
    let Some(first) = call
        .child_in("arguments")
        .and_then(|a| a.children().find(|c| c.is_named()))
    else {
        return vec![];
    };
    let mut found: Vec<(N, Target, bool)> = Vec::new();
    if PRISMA_WRITES.contains(&method.as_str())
        && object.kind() == "member_expression"
        && first.kind() == "object"
    {
        let model = object
            .child_in("property")
            .map(|p| p.text().to_string())
            .unwrap_or_default();
        for pair in first.children().filter(|c| c.kind() == "pair") {
            let key = pair
                .child_in("key")
                .map(|k| k.text().to_string())
                .unwrap_or_default();
            let update = match key.as_str() {
                "data" => method.starts_with("update"),
                "create" if method == "upsert" => false,
                "update" if method == "upsert" => true,
                _ => continue,
            };
            if let Some(v) = pair.child_in("value") {
                found.push((v, Target::Prisma(model.clone()), update));
            }
        }
    } else if method == "values" || method == "set" {
        let wanted = if method == "values" {
            "insert"
        } else {
            "update"
        };
        if let Some(table) = chain_call_arg(&object, wanted).filter(|a| a.kind() == "identifier") {
            found.push((
                first,
                Target::Drizzle(table.text().to_string()),
                method == "set",
            ));
        }
    } else if SUPABASE_WRITES.contains(&method.as_str()) {
        if let Some(name) = chain_call_arg(&object, "from").and_then(|a| drizzle::string_value(&a))
        {
            found.push((first, Target::Supabase(name), method == "update"));
        }
    }
    let mut sinks = Vec::new();
    for (value, target, update) in found {
        if is_request_data(&value, bindings, 0) {
            sinks.push(sink(&value, target, update, false));
        } else if value.kind() == "object" {
            for spread in value.children().filter(|c| c.kind() == "spread_element") {
                if let Some(arg) = spread.children().find(|c| c.is_named()) {
                    if is_request_data(&arg, bindings, 0) {
                        sinks.push(sink(&arg, target.clone(), update, true));
                    }
                }
            }
        }
    }
    sinks
}

fn sink(value: &N, target: Target, update: bool, spread: bool) -> Sink {
    Sink {
        data: value.range(),
        data_text: value.text().to_string(),
        target,
        update,
        spread,
    }
}

/// In a chain like `db.insert(posts)` or `supabase.from("posts")`, the first argument of the
/// call to `method`.
fn chain_call_arg<'a>(start: &N<'a>, method: &str) -> Option<N<'a>> {
    let mut node = start.clone();
    loop {
        match node.kind().as_ref() {
            "call_expression" => {
                let func = node.child_in("function")?;
                if func.kind() == "member_expression"
                    && func
                        .child_in("property")
                        .is_some_and(|p| p.text() == method)
                {
                    return node
                        .child_in("arguments")?
                        .children()
                        .find(|c| c.is_named());
                }
                node = func;
            }
            "member_expression" => node = node.child_in("object")?,
            "await_expression" | "parenthesized_expression" => {
                let inner = node.children().find(|c| c.is_named())?;
                node = inner;
            }
            _ => return None,
        }
    }
}

/// Whether an expression is what the client sent: `req.body`, `await req.json()`, a variable
/// bound to one of those in the same function, or a tRPC `input` with a schema that accepts
/// anything.
fn is_request_data(expr: &N, bindings: &Bindings, depth: usize) -> bool {
    match expr.kind().as_ref() {
        "member_expression" => {
            let t = expr.text();
            matches!(
                t.as_ref(),
                "req.body" | "request.body" | "ctx.request.body" | "ctx.req.body"
            )
        }
        "await_expression" => expr.children().find(|c| c.is_named()).is_some_and(|inner| {
            // tree-sitter reads `await req.json() as T` as `await (req.json() as T)`.
            let inner = unwrapped(inner);
            inner.kind() == "call_expression"
                && inner.child_in("function").is_some_and(|f| {
                    f.kind() == "member_expression"
                        && f.child_in("property").is_some_and(|p| p.text() == "json")
                        && f.child_in("object").is_some_and(|o| {
                            let o = o.text();
                            o == "req" || o == "request" || o.ends_with(".req") || o == "c.req"
                        })
                })
        }),
        "parenthesized_expression"
        | "as_expression"
        | "satisfies_expression"
        | "non_null_expression" => {
            let inner = unwrapped(expr.clone());
            inner.kind() != expr.kind() && is_request_data(&inner, bindings, depth)
        }
        "identifier" if depth == 0 => {
            let name = expr.text();
            (name == "input" && loose_trpc_input(expr))
                || bound_to_request_data(expr, &name, bindings)
        }
        _ => false,
    }
}

/// Whether `name` is declared in the function around `at` from request data.
fn bound_to_request_data(at: &N, name: &str, bindings: &Bindings) -> bool {
    let Some(scope) = bindings.function_around(&at.range()) else {
        return false;
    };
    bindings
        .binding(name)
        .filter(|d| scope.start <= d.range().start && d.range().end <= scope.end)
        .any(|d| {
            d.child_in("value")
                .is_some_and(|v| is_request_data(&v, bindings, 1))
        })
}

/// The names the declared `pattern` binds to the whole value: an identifier, or the rest of an
/// object pattern (`const { id, ...rest } = body`), which is all of it but the keys named before.
fn whole_names(pattern: &N) -> Vec<String> {
    match pattern.kind().as_ref() {
        "identifier" => vec![pattern.text().to_string()],
        "object_pattern" => pattern
            .children()
            .filter(|c| c.kind() == "rest_pattern")
            .flat_map(|c| {
                c.children()
                    .filter(|i| i.kind() == "identifier")
                    .map(|i| i.text().to_string())
                    .collect::<Vec<_>>()
            })
            .collect(),
        _ => vec![],
    }
}

/// `input` inside `.input(z.any()).mutation(({ input }) => ...)` and the like.
fn loose_trpc_input(at: &N) -> bool {
    at.ancestors().any(|a| {
        a.kind() == "call_expression"
            && a.child_in("function").is_some_and(|f| {
                let t = f.text();
                (t.ends_with(".mutation") || t.ends_with(".query"))
                    && ["z.any()", "z.custom", "z.unknown()", "z.record("]
                        .iter()
                        .any(|loose| t.contains(&format!(".input({loose}")))
            })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every variable declarator under `root`, as the engine collects them for the pass.
    fn declarators<'t>(root: &N<'t>) -> Vec<N<'t>> {
        root.dfs()
            .filter(|n| n.kind() == "variable_declarator")
            .collect()
    }

    #[test]
    fn the_function_around_a_node_is_its_nearest_function_ancestor() {
        let src = "const top = 1;\nexport async function POST(req: Request) {\n  const body = await req.json();\n  const inner = async () => { const x = body; return (function named() { return x; })(); };\n  return db.insert(items).values(body);\n}\nclass C { m(a) { const f = function* () { yield a; }; return f; } }\nexport const h = (q) => q.body;\n";
        let tree = Lang::TypeScript.parse(src).unwrap();
        let root = tree.root();
        let declarators = declarators(&root);
        let bindings = Bindings::new(
            &declarators,
            root.dfs()
                .filter(|n| FUNCTION_KINDS.contains(&n.kind().as_ref()))
                .map(|n| n.range())
                .collect(),
        );
        // POST, the arrow, `named`, the method `m`, the `function*` expression and `h`.
        assert_eq!(bindings.functions.len(), 6);
        let mut inside = 0;
        for node in root.dfs().filter(|n| n.kind() == "identifier") {
            let nearest = node
                .ancestors()
                .find(|a| FUNCTION_KINDS.contains(&a.kind().as_ref()))
                .map(|a| a.range());
            assert_eq!(
                bindings.function_around(&node.range()),
                nearest,
                "{}",
                node.text()
            );
            inside += usize::from(nearest.is_some());
        }
        assert!(inside > 10, "{inside} identifiers inside functions");
    }

    #[test]
    fn a_name_is_bound_whole_by_an_identifier_or_the_rest_of_an_object_pattern() {
        let src = "const body = await req.json();\nconst { id, ...rest } = body;\nconst [first] = list;\nfunction f() { const body = other; }\n";
        let tree = Lang::TypeScript.parse(src).unwrap();
        let declarators = declarators(&tree.root());
        let bindings = Bindings::new(&declarators, vec![]);
        let bound = |name: &str| -> Vec<String> {
            bindings
                .binding(name)
                .map(|d| d.text().to_string())
                .collect()
        };
        assert_eq!(bound("body"), ["body = await req.json()", "body = other"]);
        assert_eq!(bound("rest"), ["{ id, ...rest } = body"]);
        // A key taken out, an array element: not the whole value.
        assert!(bound("id").is_empty());
        assert!(bound("first").is_empty());
        assert!(bound("nothing").is_empty());
    }

    #[test]
    fn schema_names_match_table_names() {
        assert_eq!(
            schema_table_key("insertPostSchema").as_deref(),
            Some("post")
        );
        assert_eq!(
            schema_table_key("createCategorySchema").as_deref(),
            Some("category")
        );
        assert_eq!(schema_table_key("postSchema").as_deref(), Some("post"));
        assert_eq!(schema_table_key("helper"), None);
        assert_eq!(table_key("posts"), "post");
        assert_eq!(table_key("categories"), "category");
        assert_eq!(table_key("blog_posts"), "blogpost");
        assert_eq!(table_key("address"), "address");
    }
}
