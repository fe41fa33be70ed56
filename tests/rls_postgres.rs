//! casehard's RLS migrations applied to the real PostgreSQL after the app's own, then used
//! as the Supabase API would: through the non-superuser `authenticated` role with a user's JWT
//! claim, and as `anon`. Needs PostgreSQL at 127.0.0.1:5432 (user postgres, trust auth), as
//! `.ci/run` starts it; an unreachable server fails these tests.

mod harness;

use casehard::workspace::{load_dir, LoadOptions, Workspace};
use harness::*;
use std::path::Path;

const A: &str = "00000000-0000-0000-0000-00000000000a";
const B: &str = "00000000-0000-0000-0000-00000000000b";
const C: &str = "00000000-0000-0000-0000-00000000000c";

/// A fresh database with the Supabase shim, dropped at the end.
struct Db(String);

impl Db {
    fn new(tag: &str) -> Db {
        psql("postgres", "select 1", true).unwrap_or_else(|e| {
            panic!("PostgreSQL at 127.0.0.1:5432 is needed (start it: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start): {e}")
        });
        let name = format!("casehard_{tag}_{}", std::process::id());
        psql("postgres", &format!("drop database if exists {name}"), true).unwrap();
        psql("postgres", &format!("create database {name}"), true).unwrap();
        let db = Db(name);
        let shim =
            std::fs::read_to_string(manifest_dir().join("tests/fixtures/rls/supabase_shim.sql"))
                .unwrap();
        db.sql(&shim).unwrap();
        db
    }
    fn sql(&self, sql: &str) -> Result<String, String> {
        psql(&self.0, sql, true)
    }
    /// Runs `sql` in a transaction as `role`, with `uid` as the JWT subject.
    fn as_user(&self, role: &str, uid: Option<&str>, sql: &str) -> Result<String, String> {
        let claim = uid
            .map(|u| {
                format!(
                    "do $$ begin perform set_config('request.jwt.claim.sub', '{u}', true); end $$;"
                )
            })
            .unwrap_or_default();
        self.sql(&format!(
            "begin; set local role {role}; {claim} {sql}; commit;"
        ))
    }
    fn count(&self, role: &str, uid: Option<&str>, query: &str) -> i64 {
        self.count_of(role, uid, &format!("select count(*) from ({query}) q"))
    }
    /// A statement that itself returns one count.
    fn count_of(&self, role: &str, uid: Option<&str>, query: &str) -> i64 {
        self.as_user(role, uid, query)
            .unwrap_or_else(|e| panic!("{query} as {role}/{uid:?}: {e}"))
            .lines()
            .last()
            .unwrap()
            .parse()
            .unwrap()
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        let _ = psql(
            "postgres",
            &format!("drop database if exists {} with (force)", self.0),
            true,
        );
    }
}

/// Hardens the project; returns its own migrations (in order) and casehard's.
fn harden(dir: &Path) -> (Vec<String>, String, Workspace) {
    harden_workspace(load_dir(dir, &LoadOptions::default()).unwrap())
}

fn harden_workspace(ws: Workspace) -> (Vec<String>, String, Workspace) {
    let own: Vec<String> = casehard::schema::sql::migration_files(&ws)
        .iter()
        .map(|f| ws.text(f).unwrap().body.to_string())
        .collect();
    let outcome = run(ws, &Default::default());
    let (path, _) = outcome
        .before
        .iter()
        .find(|(p, b)| b.is_created() && p.contains("casehard_rls"))
        .expect("a casehard migration");
    let ours = outcome.workspace.text(path).unwrap().body.to_string();
    (own, ours, outcome.workspace)
}

/// [`harden`], checking that a second run on the result changes nothing.
fn harden_settled(dir: &Path) -> (Vec<String>, String, Workspace) {
    let (own, ours, hardened) = harden(dir);
    let again = run(hardened.clone(), &Default::default());
    assert!(!again.has_changes(), "second run:\n{}", describe(&again));
    (own, ours, hardened)
}

/// The app's own migrations, each of which must apply.
fn apply_own(db: &Db, own: &[String]) {
    for m in own {
        db.sql(m)
            .unwrap_or_else(|e| panic!("the app's own migration failed: {e}"));
    }
}

fn apply(db: &Db, own: &[String], ours: &str, app_may_fail: bool) {
    if app_may_fail {
        for m in own {
            let _ = psql(&db.0, m, false);
        }
    } else {
        apply_own(db, own);
    }
    db.sql(ours)
        .unwrap_or_else(|e| panic!("casehard's migration failed: {e}\n{ours}"));
}

fn seed_users(db: &Db, ids: &[&str]) {
    for id in ids {
        db.sql(&format!("insert into auth.users (id) values ('{id}')"))
            .unwrap();
    }
}

