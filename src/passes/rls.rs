//! The `rls/` pass: row-level security migrations from the app's own schema (Supabase).
//!
//! It replays the app's SQL migrations, infers who owns each table's rows, and writes one new
//! migration that enables and forces RLS and adds per-command owner policies where they are
//! missing. It never edits a migration that may already be applied: a later run replays
//! everything, casehard's own migration included, and writes a new one only for what is left.

use crate::passes::clients::{self, Kind};
use crate::passes::{facts_of, imports, Facts, FileView, Pass, PassOutput, ProjectView};
use crate::plan::{Applicability, Area, NewFile, Proposal, Severity};
use crate::rules::RuleMeta;
use crate::schema::drizzle::{self, DrizzleFacts};
use crate::schema::migrations::{self, Target};
use crate::schema::ownership::{self, Access, Dialect, Inference, Overrides};
use crate::schema::prisma;
use crate::schema::sql::{self, IssueKind, Loc, Model, Table};
use crate::stack::{Database, Stack};
use crate::workspace::Workspace;
use serde_json::json;
use std::collections::BTreeMap;

pub const POLICIES: &str = "rls/owner-policies";
pub const ALLOWS_ALL: &str = "rls/using-true";
pub const DISABLED: &str = "rls/disabled-later";
pub const IF_NOT_EXISTS: &str = "rls/policy-if-not-exists";
pub const NO_OWNER: &str = "rls/no-owner";
pub const UNPARSED: &str = "rls/unparsed-sql";
pub const BYPASS: &str = "rls/bypass-role";
pub const USER_METADATA: &str = "rls/user-metadata";
pub const DEFINER: &str = "rls/definer-search-path";
pub const STORAGE: &str = "rls/storage-open-write";

/// Schemas Supabase owns; the app's tables live elsewhere (mostly `public`).
const PLATFORM_SCHEMAS: &[&str] = &[
    "auth",
    "storage",
    "extensions",
    "realtime",
    "vault",
    "graphql",
    "graphql_public",
    "supabase_functions",
    "supabase_migrations",
    "cron",
    "net",
    "pgsodium",
    "information_schema",
    "pg_catalog",
];
const UID: &str = "(select auth.uid())";
/// The user the app names for this transaction on plain Postgres; none set reads as null.
const SETTING: &str = "nullif(current_setting('app.user_id', true), '')";

pub struct RowLevelSecurity {
    meta: [RuleMeta; 10],
}

// One argument per documentation field: a struct literal per rule would say the same at length.
#[allow(clippy::too_many_arguments)]
fn meta(
    id: &str,
    title: &str,
    severity: Severity,
    applicability: Applicability,
    what: &str,
    why: &str,
    before: &str,
    after: &str,
    safety: &str,
) -> RuleMeta {
    crate::passes::rule_meta(
        "src/passes/rls.rs",
        Area::Rbac,
        id,
        title,
        severity,
        applicability,
        [what, why, before, after, safety],
        &[
            "CWE-639: Authorization Bypass Through User-Controlled Key",
            "CWE-862: Missing Authorization",
            "https://supabase.com/docs/guides/database/postgres/row-level-security",
        ],
    )
}

