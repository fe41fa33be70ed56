//! Passes: hardening that a single ast-grep rule cannot express because it needs facts from
//! other files (a table's columns, where a schema is defined) or writes new files.
//!
//! A pass works in two steps so that every file is still parsed once: `scan` runs on each
//! file's tree during the engine's one walk (in parallel) and returns facts; `finish` sees the
//! facts of all files and proposes edits, findings and new files.

pub mod auth_basics;
pub mod clients;
pub mod deps;
pub mod dev_route;
pub mod hmac;
pub mod imports;
pub mod mfa;
pub mod mfa_core;
pub mod mfa_express;
pub mod mfa_trpc;
pub mod outbound;
pub mod rate_limit;
pub mod raw_sql;
pub mod rls;
pub mod routes;
pub mod schema;
pub mod webhook;

use crate::config::Config;
use crate::lang::{Lang, Tree};
use crate::plan::{NewFile, Proposal};
use crate::rules::{CollectedNodes, RuleMeta};
use crate::stack::Stack;
use crate::workspace::Workspace;
use ast_grep_core::tree_sitter::StrDoc;
use ast_grep_core::Node;
use std::any::Any;
use std::collections::BTreeMap;

/// What a pass learned from one file; the pass downcasts its own facts in `finish`.
pub type Facts = Box<dyn Any + Send + Sync>;

pub struct FileView<'a> {
    pub path: &'a str,
    pub lang: Lang,
    pub tree: &'a Tree,
    pub text: &'a str,
    /// The nodes of the kinds the passes declared, collected during the engine's walk.
    pub nodes: &'a CollectedNodes<'a>,
    /// The file's drizzle tables, read once for the passes that need them.
    pub drizzle: std::cell::OnceCell<std::sync::Arc<crate::schema::drizzle::DrizzleFacts>>,
}

impl<'a> FileView<'a> {
    /// The file's nodes of `kind` (which the pass must list in [`Pass::kinds`]).
    pub fn nodes(&self, kind: &str) -> &'a [Node<'a, StrDoc<Lang>>] {
        self.nodes.of(self.lang, kind)
    }

    /// The drizzle tables and schema creators the file defines (from its `variable_declarator`
    /// nodes, which the pass must list in [`Pass::kinds`]), read on first use and shared by
    /// every pass that keeps them.
    pub fn drizzle(&self) -> std::sync::Arc<crate::schema::drizzle::DrizzleFacts> {
        self.drizzle
            .get_or_init(|| {
                std::sync::Arc::new(crate::schema::drizzle::scan(
                    self.nodes("variable_declarator"),
                ))
            })
            .clone()
    }
}

pub struct ProjectView<'a> {
    pub workspace: &'a Workspace,
    pub stack: &'a Stack,
    pub config: &'a Config,
    /// The rules selected for this run (a pass whose output serves several may shape it).
    pub selection: &'a crate::rules::Selection,
    /// The project's lockfiles, parsed once for the passes that read them ([`Self::lockfiles`]).
    pub locks: std::sync::OnceLock<deps::Lockfiles>,
    /// Where the run keeps them between rounds.
    pub lock_cache: &'a deps::LockCache,
}

impl ProjectView<'_> {
    /// Every lockfile, parsed ([`deps::lockfiles`]), once per view (the workspace does not
    /// change while the passes finish) and again only when one of them changed.
    pub fn lockfiles(&self) -> &[Result<crate::deps::lockfile::Lock, (String, String)>] {
        self.locks
            .get_or_init(|| self.lock_cache.get(self.workspace))
    }

    /// The style of code inserted into the existing file `path` (see [`Stack::style_of`]); the
    /// project's for a file it does not have.
    pub fn style_of(&self, path: &str) -> crate::stack::Style {
        match self.workspace.text(path) {
            Some(text) => self.stack.style_of(text.body),
            None => self.stack.style.clone(),
        }
    }
}

#[derive(Default)]
pub struct PassOutput {
    pub proposals: Vec<Proposal>,
    pub new_files: Vec<NewFile>,
}

pub trait Pass: Send + Sync {
    /// The rule ids this pass reports under, with their documentation.
    fn rules(&self) -> &[RuleMeta];
    // A pass that reads only data files (lockfiles, migrations) in `finish` keeps the
    // defaults: it asks for no node kinds and scans no source file.

    /// The node kinds `scan` reads through [`FileView::nodes`].
    fn kinds(&self) -> &'static [&'static str] {
        &[]
    }
    /// A cheap test on a source file's text; only files it accepts are given to `scan`.
    fn wants(&self, _path: &str, _text: &str) -> bool {
        false
    }
    fn scan(&self, _file: &FileView<'_>) -> Option<Facts> {
        None
    }
    /// Whether `finish` may propose an edit in the file these facts came from (the engine
    /// then keeps its tree for a cheap reparse after the edit).
    fn may_edit(&self, _facts: &Facts) -> bool {
        false
    }
    fn finish(
        &self,
        project: &ProjectView<'_>,
        facts: &BTreeMap<String, Facts>,
        out: &mut PassOutput,
    );
}

pub fn all() -> Vec<Box<dyn Pass>> {
    vec![
        Box::new(schema::insert_omits_privileged::InsertOmitsPrivileged::default()),
        Box::new(schema::mass_assignment::MassAssignment::default()),
        Box::new(deps::pin::PinDependencies::default()),
        Box::new(deps::supply_chain::SupplyChain::default()),
        Box::new(rls::RowLevelSecurity::default()),
        Box::new(webhook::StripeSignature::default()),
        Box::new(hmac::HmacTiming::default()),
        Box::new(outbound::OutboundIdempotency::default()),
        Box::new(auth_basics::AuthBasics::default()),
        Box::new(rate_limit::RateLimit::default()),
        Box::new(dev_route::DevRoute::default()),
        Box::new(raw_sql::InterpolatedQuery::default()),
        Box::new(mfa::Mfa::default()),
        Box::new(mfa_express::ExpressMfa::default()),
        Box::new(mfa_trpc::TrpcMfa::default()),
    ]
}