#[test]
fn demo_app_users_reach_only_their_own_rows() {
    let (own, ours, _) = harden(&manifest_dir().join("tests/fixtures/apps/nextjs-supabase-stripe"));
    let db = Db::new("demo");
    apply(&db, &own, &ours, false);
    seed_users(&db, &[A, B]);
    db.sql(&format!(
        "insert into profiles (id, username) values ('{A}', 'a'), ('{B}', 'b');
         insert into projects (user_id, name) values ('{A}', 'a1'), ('{A}', 'a2'), ('{B}', 'b1');"
    ))
    .unwrap();

    assert_eq!(
        db.count("authenticated", Some(A), "select * from projects"),
        2,
        "A reads only A's rows"
    );
    assert_eq!(
        db.count("authenticated", Some(B), "select * from projects"),
        1
    );
    assert_eq!(
        db.count("authenticated", Some(A), "select * from profiles"),
        1
    );
    let forged = db.as_user(
        "authenticated",
        Some(A),
        &format!("insert into projects (user_id, name) values ('{B}', 'forged')"),
    );
    assert!(
        forged.unwrap_err().contains("row-level security"),
        "A cannot insert a row owned by B"
    );
    let updated = db.count_of("authenticated", Some(A), &format!("with u as (update projects set name = 'hijack' where user_id = '{B}' returning 1) select count(*) from u"));
    assert_eq!(updated, 0, "A cannot update B's rows");
    let deleted = db.count_of("authenticated", Some(A), &format!("with d as (delete from projects where user_id = '{B}' returning 1) select count(*) from d"));
    assert_eq!(deleted, 0, "A cannot delete B's rows");
    assert_eq!(
        db.sql("select name from projects where user_id = '00000000-0000-0000-0000-00000000000b'")
            .unwrap(),
        "b1"
    );
    let moved = db.as_user(
        "authenticated",
        Some(A),
        &format!("update projects set user_id = '{B}' where name = 'a1'"),
    );
    assert!(
        moved.unwrap_err().contains("row-level security"),
        "A cannot give a row to B"
    );
    db.as_user(
        "authenticated",
        Some(A),
        &format!("insert into projects (user_id, name) values ('{A}', 'mine')"),
    )
    .unwrap();
    assert_eq!(
        db.count("authenticated", Some(A), "select * from projects"),
        3,
        "A still writes A's own rows"
    );
    assert_eq!(
        db.count("anon", None, "select * from projects"),
        0,
        "anonymous reads nothing"
    );
    assert_eq!(db.count("anon", None, "select * from profiles"), 0);
    assert_eq!(
        db.count("authenticated", None, "select * from projects"),
        0,
        "a token without a subject reads nothing"
    );
}

#[test]
fn followers_see_the_posts_of_those_they_follow() {
    let (own, ours, _) = harden(&manifest_dir().join("tests/fixtures/rls/social"));
    let db = Db::new("social");
    apply(&db, &own, &ours, false);
    seed_users(&db, &[A, B, C]);
    db.sql(&format!(
        "insert into profiles (id, handle) values ('{A}', 'a'), ('{B}', 'b'), ('{C}', 'c');
         insert into posts (author_id, body) values ('{B}', 'b1'), ('{B}', 'b2'), ('{C}', 'c1');"
    ))
    .unwrap();
    db.as_user(
        "authenticated",
        Some(A),
        &format!("insert into follows (follower_id, following_id) values ('{A}', '{B}')"),
    )
    .unwrap();
    let forged = db.as_user(
        "authenticated",
        Some(A),
        &format!("insert into follows (follower_id, following_id) values ('{C}', '{B}')"),
    );
    assert!(forged.is_err(), "A cannot make C follow B");

    let b_posts = format!("select * from posts where author_id = '{B}'");
    assert_eq!(
        db.count("authenticated", Some(A), &b_posts),
        2,
        "a follower sees the posts of those they follow"
    );
    assert_eq!(
        db.count("authenticated", Some(C), &b_posts),
        0,
        "a non-follower does not"
    );
    assert_eq!(
        db.count(
            "authenticated",
            Some(A),
            &format!("select * from posts where author_id = '{C}'")
        ),
        0
    );
    assert_eq!(
        db.count("authenticated", Some(B), &b_posts),
        2,
        "the author sees their own"
    );
    assert_eq!(db.count("anon", None, "select * from posts"), 0);
}

#[test]
fn multi_migration_project_ends_deny_by_default() {
    let (own, ours, _) = harden(&manifest_dir().join("tests/fixtures/rls/supabase-multi"));
    let db = Db::new("multi");
    // The app's third migration has a typo and an IF NOT EXISTS: Postgres rejects those
    // statements, as casehard reported; the rest of it applies.
    apply(&db, &own, &ours, true);
    seed_users(&db, &[A, B]);
    db.sql(&format!(
        "insert into profiles (id) values ('{A}'), ('{B}');
         insert into notes (owner_id, body) values ('{A}', 'a'), ('{B}', 'b');
         insert into settings (user_id, theme) values ('{A}', 'dark'), ('{B}', 'light');
         insert into audit_log (actor, happened_at) values ('x', now());
         insert into counters (id, owner_id) values (1, 1);"
    ))
    .unwrap();
    assert_eq!(
        db.count("authenticated", Some(A), "select * from notes"),
        1,
        "the using (true) policy is gone"
    );
    assert_eq!(db.count("anon", None, "select * from notes"), 0);
    assert_eq!(
        db.count("authenticated", Some(A), "select * from settings"),
        1,
        "a text owner column is compared as text"
    );
    assert_eq!(
        db.count("authenticated", Some(A), "select * from profiles"),
        1,
        "RLS is back on after the debug migration"
    );
    assert_eq!(
        db.count("authenticated", Some(A), "select * from audit_log"),
        0,
        "an ownerless table returns nothing"
    );
    assert_eq!(
        db.count("authenticated", Some(A), "select * from counters"),
        0,
        "a table with an owner of the wrong type returns nothing"
    );
    let forced = db.sql("select count(*) from pg_class where relname in ('notes','settings','profiles','audit_log','counters') and relforcerowsecurity").unwrap();
    assert_eq!(forced, "5", "every table has RLS forced");
}

