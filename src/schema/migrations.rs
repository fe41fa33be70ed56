//! Where a new migration goes, so the tool that runs the app's migrations runs it after the
//! ones it already has: Supabase CLI, Prisma Migrate, drizzle-kit (whose journal lists every
//! migration), or, for an app with none of them, a loose `db/` file applied by hand.
//! Names are derived from the existing migrations, never the clock, so a run is repeatable.

use crate::plan::Edit;
use crate::workspace::Workspace;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    Supabase,
    Prisma,
    /// drizzle-kit's output folder, whose `meta/_journal.json` lists the migrations.
    Drizzle {
        out: String,
    },
    Loose,
}

/// A migration to create (drizzle-kit's journal lists it through [`journal_sync`] once it
/// exists).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewMigration {
    pub path: String,
    /// How the app applies it, for the file's header.
    pub apply: &'static str,
    /// drizzle-kit's migrator runs a file in pieces split at this marker.
    pub breakpoints: bool,
}

const SUPABASE: &str = "supabase/migrations/";
const PRISMA: &str = "prisma/migrations/";

/// Whether a migration is one casehard wrote (`<stamp>_casehard_<name>.sql`,
/// `<stamp>_casehard_<name>/migration.sql`, `db/casehard_<name>.sql`): every placement above
/// names them this way, and nothing else should tell them apart.
pub fn is_casehard_migration(path: &str) -> bool {
    path.split('/')
        .any(|segment| segment.starts_with("casehard_") || segment.contains("_casehard_"))
}

/// drizzle-kit's output folder: the `out` of `drizzle.config.*`, or its default `drizzle`.
pub fn drizzle_out(ws: &Workspace) -> Option<String> {
    let config = [
        "drizzle.config.ts",
        "drizzle.config.js",
        "drizzle.config.mjs",
        "drizzle.config.json",
    ]
    .iter()
    .find_map(|p| ws.text(p))?;
    let body = config.body;
    let out = body
        .find("out")
        .and_then(|i| {
            let rest = body[i + 3..]
                .trim_start()
                .trim_start_matches('"')
                .trim_start();
            let rest = rest.strip_prefix(':')?.trim_start();
            let quote = rest
                .chars()
                .next()
                .filter(|c| matches!(c, '"' | '\'' | '`'))?;
            let inner = &rest[1..];
            inner.find(quote).map(|end| inner[..end].to_string())
        })
        .unwrap_or_else(|| "drizzle".into());
    let out = out
        .trim_start_matches("./")
        .trim_end_matches('/')
        .to_string();
    (!out.is_empty() && !out.contains("..")).then_some(out)
}

fn journal_path(out: &str) -> String {
    format!("{out}/meta/_journal.json")
}

/// Picks the folder the app's migrations already live in; `supabase` says the app uses
/// Supabase, whose folder is the place when there is no other.
pub fn detect(ws: &Workspace, supabase: bool) -> Target {
    let has = |prefix: &str, tail: &str| {
        ws.files
            .keys()
            .any(|p| p.starts_with(prefix) && p.ends_with(tail))
    };
    if has(SUPABASE, ".sql") {
        return Target::Supabase;
    }
    if has(PRISMA, "/migration.sql") {
        return Target::Prisma;
    }
    if let Some(out) = drizzle_out(ws) {
        if ws.files.contains_key(&journal_path(&out)) {
            return Target::Drizzle { out };
        }
    }
    if supabase {
        Target::Supabase
    } else {
        Target::Loose
    }
}

/// The numeric prefix of each name, and the next one after the largest, keeping its width.
fn next_stamp<'a>(names: impl Iterator<Item = &'a str>, empty: &str) -> String {
    let last = names
        .filter_map(|name| {
            let digits: String = name.chars().take_while(|c| c.is_ascii_digit()).collect();
            (!digits.is_empty()).then_some(digits)
        })
        .max_by(|a, b| (a.len(), a).cmp(&(b.len(), b)));
    match last {
        Some(d) => {
            let next = d.parse::<u128>().map(|n| n + 1).unwrap_or(0);
            format!("{next:0width$}", width = d.len())
        }
        None => empty.into(),
    }
}