impl Default for RowLevelSecurity {
    fn default() -> Self {
        RowLevelSecurity {
            meta: [
                meta(POLICIES, "Every table has row-level security with owner policies", Severity::Error, Applicability::Review,
                    "Replays the app's SQL migrations (supabase/migrations and the other usual places) with the Postgres parser, infers each table's owner — a foreign key to auth.users or to the app's user table, the user table itself, a membership table, or an owner-named column — and writes a new migration that enables and forces row-level security and adds select, insert, update and delete policies `to authenticated` that compare the owner column with `(select auth.uid())`. Insert and update policies check the owner too, so a client cannot write a row in another user's name. Feed tables get a select policy for the author's followers when the app has a follower graph. Each table's line in the migration says why casehard tied it to its owner.",
                    "With RLS off, the anon key shipped in every browser bundle reads and writes every row of the table through the Supabase API: one user's data is everyone's.",
                    "create table public.projects (id uuid primary key, user_id uuid references public.profiles (id), name text);",
                    "alter table public.projects enable row level security;\nalter table public.projects force row level security;\ncreate policy casehard_projects_select on public.projects for select to authenticated using (user_id = (select auth.uid()));\n-- and insert, update, delete",
                    "Review: queries that read other users' rows (admin pages, public profiles) now return nothing; give them their own policies or a server-side service-role client."),
                meta(ALLOWS_ALL, "No policy opens user data to everyone", Severity::Error, Applicability::Review,
                    "Finds policies written `using (true)` or `with check (true)` on tables that hold user data, and drops them in casehard's migration (policies are permissive: while one says true, owner policies restrict nothing).",
                    "`using (true)` is the generator's way to make the app work; it makes every row readable (or writable) by anyone with the anon key.",
                    "create policy \"Enable read access for all users\" on public.posts for select using (true);",
                    "drop policy if exists \"Enable read access for all users\" on public.posts;",
                    "Review: if the table is meant to be public, say so in casehard.toml ([rls] public_read) instead."),
                meta(DISABLED, "Row-level security is not turned off by a later migration", Severity::Error, Applicability::Review,
                    "Finds `disable row level security` in a migration after the table had it enabled (often a debugging step that shipped); casehard's migration enables it again.",
                    "The later script silently undoes the protection the earlier one set up.",
                    "alter table public.profiles disable row level security;",
                    "alter table public.profiles enable row level security;",
                    "Review: find out why it was turned off."),
                meta(IF_NOT_EXISTS, "Policies use syntax Postgres accepts", Severity::Error, Applicability::Manual,
                    "Reports `CREATE POLICY IF NOT EXISTS`, which Postgres does not have: the migration fails at that statement and the policies after it never exist.",
                    "A migration that fails half-way leaves tables without the policies the author believed were there.",
                    "create policy if not exists \"own rows\" on posts using (user_id = auth.uid());",
                    "drop policy if exists \"own rows\" on posts;\ncreate policy \"own rows\" on posts using (user_id = auth.uid());",
                    "Manual: the fix is in a migration that may already have been applied (or failed) somewhere."),
                meta(NO_OWNER, "Every table's owner is known", Severity::Warning, Applicability::Manual,
                    "Reports tables casehard could not tie to a user (no owner column, a composite key, an owner column that is not a uuid or text). They get RLS on and no policy: deny by default.",
                    "Guessing an owner would either lock users out or let them in; a person has to decide.",
                    "create table public.audit_log (id bigint primary key, payload jsonb);",
                    "[rls.owners] audit_log = \"actor_id\"   # or: [rls] public_read = [\"audit_log\"]",
                    "Manual: say who owns it in casehard.toml."),
                meta(UNPARSED, "Every migration statement parses", Severity::Warning, Applicability::Manual,
                    "Reports migration statements the Postgres parser rejects, with file and line; casehard reads the rest of the file and skips that statement.",
                    "A statement that does not parse fails when the migration runs; what it was meant to create does not exist.",
                    "create tabel posts (id int);",
                    "create table posts (id int);",
                    "Manual: fix the statement in its migration."),
                meta(BYPASS, "The app does not connect as a role that skips row-level security", Severity::Error, Applicability::Manual,
                    "Reports a connection URL in the project's env and compose files that logs in as `postgres` (a superuser on plain Postgres, BYPASSRLS on Supabase) when the app talks to Postgres directly (Prisma, Drizzle, node-postgres), and migrations that give a role SUPERUSER or BYPASSRLS.",
                    "Superusers and BYPASSRLS roles are never subject to row-level security, forced or not: every policy casehard writes is silently void for an app that connects as one.",
                    "DATABASE_URL=postgresql://postgres:postgres@localhost:5432/app",
                    "DATABASE_URL=postgresql://app_user:...@localhost:5432/app   # create role app_user login; grant select, insert, update, delete on all tables in schema public to app_user;",
                    "Manual: create an ordinary login role for the app and grant it what it needs; keep `postgres` for migrations."),
                meta(USER_METADATA, "Policies read roles from app_metadata, not user_metadata", Severity::Error, Applicability::Review,
                    "Finds policies that decide access from the JWT's `user_metadata` (`auth.jwt() -> 'user_metadata' ->> 'role'`) and recreates them in casehard's migration reading `app_metadata`, which only the server (the service role) can set.",
                    "Every signed-in user can write their own `user_metadata` with `supabase.auth.updateUser({ data: { role: 'admin' } })`: a policy that trusts it makes anyone an admin.",
                    "create policy \"admins read all\" on public.orders for select using ((auth.jwt() -> 'user_metadata' ->> 'role') = 'admin');",
                    "drop policy if exists \"admins read all\" on public.orders;\ncreate policy \"admins read all\" on public.orders for select using ((auth.jwt() -> 'app_metadata' ->> 'role') = 'admin');",
                    "Review: set the role in app_metadata for the real admins (server side, with the service role) before applying, or they lose access."),
                meta(DEFINER, "Functions that run as their owner fix their search_path", Severity::Warning, Applicability::Review,
                    "Finds functions and procedures the migrations create `security definer` without their own `search_path` (as generators write the sign-up trigger and `has_role`), and fixes it in casehard's migration: `alter function ... set search_path = public, pg_temp` (on Supabase `public, extensions, pg_temp`, the schemas the API's callers had), so the names in the body resolve where the author meant, temporary objects last.",
                    "A security-definer function runs with its owner's rights, usually a role that bypasses row-level security, but looks up the unqualified names in its body on the caller's search_path: a caller who puts a schema of their own first has the function read their `user_roles` table or call their `lower()` with the owner's rights.",
                    "create function public.has_role(_user_id uuid, _role text) returns boolean language sql security definer as $$ select exists (select 1 from user_roles where user_id = _user_id and role = _role) $$;",
                    "alter function public.has_role(uuid, text) set search_path = public, extensions, pg_temp;",
                    "Review: a body that relied on another schema of the caller's path for an unqualified name now fails where it reaches it; qualify such names (`extensions.gen_random_bytes`)."),
                meta(STORAGE, "Only a file's owner changes it in Storage", Severity::Error, Applicability::Review,
                    "Finds policies on Supabase Storage's `storage.objects` that let people write files that are not theirs: uploads open to signed-out callers, and updates and deletes (or `for all`) whose conditions never name the user — as in \"Anyone can upload an avatar\" with only `bucket_id = 'avatars'`. casehard's migration drops each and writes its replacement with the same conditions: uploads `to authenticated`, updates and deletes `to authenticated` and only where `owner_id = (select auth.uid()::text)` (Storage sets the owner to the uploader), reads of a `for all` policy as they were.",
                    "With only the bucket in the condition, anyone holding the anon key — shipped in every browser bundle — can upload into the bucket, and replace or delete every user's files.",
                    "create policy \"Anyone can update an avatar\" on storage.objects for update using (bucket_id = 'avatars');",
                    "drop policy if exists \"Anyone can update an avatar\" on storage.objects;\nCREATE POLICY casehard_objects_update_anyone_can_update_an_avatar ON storage.objects FOR UPDATE TO authenticated USING (bucket_id = 'avatars' AND owner_id = (SELECT auth.uid()::text));",
                    "Review: files uploaded with the service key (or in the dashboard) have no owner and can then be changed only by the server; anonymous uploads, if the app meant them, need a policy of their own."),
            ],
        }
    }
}

/// An SQL identifier, quoted when it has to be.
pub fn ident(s: &str) -> String {
    const RESERVED: &[&str] = &[
        "user",
        "order",
        "group",
        "table",
        "select",
        "from",
        "where",
        "to",
        "check",
        "default",
        "references",
        "primary",
        "limit",
        "offset",
        "all",
        "end",
        "case",
        "column",
        "grant",
        "role",
        "session_user",
        "current_user",
    ];
    let plain = s
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !RESERVED.contains(&s);
    if plain {
        s.to_string()
    } else {
        format!("\"{}\"", s.replace('"', "\"\""))
    }
}

fn qualified(t: &Table) -> String {
    format!("{}.{}", ident(&t.schema), ident(&t.name))
}

/// A finding at a statement of a migration.
fn at(rule: &str, loc: &Loc, message: String, applicability: Applicability) -> Proposal {
    Proposal {
        rule: rule.into(),
        path: loc.file.as_str().into(),
        at: loc.offset..loc.offset,
        message: message.into(),
        applicability,
        edits: vec![],
    }
}

