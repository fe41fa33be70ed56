//! Who owns each row: inferred from the model, each inference with its reason.

use super::sql::{Model, Table};
use std::collections::BTreeMap;

/// Column names that say "the user who owns this row".
const OWNER_NAMES: &[&str] = &[
    "user_id",
    "owner_id",
    "author_id",
    "created_by",
    "profile_id",
    "creator_id",
    "userid",
    "ownerid",
    "authorid",
    "createdby",
    "profileid",
];
/// Column pairs of a follower graph: (follower, followed).
const FOLLOW_PAIRS: &[(&str, &str)] = &[
    ("follower_id", "following_id"),
    ("follower_id", "followed_id"),
    ("follower_id", "followee_id"),
    ("follower_id", "target_id"),
];
/// Tables whose rows are feed content a follower may see.
const FEED_WORDS: &[&str] = &[
    "post", "tweet", "message", "feed", "stor", "photo", "status", "update", "activit", "note",
];

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Access {
    /// The user table: a row is the user (`id = auth.uid()`).
    SelfRow { column: String },
    /// A column holds the owner's user id.
    Owner { column: String },
    /// Rows belong to a group; members listed in `members` may use them.
    Member {
        column: String,
        members: String,
        member_group: String,
        member_user: String,
    },
    /// Anyone may read (from casehard.toml); writes by the owner, if there is one.
    PublicRead { owner: Option<String> },
    /// Only admins (from casehard.toml): the role in the JWT's `app_metadata`.
    AdminOnly,
}

