//! The data model as the app's SQL migrations leave it, replayed in the order the tool that
//! runs them would use, each statement parsed by the Postgres server's own parser (pg_query).
//! A statement that does not parse is reported with its file and line; the rest still count.

use crate::workspace::Workspace;
use pg_query::protobuf::{a_const, AlterTableType, ConstrType, ObjectType, RangeVar};
use pg_query::NodeEnum;
use std::collections::BTreeMap;

/// PostgreSQL cuts an identifier to this many bytes (`NAMEDATALEN - 1`), with only a notice.
pub const MAX_IDENTIFIER: usize = 63;

/// The first at most `room` bytes of `name`, cut at a character boundary.
pub fn clip(name: &str, room: usize) -> &str {
    let mut end = name.len().min(room);
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    &name[..end]
}

/// A name as PostgreSQL stores it: cut to [`MAX_IDENTIFIER`] bytes, as the server does to
/// every identifier it reads, quoted or not. Names taken from an ORM schema (a Prisma model, a
/// Drizzle table) go through this so they match what a replayed migration holds; a 64-byte
/// model name is a 63-byte table.
pub fn pg_identifier(name: &str) -> String {
    clip(name, MAX_IDENTIFIER).to_string()
}

/// Where a statement is: file and byte offset of its start.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Loc {
    pub file: String,
    pub offset: usize,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ForeignKey {
    pub columns: Vec<String>,
    /// `schema.table`.
    pub table: String,
    pub ref_columns: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    pub name: String,
    /// all, select, insert, update, delete.
    pub command: String,
    pub permissive: bool,
    /// `using (true)` or `with check (true)`: open to everyone it applies to.
    pub allows_all: bool,
    /// The statement's text when it decides access from the JWT's `user_metadata`, which every
    /// user can write about themselves.
    pub user_metadata: Option<String>,
    pub at: Loc,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Table {
    pub schema: String,
    pub name: String,
    /// (name, type) in order; the type as written (`uuid`, `text`, `int8`...).
    pub columns: Vec<(String, String)>,
    pub primary_key: Vec<String>,
    pub foreign_keys: Vec<ForeignKey>,
    pub rls: bool,
    pub forced: bool,
    pub policies: Vec<Policy>,
    pub defined: Loc,
    /// The last `disable row level security` that came after an `enable`.
    pub disabled_after_enable: Option<Loc>,
}

impl Table {
    pub fn qualified(&self) -> String {
        format!("{}.{}", self.schema, self.name)
    }
    pub fn column_type(&self, column: &str) -> Option<&str> {
        self.columns
            .iter()
            .find(|(c, _)| c == column)
            .map(|(_, t)| t.as_str())
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IssueKind {
    /// The statement does not parse.
    Unparsed(String),
    /// `CREATE POLICY IF NOT EXISTS`: Postgres has no such syntax; the migration fails.
    PolicyIfNotExists,
    /// A role created or altered with SUPERUSER or BYPASSRLS: row-level security never
    /// applies to it. (role, attribute)
    RoleBypassesRls(String, String),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Issue {
    pub at: Loc,
    pub kind: IssueKind,
}

/// A function or procedure the migrations create, as far as its rights go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Routine {
    /// `function` or `procedure`, as `alter` names it.
    pub kind: &'static str,
    /// Its schema (`public` when the name is unqualified).
    pub schema: String,
    /// Schema-qualified name and argument types, as `alter function` takes them:
    /// `public.has_role(uuid, text)`.
    pub signature: String,
    /// `security definer`: it runs with its owner's rights, whoever calls it.
    pub definer: bool,
    /// It sets its own `search_path`; without one, the names in its body resolve in the
    /// caller's.
    pub search_path: bool,
    /// The statement that created it.
    pub at: Loc,
}

/// A policy on Supabase Storage's `storage.objects`, the platform's table to which an app's
/// migrations only add policies (which buckets who may read and write).
#[derive(Clone, Debug)]
pub struct StoragePolicy {
    pub name: String,
    /// all, select, insert, update, delete.
    pub command: String,
    /// The statement as parsed, to be written again with narrower terms.
    pub stmt: pg_query::protobuf::CreatePolicyStmt,
    pub at: Loc,
}

impl StoragePolicy {
    /// Whether it lets people write files that are not theirs: a write whose expressions never
    /// name the user (`auth.uid()`, `auth.jwt()`, the object's `owner_id`), so that an `insert`
    /// open to `anon` (or to everyone) takes uploads from anyone, and an `update`, `delete` or
    /// `all` lets whoever it applies to overwrite or delete every file in the bucket.
    pub fn open_write(&self) -> bool {
        let s = &self.stmt;
        let mentions = |names: &[&str]| {
            [&s.qual, &s.with_check].iter().any(|n| {
                serde_json::to_string(n)
                    .is_ok_and(|j| names.iter().any(|k| j.contains(&format!("\"{k}\""))))
            })
        };
        if !s.permissive || mentions(&["uid", "jwt", "owner", "owner_id"]) {
            return false;
        }
        match s.cmd_name.as_str() {
            // `auth.role() = 'authenticated'` keeps uploads to signed-in users.
            "insert" => applies_to_anon(&s.roles) && !mentions(&["role"]),
            "update" | "delete" | "all" => true,
            _ => false,
        }
    }

    /// The statements that take its place, written by the Postgres deparser: reads as it
    /// allowed them (for `all`), uploads within what it allowed by signed-in users only, and
    /// changes and deletions within what it allowed by the file's owner only. `name` names the
    /// policy for a command.
    pub fn narrowed(&self, name: impl Fn(&str) -> String) -> Result<Vec<String>, String> {
        use pg_query::protobuf::{BoolExpr, BoolExprType, Node, RoleSpec, RoleSpecType};
        let owner = owner_is_user()?;
        let and = |a: Option<Box<Node>>| -> Option<Box<Node>> {
            Some(Box::new(match a {
                None => owner.clone(),
                Some(a) => wrap(NodeEnum::BoolExpr(Box::new(BoolExpr {
                    boolop: BoolExprType::AndExpr as i32,
                    args: vec![*a, owner.clone()],
                    ..Default::default()
                }))),
            }))
        };
        let authenticated = vec![wrap(NodeEnum::RoleSpec(RoleSpec {
            roletype: RoleSpecType::RolespecCstring as i32,
            rolename: "authenticated".into(),
            location: -1,
        }))];
        let commands: &[&str] = match self.stmt.cmd_name.as_str() {
            "all" => &["select", "insert", "update", "delete"],
            "insert" => &["insert"],
            "update" => &["update"],
            "delete" => &["delete"],
            _ => &[],
        };
        let mut out = Vec::new();
        for command in commands {
            let mut stmt = self.stmt.clone();
            stmt.policy_name = name(command);
            stmt.cmd_name = command.to_string();
            match *command {
                "select" => stmt.with_check = None,
                "insert" => {
                    stmt.roles = authenticated.clone();
                    stmt.with_check = stmt.with_check.or(stmt.qual.take());
                }
                "update" => {
                    stmt.roles = authenticated.clone();
                    stmt.qual = and(stmt.qual);
                    stmt.with_check = stmt.with_check.and_then(|w| and(Some(w)));
                }
                _ => {
                    stmt.roles = authenticated.clone();
                    stmt.qual = and(stmt.qual);
                    stmt.with_check = None;
                }
            }
            let text = NodeEnum::CreatePolicyStmt(Box::new(stmt))
                .deparse(pg_query::DeparseOptions::default())
                .map_err(|e| e.to_string())?;
            out.push(text);
        }
        Ok(out)
    }
}

/// `owner_id = (select auth.uid()::text)`: the object's owner, which Storage sets to the
/// uploader's id, is the signed-in user (evaluated once per query).
fn owner_is_user() -> Result<pg_query::protobuf::Node, String> {
    let parsed = pg_query::parse(
        "select where owner_id = (select auth.uid()::text)",
        pg_query::ParserOptions::DEFAULT,
    )
    .map_err(|e| e.to_string())?;
    let stmt = parsed
        .protobuf
        .stmts
        .into_iter()
        .next()
        .and_then(|r| r.stmt);
    match stmt.and_then(|s| s.node) {
        Some(NodeEnum::SelectStmt(s)) => s
            .where_clause
            .map(|w| *w)
            .ok_or_else(|| "no owner check".to_string()),
        _ => Err("no owner check".into()),
    }
}

/// Whether a policy's `to` reaches signed-out callers: no `to` (everyone), `public` or `anon`.
fn applies_to_anon(roles: &[pg_query::protobuf::Node]) -> bool {
    use pg_query::protobuf::RoleSpecType;
    roles.is_empty()
        || roles.iter().any(|r| match r.node.as_ref() {
            Some(NodeEnum::RoleSpec(r)) => {
                r.roletype == RoleSpecType::RolespecPublic as i32 || r.rolename == "anon"
            }
            _ => false,
        })
}

#[derive(Clone, Debug, Default)]
pub struct Model {
    /// `schema.table` → table.
    pub tables: BTreeMap<String, Table>,
    pub issues: Vec<Issue>,
    /// The migration files replayed, in order.
    pub files: Vec<String>,
    /// Tables some migration creates (a table the app's ORM schema defines but no migration
    /// creates is one the app pushes).
    pub created: std::collections::BTreeSet<String>,
    /// Functions and procedures by signature.
    pub routines: BTreeMap<String, Routine>,
    /// Policies on `storage.objects`, in the order they were created.
    pub storage_policies: Vec<StoragePolicy>,
}

/// Migration files in the order their tool applies them: loose schema files first, then each
/// migrations folder in file-name order (timestamps and numbers sort that way).
/// Schema files read before every migration folder.
pub const SCHEMA_FILES: [&str; 4] = [
    "schema.sql",
    "db/schema.sql",
    "supabase/schema.sql",
    "database/schema.sql",
];

/// Whether [`migration_files`] orders `path` after every Supabase migration: an SQL file
/// outside `supabase/migrations/` that is not a schema file.
pub fn runs_after_supabase(path: &str) -> bool {
    path.ends_with(".sql")
        && !path.starts_with("supabase/migrations/")
        && !SCHEMA_FILES.contains(&path)
}

pub fn migration_files(ws: &Workspace) -> Vec<String> {
    let mut out: Vec<String> = SCHEMA_FILES
        .iter()
        .filter(|p| ws.files.contains_key(**p))
        .map(|p| p.to_string())
        .collect();
    let folders = [
        "supabase/migrations/",
        "prisma/migrations/",
        "drizzle/",
        "migrations/",
        "db/migrations/",
        "database/migrations/",
        "scripts/",
        "sql/",
        "db/",
    ];
    let drizzle = super::migrations::drizzle_out(ws).map(|out| format!("{out}/"));
    let folders = folders
        .iter()
        .map(|f| f.to_string())
        .chain(drizzle.filter(|d| !folders.contains(&d.as_str())));
    for folder in folders {
        let folder = folder.as_str();
        let mut files: Vec<String> = ws
            .files
            .keys()
            .filter(|p| p.starts_with(folder) && p.ends_with(".sql") && !out.contains(p))
            .filter(|p| {
                let rest = &p[folder.len()..];
                // prisma: <dir>/migration.sql; others: files directly in the folder.
                if folder == "prisma/migrations/" {
                    rest.ends_with("/migration.sql") && rest.matches('/').count() == 1
                } else {
                    !rest.contains('/')
                }
            })
            .cloned()
            .collect();
        files.sort();
        out.extend(files);
    }
    out
}

/// Replays the migrations into the final model.
pub fn replay(ws: &Workspace) -> Model {
    replay_onto(ws, Model::default())
}

/// Replays the migrations onto tables that exist before them (created by `prisma db push` or
/// `drizzle-kit push` from the app's ORM schema). Statements are parsed one at a time and
/// dropped once applied, so a large migration never sits in memory as a whole parse tree.
pub fn replay_onto(ws: &Workspace, mut model: Model) -> Model {
    for file in migration_files(ws) {
        let Some(text) = ws.text(&file) else { continue };
        apply_file(&mut model, &file, text.body);
        model.files.push(file);
    }
    model
}

/// Statements parsed in one call. Batches are parsed in parallel, one per thread, and applied
/// in order; small batches keep few parse trees alive at once.
const PARSE_BATCH: usize = 32;

/// Applies one file's statements; one that does not parse is reported and skipped.
///
/// Statements are parsed a batch at a time, a batch per thread in parallel, and applied in order;
/// a batch that does not parse as a whole is parsed statement by statement, so the one that
/// fails is the one reported. Parse trees are dropped batch by batch: a large migration never
/// sits in memory as a whole parse tree.
pub fn apply_file(model: &mut Model, file: &str, sql: &str) {
    use rayon::prelude::*;
    let pieces = split(sql, SPLIT_CHUNK);
    let batches: Vec<&[&str]> = pieces.chunks(PARSE_BATCH).collect();
    let in_flight = rayon::current_num_threads().max(1);
    for group in batches.chunks(in_flight) {
        let parsed: Vec<Option<Vec<Parsed>>> = group
            .par_iter()
            .map(|batch| parse_statements(span(sql, batch)))
            .collect();
        for (batch, parsed) in group.iter().zip(parsed) {
            let Some(parsed) = parsed else {
                for piece in *batch {
                    apply_piece(
                        model,
                        file,
                        sql,
                        piece,
                        pg_query::parse(piece, pg_query::ParserOptions::DEFAULT),
                    );
                }
                continue;
            };
            let text = span(sql, batch);
            for p in parsed {
                let piece = &text[p.range];
                apply(
                    model,
                    &p.node,
                    statement_loc(file, sql, piece),
                    piece.trim(),
                    p.user_metadata,
                );
            }
        }
    }
}

/// Bytes of SQL handed to pg_query's splitter at once. The splitter copies what it scans into
/// buffers of twice its size, so a migration of thousands of tables scanned whole took 10 MB
/// (2,324 tables) to 45 MB (11,835) for a moment; in chunks it takes a few hundred KB.
const SPLIT_CHUNK: usize = 64 << 10;

/// The statements of `sql` exactly as `pg_query::split_with_scanner` finds them in the whole
/// text, found a chunk of about `chunk` bytes at a time. A chunk ends after a line that ends in
/// `;`, and is taken only if the splitter ended a statement at that `;`: then the scanner is
/// outside any string, comment or parenthesis there, and the splitter starts the next chunk in
/// the state it would have been in. Otherwise the chunk grows to the next such line. Text whose
/// scan fails (an unterminated string or comment) is one piece, reported where it starts.
fn split(sql: &str, chunk: usize) -> Vec<&str> {
    let chunk = chunk.max(1);
    let mut out = Vec::new();
    let mut start = 0;
    let mut want = chunk;
    while start < sql.len() {
        let end = line_end_after_semicolon(sql, start + want);
        let part = &sql[start..end];
        match pg_query::split_with_scanner(part) {
            Ok(pieces) if end == sql.len() || ends_statement_at_last_semicolon(part, &pieces) => {
                out.extend(pieces);
                start = end;
                want = chunk;
            }
            Err(_) if end == sql.len() => {
                out.push(part);
                break;
            }
            // Doubling keeps the text scanned in all linear in its size.
            _ => want = (end - start) * 2,
        }
    }
    out
}

/// Just past the `;` that ends the first line at or after `from` (the newline starts the next
/// chunk, as the whole text's splitter starts the next statement right after a `;`), or the
/// end of `sql`; never before `from`, so a chunk always grows (`from` on the `\n` of a `;\r\n`
/// takes the next line: that `;` is before it).
fn line_end_after_semicolon(sql: &str, from: usize) -> usize {
    let bytes = sql.as_bytes();
    let mut at = from.min(bytes.len());
    while let Some(nl) = bytes[at..].iter().position(|&b| b == b'\n') {
        let line_end = at + nl;
        let content = bytes[..line_end]
            .strip_suffix(b"\r")
            .unwrap_or(&bytes[..line_end]);
        if content.last() == Some(&b';') && content.len() >= from {
            return content.len();
        }
        at = line_end + 1;
    }
    bytes.len()
}

/// Whether the splitter's last statement in `part` ends at the `;` that ends `part`, i.e. that
/// `;` is a statement terminator and not inside a comment, a string or parentheses.
fn ends_statement_at_last_semicolon(part: &str, pieces: &[&str]) -> bool {
    pieces.last().is_some_and(|last| {
        let end = last.as_ptr() as usize - part.as_ptr() as usize + last.len();
        end + 1 == part.len()
    })
}

/// The text from the first statement of `batch` to the end of its last (they are slices of
/// `sql`, in order).
fn span<'s>(sql: &'s str, batch: &[&str]) -> &'s str {
    let (Some(first), Some(last)) = (batch.first(), batch.last()) else {
        return "";
    };
    let start = first.as_ptr() as usize - sql.as_ptr() as usize;
    let end = last.as_ptr() as usize - sql.as_ptr() as usize + last.len();
    &sql[start..end]
}

/// Where the statement `piece` (a slice of `sql`) starts, past blank lines and comments.
fn statement_loc(file: &str, sql: &str, piece: &str) -> Loc {
    let offset = piece.as_ptr() as usize - sql.as_ptr() as usize;
    let lead = piece.len() - piece.trim_start().len();
    Loc {
        file: file.to_string(),
        offset: statement_start(sql, offset + lead),
    }
}

/// A parsed statement, with what is costly to learn from it found on the thread that parsed it.
struct Parsed {
    node: NodeEnum,
    /// Where it is in the text that was parsed.
    range: std::ops::Range<usize>,
    /// See [`reads_user_metadata`].
    user_metadata: bool,
}

/// The statements of `text`; none if it does not parse.
fn parse_statements(text: &str) -> Option<Vec<Parsed>> {
    let parsed = pg_query::parse(text, pg_query::ParserOptions::DEFAULT).ok()?;
    let statements = parsed.protobuf.stmts.into_iter().filter_map(|raw| {
        let from = (raw.stmt_location.max(0) as usize).min(text.len());
        let to = match raw.stmt_len {
            len if len > 0 => (from + len as usize).min(text.len()),
            _ => text.len(),
        };
        let node = raw.stmt.and_then(|s| s.node)?;
        let user_metadata = reads_user_metadata(&node, &text[from..to]);
        Some(Parsed {
            node,
            range: from..to,
            user_metadata,
        })
    });
    Some(statements.collect())
}

/// A policy whose expressions read `user_metadata` (which the user can edit) anywhere in
/// their parse tree. Searched in the tree's JSON, which reaches every node kind, and only when
/// the statement's text `sql` can spell the name (see [`may_spell_user_metadata`]).
fn reads_user_metadata(node: &NodeEnum, sql: &str) -> bool {
    match node {
        NodeEnum::CreatePolicyStmt(s) if may_spell_user_metadata(sql) => [&s.qual, &s.with_check]
            .iter()
            .any(|n| serde_json::to_string(n).is_ok_and(|j| j.contains("\"user_metadata\""))),
        _ => false,
    }
}

/// Whether a statement's text can produce the name `user_metadata` in its parse tree: it
/// holds the name in any case (unquoted identifiers fold to lower case), or an escape that can
/// spell it otherwise (`E'user\137metadata'`, `U&"user\005Fmetadata"`).
fn may_spell_user_metadata(sql: &str) -> bool {
    let bytes = sql.as_bytes();
    let holds = |needle: &[u8]| {
        bytes
            .windows(needle.len())
            .any(|w| w.eq_ignore_ascii_case(needle))
    };
    sql.contains('\\') || holds(b"user_metadata") || holds(b"u&")
}

fn apply_piece(
    model: &mut Model,
    file: &str,
    sql: &str,
    piece: &str,
    parsed: pg_query::Result<pg_query::ParseResult>,
) {
    match parsed {
        Ok(parsed) => {
            for raw in parsed.protobuf.stmts {
                if let Some(node) = raw.stmt.and_then(|s| s.node) {
                    let loc = statement_loc(file, sql, piece);
                    let user_metadata = reads_user_metadata(&node, piece);
                    apply(model, &node, loc, piece.trim(), user_metadata);
                }
            }
        }
        Err(e) => {
            let normalized = piece
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
                .to_lowercase();
            let kind = if normalized.contains("create policy if not exists") {
                IssueKind::PolicyIfNotExists
            } else {
                IssueKind::Unparsed(e.to_string())
            };
            model.issues.push(Issue {
                at: statement_loc(file, sql, piece),
                kind,
            });
        }
    }
}

/// The first byte of the statement itself: the parser's location starts right after the
/// previous `;`, before blank lines and comments.
fn statement_start(sql: &str, mut at: usize) -> usize {
    loop {
        let rest = &sql[at.min(sql.len())..];
        let trimmed = rest.trim_start();
        at += rest.len() - trimmed.len();
        if trimmed.starts_with("--") {
            at += trimmed.find('\n').map_or(trimmed.len(), |i| i + 1);
        } else if trimmed.starts_with("/*") {
            at += trimmed.find("*/").map_or(trimmed.len(), |i| i + 2);
        } else {
            return at;
        }
    }
}

/// Supabase Storage's table of stored files.
pub const STORAGE_OBJECTS: &str = "storage.objects";

fn qualified(rv: &RangeVar) -> String {
    let schema = if rv.schemaname.is_empty() {
        "public"
    } else {
        rv.schemaname.as_str()
    };
    format!("{schema}.{}", rv.relname)
}

fn strings(nodes: &[pg_query::protobuf::Node]) -> Vec<String> {
    nodes
        .iter()
        .filter_map(|n| match n.node.as_ref() {
            Some(NodeEnum::String(s)) => Some(s.sval.clone()),
            _ => None,
        })
        .collect()
}

fn type_name(t: &Option<pg_query::protobuf::TypeName>) -> String {
    let names = t.as_ref().map(|t| strings(&t.names)).unwrap_or_default();
    // `pg_catalog.int8` → `int8`; `uuid` → `uuid`.
    names.last().cloned().unwrap_or_default()
}

fn is_true(node: &Option<Box<pg_query::protobuf::Node>>) -> bool {
    matches!(
        node.as_ref().and_then(|n| n.node.as_ref()),
        Some(NodeEnum::AConst(c)) if matches!(&c.val, Some(a_const::Val::Boolval(b)) if b.boolval)
    )
}

fn apply_constraint(table: &mut Table, c: &pg_query::protobuf::Constraint, column: Option<&str>) {
    match ConstrType::try_from(c.contype) {
        Ok(ConstrType::ConstrPrimary) => {
            table.primary_key = match column {
                Some(col) => vec![col.to_string()],
                None => strings(&c.keys),
            };
        }
        Ok(ConstrType::ConstrForeign) => {
            let Some(pk) = &c.pktable else { return };
            let columns = match column {
                Some(col) => vec![col.to_string()],
                None => strings(&c.fk_attrs),
            };
            table.foreign_keys.push(ForeignKey {
                columns,
                table: qualified(pk),
                ref_columns: strings(&c.pk_attrs),
            });
        }
        _ => {}
    }
}

fn add_column(table: &mut Table, def: &pg_query::protobuf::ColumnDef) {
    table
        .columns
        .push((def.colname.clone(), type_name(&def.type_name)));
    for c in &def.constraints {
        if let Some(NodeEnum::Constraint(c)) = c.node.as_ref() {
            apply_constraint(table, c, Some(&def.colname));
        }
    }
}

/// Applies one statement (`text`, at `at`) to the model; `user_metadata`: it is a policy whose
/// expressions read it ([`reads_user_metadata`]), found where the statement was parsed.
fn apply(model: &mut Model, node: &NodeEnum, at: Loc, text: &str, user_metadata: bool) {
    match node {
        NodeEnum::CreateStmt(s) => {
            let Some(rv) = &s.relation else { return };
            let key = qualified(rv);
            let mut table = Table {
                schema: key.split('.').next().unwrap_or("public").to_string(),
                name: rv.relname.clone(),
                columns: vec![],
                primary_key: vec![],
                foreign_keys: vec![],
                rls: false,
                forced: false,
                policies: vec![],
                defined: at,
                disabled_after_enable: None,
            };
            for elt in &s.table_elts {
                match elt.node.as_ref() {
                    Some(NodeEnum::ColumnDef(def)) => add_column(&mut table, def),
                    Some(NodeEnum::Constraint(c)) => apply_constraint(&mut table, c, None),
                    _ => {}
                }
            }
            // `if not exists` keeps what an earlier migration created; a table only the ORM
            // schema defined gives way to the migration's.
            if !(s.if_not_exists && model.created.contains(&key)) {
                model.tables.insert(key.clone(), table);
            }
            model.created.insert(key);
        }
        NodeEnum::AlterTableStmt(s) => {
            let Some(rv) = &s.relation else { return };
            let Some(table) = model.tables.get_mut(&qualified(rv)) else {
                return;
            };
            for cmd in &s.cmds {
                let Some(NodeEnum::AlterTableCmd(cmd)) = cmd.node.as_ref() else {
                    continue;
                };
                match AlterTableType::try_from(cmd.subtype) {
                    Ok(AlterTableType::AtEnableRowSecurity) => {
                        table.rls = true;
                        table.disabled_after_enable = None;
                    }
                    Ok(AlterTableType::AtDisableRowSecurity) => {
                        if table.rls {
                            table.disabled_after_enable = Some(at.clone());
                        }
                        table.rls = false;
                    }
                    Ok(AlterTableType::AtForceRowSecurity) => table.forced = true,
                    Ok(AlterTableType::AtNoForceRowSecurity) => table.forced = false,
                    Ok(AlterTableType::AtAddColumn) => {
                        if let Some(NodeEnum::ColumnDef(def)) =
                            cmd.def.as_ref().and_then(|d| d.node.as_ref())
                        {
                            add_column(table, def);
                        }
                    }
                    Ok(AlterTableType::AtAddConstraint) => {
                        if let Some(NodeEnum::Constraint(c)) =
                            cmd.def.as_ref().and_then(|d| d.node.as_ref())
                        {
                            apply_constraint(table, c, None);
                        }
                    }
                    Ok(AlterTableType::AtDropColumn) => {
                        table.columns.retain(|(c, _)| c != &cmd.name)
                    }
                    _ => {}
                }
            }
        }
        NodeEnum::CreatePolicyStmt(s) => {
            let Some(rv) = &s.table else { return };
            if qualified(rv) == STORAGE_OBJECTS {
                model.storage_policies.retain(|p| p.name != s.policy_name);
                model.storage_policies.push(StoragePolicy {
                    name: s.policy_name.clone(),
                    command: s.cmd_name.clone(),
                    stmt: (**s).clone(),
                    at,
                });
                return;
            }
            let Some(table) = model.tables.get_mut(&qualified(rv)) else {
                return;
            };
            table.policies.retain(|p| p.name != s.policy_name);
            table.policies.push(Policy {
                name: s.policy_name.clone(),
                command: s.cmd_name.clone(),
                permissive: s.permissive,
                allows_all: is_true(&s.qual) || is_true(&s.with_check),
                user_metadata: user_metadata.then(|| text.trim().trim_end_matches(';').to_string()),
                at,
            });
        }
        NodeEnum::DropStmt(s) => match ObjectType::try_from(s.remove_type) {
            Ok(ObjectType::ObjectTable) => {
                for object in &s.objects {
                    if let Some(NodeEnum::List(list)) = object.node.as_ref() {
                        let names = strings(&list.items);
                        let key = match names.as_slice() {
                            [schema, table] => format!("{schema}.{table}"),
                            [table] => format!("public.{table}"),
                            _ => continue,
                        };
                        model.tables.remove(&key);
                    }
                }
            }
            Ok(ObjectType::ObjectPolicy) => {
                for object in &s.objects {
                    if let Some(NodeEnum::List(list)) = object.node.as_ref() {
                        let names = strings(&list.items);
                        let (key, policy) = match names.as_slice() {
                            [schema, table, policy] => (format!("{schema}.{table}"), policy),
                            [table, policy] => (format!("public.{table}"), policy),
                            _ => continue,
                        };
                        if let Some(t) = model.tables.get_mut(&key) {
                            t.policies.retain(|p| &p.name != policy);
                        }
                        if key == STORAGE_OBJECTS {
                            model.storage_policies.retain(|p| &p.name != policy);
                        }
                    }
                }
            }
            Ok(
                kind @ (ObjectType::ObjectFunction
                | ObjectType::ObjectProcedure
                | ObjectType::ObjectRoutine),
            ) => {
                for object in &s.objects {
                    let Some(NodeEnum::ObjectWithArgs(func)) = object.node.as_ref() else {
                        continue;
                    };
                    let key = if func.args_unspecified {
                        routines_named(model, &func.objname).next()
                    } else {
                        signature(kind, &func.objname, func.objargs.clone()).map(|(_, k)| k)
                    };
                    if let Some(key) = key {
                        model.routines.remove(&key);
                    }
                }
            }
            _ => {}
        },
        NodeEnum::CreateFunctionStmt(s) => {
            let kind = if s.is_procedure {
                ObjectType::ObjectProcedure
            } else {
                ObjectType::ObjectFunction
            };
            let args = s.parameters.iter().filter_map(|p| match p.node.as_ref() {
                Some(NodeEnum::FunctionParameter(p)) if identifies(p.mode) => {
                    p.arg_type.clone().map(|t| wrap(NodeEnum::TypeName(t)))
                }
                _ => None,
            });
            let Some((schema, signature)) = signature(kind, &s.funcname, args.collect()) else {
                return;
            };
            // `create or replace` defines the whole function again: what it leaves out is reset.
            let mut routine = Routine {
                kind: if s.is_procedure {
                    "procedure"
                } else {
                    "function"
                },
                schema,
                signature: signature.clone(),
                definer: false,
                search_path: false,
                at,
            };
            set_attributes(&mut routine, &s.options);
            model.routines.insert(signature, routine);
        }
        NodeEnum::AlterFunctionStmt(s) => {
            let Some(func) = &s.func else { return };
            let key = if func.args_unspecified {
                // `alter function name ...` names the one function of that name.
                let mut named = routines_named(model, &func.objname);
                match (named.next(), named.next()) {
                    (Some(key), None) => key,
                    _ => return,
                }
            } else {
                let kind = ObjectType::try_from(s.objtype).unwrap_or(ObjectType::ObjectFunction);
                match signature(kind, &func.objname, func.objargs.clone()) {
                    Some((_, key)) => key,
                    None => return,
                }
            };
            if let Some(routine) = model.routines.get_mut(&key) {
                set_attributes(routine, &s.actions);
            }
        }
        NodeEnum::CreateRoleStmt(s) => bypassing_role(model, &s.role, &s.options, at),
        NodeEnum::AlterRoleStmt(s) => {
            let role = s
                .role
                .as_ref()
                .map(|r| r.rolename.clone())
                .unwrap_or_default();
            bypassing_role(model, &role, &s.options, at)
        }
        _ => {}
    }
}

fn wrap(n: NodeEnum) -> pg_query::protobuf::Node {
    pg_query::protobuf::Node { node: Some(n) }
}

/// Whether a parameter of this mode is part of the signature (`out` and `table` columns are not).
fn identifies(mode: i32) -> bool {
    use pg_query::protobuf::FunctionParameterMode as M;
    !matches!(M::try_from(mode), Ok(M::FuncParamOut | M::FuncParamTable))
}

/// (schema, `schema.name(types)`) of a function or procedure, written by the Postgres
/// deparser, so names and types are quoted and spelled as `alter function` reads them.
fn signature(
    kind: ObjectType,
    names: &[pg_query::protobuf::Node],
    args: Vec<pg_query::protobuf::Node>,
) -> Option<(String, String)> {
    let mut objname = names.to_vec();
    if objname.len() == 1 {
        let public = pg_query::protobuf::String {
            sval: "public".into(),
        };
        objname.insert(0, wrap(NodeEnum::String(public)));
    }
    let schema = strings(&objname).first()?.clone();
    let drop = pg_query::protobuf::DropStmt {
        objects: vec![wrap(NodeEnum::ObjectWithArgs(
            pg_query::protobuf::ObjectWithArgs {
                objname,
                objargs: args,
                ..Default::default()
            },
        ))],
        remove_type: kind as i32,
        behavior: pg_query::protobuf::DropBehavior::DropRestrict as i32,
        ..Default::default()
    };
    let text = NodeEnum::DropStmt(drop)
        .deparse(pg_query::DeparseOptions::default())
        .ok()?;
    let signature = text.splitn(3, ' ').nth(2)?.to_string();
    Some((schema, signature))
}

/// The signatures of the routines called `names` (schema-qualified or in `public`).
fn routines_named<'m>(
    model: &'m Model,
    names: &[pg_query::protobuf::Node],
) -> impl Iterator<Item = String> + 'm {
    let prefix = signature(ObjectType::ObjectFunction, names, vec![])
        .map(|(_, s)| s.trim_end_matches("()").to_string() + "(")
        .unwrap_or_default();
    model
        .routines
        .keys()
        .filter(move |k| !prefix.is_empty() && k.starts_with(&prefix))
        .cloned()
}