fn policy(
    table: &Table,
    suffix: &str,
    command: &str,
    to: &str,
    using: Option<String>,
    check: Option<String>,
) -> serde_json::Value {
    json!({
        "name": ident(&policy_name(&table.name, suffix)),
        "command": command,
        "to": to,
        "using": using.unwrap_or_default(),
        "check": check.unwrap_or_default(),
        "restrictive": false,
    })
}

/// `casehard_<table>_<suffix>`, with the table's part shortened (at a character boundary) so
/// the whole fits in an identifier. PostgreSQL would otherwise cut the name itself, and for a
/// long table name all of its policies would end alike and the second one would fail as a
/// duplicate; policy names are per table, so the suffix alone keeps them apart.
fn policy_name(table: &str, suffix: &str) -> String {
    let room = sql::MAX_IDENTIFIER.saturating_sub("casehard__".len() + suffix.len());
    format!("casehard_{}_{suffix}", sql::clip(table, room))
}

/// Whoever signs in as an admin: the role in the JWT's `app_metadata`, which only the server
/// (the service role) can set, never `user_metadata`, which every user can write.
const ADMIN: &str = "((select auth.jwt()) -> 'app_metadata' ->> 'role') = 'admin'";
/// Signed in with a second factor.
const AAL2: &str = "((select auth.jwt()) ->> 'aal') = 'aal2'";

/// How a policy names the signed-in user, and who policies apply to.
struct Who {
    dialect: Dialect,
}

impl Who {
    /// The user id as the owner column's type, evaluated once per query (an init plan).
    fn uid(&self, cast: Option<&str>) -> String {
        match (self.dialect, cast) {
            (Dialect::Supabase, None) => UID.into(),
            (Dialect::Supabase, Some(c)) => format!("{UID}::{c}"),
            (Dialect::Postgres, None) => format!("(select {SETTING})"),
            (Dialect::Postgres, Some(c)) => format!("(select {SETTING}::{c})"),
        }
    }
    fn users(&self) -> &'static str {
        match self.dialect {
            Dialect::Supabase => "authenticated",
            Dialect::Postgres => "public",
        }
    }
    fn everyone(&self) -> &'static str {
        match self.dialect {
            Dialect::Supabase => "anon, authenticated",
            Dialect::Postgres => "public",
        }
    }
}

/// The per-command policies for a table, or none when its owner is unknown.
fn policies_for(t: &Table, inference: &Inference, who: &Who) -> Vec<serde_json::Value> {
    let Some(access) = &inference.access else {
        return vec![];
    };
    if inference.problem.is_some() {
        return vec![];
    }
    let uid = who.uid(inference.cast.as_deref());
    let users = who.users();
    let own = |column: &str| format!("{} = {uid}", ident(column));
    let outer = |column: &str| format!("{}.{}", qualified(t), ident(column));
    let writes = |cond: String| {
        vec![
            policy(t, "insert", "insert", users, None, Some(cond.clone())),
            policy(
                t,
                "update",
                "update",
                users,
                Some(cond.clone()),
                Some(cond.clone()),
            ),
            policy(t, "delete", "delete", users, Some(cond), None),
        ]
    };
    let crud = |cond: String| {
        let mut v = vec![policy(
            t,
            "select",
            "select",
            users,
            Some(cond.clone()),
            None,
        )];
        v.extend(writes(cond));
        v
    };
    let mut out = match access {
        Access::SelfRow { column } | Access::Owner { column } => crud(own(column)),
        Access::AdminOnly => {
            // Plain Postgres has no role claim: admin-only tables stay server-side (no policy).
            if who.dialect == Dialect::Postgres {
                return vec![];
            }
            let mut v = crud(ADMIN.to_string());
            let mut aal2 = policy(
                t,
                "aal2",
                "all",
                users,
                Some(AAL2.into()),
                Some(AAL2.into()),
            );
            aal2["restrictive"] = json!(true);
            v.push(aal2);
            return v;
        }
        Access::Member {
            column,
            members,
            member_group,
            member_user,
        } => crud(format!(
            "exists (select 1 from {} m where m.{} = {} and m.{} = {uid})",
            members.split('.').map(ident).collect::<Vec<_>>().join("."),
            ident(member_group),
            outer(column),
            ident(member_user)
        )),
        Access::PublicRead { owner } => {
            let mut v = vec![policy(
                t,
                "select",
                "select",
                who.everyone(),
                Some("true".into()),
                None,
            )];
            if let Some(column) = owner {
                v.extend(writes(own(column)));
            }
            v
        }
    };
    if let (Some(f), Access::Owner { column }) = (&inference.followers, access) {
        out.push(policy(
            t,
            "select_followers",
            "select",
            users,
            Some(format!(
                "exists (select 1 from {} f where f.{} = {uid} and f.{} = {})",
                f.table.split('.').map(ident).collect::<Vec<_>>().join("."),
                ident(&f.follower),
                ident(&f.followed),
                outer(column)
            )),
            None,
        ));
    }
    out
}

/// The app's tables: its migrations replayed, then the tables its Prisma schema or Drizzle
/// code defines that no migration creates yet (apps that `db push`).
struct Schema {
    model: Model,
    /// Tables only the ORM schema defines, with where.
    unmigrated: Vec<(String, Loc)>,
    unread: Vec<(Loc, String)>,
}

fn schema(ws: &Workspace, stack: &Stack, facts: &BTreeMap<String, Facts>) -> Schema {
    let mut extra: Vec<Table> = vec![];
    let mut unread = vec![];
    if stack.databases.contains(&Database::Prisma) {
        let files: Vec<(String, String)> = prisma::schema_files(ws.files.keys())
            .into_iter()
            .filter_map(|p| ws.text(&p).map(|t| (p.clone(), t.body.to_string())))
            .collect();
        let read = prisma::read(&files);
        if read
            .provider
            .as_deref()
            .is_none_or(|p| p == "postgresql" || p == "postgres")
        {
            extra.extend(read.tables.into_values());
            unread.extend(read.unread.into_iter().map(|u| (u.at, u.line)));
        }
    }
    let drizzle: Vec<(&str, &DrizzleFacts)> = facts_of::<RlsFacts>(facts)
        .map(|(p, f)| (p, &*f.drizzle))
        .collect();
    extra.extend(drizzle::pg_tables(&drizzle));
    // Tables the ORM schema defines exist before the migrations run when the app pushes its
    // schema; a migration that creates one replaces it. Those no migration creates are the
    // pushed ones.
    let mut seed = Model::default();
    for t in extra {
        seed.tables.insert(t.qualified(), t);
    }
    let orm: Vec<(String, Loc)> = seed
        .tables
        .values()
        .map(|t| (t.qualified(), t.defined.clone()))
        .collect();
    let model = sql::replay_onto(ws, seed);
    let unmigrated: Vec<(String, Loc)> = orm
        .into_iter()
        .filter(|(k, _)| !model.created.contains(k))
        .collect();
    Schema {
        model,
        unmigrated,
        unread,
    }
}