/// A dropped `using (true)` policy that was the only one granting its command is replaced by
/// the owner's: the table still works for the rows' owners. Before, profiles kept only its
/// update policy and orders only its select policy, so users could not read their own
/// profile or place an order.
#[test]
fn a_dropped_open_policy_leaves_its_command_to_the_owner() {
    let (own, ours, _) =
        harden_settled(&manifest_dir().join("tests/fixtures/rls/supabase-lovable"));
    let db = Db::new("lovable");
    apply(&db, &own, &ours, false);
    // The app's trigger creates each profile at sign-up.
    seed_users(&db, &[A, B]);
    assert_eq!(
        db.count("authenticated", Some(A), "select * from profiles"),
        1,
        "A reads A's own profile, and only it"
    );
    assert_eq!(db.count("anon", None, "select * from profiles"), 0);
    let renamed = db.count_of(
        "authenticated",
        Some(A),
        "with u as (update profiles set full_name = 'x' returning 1) select count(*) from u",
    );
    assert_eq!(renamed, 1, "the app's own update policy still holds");

    db.as_user(
        "authenticated",
        Some(A),
        &format!("insert into orders (user_id, amount) values ('{A}', 100)"),
    )
    .expect("A places A's own order");
    let forged = db.as_user(
        "authenticated",
        Some(A),
        &format!("insert into orders (user_id, amount) values ('{B}', 100)"),
    );
    assert!(
        forged.unwrap_err().contains("row-level security"),
        "A cannot place an order in B's name"
    );
    db.sql(&format!(
        "insert into orders (user_id, amount) values ('{B}', 200)"
    ))
    .unwrap();
    let paid = db.count_of(
        "authenticated",
        Some(A),
        "with u as (update orders set status = 'paid' returning 1) select count(*) from u",
    );
    assert_eq!(paid, 1, "A can mark only A's own order paid");
    assert_eq!(
        db.sql(&format!("select status from orders where user_id = '{B}'"))
            .unwrap(),
        "pending"
    );
    assert_eq!(
        db.count("authenticated", Some(B), "select * from orders"),
        1,
        "B reads B's order through the app's own policy"
    );
}

/// The event log an edge function's webhook guard writes through PostgREST: its migration
/// applies after the app's, a repeated id fails with the unique violation (23505) the guard
/// reads as a redelivery, and the API roles cannot touch the table.
#[test]
fn the_edge_event_log_applies_and_refuses_a_repeated_id() {
    let dir = manifest_dir().join("tests/fixtures/rules/webhook/idempotency/invalid-edge");
    let ws = load_dir(&dir, &LoadOptions::default()).unwrap();
    let own: Vec<String> = casehard::schema::sql::migration_files(&ws)
        .iter()
        .map(|f| ws.text(f).unwrap().body.to_string())
        .collect();
    let outcome = run(ws, &only("webhook/idempotency"));
    let (path, _) = outcome
        .before
        .iter()
        .find(|(p, b)| b.is_created() && p.ends_with("_casehard_webhook_events.sql"))
        .expect("the event log's migration");
    let ours = outcome.workspace.text(path).unwrap().body.to_string();
    let db = Db::new("eventlog");
    apply(&db, &own, &ours, false);
    db.sql("insert into processed_webhook_events (id) values ('evt_1')")
        .unwrap();
    // `unique_violation` is SQLSTATE 23505: the block succeeds only if the repeat raised it.
    db.sql("do $$ begin insert into processed_webhook_events (id) values ('evt_1'); raise exception 'the repeated id was accepted'; exception when unique_violation then null; end $$")
        .unwrap_or_else(|e| panic!("a repeated id must fail with 23505: {e}"));
    assert_eq!(
        db.count(
            "authenticated",
            Some(A),
            "select * from processed_webhook_events"
        ),
        0,
        "signed-in users read nothing of it"
    );
    let forged = db.as_user(
        "anon",
        None,
        "insert into processed_webhook_events (id) values ('evt_2')",
    );
    assert!(
        forged.unwrap_err().contains("row-level security"),
        "anonymous callers cannot mark an event processed"
    );
}