/// Applies `security definer|invoker` and `set|reset search_path` options or actions.
fn set_attributes(routine: &mut Routine, options: &[pg_query::protobuf::Node]) {
    use pg_query::protobuf::VariableSetKind as K;
    for option in options {
        let Some(NodeEnum::DefElem(d)) = option.node.as_ref() else {
            continue;
        };
        match (
            d.defname.as_str(),
            d.arg.as_ref().and_then(|a| a.node.as_ref()),
        ) {
            ("security", Some(NodeEnum::Boolean(b))) => routine.definer = b.boolval,
            ("security", Some(NodeEnum::Integer(i))) => routine.definer = i.ival != 0,
            ("set", Some(NodeEnum::VariableSetStmt(v))) => match K::try_from(v.kind) {
                Ok(K::VarResetAll) => routine.search_path = false,
                Ok(K::VarReset) if v.name == "search_path" => routine.search_path = false,
                _ if v.name == "search_path" => routine.search_path = true,
                _ => {}
            },
            _ => {}
        }
    }
}

/// Records a role given SUPERUSER or BYPASSRLS.
fn bypassing_role(model: &mut Model, role: &str, options: &[pg_query::protobuf::Node], at: Loc) {
    for option in options {
        let Some(NodeEnum::DefElem(d)) = option.node.as_ref() else {
            continue;
        };
        if !matches!(d.defname.as_str(), "superuser" | "bypassrls") {
            continue;
        }
        let on = match d.arg.as_ref().and_then(|a| a.node.as_ref()) {
            None => true,
            Some(NodeEnum::Boolean(b)) => b.boolval,
            Some(NodeEnum::Integer(i)) => i.ival != 0,
            Some(_) => false,
        };
        if on {
            model.issues.push(Issue {
                at: at.clone(),
                kind: IssueKind::RoleBypassesRls(role.to_string(), d.defname.to_uppercase()),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(files: &[(&str, &str)]) -> Model {
        let ws = Workspace::from_files(files.iter().map(|(p, t)| (*p, *t))).unwrap();
        replay(&ws)
    }

    /// Each piece as (offset, length) in `sql`.
    fn spans(sql: &str, pieces: &[&str]) -> Vec<(usize, usize)> {
        pieces
            .iter()
            .map(|p| (p.as_ptr() as usize - sql.as_ptr() as usize, p.len()))
            .collect()
    }

    /// A policy reading `user_metadata` is found however its text spells the name; one that
    /// cannot spell it is not searched (and not found).
    #[test]
    fn a_policy_reading_user_metadata_is_found_however_it_is_spelled() {
        let policy = |using: &str| {
            let sql = format!(
                "create table t (id uuid primary key, owner uuid);\n\
                 create policy p on t for select using ({using});\n"
            );
            let m = model(&[("supabase/migrations/1_init.sql", &sql)]);
            m.tables["public.t"].policies[0].user_metadata.is_some()
        };
        assert!(policy(
            "(auth.jwt() -> 'user_metadata' ->> 'role') = 'admin'"
        ));
        // Unquoted identifiers fold to lower case.
        assert!(policy(
            "(select USER_METADATA from profiles limit 1) is not null"
        ));
        // Escapes that spell it without writing it.
        assert!(policy(
            r"(auth.jwt() -> E'user\137metadata' ->> 'role') = 'admin'"
        ));
        assert!(policy(
            "(auth.jwt() -> U&'user!005Fmetadata' UESCAPE '!' ->> 'role') = 'admin'"
        ));
        assert!(!policy("owner = auth.uid()"));
        assert!(!policy(
            "(auth.jwt() -> 'app_metadata' ->> 'role') = 'admin'"
        ));
        assert!(!may_spell_user_metadata(
            "create policy p on t using (owner = auth.uid());"
        ));
        assert!(may_spell_user_metadata("x -> 'User_MetaData'"));
    }

    #[test]
    fn splitting_in_chunks_finds_the_statements_the_whole_text_has() {
        // Lines ending in `;` inside a comment, a string, a dollar-quoted body, a block comment
        // and parentheses; an empty statement; CRLF lines.
        let sql = "create table a (id int);\n\
            create table b (\n  id int -- the key;\n, name text);\n\
            insert into a values (1); -- one;\n\
            insert into b values (2, 'two;\nlines;\n');\n\
            create function f() returns trigger as $$\nbegin\n  new.x := 1;\n  return new;\nend;\n$$ language plpgsql;\n\
            /* a comment;\nacross lines; */ select 1;\n\
            create rule r as on insert to a do also (\ninsert into b values (3, 'x');\ninsert into b values (4, 'y');\n);\n\
            select 2;;\r\n\
            alter table a enable row level security;\r\n\
            select 3";
        // Windows line ends on every line: a chunk cut just past a `;\r` once never grew.
        let crlf = sql.replace("\r\n", "\n").replace('\n', "\r\n");
        for sql in [sql, crlf.as_str()] {
            let whole = pg_query::split_with_scanner(sql).unwrap();
            assert!(whole.len() >= 10, "{whole:?}");
            for chunk in [0, 1, 2, 3, 5, 8, 13, 21, 40, 100, 1000] {
                assert_eq!(
                    spans(sql, &split(sql, chunk)),
                    spans(sql, &whole),
                    "chunk {chunk}"
                );
            }
        }
    }

    #[test]
    fn text_that_does_not_scan_is_one_piece_from_the_last_chunk_that_did() {
        let sql =
            "create table a (id int);\ncreate table b (id int);\ninsert into a values ('open;\n";
        assert!(pg_query::split_with_scanner(sql).is_err());
        let pieces = split(sql, 1);
        assert_eq!(
            &pieces[..2],
            ["create table a (id int)", "\ncreate table b (id int)"]
        );
        assert_eq!(pieces[2], "\ninsert into a values ('open;\n");
        // Scanned whole, it is one piece.
        assert_eq!(split(sql, 1 << 20), [sql]);
    }

    #[test]
    fn a_large_migration_is_read_in_batches_with_each_statement_in_its_place() {
        // Three batches and more, a comment between statements, and one statement that does
        // not parse in the middle of the second batch.
        let mut sql = String::new();
        let mut offsets = Vec::new();
        for i in 0..(PARSE_BATCH * 3 + 7) {
            sql.push_str("\n-- table ");
            sql.push_str(&i.to_string());
            sql.push('\n');
            offsets.push(sql.len());
            if i == PARSE_BATCH + 5 {
                sql.push_str("create tabel broken (id int);");
            } else {
                sql.push_str(&format!("create table t{i} (id uuid primary key, owner_id uuid);\nalter table t{i} enable row level security;"));
            }
        }
        let m = model(&[("db/migrations/0001.sql", &sql)]);
        assert_eq!(m.tables.len(), PARSE_BATCH * 3 + 6);
        for (i, offset) in offsets.iter().enumerate() {
            if i == PARSE_BATCH + 5 {
                continue;
            }
            let t = &m.tables[&format!("public.t{i}")];
            assert!(t.rls, "t{i}");
            assert_eq!(t.defined.offset, *offset, "t{i} points at its statement");
        }
        assert_eq!(m.issues.len(), 1, "{:?}", m.issues);
        assert_eq!(m.issues[0].at.offset, offsets[PARSE_BATCH + 5]);
        assert!(matches!(m.issues[0].kind, IssueKind::Unparsed(_)));
    }

    #[test]
    fn replays_tables_keys_rls_and_policies_in_order() {
        let m = model(&[
            ("supabase/migrations/20240101000000_init.sql", "create table public.profiles (id uuid primary key references auth.users (id), name text);\ncreate table \"Posts\" (id bigint generated always as identity primary key, author uuid not null, body text);\nalter table \"Posts\" add constraint posts_author_fk foreign key (author) references public.profiles (id);\nalter table public.profiles enable row level security;\ncreate policy \"read all\" on \"Posts\" for select using (true);"),
            ("supabase/migrations/20240102000000_oops.sql", "alter table public.profiles disable row level security;\nalter table \"Posts\" add column created_at timestamptz;"),
        ]);
        let profiles = &m.tables["public.profiles"];
        assert_eq!(profiles.primary_key, vec!["id"]);
        assert_eq!(profiles.foreign_keys[0].table, "auth.users");
        assert!(!profiles.rls);
        assert_eq!(
            profiles.disabled_after_enable.as_ref().unwrap().file,
            "supabase/migrations/20240102000000_oops.sql"
        );
        let posts = &m.tables["public.Posts"];
        assert_eq!(posts.foreign_keys[0].columns, vec!["author"]);
        let first = "create table public.profiles (id uuid primary key references auth.users (id), name text);\n";
        assert_eq!(
            posts.defined.offset,
            first.len(),
            "points at the statement, not the newline before it"
        );
        assert_eq!(posts.column_type("created_at"), Some("timestamptz"));
        assert_eq!(posts.column_type("author"), Some("uuid"));
        assert!(posts.policies[0].allows_all);
    }

    #[test]
    fn a_bad_statement_is_reported_and_the_rest_still_counts() {
        let m = model(&[(
            "migrations/001_init.sql",
            "create table a (id uuid primary key);\ncreate tabel b (id int);\ncreate policy if not exists p on a using (true);\nalter table a enable row level security;\n",
        )]);
        assert!(m.tables["public.a"].rls);
        assert_eq!(m.issues.len(), 2);
        assert!(matches!(m.issues[0].kind, IssueKind::Unparsed(_)));
        assert_eq!(m.issues[1].kind, IssueKind::PolicyIfNotExists);
        assert_eq!(
            m.issues[1].at.offset,
            "create table a (id uuid primary key);\ncreate tabel b (id int);\n".len()
        );
    }

    #[test]
    fn roles_that_bypass_row_level_security_are_issues() {
        let sql = "create role app login;\ncreate role admin superuser;\nalter role app bypassrls;\nalter role app nobypassrls;";
        let m = model(&[("migrations/001_roles.sql", sql)]);
        let found: Vec<_> = m
            .issues
            .iter()
            .map(|i| (i.at.offset, i.kind.clone()))
            .collect();
        assert_eq!(
            found,
            vec![
                (
                    sql.find("create role admin").unwrap(),
                    IssueKind::RoleBypassesRls("admin".into(), "SUPERUSER".into())
                ),
                (
                    sql.find("alter role app bypassrls").unwrap(),
                    IssueKind::RoleBypassesRls("app".into(), "BYPASSRLS".into())
                ),
            ]
        );
    }

    #[test]
    fn dropped_tables_and_policies_are_gone() {
        let m = model(&[("schema.sql", "create table a (id int); create table b (id int); create policy p on b using (true); drop policy p on b; drop table a;")]);
        assert!(!m.tables.contains_key("public.a"));
        assert!(m.tables["public.b"].policies.is_empty());
    }

    /// (signature, definer, search_path) of each routine.
    fn routines(m: &Model) -> Vec<(String, bool, bool)> {
        m.routines
            .values()
            .map(|r| (r.signature.clone(), r.definer, r.search_path))
            .collect()
    }

    #[test]
    fn security_definer_routines_are_known_with_their_search_path() {
        let m = model(&[(
            "schema.sql",
            "create function has_role(_user uuid, _role text, out ok boolean) language sql stable security definer as $$ select true $$;
             create or replace function public.handle_new_user() returns trigger language plpgsql security definer set search_path = '' as $$ begin return new; end $$;
             create function \"Odd Name\"(n int) returns int language sql as $$ select n $$;
             create procedure app.tidy() language sql security definer as $$ select 1 $$;",
        )]);
        assert_eq!(
            routines(&m),
            [
                ("app.tidy()".to_string(), true, false),
                ("public.\"Odd Name\"(int)".to_string(), false, false),
                ("public.handle_new_user()".to_string(), true, true),
                ("public.has_role(uuid, text)".to_string(), true, false),
            ]
        );
    }

    #[test]
    fn later_statements_change_a_routine_s_rights_and_search_path() {
        let create = "create function f(a uuid) returns int language sql security definer as $$ select 1 $$;
            create function g() returns int language sql security definer as $$ select 1 $$;
            create function h() returns int language sql security definer set search_path = public as $$ select 1 $$;
            create function k() returns int language sql security definer as $$ select 1 $$;";
        let m = model(&[(
            "schema.sql",
            &format!(
                "{create}
             alter function public.f(uuid) set search_path = public, pg_temp;
             alter function g security invoker;
             alter function h() reset search_path;
             drop function k;"
            ),
        )]);
        assert_eq!(
            routines(&m),
            [
                ("public.f(uuid)".to_string(), true, true),
                ("public.g()".to_string(), false, false),
                ("public.h()".to_string(), true, false),
            ]
        );
        // `create or replace` without `security definer` makes it an ordinary function again.
        let m = model(&[(
            "schema.sql",
            &format!("{create} create or replace function f(a uuid) returns int language sql as $$ select 2 $$;"),
        )]);
        assert!(!m.routines["public.f(uuid)"].definer);
    }

    #[test]
    fn storage_writes_are_open_when_no_condition_names_the_user() {
        let m = model(&[(
            "schema.sql",
            "create policy up on storage.objects for insert with check (bucket_id = 'a');
             create policy up_signed on storage.objects for insert with check (bucket_id = 'a' and auth.role() = 'authenticated');
             create policy up_auth on storage.objects for insert to authenticated with check (bucket_id = 'a');
             create policy del on storage.objects for delete to authenticated using (bucket_id = 'a');
             create policy del_own on storage.objects for delete using (bucket_id = 'a' and owner_id = auth.uid()::text);
             create policy narrow on storage.objects as restrictive for update using (bucket_id = 'a');
             create policy everyone on storage.objects for all to public using (true);
             create policy read on storage.objects for select using (true);
             create policy gone on storage.objects for update using (true);
             drop policy gone on storage.objects;",
        )]);
        let open: Vec<&str> = m
            .storage_policies
            .iter()
            .filter(|p| p.open_write())
            .map(|p| p.name.as_str())
            .collect();
        assert_eq!(open, ["up", "del", "everyone"]);
        let everyone = m
            .storage_policies
            .iter()
            .find(|p| p.name == "everyone")
            .unwrap();
        let narrowed = everyone.narrowed(|c| format!("p_{c}")).unwrap();
        assert_eq!(narrowed.len(), 4);
        assert!(
            narrowed[0].contains("FOR SELECT TO public USING (true)"),
            "{}",
            narrowed[0]
        );
        assert!(
            narrowed[1].contains("FOR INSERT TO authenticated WITH CHECK (true)"),
            "{}",
            narrowed[1]
        );
        assert!(
            narrowed[3].contains(
                "FOR DELETE TO authenticated USING (true AND owner_id = (SELECT auth.uid()::text))"
            ),
            "{}",
            narrowed[3]
        );
        for statement in narrowed {
            pg_query::parse(&statement, pg_query::ParserOptions::DEFAULT).unwrap();
        }
    }
}