impl Pass for RowLevelSecurity {
    fn rules(&self) -> &[RuleMeta] {
        &self.meta
    }

    fn kinds(&self) -> &'static [&'static str] {
        &["variable_declarator"]
    }

    fn wants(&self, _path: &str, text: &str) -> bool {
        text.contains("pgTable") || text.contains("protectedProcedure")
    }

    fn scan(&self, file: &FileView<'_>) -> Option<Facts> {
        let drizzle = file.drizzle();
        let wiring = protected_context(file.text).map(|(at, indent)| Wiring {
            at,
            indent,
            imports: imports::scan(&file.tree.root(), file.text),
            use_end: protected_procedure_end(file),
        });
        (!drizzle.tables.is_empty() || !drizzle.creators.is_empty() || wiring.is_some())
            .then(|| Box::new(RlsFacts { drizzle, wiring }) as Facts)
    }

    fn may_edit(&self, facts: &Facts) -> bool {
        facts
            .downcast_ref::<RlsFacts>()
            .is_some_and(|f| f.wiring.is_some())
    }

    fn finish(
        &self,
        project: &ProjectView<'_>,
        facts: &BTreeMap<String, Facts>,
        out: &mut PassOutput,
    ) {
        let dbs = &project.stack.databases;
        let dialect = if dbs.contains(&Database::Supabase) {
            Dialect::Supabase
        } else if dbs.iter().any(|d| {
            matches!(
                d,
                Database::Prisma | Database::Drizzle | Database::NodePostgres
            )
        }) {
            Dialect::Postgres
        } else {
            return;
        };
        let ws = project.workspace;
        sync_journal(ws, POLICIES, out);
        let Schema {
            model,
            unmigrated,
            unread,
        } = schema(ws, project.stack, facts);
        if model.tables.is_empty()
            && model.issues.is_empty()
            && model.routines.is_empty()
            && model.storage_policies.is_empty()
        {
            return;
        }
        for issue in &model.issues {
            match &issue.kind {
                IssueKind::PolicyIfNotExists => out.proposals.push(at(IF_NOT_EXISTS, &issue.at, "`CREATE POLICY IF NOT EXISTS` is not Postgres syntax: this migration fails here and the policies after it never exist; drop the policy if it exists, then create it".into(), Applicability::Manual)),
                IssueKind::Unparsed(e) => out.proposals.push(at(UNPARSED, &issue.at, format!("this statement does not parse ({e}); casehard skipped it and read the rest"), Applicability::Manual)),
                IssueKind::RoleBypassesRls(role, attribute) => out.proposals.push(at(BYPASS, &issue.at, format!("role `{role}` gets {attribute}: row-level security never applies to it, so if the app connects as `{role}` no policy protects anything"), Applicability::Manual)),
            }
        }
        if dbs.iter().any(|d| {
            matches!(
                d,
                Database::Prisma | Database::Drizzle | Database::NodePostgres
            )
        }) {
            for (path, offset, user) in superuser_urls(ws) {
                let loc = Loc { file: path, offset };
                let what = match dialect {
                    Dialect::Supabase => "has BYPASSRLS on Supabase",
                    Dialect::Postgres => "is a superuser",
                };
                out.proposals.push(at(BYPASS, &loc, format!("the app connects as `{user}`, which {what}: row-level security does not apply to it, forced or not; connect the app as an ordinary login role and keep `{user}` for migrations"), Applicability::Manual));
            }
        }
        for (loc, line) in &unread {
            out.proposals.push(at(UNPARSED, loc, format!("casehard cannot read `{line}` as a Prisma field; it skipped the line and read the rest of the model"), Applicability::Manual));
        }
        let target = migrations::detect(ws, dialect == Dialect::Supabase);
        // A migration in supabase/migrations runs before the app's migrations in any other
        // folder (`db/migrations/`): a table one of those creates would be created again after
        // casehard's policies, without them, and every run would write them again. Then the
        // migration is a loose file, applied after them.
        let target = if target == Target::Supabase
            && model
                .tables
                .values()
                .any(|t| sql::runs_after_supabase(&t.defined.file))
        {
            Target::Loose
        } else {
            target
        };
        // With migrations in place, a table no migration creates yet cannot be given policies
        // in a migration that would run before the one that creates it.
        let pending: Vec<&(String, Loc)> = if model.files.is_empty() || target == Target::Loose {
            vec![]
        } else {
            unmigrated.iter().collect()
        };
        for (table, loc) in &pending {
            out.proposals.push(at(POLICIES, loc, format!("{table} is in the schema but no migration creates it yet; create its migration ({}), then run casehard again to give it row-level security", match target { Target::Prisma => "`prisma migrate dev`", Target::Drizzle { .. } => "`drizzle-kit generate`", _ => "a migration" }), Applicability::Manual));
        }
        let overrides = Overrides {
            owners: project.config.rls.owners.clone(),
            public_read: project.config.rls.public_read.clone(),
            admin_only: project.config.rls.admin_only.clone(),
        };
        let inferences = ownership::infer(&model, &overrides, dialect);
        let who = Who { dialect };
        let sel = project.selection;
        let with_policies = sel.allows(POLICIES);
        let with_drops = sel.allows(ALLOWS_ALL);
        let with_reenable = with_policies || sel.allows(DISABLED);
        let fail = |out: &mut PassOutput, file: &str, message: String| {
            out.proposals.push(Proposal {
                rule: POLICIES.into(),
                path: file.into(),
                at: 0..0,
                message: message.into(),
                applicability: Applicability::Manual,
                edits: vec![],
            })
        };
        // Each table's part of the migration is rendered as soon as it is known, so the
        // migration of a schema of thousands of tables never exists a second time as data.
        let mut rendered = String::new();
        let mut tables = 0usize;
        let mut fixes = Vec::new();
        // Auth libraries that read the user (and session) tables before sign-in.
        let auth = &project.stack.auth;
        let left_out_by = [
            (crate::stack::Auth::NextAuth, "the Auth.js adapter"),
            (
                crate::stack::Auth::Passport,
                "passport's strategy and session",
            ),
        ]
        .iter()
        .filter(|(a, _)| auth.contains(a))
        .map(|(_, by)| *by)
        .collect::<Vec<_>>()
        .join(" and ");
        let auth_adapter = dialect == Dialect::Postgres && !left_out_by.is_empty();
        let mut left_out = Vec::new();
        for t in model.tables.values().filter(|t| {
            !PLATFORM_SCHEMAS.contains(&t.schema.as_str())
                && !pending.iter().any(|(k, _)| *k == t.qualified())
        }) {
            // Server-only tables casehard itself created (webhook event ids) stay as it made them.
            if migrations::is_casehard_migration(&t.defined.file) {
                continue;
            }
            if auth_adapter && !t.rls && t.policies.is_empty() && auth_adapter_table(&t.name) {
                left_out.push(json!({ "qualified": qualified(t) }));
                continue;
            }
            let inference = &inferences[&t.qualified()];
            let user_data = matches!(
                inference.access,
                Some(
                    Access::SelfRow { .. }
                        | Access::Owner { .. }
                        | Access::Member { .. }
                        | Access::AdminOnly
                )
            );
            let dropped = |p: &sql::Policy| with_drops && p.allows_all && user_data && p.permissive;
            let drops: Vec<serde_json::Value> = t
                .policies
                .iter()
                .filter(|p| dropped(p))
                .map(|p| {
                    let public = if matches!(p.command.as_str(), "select" | "all")
                        && !matches!(inference.access, Some(Access::AdminOnly))
                    {
                        format!(" (if everyone is meant to read it, list it in casehard.toml: [rls] public_read = [\"{}\"])", t.name)
                    } else {
                        String::new()
                    };
                    fixes.push(at(ALLOWS_ALL, &p.at, format!("policy \"{}\" on {} allows every row to everyone it applies to, on a table that holds user data; casehard's migration drops it{public}", p.name, t.qualified()), Applicability::Review));
                    json!({ "name": ident(&p.name), "why": format!("\"{}\" said true (from {})", p.name, p.at.file) })
                })
                .collect();
            let rewrites: Vec<serde_json::Value> = t
                .policies
                .iter()
                .filter(|p| sel.allows(USER_METADATA) && !dropped(p))
                .filter_map(|p| Some((p, p.user_metadata.as_ref()?)))
                .filter_map(|(p, text)| {
                    let rewritten = text.replace("user_metadata", "app_metadata");
                    if pg_query::parse(&rewritten, pg_query::ParserOptions::DEFAULT).is_err() {
                        out.proposals.push(at(USER_METADATA, &p.at, format!("policy \"{}\" on {} decides access from user_metadata, which every user can set on themselves; read the role from app_metadata instead", p.name, t.qualified()), Applicability::Manual));
                        return None;
                    }
                    fixes.push(at(USER_METADATA, &p.at, format!("policy \"{}\" on {} decides access from user_metadata, which every user can set on themselves; casehard's migration recreates it reading app_metadata", p.name, t.qualified()), Applicability::Review));
                    Some(json!({ "name": ident(&p.name), "sql": rewritten, "why": format!("\"{}\" read user_metadata (from {})", p.name, p.at.file) }))
                })
                .collect();
            let remaining = t.policies.len() - drops.len();
            let policies = if with_policies && remaining == 0 {
                policies_for(t, inference, &who)
            } else if with_policies && !drops.is_empty() {
                // A command only a dropped policy granted gets the owner's policy in its place:
                // the table keeps working for the rows' owners, and the rest stays as written.
                let grants = |p: &sql::Policy, command: &str| {
                    p.permissive && (p.command == command || p.command == "all")
                };
                let replaced: Vec<&str> = ["select", "insert", "update", "delete"]
                    .into_iter()
                    .filter(|c| {
                        t.policies.iter().any(|p| dropped(p) && grants(p, c))
                            && !t.policies.iter().any(|p| !dropped(p) && grants(p, c))
                    })
                    .collect();
                policies_for(t, inference, &who)
                    .into_iter()
                    .filter(|p| replaced.contains(&p["command"].as_str().unwrap_or_default()))
                    .collect()
            } else {
                vec![]
            };
            let reenable = with_reenable && t.disabled_after_enable.is_some();
            if let (Some(loc), true) = (&t.disabled_after_enable, reenable) {
                fixes.push(at(DISABLED, loc, format!("{} had row-level security turned off again here; casehard's migration turns it back on", t.qualified()), Applicability::Review));
            }
            if let Some(problem) = &inference.problem {
                if remaining == 0 {
                    out.proposals.push(at(
                        NO_OWNER,
                        &t.defined,
                        problem.clone(),
                        Applicability::Manual,
                    ));
                }
            }
            let needs = (with_policies && (!t.rls || !t.forced))
                || reenable
                || !drops.is_empty()
                || !rewrites.is_empty()
                || !policies.is_empty();
            if !needs {
                continue;
            }
            let what = match (t.rls, t.forced) {
                (false, _) => "row-level security is off",
                (true, false) => "row-level security is not forced",
                _ if drops.is_empty() && !rewrites.is_empty() => "a policy trusts user_metadata",
                _ => "its policies open it to everyone",
            };
            let who = if policies.is_empty() {
                "no owner policy".to_string()
            } else {
                inference.reason.clone()
            };
            if with_policies {
                fixes.push(at(
                    POLICIES,
                    &t.defined,
                    format!("{}: {what}; {who}", t.qualified()),
                    Applicability::Review,
                ));
            }
            let table = json!({
                "qualified": qualified(t),
                "reason": if policies.is_empty() && inference.problem.is_some() { format!("{}; deny by default until its owner is known", inference.reason) } else { inference.reason.clone() },
                "drops": drops,
                "rewrites": rewrites,
                "policies": policies,
            });
            match crate::templates::render("sql/rls-table.sql", &table) {
                Ok(part) => rendered.push_str(&part),
                Err(e) => {
                    let file = &t.defined.file;
                    return fail(out, file, format!("cannot write the migration: {e}"));
                }
            }
            tables += 1;
        }
        let search_path = match dialect {
            Dialect::Supabase => "public, extensions, pg_temp",
            Dialect::Postgres => "public, pg_temp",
        };
        let functions: Vec<serde_json::Value> = model
            .routines
            .values()
            .filter(|r| sel.allows(DEFINER) && r.definer && !r.search_path)
            .filter(|r| !PLATFORM_SCHEMAS.contains(&r.schema.as_str()))
            .map(|r| {
                fixes.push(at(DEFINER, &r.at, format!("{} {} runs as its owner (security definer) but looks up the names in its body on the caller's search_path, so a caller who puts a schema of their own first has it use their tables and functions with its owner's rights; casehard's migration sets its search_path to {search_path}", r.kind, r.signature), Applicability::Review));
                json!({ "kind": r.kind, "signature": r.signature, "from": r.at.file })
            })
            .collect();
        let mut storage: Vec<serde_json::Value> = Vec::new();
        // Storage exists only on Supabase.
        let storage_rule = sel.allows(STORAGE) && dialect == Dialect::Supabase;
        let open = model.storage_policies.iter().filter(|p| p.open_write());
        for p in open.filter(|_| storage_rule) {
            let slug: String = p
                .name
                .to_lowercase()
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
                .collect();
            let name = |command: &str| policy_name("objects", &format!("{command}_{slug}"));
            let creates = match p.narrowed(name) {
                Ok(c) => c,
                Err(e) => {
                    out.proposals.push(at(STORAGE, &p.at, format!("policy \"{}\" on storage.objects lets people write files that are not theirs, and casehard could not write its replacement ({e})", p.name), Applicability::Manual));
                    continue;
                }
            };
            let (who, instead) = if p.command == "insert" {
                (
                    "anyone upload into the bucket, signed in or not",
                    "uploads by signed-in users",
                )
            } else {
                (
                    "anyone it applies to change or delete every file in the bucket",
                    "changes and deletions by the file's owner (owner_id) only",
                )
            };
            fixes.push(at(STORAGE, &p.at, format!("policy \"{}\" on storage.objects lets {who}; casehard's migration replaces it with the same conditions and {instead}", p.name), Applicability::Review));
            storage.push(json!({ "name": ident(&p.name), "from": p.at.file, "who": who, "creates": creates }));
        }
        if tables == 0 && functions.is_empty() && storage.is_empty() {
            if dialect == Dialect::Postgres && with_policies && policies_on_setting(ws, &model) {
                wire_client(project, facts, out);
            }
            return;
        }
        let rule = [
            POLICIES,
            ALLOWS_ALL,
            DISABLED,
            USER_METADATA,
            DEFINER,
            STORAGE,
        ]
        .into_iter()
        .find(|r| sel.allows(r))
        .unwrap_or(POLICIES);
        // Where a failure to write the migration is reported: the first statement it answers.
        let first = model
            .tables
            .values()
            .map(|t| &t.defined)
            .chain(model.routines.values().map(|r| &r.at))
            .chain(model.storage_policies.iter().map(|p| &p.at))
            .next()
            .map(|at| at.file.clone())
            .unwrap_or_default();
        let migration = match migrations::new_migration(ws, &target, "rls", &out.new_files) {
            Ok(m) => m,
            Err(e) => return fail(out, &first, e),
        };
        let what = [
            (tables > 0, "row-level security for the app's tables"),
            (
                !functions.is_empty(),
                "search_path for the functions that run as their owner",
            ),
            (!storage.is_empty(), "who may write to Storage buckets"),
        ]
        .iter()
        .filter(|(on, _)| *on)
        .map(|(_, what)| *what)
        .collect::<Vec<_>>()
        .join("; ");
        let data = json!({
            "rule": rule,
            "tables": tables > 0,
            "what": what,
            "supabase": dialect == Dialect::Supabase,
            "apply": migration.apply,
            "left_out": left_out,
            "left_out_by": left_out_by,
        });
        let header = match crate::templates::render("sql/rls.sql", &data) {
            Ok(c) => c,
            Err(e) => return fail(out, &first, format!("cannot write the migration: {e}")),
        };
        // The tables' part is the bulk (15 MB for 11,835 tables): the header goes in front of
        // it in its own buffer, where appending it to the header held both at once.
        rendered.insert_str(0, &header);
        if !functions.is_empty() {
            let data = json!({ "functions": functions, "search_path": search_path });
            match crate::templates::render("sql/definer-functions.sql", &data) {
                Ok(part) => rendered.push_str(&part),
                Err(e) => return fail(out, &first, format!("cannot write the migration: {e}")),
            }
        }
        if !storage.is_empty() {
            match crate::templates::render(
                "sql/storage-policies.sql",
                &json!({ "policies": storage }),
            ) {
                Ok(part) => rendered.push_str(&part),
                Err(e) => return fail(out, &first, format!("cannot write the migration: {e}")),
            }
        }
        let mut content = rendered;
        if migration.breakpoints {
            content = with_breakpoints(&content);
        }
        // Kept until the run ends: no spare capacity.
        content.shrink_to_fit();
        let path = migration.path;
        out.new_files.push(NewFile {
            rule: rule.into(),
            message: format!(
                "{path}: {}",
                [
                    (
                        tables,
                        "row-level security and owner policies for {} table(s)"
                    ),
                    (
                        functions.len(),
                        "a fixed search_path for {} security-definer function(s)"
                    ),
                    (storage.len(), "{} Storage policies narrowed"),
                ]
                .iter()
                .filter(|(n, _)| *n > 0)
                .map(|(n, what)| what.replace("{}", &n.to_string()))
                .collect::<Vec<_>>()
                .join(", ")
            ),
            path,
            content,
            fixes,
        });
        if dialect == Dialect::Postgres && with_policies {
            wire_client(project, facts, out);
        }
    }
}