/// A security-definer function that looks names up on the caller's search_path reads the
/// caller's own tables: a role with a schema of its own makes itself an admin through
/// `has_role` until casehard's migration fixes the function's search_path. The sign-up
/// trigger, whose body names `profiles` unqualified, still creates profiles after it.
#[test]
fn a_definer_function_no_longer_reads_the_caller_s_tables() {
    let dir = manifest_dir().join("tests/fixtures/rules/rls/definer-search-path/invalid");
    let (own, ours, _) = harden_settled(&dir);
    let db = Db::new("definer");
    apply_own(&db, &own);
    seed_users(&db, &[A]);
    db.sql("do $$ begin create role casehard_mallory nologin; exception when duplicate_object or unique_violation then null; end $$; create schema mallory authorization casehard_mallory;")
        .unwrap();
    let attack = format!(
        "begin; set local role casehard_mallory; set local search_path = mallory, public; \
         create table mallory.user_roles (user_id uuid, role public.app_role); \
         insert into mallory.user_roles values ('{A}', 'admin'); \
         select public.has_role('{A}', 'admin'); rollback;"
    );
    let answer = |db: &Db| db.sql(&attack).unwrap().lines().last().unwrap().to_string();
    assert_eq!(
        answer(&db),
        "t",
        "before: has_role reads the caller's user_roles"
    );
    db.sql(&ours)
        .unwrap_or_else(|e| panic!("casehard's migration failed: {e}\n{ours}"));
    assert_eq!(
        answer(&db),
        "f",
        "after: has_role reads public.user_roles only"
    );
    seed_users(&db, &[B]);
    assert_eq!(
        db.sql("select count(*) from public.profiles").unwrap(),
        "2",
        "the sign-up trigger still creates each profile"
    );
    assert_eq!(
        db.sql("select proconfig::text from pg_proc where proname = 'handle_new_user'")
            .unwrap(),
        "{\"search_path=public, extensions, pg_temp\"}"
    );
}

/// Storage policies whose only condition is the bucket: before casehard's migration anyone
/// uploads and anyone replaces or deletes another user's files; after it uploads need a
/// signed-in user, and only a file's owner (owner_id) changes or deletes it. Reads stay open.
#[test]
fn storage_files_are_changed_only_by_their_owner() {
    let dir = manifest_dir().join("tests/fixtures/rules/rls/storage-open-write/invalid");
    let (own, ours, _) = harden_settled(&dir);
    let db = Db::new("storage");
    apply_own(&db, &own);
    let upload = |who: Option<&str>, bucket: &str, name: &str| {
        let role = if who.is_some() {
            "authenticated"
        } else {
            "anon"
        };
        let owner = who.map_or("null".to_string(), |w| format!("'{w}'"));
        db.as_user(
            role,
            who,
            &format!("insert into storage.objects (bucket_id, name, owner_id) values ('{bucket}', '{name}', {owner})"),
        )
    };
    let changed = |who: &str, what: &str| {
        db.count_of(
            "authenticated",
            Some(who),
            &format!("with c as ({what} returning 1) select count(*) from c"),
        )
    };
    let rename_a = "update storage.objects set name = 'x' where name = 'a.png'";
    upload(None, "avatars", "anon-before.png").expect("before: anyone uploads");
    upload(Some(A), "avatars", "a.png").unwrap();
    assert_eq!(changed(B, rename_a), 1, "before: B renames A's avatar");
    db.sql("update storage.objects set name = 'a.png' where name = 'x'")
        .unwrap();

    db.sql(&ours)
        .unwrap_or_else(|e| panic!("casehard's migration failed: {e}\n{ours}"));
    let refused = upload(None, "avatars", "anon-after.png");
    assert!(
        refused.unwrap_err().contains("row-level security"),
        "after: signed-out uploads are refused"
    );
    upload(Some(B), "avatars", "b.png").expect("after: B uploads an avatar");
    assert_eq!(changed(B, rename_a), 0, "after: B cannot rename A's avatar");
    assert_eq!(changed(A, rename_a), 1, "after: A renames A's own avatar");
    upload(Some(A), "documents", "a.pdf").expect("after: A uploads a document");
    let delete_doc = "delete from storage.objects where name = 'a.pdf'";
    assert_eq!(
        changed(B, delete_doc),
        0,
        "after: B cannot delete A's document"
    );
    assert_eq!(
        db.count(
            "authenticated",
            Some(B),
            "select * from storage.objects where bucket_id = 'documents'"
        ),
        1,
        "after: signed-in users still read documents, as the app's policy allowed"
    );
    assert_eq!(
        changed(A, delete_doc),
        1,
        "after: A deletes A's own document"
    );
    assert_eq!(
        db.count(
            "anon",
            None,
            "select * from storage.objects where bucket_id = 'avatars'"
        ),
        3,
        "avatars stay publicly readable"
    );
}

/// A policy's name is the project's text, and a quoted name may hold a line break. casehard
/// names the policy it replaces in a `--` comment of its migration; the break once ended the
/// comment there, and the rest of the name ran as a statement of casehard's own migration.
#[test]
fn a_policy_name_cannot_add_a_statement_to_casehard_s_migration() {
    let dir = manifest_dir().join("tests/fixtures/rules/rls/storage-open-write/invalid");
    let mut ws = load_dir(&dir, &LoadOptions::default()).unwrap();
    ws.insert(
        "supabase/migrations/20250103000000_more.sql".into(),
        "create table public.keep (id int primary key);\ncreate policy \"Anyone can update\ndrop table public.keep; --\" on storage.objects for update using (bucket_id = 'avatars');\n".as_bytes().to_vec(),
        0o644,
    );
    let findings = run(ws.clone(), &Default::default()).findings;
    let named = findings
        .iter()
        .find(|f| f.message.contains("Anyone can update"))
        .expect("a finding names the policy");
    assert!(
        !named.message.contains('\n'),
        "a finding is one line of the report: {}",
        named.message
    );
    let (own, ours, hardened) = harden_workspace(ws);
    assert!(
        ours.contains("-- \"Anyone can update\\ndrop table public.keep; --\""),
        "the name stays in its comment:\n{ours}"
    );
    let db = Db::new("policy_name");
    apply(&db, &own, &ours, false);
    assert_eq!(
        db.sql("select count(*) from pg_tables where schemaname = 'public' and tablename = 'keep'")
            .unwrap()
            .lines()
            .last()
            .map(str::trim),
        Some("1"),
        "the table the name tried to drop is still there"
    );
    let policies = db
        .sql("select count(*) from pg_policies where schemaname = 'storage' and policyname like 'Anyone can update%'")
        .unwrap();
    assert_eq!(
        policies.lines().last().map(str::trim),
        Some("0"),
        "the open policy is dropped"
    );
    let again = run(hardened, &Default::default());
    assert!(!again.has_changes(), "second run:\n{}", describe(&again));
}