/// The next migration named `casehard_<name>` in `target`, after the app's own and after
/// `pending`: the files other passes of the same round are about to write.
pub fn new_migration(
    ws: &Workspace,
    target: &Target,
    name: &str,
    pending: &[crate::plan::NewFile],
) -> Result<NewMigration, String> {
    let paths = || {
        ws.files
            .keys()
            .map(String::as_str)
            .chain(pending.iter().map(|f| f.path.as_str()))
    };
    let in_folder = |folder: &'static str| {
        paths()
            .filter_map(move |p| p.strip_prefix(folder))
            .filter_map(|rest| rest.split('/').next())
    };
    let stamp = |folder: &'static str| next_stamp(in_folder(folder), "00000000000000");
    Ok(match target {
        Target::Supabase => NewMigration {
            path: format!("{SUPABASE}{}_casehard_{name}.sql", stamp(SUPABASE)),
            apply: "`supabase db push` (or `supabase migration up` locally)",
            breakpoints: false,
        },
        Target::Prisma => NewMigration {
            path: format!("{PRISMA}{}_casehard_{name}/migration.sql", stamp(PRISMA)),
            apply: "`prisma migrate deploy` (or `prisma migrate dev` locally)",
            breakpoints: false,
        },
        Target::Drizzle { out } => {
            let journal = journal_path(out);
            let text = ws
                .text(&journal)
                .ok_or_else(|| format!("{journal}: cannot read drizzle-kit's journal"))?
                .body;
            let listed = journal_tags(text).map_err(|e| {
                format!(
                    "{journal}: {e}; casehard will not add a migration drizzle-kit would not run"
                )
            })?;
            // Files of earlier rounds and passes are not listed yet: count them too.
            let unlisted = unlisted_migrations(ws, out, &listed).len()
                + pending
                    .iter()
                    .filter(|f| f.path.starts_with(&format!("{out}/")) && f.path.ends_with(".sql"))
                    .count();
            let idx = listed.len() + unlisted;
            NewMigration {
                path: format!("{out}/{idx:04}_casehard_{name}.sql"),
                apply: "`drizzle-kit migrate` (or the app's `migrate()` call)",
                breakpoints: true,
            }
        }
        Target::Loose => {
            let path = (1..)
                .map(|n| match n {
                    1 => format!("db/casehard_{name}.sql"),
                    n => format!("db/casehard_{name}_{n}.sql"),
                })
                .find(|p| !paths().any(|q| q == p))
                .expect("an unused name");
            NewMigration {
                path,
                apply: "`psql \"$DATABASE_URL\" -f <this file>`, after the tables exist",
                breakpoints: false,
            }
        }
    })
}

/// `stamp + by`, keeping its width.
fn journal_tags(text: &str) -> Result<Vec<String>, String> {
    let journal: serde_json::Value =
        serde_json::from_str(text).map_err(|e| format!("not JSON ({e})"))?;
    let entries = journal
        .get("entries")
        .and_then(|e| e.as_array())
        .ok_or("no `entries` list")?;
    Ok(entries
        .iter()
        .filter_map(|e| e.get("tag").and_then(|t| t.as_str()).map(str::to_string))
        .collect())
}

/// casehard's migrations in drizzle-kit's folder that its journal does not list yet, in order.
fn unlisted_migrations(ws: &Workspace, out: &str, listed: &[String]) -> Vec<String> {
    let mut tags: Vec<String> = ws
        .files
        .keys()
        .filter_map(|p| p.strip_prefix(&format!("{out}/")))
        .filter(|rest| !rest.contains('/') && is_casehard_migration(rest))
        .filter_map(|rest| rest.strip_suffix(".sql"))
        .filter(|tag| !listed.iter().any(|l| l == tag))
        .map(str::to_string)
        .collect();
    tags.sort();
    tags
}

/// The edit that lists casehard's unlisted migrations in drizzle-kit's journal, so
/// `drizzle-kit migrate` runs them: `(journal path, edit)`, or `None` when all are listed.
pub fn journal_sync(ws: &Workspace) -> Option<(String, Edit)> {
    let Target::Drizzle { out } = detect(ws, false) else {
        return None;
    };
    let journal = journal_path(&out);
    let text = ws.text(&journal)?.body;
    let listed = journal_tags(text).ok()?;
    let missing = unlisted_migrations(ws, &out, &listed);
    if missing.is_empty() {
        return None;
    }
    journal_entries(text, &missing)
        .ok()
        .map(|edit| (journal, edit))
}