/// Whether a migration already holds policies on `app.user_id` (casehard's, or the app's).
fn policies_on_setting(ws: &Workspace, model: &Model) -> bool {
    model.files.iter().any(|f| {
        ws.text(f)
            .is_some_and(|t| t.body.contains("current_setting('app.user_id'"))
    })
}

/// What the pass reads in a source file: Drizzle tables, and where a tRPC `protectedProcedure`
/// builds the context of signed-in requests.
struct RlsFacts {
    drizzle: std::sync::Arc<DrizzleFacts>,
    wiring: Option<Wiring>,
}

/// Where `db: dbFor(ctx.session.user.id),` goes: after the line that narrows the session.
struct Wiring {
    at: usize,
    indent: String,
    imports: imports::ImportFacts,
    /// Where a Drizzle app's middleware goes: at the end of `protectedProcedure`'s chain, after
    /// the middleware that narrows the session, and the indentation of its last link. The procedure then runs inside `withUser`'s transaction,
    /// from a middleware of its own, where `ctx.session` is already narrowed (TypeScript does
    /// not carry the narrowing into a callback written inside the first one).
    use_end: Option<UseEnd>,
}

struct UseEnd {
    at: usize,
    /// The indentation of the line the `.use` is on.
    indent: String,
    /// The `.use` starts its own line (`t.procedure\n  .use(...)`): the new call gets the same
    /// indentation; else one unit more.
    own_line: bool,
}