/// A Supabase app whose tables are created by migrations outside supabase/migrations
/// (`db/migrations/`, run after it): casehard's migration goes after them, as a loose file,
/// where before it went into supabase/migrations, ran first in the replay, and every run wrote
/// it again (the files fuzz target's finding).
#[test]
fn a_supabase_app_with_migrations_elsewhere_gets_its_policies_after_them() {
    let ws = Workspace::from_files([
        ("package.json", r#"{"dependencies":{"@supabase/supabase-js":"2.46.1","next":"15.0.3"}}"#),
        ("supabase/migrations/20240101000000_init.sql", "create table public.profiles (id uuid primary key references auth.users (id), name text);\n"),
        ("db/migrations/0001_notes.sql", "create table public.notes (id serial primary key, user_id uuid not null references auth.users (id), body text not null);\n"),
    ])
    .unwrap();
    let (own, ours, hardened) = harden_workspace(ws);
    assert!(
        hardened.files.contains_key("db/casehard_rls.sql"),
        "{:?}",
        hardened.files.keys().collect::<Vec<_>>()
    );
    assert!(
        ours.contains("public.notes") && ours.contains("public.profiles"),
        "{ours}"
    );
    let again = run(hardened, &Default::default());
    assert!(!again.has_changes(), "second run:\n{}", describe(&again));
    let db = Db::new("supabase_elsewhere");
    apply(&db, &own, &ours, false);
    seed_users(&db, &[A, B]);
    db.sql(&format!(
        "insert into notes (user_id, body) values ('{A}', 'a'), ('{B}', 'b');"
    ))
    .unwrap();
    assert_eq!(db.count("authenticated", Some(A), "select * from notes"), 1);
    assert_eq!(db.count("anon", None, "select * from notes"), 0);
}

#[test]
fn a_second_run_adds_nothing_and_a_new_table_gets_its_own_migration() {
    let (_, _, hardened) = harden_settled(&manifest_dir().join("tests/fixtures/rls/social"));

    let mut grown = hardened;
    grown.insert(
        "supabase/migrations/20240302000000_messages.sql".into(),
        b"create table public.messages (\n  id bigint generated always as identity primary key,\n  sender_id uuid not null references public.profiles (id),\n  body text\n);\n".to_vec(),
        0o644,
    );
    let third = run(grown, &Default::default());
    let created: Vec<&String> = third
        .before
        .iter()
        .filter(|(_, b)| b.is_created())
        .map(|(p, _)| p)
        .collect();
    assert_eq!(
        created,
        vec!["supabase/migrations/20240302000001_casehard_rls.sql"]
    );
    let text = third.workspace.text(created[0]).unwrap().body;
    assert!(
        text.contains("public.messages") && !text.contains("public.posts"),
        "only the new table:\n{text}"
    );
    assert!(text.contains("sender_id = (select auth.uid())"), "{text}");
    assert!(
        third.before.keys().all(|p| p == created[0]),
        "no existing migration is edited"
    );
}

/// The owner checks the issue asks for, on `table` whose `owner` column holds the user id.
fn owner_checks(db: &PlainDb, table: &str, owner: &str, insert: &str) {
    let mine = |uid: &str| format!("select * from {table} where {owner} = '{uid}'");
    assert_eq!(
        db.count(Some(A), &format!("select * from {table}")),
        db.count(Some(A), &mine(A)),
        "A reads only A's rows of {table}"
    );
    assert!(
        db.count(Some(A), &mine(A)) > 0,
        "A reads A's rows of {table}"
    );
    assert_eq!(
        db.count(Some(A), &mine(B)),
        0,
        "A reads none of B's rows of {table}"
    );
    let forged = db.as_app(Some(A), &insert.replace("{owner}", B));
    assert!(
        forged.as_ref().unwrap_err().contains("row-level security"),
        "A cannot insert a row of {table} owned by B: {forged:?}"
    );
    db.as_app(Some(A), &insert.replace("{owner}", A))
        .unwrap_or_else(|e| panic!("A writes A's own row of {table}: {e}"));
    let updated = db.count_of(Some(A), &format!("with u as (update {table} set {owner} = {owner} where {owner} = '{B}' returning 1) select count(*) from u"));
    assert_eq!(updated, 0, "A cannot update B's rows of {table}");
    let deleted = db.count_of(Some(A), &format!("with d as (delete from {table} where {owner} = '{B}' returning 1) select count(*) from d"));
    assert_eq!(deleted, 0, "A cannot delete B's rows of {table}");
    let given = db.as_app(
        Some(A),
        &format!("update {table} set {owner} = '{B}' where {owner} = '{A}'"),
    );
    assert!(given.is_err(), "A cannot give a row of {table} to B");
    assert_eq!(
        db.count(None, &format!("select * from {table}")),
        0,
        "no user set: {table} reads nothing"
    );
}

#[test]
fn prisma_app_users_reach_only_their_own_rows() {
    let (own, ours, _) = harden(&manifest_dir().join("tests/fixtures/rls/prisma"));
    let db = PlainDb::new("prisma");
    db.apply(&own, &ours);
    db.sql(&format!(
            "insert into users (id, email) values ('{A}', 'a@x'), ('{B}', 'b@x');
             insert into notes (owner_ref, title) values ('{A}', 'a1'), ('{A}', 'a2'), ('{B}', 'b1');
             insert into comments (writer, note_id, body) values ('{A}', 1, 'hi'), ('{B}', 3, 'yo');
             insert into \"Setting\" (key, value) values ('theme', '\"dark\"');"
        ))
        .unwrap();
    owner_checks(
        &db,
        "notes",
        "owner_ref",
        "insert into notes (owner_ref, title) values ('{owner}', 't')",
    );
    owner_checks(
        &db,
        "comments",
        "writer",
        "insert into comments (writer, note_id, body) values ('{owner}', 1, 'c')",
    );
    assert_eq!(
        db.count(Some(A), "select * from users"),
        1,
        "A sees only A's user row"
    );
    assert_eq!(
        db.count(Some(A), "select * from \"Setting\""),
        0,
        "an ownerless table returns nothing"
    );
}

#[test]
fn drizzle_app_with_prefixed_tables_reaches_only_its_own_rows() {
    let dir = manifest_dir().join("tests/fixtures/rls/drizzle");
    let (own, ours, hardened) = harden(&dir);
    let journal: serde_json::Value =
        serde_json::from_slice(&hardened.files["drizzle/meta/_journal.json"].bytes).unwrap();
    let tags: Vec<&str> = journal["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["tag"].as_str().unwrap())
        .collect();
    assert_eq!(
        tags,
        ["0000_init", "0001_casehard_rls"],
        "drizzle-kit's journal lists the migration"
    );
    assert!(hardened.files.contains_key("drizzle/0001_casehard_rls.sql"));
    let db = PlainDb::new("drizzle");
    db.apply(&own, &ours);
    db.sql(&format!(
            "insert into \"acme-user\" (id, email) values ('{A}', 'a@x'), ('{B}', 'b@x');
             insert into \"acme-task\" (title, created_by_id) values ('a1', '{A}'), ('b1', '{B}'), ('b2', '{B}');
             insert into \"acme-task_tag\" (task_id, tag) values (1, 'x');"
        ))
        .unwrap();
    owner_checks(
        &db,
        "\"acme-task\"",
        "created_by_id",
        "insert into \"acme-task\" (title, created_by_id) values ('t', '{owner}')",
    );
    assert_eq!(db.count(Some(B), "select * from \"acme-user\""), 1);
    assert_eq!(
        db.count(Some(A), "select * from \"acme-task_tag\""),
        0,
        "a table with a composite key and no owner returns nothing"
    );
}

/// Runs casehard on its own output (nothing changes), then after the app gained `added`
/// (path, text, and any edit of an existing file): exactly one new migration, for it alone.
fn grows(dir: &str, added: &[(&str, String)], expected: &str, new_table: &str, old_table: &str) {
    let (_, _, hardened) = harden_settled(&manifest_dir().join(dir));
    let mut grown = hardened;
    for (path, text) in added {
        grown.insert(path.to_string(), text.clone().into_bytes(), 0o644);
    }
    let third = run(grown, &Default::default());
    let created: Vec<&String> = third
        .before
        .iter()
        .filter(|(_, b)| b.is_created())
        .map(|(p, _)| p)
        .collect();
    assert_eq!(created, vec![expected], "{}", describe(&third));
    let text = third.workspace.text(created[0]).unwrap().body;
    assert!(
        text.contains(new_table) && !text.contains(old_table),
        "only the new table:\n{text}"
    );
    let edited: Vec<&String> = third
        .before
        .iter()
        .filter(|(_, b)| !b.is_created())
        .map(|(p, _)| p)
        .collect();
    assert!(
        edited.iter().all(|p| p.ends_with("_journal.json")),
        "no existing migration is edited: {edited:?}"
    );
}

#[test]
fn prisma_second_run_adds_nothing_and_a_new_table_gets_its_own_migration() {
    grows(
        "tests/fixtures/rls/prisma",
        &[(
            "prisma/migrations/20240201000000_tags/migration.sql",
            "CREATE TABLE \"tags\" (\"id\" SERIAL NOT NULL, \"user_id\" UUID NOT NULL, CONSTRAINT \"tags_pkey\" PRIMARY KEY (\"id\"));\nALTER TABLE \"tags\" ADD CONSTRAINT \"tags_user_id_fkey\" FOREIGN KEY (\"user_id\") REFERENCES \"users\"(\"id\");\n".into(),
        )],
        "prisma/migrations/20240201000001_casehard_rls/migration.sql",
        "public.tags",
        "public.notes",
    );
}

/// drizzle-kit's journal `journal` with one more entry, `tag`, as `drizzle-kit generate` adds
/// it with the new table's SQL file.
fn journal_with(journal: &str, idx: usize, tag: &str) -> String {
    let at = journal.rfind('}').unwrap();
    let at = journal[..at].rfind('}').unwrap() + 1;
    format!(
        "{},\n    {{\n      \"idx\": {idx},\n      \"version\": \"7\",\n      \"when\": 1733184000000,\n      \"tag\": \"{tag}\",\n      \"breakpoints\": true\n    }}{}",
        &journal[..at],
        &journal[at..]
    )
}

#[test]
fn drizzle_second_run_adds_nothing_and_a_new_table_gets_its_own_migration() {
    let (_, _, hardened) = harden(&manifest_dir().join("tests/fixtures/rls/drizzle"));
    let journal =
        String::from_utf8(hardened.files["drizzle/meta/_journal.json"].bytes.clone()).unwrap();
    let journal = journal_with(&journal, 2, "0002_labels");
    grows(
        "tests/fixtures/rls/drizzle",
        &[
            ("drizzle/meta/_journal.json", journal),
            (
                "drizzle/0002_labels.sql",
                "CREATE TABLE IF NOT EXISTS \"acme-label\" (\n\t\"id\" serial PRIMARY KEY NOT NULL,\n\t\"owner_id\" varchar(255) NOT NULL\n);\n".into(),
            ),
        ],
        "drizzle/0003_casehard_rls.sql",
        "\"acme-label\"",
        "\"acme-task\"",
    );
}

/// PostgreSQL cuts identifiers at 63 bytes: for a table whose name is that long, policy names
/// spelled in full would all be cut alike and the second `create policy` would fail.
#[test]
fn a_table_with_a_long_name_gets_all_its_policies() {
    let table = "acme-organization_membership_invitation_acceptance_record";
    let dir = manifest_dir().join("tests/fixtures/rls/drizzle");
    let mut ws = load_dir(&dir, &LoadOptions::default()).unwrap();
    let journal = String::from_utf8(ws.files["drizzle/meta/_journal.json"].bytes.clone()).unwrap();
    ws.insert(
        "drizzle/meta/_journal.json".into(),
        journal_with(&journal, 1, "0001_invitations").into_bytes(),
        0o644,
    );
    ws.insert(
        "drizzle/0001_invitations.sql".into(),
        format!("CREATE TABLE IF NOT EXISTS \"{table}\" (\n\t\"id\" serial PRIMARY KEY NOT NULL,\n\t\"owner_id\" varchar(255) NOT NULL\n);\n").into_bytes(),
        0o644,
    );
    let (own, ours, hardened) = harden_workspace(ws);
    assert!(ours.contains(table), "{ours}");
    let db = PlainDb::new("long_names");
    db.apply(&own, &ours);
    // One policy per command, each under its own name.
    let policies = db
        .sql(&format!(
            "select count(distinct policyname) || ' ' || string_agg(cmd, ',' order by cmd) from pg_policies where tablename = '{table}'"
        ))
        .unwrap();
    assert_eq!(
        policies.lines().last().unwrap(),
        "4 DELETE,INSERT,SELECT,UPDATE",
        "{policies}"
    );
    db.sql(&format!("insert into \"acme-user\" (id, email) values ('{A}', 'a@x'), ('{B}', 'b@x'); insert into \"{table}\" (owner_id) values ('{A}'), ('{B}')")).unwrap();
    owner_checks(
        &db,
        &format!("\"{table}\""),
        "owner_id",
        &format!("insert into \"{table}\" (owner_id) values ('{{owner}}')"),
    );
    let again = run(hardened, &Default::default());
    assert!(!again.has_changes(), "second run:\n{}", describe(&again));
}

/// A Prisma model whose name is longer than 63 bytes: its migration creates the table under
/// the name PostgreSQL cuts it to, and so must casehard's. Read in full, the model and the
/// migrated table were two tables, one never migrated and one without RLS; with no migrations
/// at all, each run wrote the same policies again and the fixes never converged.
#[test]
fn a_prisma_model_with_a_long_name_is_the_table_postgres_makes() {
    let model = "WorkspaceMembershipInvitationAcceptanceRecordForTheBillingAccountOwners";
    assert!(model.len() > 63);
    let table = &model[..63];
    let dir = manifest_dir().join("tests/fixtures/rls/prisma");
    let mut ws = load_dir(&dir, &LoadOptions::default()).unwrap();
    let schema = String::from_utf8(ws.files["prisma/schema.prisma"].bytes.clone()).unwrap();
    ws.insert(
        "prisma/schema.prisma".into(),
        format!("{schema}\nmodel {model} {{\n  id      Int    @id @default(autoincrement())\n  ownerId String @map(\"owner_ref\") @db.Uuid\n  owner   User   @relation(fields: [ownerId], references: [id])\n}}\n").into_bytes(),
        0o644,
    );
    ws.insert(
        "prisma/migrations/20240201000000_invitations/migration.sql".into(),
        format!("CREATE TABLE \"{model}\" (\"id\" SERIAL NOT NULL, \"owner_ref\" UUID NOT NULL, CONSTRAINT \"invitations_pkey\" PRIMARY KEY (\"id\"));\nALTER TABLE \"{model}\" ADD CONSTRAINT \"invitations_owner_ref_fkey\" FOREIGN KEY (\"owner_ref\") REFERENCES \"users\"(\"id\");\n").into_bytes(),
        0o644,
    );
    let (own, ours, hardened) = harden_workspace(ws.clone());
    assert!(
        ours.contains(&format!("public.\"{table}\" enable row level security"))
            && !ours.contains(model),
        "the table under the name PostgreSQL gives it:\n{ours}"
    );
    let outcome = run(ws, &Default::default());
    assert!(
        outcome
            .open_findings()
            .all(|f| !f.message.contains("no migration creates it")),
        "the model is the migrated table:\n{}",
        describe(&outcome)
    );
    let db = PlainDb::new("prisma_long");
    db.apply(&own, &ours);
    db.sql(&format!("insert into users (id, email) values ('{A}', 'a@x'), ('{B}', 'b@x'); insert into \"{table}\" (owner_ref) values ('{A}'), ('{B}')")).unwrap();
    owner_checks(
        &db,
        &format!("\"{table}\""),
        "owner_ref",
        &format!("insert into \"{table}\" (owner_ref) values ('{{owner}}')"),
    );
    let again = run(hardened, &Default::default());
    assert!(!again.has_changes(), "second run:\n{}", describe(&again));
}

#[test]
fn a_role_in_user_metadata_no_longer_opens_every_row() {
    let (own, ours, _) =
        harden(&manifest_dir().join("tests/fixtures/rules/rls/user-metadata/invalid"));
    let db = Db::new("metadata");
    apply(&db, &own, &ours, false);
    seed_users(&db, &[A, B]);
    db.sql(&format!(
        "insert into orders (user_id, total) values ('{A}', 1), ('{B}', 2), ('{B}', 3);"
    ))
    .unwrap();
    let with_claims = |claims: &str| {
        db.count_of(
            "authenticated",
            Some(A),
            &format!("select set_config('request.jwt.claims', '{claims}', true) is null; select count(*) from orders"),
        )
    };
    assert_eq!(
        with_claims(r#"{"user_metadata": {"role": "admin"}}"#),
        1,
        "a role the user wrote about themselves opens nothing"
    );
    assert_eq!(
        with_claims(r#"{"app_metadata": {"role": "admin"}}"#),
        3,
        "a role the server set still does"
    );
    // The app's own migration alone is the hole the rule closes.
    let before = Db::new("metadata_before");
    apply(&before, &own, "select 1", false);
    seed_users(&before, &[A, B]);
    before
        .sql(&format!(
            "insert into orders (user_id, total) values ('{A}', 1), ('{B}', 2);"
        ))
        .unwrap();
    assert_eq!(
        before.count_of(
            "authenticated",
            Some(A),
            r#"select set_config('request.jwt.claims', '{"user_metadata": {"role": "admin"}}', true) is null; select count(*) from orders"#,
        ),
        2,
        "before casehard, a self-made admin reads every order"
    );
}

#[test]
fn an_admin_only_table_needs_an_admin_role_from_app_metadata_and_a_second_factor() {
    let (own, ours, _) = harden(&manifest_dir().join("tests/fixtures/rls/supabase-admin"));
    let db = Db::new("admin_only");
    apply(&db, &own, &ours, false);
    seed_users(&db, &[A, B]);
    db.sql("insert into audit_log (action) values ('deleted user'), ('refunded order');")
        .unwrap();
    let count_with = |uid: &str, claims: &str| {
        db.count_of(
            "authenticated",
            Some(uid),
            &format!("select set_config('request.jwt.claims', '{claims}', true) is null; select count(*) from audit_log"),
        )
    };
    assert_eq!(
        count_with(A, r#"{"app_metadata": {"role": "admin"}, "aal": "aal2"}"#),
        2,
        "an admin signed in with a second factor reads the log"
    );
    assert_eq!(
        count_with(A, r#"{"app_metadata": {"role": "admin"}, "aal": "aal1"}"#),
        0,
        "an admin with one factor reads nothing (the restrictive aal2 policy)"
    );
    assert_eq!(
        count_with(B, r#"{"aal": "aal2"}"#),
        0,
        "a user who is not an admin reads nothing, whatever the factor"
    );
    assert_eq!(
        count_with(B, r#"{"user_metadata": {"role": "admin"}, "aal": "aal2"}"#),
        0,
        "a role the user wrote about themselves is not an admin role"
    );
    let write = db.as_user(
        "authenticated",
        Some(A),
        r#"select set_config('request.jwt.claims', '{"app_metadata": {"role": "admin"}, "aal": "aal1"}', true) is null; insert into audit_log (action) values ('forged')"#,
    );
    assert!(
        write.is_err(),
        "an admin with one factor cannot write either"
    );
    assert_eq!(db.count("anon", None, "select * from audit_log"), 0);
}