/// The edit that appends entries for `tags` (idx and `when` counting on from the last entry),
/// each written in the style of the journal's last entry (its indentation, its key order).
fn journal_entries(text: &str, tags: &[String]) -> Result<Edit, String> {
    let journal: serde_json::Value =
        serde_json::from_str(text).map_err(|e| format!("not JSON ({e})"))?;
    let entries = journal
        .get("entries")
        .and_then(|e| e.as_array())
        .ok_or("no `entries` list")?;
    let last = entries.last().ok_or("no entries")?;
    let when = last
        .get("when")
        .and_then(|w| w.as_u64())
        .ok_or("the last entry has no `when`")?;
    let last_idx = last
        .get("idx")
        .and_then(|w| w.as_u64())
        .ok_or("the last entry has no `idx`")?;
    let last_tag = last
        .get("tag")
        .and_then(|w| w.as_str())
        .ok_or("the last entry has no `tag`")?;
    // The last entry's text: from its `{` to the `}` that closes it.
    let end_of_entries = text.rfind(']').ok_or("no `]`")?;
    let close = text[..end_of_entries].rfind('}').ok_or("no entry")?;
    let open = text[..close].rfind('{').ok_or("no entry")?;
    let entry = &text[open..=close];
    let line_start = text[..open].rfind('\n').map_or(0, |i| i + 1);
    let indent = &text[line_start..open];
    let separator = if indent.trim().is_empty() && !indent.is_empty() {
        format!(",\n{indent}")
    } else {
        ",".into()
    };
    let mut added = String::new();
    for (n, tag) in tags.iter().enumerate() {
        let n = n as u64 + 1;
        let replaced = entry
            .replacen(&format!("\"{last_tag}\""), &format!("\"{tag}\""), 1)
            .replacen(&when.to_string(), &(when + n).to_string(), 1);
        let replaced = replace_number_after(&replaced, "\"idx\"", last_idx, last_idx + n)
            .ok_or("cannot find the last entry's `idx`")?;
        if !replaced.contains(&format!("\"{tag}\"")) {
            return Err("cannot find the last entry's `tag`".into());
        }
        added.push_str(&separator);
        added.push_str(&replaced);
    }
    Ok(Edit::insert(close + 1, added))
}

fn replace_number_after(text: &str, key: &str, old: u64, new: u64) -> Option<String> {
    let k = text.find(key)? + key.len();
    let rest = &text[k..];
    let colon = rest.find(':')? + 1;
    let value_at = k + colon + (rest[colon..].len() - rest[colon..].trim_start().len());
    let old = old.to_string();
    text[value_at..].starts_with(&old).then(|| {
        format!(
            "{}{new}{}",
            &text[..value_at],
            &text[value_at + old.len()..]
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn journal_gets_an_entry_in_its_own_style() {
        let text = "{\n  \"version\": \"7\",\n  \"dialect\": \"postgresql\",\n  \"entries\": [\n    {\n      \"idx\": 0,\n      \"version\": \"7\",\n      \"when\": 1718000000000,\n      \"tag\": \"0000_init\",\n      \"breakpoints\": true\n    }\n  ]\n}";
        let edit = journal_entries(
            text,
            &[
                "0001_casehard_rls".into(),
                "0002_casehard_webhook_events".into(),
            ],
        )
        .unwrap();
        let mut out = text.to_string();
        out.replace_range(edit.start..edit.end, &edit.text);
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        let e = &v["entries"][1];
        assert_eq!(e["idx"], 1);
        assert_eq!(e["when"], 1718000000001u64);
        assert_eq!(e["tag"], "0001_casehard_rls");
        assert_eq!(e["breakpoints"], true);
        assert_eq!(v["entries"][2]["idx"], 2);
        assert_eq!(v["entries"][2]["tag"], "0002_casehard_webhook_events");
        assert_eq!(v["entries"][2]["when"], 1718000000002u64);
        assert!(out.contains("    },\n    {\n      \"idx\": 1,"), "{out}");
    }

    #[test]
    fn casehard_migrations_are_known_in_every_placement() {
        for p in [
            "supabase/migrations/20240101000001_casehard_rls.sql",
            "prisma/migrations/20240101000001_casehard_rls/migration.sql",
            "drizzle/0001_casehard_webhook_events.sql",
            "db/casehard_webhook_events.sql",
            "db/casehard_rls_2.sql",
        ] {
            assert!(is_casehard_migration(p), "{p}");
        }
        for p in [
            "supabase/migrations/20240101000000_init.sql",
            "db/schema.sql",
            "migrations/001_casehardened.sql",
        ] {
            assert!(!is_casehard_migration(p), "{p}");
        }
    }

    #[test]
    fn stamps_follow_the_last_migration() {
        assert_eq!(
            next_stamp(
                ["20240101000000_init.sql", "20240102093000_b.sql"].into_iter(),
                "0"
            ),
            "20240102093001"
        );
        assert_eq!(next_stamp(["0007_x"].into_iter(), "0"), "0008");
        assert_eq!(next_stamp(["readme"].into_iter(), "0"), "0");
    }
}