/// The end of `protectedProcedure`'s definition (`t.procedure.use(...)`, whether the
/// middleware that narrows the session is written inline or as a `t.middleware` of its own),
/// and how its last link is indented.
fn protected_procedure_end(file: &FileView<'_>) -> Option<UseEnd> {
    use crate::lang::Fields;
    let value = file
        .nodes("variable_declarator")
        .iter()
        .find(|d| {
            d.child_in("name")
                .is_some_and(|n| n.text() == "protectedProcedure")
        })?
        .child_in("value")?;
    // The last link's `.`: the indentation of a chain written one link per line.
    let dot = value
        .child_in("function")
        .and_then(|f| f.child_in("property"))
        .map_or(value.range().start, |p| p.range().start - 1);
    let text = file.text;
    let indent = crate::passes::line_indent(text, dot);
    let line_start = text[..dot].rfind('\n').map_or(0, |i| i + 1);
    Some(UseEnd {
        at: value.range().end,
        own_line: indent.len() == dot - line_start,
        indent,
    })
}

/// The end of the line `session: { ...ctx.session, user: ctx.session.user },` in a tRPC
/// `protectedProcedure` (create-t3-app's shape), and that line's indentation; `None` when the
/// context already gets a per-user client (`dbFor`, or Drizzle's `withUser`).
fn protected_context(text: &str) -> Option<(usize, String)> {
    if !text.contains("protectedProcedure") || text.contains("dbFor(") || text.contains("withUser(")
    {
        return None;
    }
    let at = text.find("user: ctx.session.user")?;
    let line_start = text[..at].rfind('\n').map_or(0, |i| i + 1);
    let line_end = text[at..].find('\n').map_or(text.len(), |i| at + i);
    let line = &text[line_start..line_end];
    if !line.trim_start().starts_with("session:") || !line.trim_end().ends_with(',') {
        return None;
    }
    let indent: String = line.chars().take_while(|c| c.is_whitespace()).collect();
    Some((line_end, indent))
}