/// Where the signed-in user's id comes from, which decides who counts as "the user".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    /// Supabase: `auth.uid()`, a uuid from the JWT; users live in `auth.users`.
    Supabase,
    /// Plain Postgres: the app sets `app.user_id` per transaction; users live in the app's
    /// own user table, whatever the type of its key.
    Postgres,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Followers {
    pub table: String,
    pub follower: String,
    pub followed: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Inference {
    pub access: Option<Access>,
    pub reason: String,
    /// The type to cast the user id to before comparing it with the owner column, `None`
    /// when it compares as it is (uuid on Supabase, text on plain Postgres).
    pub cast: Option<String>,
    /// Why no policy can be written, for a manual finding.
    pub problem: Option<String>,
    /// For feed content: the follower graph whose followers may read it.
    pub followers: Option<Followers>,
}

/// Overrides from casehard.toml `[rls]`.
#[derive(Clone, Debug, Default)]
pub struct Overrides {
    /// table → owner column.
    pub owners: BTreeMap<String, String>,
    pub public_read: Vec<String>,
    pub admin_only: Vec<String>,
}

fn lower(s: &str) -> String {
    s.to_lowercase()
}

fn is_uuid(t: &str) -> bool {
    t == "uuid"
}

fn is_text(t: &str) -> bool {
    matches!(t, "text" | "varchar" | "bpchar" | "citext" | "char")
}

fn is_integer(t: &str) -> bool {
    matches!(
        t,
        "int2" | "int4" | "int8" | "smallint" | "integer" | "bigint"
    )
}

/// A table named for the app's users: `users`, `User`, `acme_user` or `acme-user` (a
/// prefixed Drizzle table).
fn named_for_users(name: &str) -> bool {
    let n = lower(name);
    let last = n
        .rsplit(|c: char| !c.is_ascii_alphanumeric())
        .next()
        .unwrap_or("");
    matches!(last, "user" | "users")
}

/// Tables whose primary key is the signed-in user's id.
fn user_tables(model: &Model, dialect: Dialect) -> Vec<String> {
    model
        .tables
        .values()
        .filter(|t| {
            t.primary_key.len() == 1
                && match dialect {
                    Dialect::Supabase => t
                        .foreign_keys
                        .iter()
                        .any(|fk| fk.table == "auth.users" && fk.columns == t.primary_key),
                    Dialect::Postgres => named_for_users(&t.name),
                }
        })
        .map(Table::qualified)
        .collect()
}

/// How the user id compares with a column of type `ty`: `Ok(cast)`, or why it cannot.
fn cast_for(ty: &str, dialect: Dialect) -> Result<Option<String>, String> {
    match dialect {
        Dialect::Supabase if is_uuid(ty) => Ok(None),
        Dialect::Supabase if is_text(ty) => Ok(Some("text".into())),
        Dialect::Supabase => Err("the user id is a uuid".into()),
        Dialect::Postgres if is_text(ty) => Ok(None),
        Dialect::Postgres if is_uuid(ty) || is_integer(ty) => Ok(Some(ty.into())),
        // `serial` is an int4 column with a sequence (bigserial int8, smallserial int2).
        Dialect::Postgres if ty == "serial" => Ok(Some("int4".into())),
        Dialect::Postgres if ty == "bigserial" => Ok(Some("int8".into())),
        Dialect::Postgres if ty == "smallserial" => Ok(Some("int2".into())),
        Dialect::Postgres => {
            Err("casehard compares user ids only as uuid, text or integers".into())
        }
    }
}

/// The owner column of a table and why.
fn owner_column(t: &Table, users: &[String], dialect: Dialect) -> Option<(String, String)> {
    if let Some(fk) = t
        .foreign_keys
        .iter()
        .find(|fk| fk.table == "auth.users" && fk.columns.len() == 1)
    {
        return Some((fk.columns[0].clone(), "foreign key to auth.users".into()));
    }
    if let Some(fk) = t
        .foreign_keys
        .iter()
        .find(|fk| users.contains(&fk.table) && fk.columns.len() == 1)
    {
        let whose = match dialect {
            Dialect::Supabase => "whose id is the auth user's",
            Dialect::Postgres => "the app's user table",
        };
        return Some((
            fk.columns[0].clone(),
            format!("foreign key to {}, {whose}", fk.table),
        ));
    }
    t.columns
        .iter()
        .find(|(c, _)| OWNER_NAMES.contains(&lower(c).as_str()))
        .map(|(c, _)| (c.clone(), format!("named `{c}`")))
}

fn follower_graph(model: &Model) -> Option<Followers> {
    model.tables.values().find_map(|t| {
        FOLLOW_PAIRS.iter().find_map(|(a, b)| {
            (t.column_type(a).is_some() && t.column_type(b).is_some()).then(|| Followers {
                table: t.qualified(),
                follower: a.to_string(),
                followed: b.to_string(),
            })
        })
    })
}

/// Membership tables: a name with "member" in it, an owner column and one other `*_id`.
fn membership(model: &Model, users: &[String], dialect: Dialect) -> Vec<(String, String, String)> {
    model
        .tables
        .values()
        .filter(|t| lower(&t.name).contains("member"))
        .filter_map(|t| {
            let (user, _) = owner_column(t, users, dialect)?;
            let group = t
                .columns
                .iter()
                .map(|(c, _)| c)
                .find(|c| *c != &user && lower(c).ends_with("_id"))?;
            Some((t.qualified(), group.clone(), user))
        })
        .collect()
}

/// Infers access for every table in `tables`.
pub fn infer(
    model: &Model,
    overrides: &Overrides,
    dialect: Dialect,
) -> BTreeMap<String, Inference> {
    let users = user_tables(model, dialect);
    let graph = follower_graph(model);
    let members = membership(model, &users, dialect);
    let mut out = BTreeMap::new();
    for t in model.tables.values() {
        let key = t.qualified();
        let short = t.name.clone();
        let configured = overrides
            .owners
            .get(&key)
            .or_else(|| overrides.owners.get(&short));
        let public = overrides
            .public_read
            .iter()
            .any(|p| *p == key || *p == short);
        let admin = overrides
            .admin_only
            .iter()
            .any(|p| *p == key || *p == short);
        let found: Option<(Access, String)> = if admin {
            Some((Access::AdminOnly, "admin only (casehard.toml)".into()))
        } else if let Some(col) = configured {
            Some((
                Access::Owner {
                    column: col.clone(),
                },
                format!("owner `{col}` set in casehard.toml"),
            ))
        } else if users.contains(&key) {
            Some((
                Access::SelfRow {
                    column: t.primary_key[0].clone(),
                },
                match dialect {
                    Dialect::Supabase => {
                        format!(
                            "the user table: `{}` is the auth user's id",
                            t.primary_key[0]
                        )
                    }
                    Dialect::Postgres => format!(
                        "the user table: `{}` is the id the app sets as app.user_id",
                        t.primary_key[0]
                    ),
                },
            ))
        } else if let Some((col, why)) = owner_column(t, &users, dialect) {
            Some((
                Access::Owner {
                    column: col.clone(),
                },
                format!("owner `{col}`: {why}"),
            ))
        } else {
            members
                .iter()
                .find(|(m, group, _)| m != &key && t.column_type(group).is_some())
                .map(|(m, group, user)| {
                    (
                        Access::Member {
                            column: group.clone(),
                            members: m.clone(),
                            member_group: group.clone(),
                            member_user: user.clone(),
                        },
                        format!("`{group}` names a group; {m} lists its members"),
                    )
                })
        };
        let found = match (public, found) {
            (true, Some((Access::Owner { column }, why))) => Some((
                Access::PublicRead {
                    owner: Some(column),
                },
                format!("public read (casehard.toml); {why}"),
            )),
            (true, _) => Some((
                Access::PublicRead { owner: None },
                "public read (casehard.toml)".into(),
            )),
            (false, f) => f,
        };
        let mut inference = Inference {
            access: None,
            reason: String::new(),
            cast: None,
            problem: None,
            followers: None,
        };
        match found {
            None => {
                let composite = if t.primary_key.len() > 1 {
                    format!(
                        " (its primary key is composite: {})",
                        t.primary_key.join(", ")
                    )
                } else {
                    String::new()
                };
                inference.reason = "no owner found".into();
                inference.problem = Some(format!(
                    "{key}: no column says who owns a row{composite}; row-level security is on with no policy, so nobody reads or writes it through the API. Say who owns it in casehard.toml ([rls.owners] {short} = \"<column>\") or mark it public-read ([rls] public_read = [\"{short}\"])"
                ));
            }
            Some((access, reason)) => {
                let column = match &access {
                    Access::SelfRow { column }
                    | Access::Owner { column }
                    | Access::Member { column, .. } => Some(column.clone()),
                    Access::PublicRead { owner } => owner.clone(),
                    Access::AdminOnly => None,
                };
                let member_user_type = match &access {
                    Access::Member {
                        members,
                        member_user,
                        ..
                    } => model
                        .tables
                        .get(members)
                        .and_then(|m| m.column_type(member_user))
                        .map(str::to_string),
                    _ => None,
                };
                let checked = match &access {
                    Access::Member { .. } => member_user_type,
                    _ => column
                        .as_ref()
                        .and_then(|c| t.column_type(c))
                        .map(str::to_string),
                };
                match checked.as_deref() {
                    None if column.is_none() => {}
                    Some(ty) => match cast_for(ty, dialect) {
                        Ok(cast) => inference.cast = cast,
                        Err(why) => inference.problem = Some(format!(
                            "{key}: the owner column is `{ty}`, but {why}; decide how users map to it (casehard writes no policy it cannot check)"
                        )),
                    },
                    None => inference.problem = Some(format!("{key}: owner column `{}` does not exist", column.unwrap_or_default())),
                }
                if let (Some(g), Access::Owner { .. }) = (&graph, &access) {
                    let feed = FEED_WORDS.iter().any(|w| lower(&t.name).contains(w));
                    if feed && g.table != key {
                        inference.followers = Some(g.clone());
                    }
                }
                inference.reason = reason;
                inference.access = Some(access);
            }
        }
        out.insert(key, inference);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::sql::apply_file;

    #[test]
    fn plain_postgres_users_are_the_apps_user_table_of_any_key_type() {
        let mut m = Model::default();
        apply_file(
            &mut m,
            "schema.sql",
            "create domain user_ref as text;
             create table \"acme-user\" (id serial primary key);
             create table notes (id int primary key, author_id int references \"acme-user\"(id));
             create table links (id int primary key, user_id user_ref);",
        );
        let i = infer(&m, &Overrides::default(), Dialect::Postgres);
        assert!(
            matches!(&i["public.acme-user"].access, Some(Access::SelfRow { column }) if column == "id")
        );
        assert_eq!(i["public.acme-user"].problem, None);
        assert_eq!(i["public.acme-user"].cast.as_deref(), Some("int4"));
        assert_eq!(i["public.notes"].cast.as_deref(), Some("int4"));
        assert!(i["public.notes"].reason.contains("the app's user table"));
        let problem = i["public.links"].problem.as_deref().unwrap();
        assert!(problem.contains("`user_ref`"), "{problem}");
    }

    fn infer_sql(sql: &str) -> BTreeMap<String, Inference> {
        let mut m = Model::default();
        apply_file(&mut m, "schema.sql", sql);
        infer(&m, &Overrides::default(), Dialect::Supabase)
    }

    #[test]
    fn infers_self_owner_member_and_followers() {
        let i = infer_sql(
            "create table profiles (id uuid primary key references auth.users(id));
             create table posts (id bigint primary key, author uuid references profiles(id));
             create table notes (id int primary key, user_id text);
             create table orgs (id uuid primary key);
             create table org_members (org_id uuid references orgs(id), user_id uuid references auth.users(id), primary key (org_id, user_id));
             create table projects (id uuid primary key, org_id uuid);
             create table follows (follower_id uuid, following_id uuid);
             create table counters (id int primary key, owner_id int);
             create table audit_log (a int, b int, primary key (a, b));",
        );
        assert_eq!(
            i["public.profiles"].access,
            Some(Access::SelfRow {
                column: "id".into()
            })
        );
        assert_eq!(
            i["public.posts"].access,
            Some(Access::Owner {
                column: "author".into()
            })
        );
        assert!(i["public.posts"].reason.contains("public.profiles"));
        assert_eq!(
            i["public.posts"].followers.as_ref().unwrap().table,
            "public.follows"
        );
        assert_eq!(i["public.notes"].cast.as_deref(), Some("text"));
        assert!(
            matches!(&i["public.projects"].access, Some(Access::Member { members, .. }) if members == "public.org_members")
        );
        assert!(i["public.counters"]
            .problem
            .as_ref()
            .unwrap()
            .contains("`int4`"));
        assert!(i["public.audit_log"]
            .problem
            .as_ref()
            .unwrap()
            .contains("composite"));
        assert!(i["public.orgs"].access.is_none());
    }
}