/// Downcasts the facts a pass stored for each file.
pub fn facts_of<T: 'static>(facts: &BTreeMap<String, Facts>) -> impl Iterator<Item = (&str, &T)> {
    facts
        .iter()
        .filter_map(|(p, f)| f.downcast_ref::<T>().map(|t| (p.as_str(), t)))
}

/// The whitespace that starts the line holding `at` (up to `at`).
pub fn line_indent(text: &str, at: usize) -> String {
    let line_start = text[..at].rfind('\n').map_or(0, |i| i + 1);
    text[line_start..at]
        .chars()
        .take_while(|c| c.is_whitespace())
        .collect()
}

/// The documentation of a rule a pass reports under, and its references.
#[allow(clippy::too_many_arguments)]
pub fn rule_meta(
    origin: &'static str,
    area: crate::plan::Area,
    id: &str,
    title: &str,
    severity: crate::plan::Severity,
    applicability: crate::plan::Applicability,
    [what, why, before, after, safety]: [&str; 5],
    references: &[&str],
) -> RuleMeta {
    RuleMeta {
        id: id.into(),
        title: title.into(),
        severity,
        area,
        applicability,
        origin: crate::rules::Origin::Pass(origin),
        docs: crate::rules::Docs {
            what: what.into(),
            why: why.into(),
            before: before.into(),
            after: after.into(),
            fix_safety: Some(safety.into()),
            references: references.iter().map(|r| r.to_string()).collect(),
        },
    }
}

/// Where an injected helper module goes: `lib/casehard/<name>` under the project's source
/// root (`src/` when it has one), next to the code that imports it through the same alias.
pub fn helper_path(ws: &Workspace, name: &str) -> String {
    match crate::stack::alias_root(ws) {
        "" => format!("lib/casehard/{name}"),
        root => format!("{root}/lib/casehard/{name}"),
    }
}

/// Whether `path` is the code of a Supabase edge function: Deno, deployed a function folder at
/// a time plus `supabase/functions/_shared`, and resolving imports by their full path.
pub fn is_edge_function(path: &str) -> bool {
    path.starts_with("supabase/functions/")
}

/// Where the helper module `name` goes for code in `importer`: edge functions can reach only
/// `supabase/functions/_shared`, so theirs goes there; the rest share [`helper_path`].
pub fn helper_for(ws: &Workspace, importer: &str, name: &str) -> String {
    if is_edge_function(importer) {
        format!("supabase/functions/_shared/casehard-{name}")
    } else {
        helper_path(ws, name)
    }
}

/// A helper module rendered from `templates/<template>.hbs` in the project's style (`q`, `s`
/// and `i`, plus `extra`), to create unless the project already has it.
pub fn helper_file(
    project: &ProjectView<'_>,
    rule: &str,
    path: &str,
    template: &str,
    extra: serde_json::Value,
    message: String,
) -> Option<NewFile> {
    if project.workspace.contains(path) {
        return None;
    }
    let mut data = serde_json::json!({ "rule": rule });
    if let (Some(data), serde_json::Value::Object(extra)) = (data.as_object_mut(), extra) {
        data.extend(extra);
    }
    let content = crate::templates::render_in_style(template, &project.stack.style, &data).ok()?;
    Some(NewFile {
        rule: rule.into(),
        path: path.into(),
        content,
        message,
        fixes: vec![],
    })
}

/// Tables only casehard's server-side helpers use, and the migration that creates them.
pub struct ServerTables<'a> {
    pub rule: &'a str,
    /// A table the migration creates: a migration that mentions it already is enough.
    pub table: &'a str,
    /// The file's `casehard_<name>` part.
    pub name: &'a str,
    /// Gets `rule`, `supabase`, `apply` and `extra`.
    pub template: &'a str,
    pub extra: serde_json::Value,
    /// What the new file holds, for its message.
    pub what: &'a str,
}

/// Writes the migration of `tables` where the app keeps its own migrations, unless one of
/// them already creates it.
pub fn server_tables_migration(
    project: &ProjectView<'_>,
    tables: ServerTables<'_>,
    out: &mut PassOutput,
) {
    let ServerTables {
        rule,
        table,
        name,
        template,
        extra,
        what,
    } = tables;
    let ws = project.workspace;
    rls::sync_journal(ws, rule, out);
    let exists = crate::schema::sql::migration_files(ws)
        .iter()
        .any(|m| ws.text(m).is_some_and(|t| t.body.contains(table)));
    if exists {
        return;
    }
    let supabase = project
        .stack
        .databases
        .contains(&crate::stack::Database::Supabase);
    let target = crate::schema::migrations::detect(ws, supabase);
    let Ok(migration) = crate::schema::migrations::new_migration(ws, &target, name, &out.new_files)
    else {
        return;
    };
    let mut data =
        serde_json::json!({ "rule": rule, "supabase": supabase, "apply": migration.apply });
    if let (Some(data), serde_json::Value::Object(extra)) = (data.as_object_mut(), extra) {
        data.extend(extra);
    }
    if let Ok(mut content) = crate::templates::render(template, &data) {
        if migration.breakpoints {
            content = rls::with_breakpoints(&content);
        }
        out.new_files.push(NewFile {
            rule: rule.into(),
            message: format!("{}: {what}", migration.path),
            path: migration.path,
            content,
            fixes: vec![],
        });
    }
}