/// On plain Postgres the policies are only in force when the app names its user per
/// transaction: a helper next to the app's client does that, and a tRPC `protectedProcedure`
/// is given the per-user client. What casehard cannot wire is a finding at the client.
fn wire_client(project: &ProjectView<'_>, facts: &BTreeMap<String, Facts>, out: &mut PassOutput) {
    let ws = project.workspace;
    let Some(client) = clients::of_app(ws, project.stack) else {
        if let Some((first, _)) = ws.sources().next() {
            out.proposals.push(Proposal {
                rule: POLICIES.into(),
                path: first.into(),
                at: 0..0,
                message: "casehard found no exported Prisma, Drizzle or node-postgres client to wire: run each user's queries in a transaction that first does `select set_config('app.user_id', <user id>, true)`, or the policies hide every row".into(),
                applicability: Applicability::Manual,
                edits: vec![],
            });
        }
        return;
    };
    let dir = crate::passes::deps::dir_of(&client.path);
    let helper = if dir.is_empty() {
        "casehard-rls.ts".to_string()
    } else {
        format!("{dir}/casehard-rls.ts")
    };
    let (template, export) = match client.kind {
        Kind::Prisma => ("postgres/prisma-rls.ts", "dbFor"),
        Kind::Drizzle => ("postgres/drizzle-rls.ts", "withUser"),
        Kind::Pool => ("postgres/pg-rls.ts", "withUser"),
    };
    let in_use = |ws: &crate::workspace::Workspace| {
        ws.sources().any(|(p, _)| {
            p != helper
                && ws
                    .text(p)
                    .is_some_and(|t| t.body.contains(&format!("{export}(")))
        })
    };
    let mut wired = in_use(ws);
    let file = crate::passes::helper_file(
        project,
        POLICIES,
        &helper,
        template,
        json!({
            "client": client.name,
            "module": imports::relative_specifier(dir, &client.path),
        }),
        format!("{helper}: `{export}` runs queries as one user, setting app.user_id per transaction for the policies"),
    );
    if matches!(client.kind, Kind::Prisma | Kind::Drizzle) && file.is_some() {
        for (path, f) in facts_of::<RlsFacts>(facts) {
            let Some(w) = &f.wiring else { continue };
            let style = &project.style_of(path);
            let (mut edits, message) = match (client.kind, &w.use_end) {
                (Kind::Prisma, _) => (
                    vec![crate::plan::Edit::insert(
                        w.at,
                        format!("\n{}db: dbFor(ctx.session.user.id),", w.indent),
                    )],
                    format!("protected procedures now query as their signed-in user: `ctx.db` is `dbFor(ctx.session.user.id)`, which sets app.user_id for each query (public procedures keep `{}` and see no protected rows)", client.name),
                ),
                // Drizzle's per-user client is a transaction: the procedure runs inside it.
                (_, Some(u)) => (
                    vec![crate::plan::Edit::insert(
                        u.at,
                        format!(
                            "\n{}{}.use(({{ ctx, next }}) => withUser(ctx.session.user.id, (tx) => next({{ ctx: {{ db: tx }} }})))",
                            u.indent,
                            if u.own_line { "" } else { style.indent.as_str() },
                        ),
                    )],
                    format!("protected procedures now query as their signed-in user: each runs inside `withUser(ctx.session.user.id, ...)`, a transaction that sets app.user_id, and `ctx.db` is that transaction (public procedures keep `{}` and see no protected rows)", client.name),
                ),
                _ => continue,
            };
            if let Some(import) =
                imports::add_named_import(ws, &w.imports, style, path, export, &helper)
            {
                edits.insert(0, import);
            }
            out.proposals.push(Proposal {
                rule: POLICIES.into(),
                path: path.into(),
                at: w.at..w.at,
                message: message.into(),
                applicability: Applicability::Review,
                edits,
            });
            wired = true;
        }
    }
    if !wired {
        out.proposals.push(Proposal {
            rule: POLICIES.into(),
            path: client.path.as_str().into(),
            at: client.at..client.at,
            message: format!("`{}` names no user, so under the row-level security policies it sees no rows of the protected tables: run each signed-in request's queries through `{export}` from {helper}", client.name).into(),
            applicability: Applicability::Manual,
            edits: vec![],
        });
    }
    out.new_files.extend(file);
}

