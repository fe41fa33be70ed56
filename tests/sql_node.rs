//! An Express-style data module, on node-postgres (`pool.query`) and on Drizzle (`sql.raw`),
//! run under Node against the real PostgreSQL before and after `sql/interpolated-query`: the
//! pasted-in queries read every row for a crafted email or search and choke on an apostrophe;
//! the parameterized ones return what was asked for, for crafted and honest input alike. Needs
//! npm, the npm registry and PostgreSQL (`.ci/run` provides them); a missing one fails the test.

mod harness;

use harness::*;

const FIXTURES: &str = "tests/fixtures/rules/sql/interpolated-query";

/// Calls the data module's functions with crafted and honest input; one line per call.
const SCRIPT: &str = r#"
const storage = require("./out/server/storage.js");
const { pool } = require("./out/server/db.js");
async function attempt(label, work) {
  try {
    console.log(`${label} ${await work()}`);
  } catch (e) {
    console.log(`${label} error`);
  }
}
(async () => {
  await attempt("crafted email", async () => (await storage.findUserByEmail("x' OR '1'='1"))?.email ?? "none");
  await attempt("honest email", async () => (await storage.findUserByEmail("b@example.com"))?.email ?? "none");
  await attempt("crafted search", async () => (await storage.searchNotes(1, "%' OR '%'='")).map((n) => n.body).join(","));
  await attempt("honest search", async () => (await storage.searchNotes(1, "milk")).map((n) => n.body).join(","));
  await attempt("note with an apostrophe", async () => (await storage.addNote(1, "it's mine"), "added"));
  await pool.end();
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
"#;

#[test]
fn parameterized_queries_read_only_what_was_asked_for() {
    check_on_postgres("invalid", "sql_notes");
}

#[test]
fn drizzle_sql_tag_queries_read_only_what_was_asked_for() {
    check_on_postgres("invalid-drizzle", "sql_notes_drizzle");
}

/// The fixture `case` (its data module in `server/`, exporting `pool` from `server/db`) run
/// before and after the rule on a database of its own.
fn check_on_postgres(case: &str, db: &str) {
    let (original, hardened) = before_and_after(
        &format!("{FIXTURES}/{case}"),
        "sql/interpolated-query",
        &[
            "typescript@5.7.2",
            "@types/node@22.10.1",
            "@types/pg@8.11.10",
        ],
    );
    let db = PlainDb::new(db);
    db.sql(&format!(
        "set role {};\n\
         create table users (id serial primary key, email text not null);\n\
         create table notes (id serial primary key, user_id int not null, body text not null, status text);\n\
         insert into users (email) values ('a@example.com'), ('b@example.com');\n\
         insert into notes (user_id, body) values (1, 'buy milk'), (1, 'call mum'), (2, 'b''s secret');",
        db.role
    ))
    .unwrap();
    let url = db.url();
    let run = |dir: &std::path::Path| {
        write_tsconfig(dir, &["server"]);
        // The fixed module type-checks against node-postgres's (and Drizzle's) own types.
        tsc(dir);
        run_node(dir, SCRIPT, &[], &[("DATABASE_URL", url.as_str())])
    };
    assert_eq!(
        run(original.path()),
        [
            "crafted email a@example.com",
            "honest email b@example.com",
            "crafted search buy milk,call mum,b's secret",
            "honest search buy milk",
            "note with an apostrophe error",
        ],
        "control: the pasted-in queries"
    );
    assert_eq!(
        run(hardened.path()),
        [
            "crafted email none",
            "honest email b@example.com",
            "crafted search ",
            "honest search buy milk",
            "note with an apostrophe added",
        ],
        "the parameterized queries"
    );
    assert_eq!(
        db.sql("select body from notes where user_id = 1 order by id")
            .unwrap(),
        "buy milk\ncall mum\nit's mine"
    );
}
