//! Pages Router development pages before and after `debug/dev-route`, type-checked against
//! Next.js's own types and their data functions run under Node as Next runs them: before, the
//! debug pages have no data function (they render for anyone) and the seed page wipes the
//! users in production; after, every one answers `{ notFound: true }` (the app's 404 page)
//! unless NODE_ENV is development, and the seed runs only there. Needs npm and the npm
//! registry (`.ci/run` provides them); a missing one fails the test.

mod harness;

use harness::*;

const FIXTURE: &str = "tests/fixtures/rules/debug/dev-route/invalid-pages-router";

/// For each page: what its data function returns (`none` without one), then the users left.
const SCRIPT: &str = r#"
const seed = require("./out/lib/seed.js");
(async () => {
  for (const page of ["debug", "debug/[table]", "seed"]) {
    const m = require(`./out/pages/${page}.js`);
    const data = m.getStaticProps ?? m.getServerSideProps;
    const result = data ? JSON.stringify(await data({ params: { table: "users" }, query: {} })) : "none";
    console.log(`${page} ${result}`);
  }
  console.log(`users ${seed.users.join(",")}`);
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
"#;

#[test]
fn development_pages_answer_404_outside_development() {
    let (original, hardened) = before_and_after(
        FIXTURE,
        "debug/dev-route",
        &[
            "typescript@5.7.2",
            "@types/node@22.10.1",
            "@types/react@18.3.12",
        ],
    );
    let run = |dir: &std::path::Path, env: &str| {
        write_tsconfig(dir, &["pages", "lib"]);
        // Type-checked against next's, React's and Node's own types.
        tsc(dir);
        run_node(dir, SCRIPT, &[], &[("NODE_ENV", env)])
    };
    assert_eq!(
        run(original.path(), "production"),
        [
            "debug none",
            "debug/[table] none",
            "seed {\"props\":{\"users\":1}}",
            "users admin@example.com",
        ],
        "control: as generated, the pages render and the seed wipes the users in production"
    );
    let closed = [
        "debug {\"notFound\":true}",
        "debug/[table] {\"notFound\":true}",
        "seed {\"notFound\":true}",
        "users ada@example.com,bob@example.com",
    ];
    assert_eq!(run(hardened.path(), "production"), closed);
    // A missing or unknown NODE_ENV denies too.
    assert_eq!(run(hardened.path(), ""), closed);
    assert_eq!(run(hardened.path(), "test"), closed);
    assert_eq!(
        run(hardened.path(), "development"),
        [
            "debug {\"props\":{}}",
            "debug/[table] {\"props\":{}}",
            "seed {\"props\":{\"users\":1}}",
            "users admin@example.com",
        ]
    );
}