/// Connection URLs in env and compose files that log in as `postgres`: (file, offset, user).
fn superuser_urls(ws: &Workspace) -> Vec<(String, usize, String)> {
    let files = ws.files.keys().filter(|p| {
        let name = p.rsplit('/').next().unwrap_or(p);
        !p.contains('/')
            && (name == ".env"
                || name.starts_with(".env.")
                || matches!(
                    name,
                    "docker-compose.yml" | "docker-compose.yaml" | "compose.yml" | "compose.yaml"
                ))
    });
    let mut out = vec![];
    for path in files {
        let Some(text) = ws.text(path) else { continue };
        let body = text.body;
        for scheme in ["postgres://", "postgresql://"] {
            for (at, _) in body.match_indices(scheme) {
                let rest = &body[at + scheme.len()..];
                let end = rest
                    .find(|c: char| c.is_whitespace() || c == '"' || c == '\'')
                    .unwrap_or(rest.len());
                let Some((userinfo, _)) = rest[..end].split_once('@') else {
                    continue;
                };
                let user = userinfo.split(':').next().unwrap_or("");
                if user == "postgres" {
                    out.push((path.clone(), at, user.to_string()));
                }
            }
        }
    }
    out
}

/// Tables an auth library's database adapter reads before anyone is signed in (Auth.js /
/// NextAuth: users by email, sessions by token, accounts by provider id, verification tokens).
/// Policies keyed on the signed-in user would log everyone out, so they are left to the server.
fn auth_adapter_table(name: &str) -> bool {
    let n = name.to_lowercase();
    [
        "user",
        "users",
        "account",
        "accounts",
        "session",
        "sessions",
        "verification_token",
        "verification_tokens",
        "verificationtoken",
        "verificationtokens",
        "authenticator",
        "authenticators",
    ]
    .iter()
    .any(|t| {
        n.strip_suffix(t).is_some_and(|before| {
            before.is_empty() || before.ends_with(|c: char| !c.is_ascii_alphanumeric())
        })
    })
}

/// Lists casehard's migrations that drizzle-kit's journal does not list yet (they were
/// created in an earlier round of this run, or by an earlier run that stopped half-way).
pub fn sync_journal(ws: &Workspace, rule: &str, out: &mut PassOutput) {
    if let Some((journal, edit)) = migrations::journal_sync(ws) {
        out.proposals.push(Proposal {
            rule: rule.into(),
            path: journal.into(),
            at: edit.start..edit.start,
            message: "drizzle-kit's journal lists casehard's migrations, so `drizzle-kit migrate` runs them".into(),
            applicability: Applicability::Review,
            edits: vec![edit],
        });
    }
}

/// drizzle-kit's migrator sends a file in pieces split at `--> statement-breakpoint`.
pub fn with_breakpoints(sql: &str) -> String {
    let lines: Vec<&str> = sql.lines().collect();
    let last_statement = lines
        .iter()
        .rposition(|l| l.ends_with(';') && !l.starts_with("--"));
    let mut out = String::new();
    for (i, line) in lines.iter().enumerate() {
        out.push_str(line);
        out.push('\n');
        if line.ends_with(';') && !line.starts_with("--") && Some(i) != last_statement {
            out.push_str("--> statement-breakpoint\n");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::sql::MAX_IDENTIFIER;

    #[test]
    fn identifiers_are_quoted_only_when_needed() {
        assert_eq!(ident("posts"), "posts");
        assert_eq!(ident("Posts"), "\"Posts\"");
        assert_eq!(ident("user"), "\"user\"");
        assert_eq!(ident("my\"t"), "\"my\"\"t\"");
        assert_eq!(ident("acme_post"), "acme_post");
    }

    #[test]
    fn policy_names_fit_in_an_identifier_and_keep_their_suffix() {
        assert_eq!(policy_name("posts", "select"), "casehard_posts_select");
        let long = "organization_membership_invitation_acceptance_records";
        for suffix in ["select", "insert", "update", "delete"] {
            let name = policy_name(long, suffix);
            assert_eq!(name.len(), MAX_IDENTIFIER, "{name}");
            assert!(name.starts_with("casehard_organization_membership_invitation_"));
            assert!(name.ends_with(&format!("_{suffix}")), "{name}");
        }
        // A name of exactly the limit is left whole; a character is never split.
        let exact = "t".repeat(MAX_IDENTIFIER - "casehard__select".len());
        assert_eq!(policy_name(&exact, "select").len(), MAX_IDENTIFIER);
        assert!(policy_name(&exact, "select").contains(&exact));
        let wide = "é".repeat(40);
        let name = policy_name(&wide, "select");
        assert!(
            name.len() <= MAX_IDENTIFIER && name.ends_with("é_select"),
            "{name}"
        );
    }

    #[test]
    fn auth_adapter_tables_are_known_by_name_with_or_without_a_prefix() {
        for t in [
            "User",
            "t3-drizzle_session",
            "VerificationToken",
            "app_verification_token",
            "accounts",
        ] {
            assert!(auth_adapter_table(t), "{t}");
        }
        for t in ["Post", "superuser", "sessionlog", "user_notes"] {
            assert!(!auth_adapter_table(t), "{t}");
        }
    }
}
