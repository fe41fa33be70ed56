//! Development pages before and after `debug/dev-route`, type-checked against Next.js's own
//! types and run under Node as Next runs them. Pages Router: before, the debug pages have no
//! data function (they render for anyone) and the seed page wipes the users in production;
//! after, every one answers `{ notFound: true }` (the app's 404 page) unless NODE_ENV is
//! development, and the seed runs only there. App Router pages whose component is an
//! expression (rewritten into a block with the guard): before, they render the environment
//! in production; after, they call `notFound()` unless NODE_ENV is development. Needs npm and
//! the npm registry (`.ci/run` provides them); a missing one fails the tests.

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

const APP_FIXTURE: &str = "tests/fixtures/rules/debug/dev-route/invalid-page";

/// Renders each App Router page as Next renders a server component (called, its element
/// rendered to HTML): what it shows, or 404 where it calls Next's `notFound()`.
const APP_SCRIPT: &str = r#"
const { renderToStaticMarkup } = require("react-dom/server");
process.env.SECRET_SENTINEL = "s3cret-sentinel";
for (const page of ["debug/env", "dev-login"]) {
  const Page = require(`./out/src/app/${page}/page.js`).default;
  try {
    const html = renderToStaticMarkup(Page());
    const shows = html.includes("s3cret-sentinel") ? "the environment" : html.includes("Sign in as admin") ? "the admin sign-in" : html;
    console.log(`${page} shows ${shows}`);
  } catch (e) {
    if (e && e.digest === "NEXT_NOT_FOUND") console.log(`${page} 404`);
    else throw e;
  }
}
"#;

#[test]
fn expression_bodied_app_router_pages_answer_404_outside_development() {
    let original = tempfile::tempdir().unwrap();
    copy_dir(&manifest_dir().join(APP_FIXTURE), original.path());
    let hardened = tempfile::tempdir().unwrap();
    copy_dir(&manifest_dir().join(APP_FIXTURE), hardened.path());
    // The fixture's test-mail page stays a manual finding (a multi-line template).
    let fix = casehard(
        hardened.path(),
        &["fix", ".", "--allow-no-vcs", "--only", "debug/dev-route"],
    );
    assert_eq!(fix.code, 1, "test-mail stays open:\n{}", fix.stderr);
    assert!(fix.stderr.contains("test-mail/page.tsx"), "{}", fix.stderr);
    let again = casehard(hardened.path(), &["diff", ".", "--only", "debug/dev-route"]);
    assert!(
        again.stdout.is_empty(),
        "a second run changes nothing:\n{}",
        again.stdout
    );
    npm_install(
        hardened.path(),
        &[
            "react@18.3.1",
            "react-dom@18.3.1",
            "typescript@5.7.2",
            "@types/node@22.10.1",
            "@types/react@18.3.12",
            "@types/react-dom@18.3.1",
        ],
    );
    std::os::unix::fs::symlink(
        hardened.path().join("node_modules"),
        original.path().join("node_modules"),
    )
    .unwrap();
    let run = |dir: &std::path::Path, env: &str| {
        write_tsconfig(dir, &["src"]);
        // Every page, rewritten or not, type-checked against next's and React's own types.
        tsc(dir);
        run_node(dir, APP_SCRIPT, &[], &[("NODE_ENV", env)])
    };
    let open = [
        "debug/env shows the environment",
        "dev-login shows the admin sign-in",
    ];
    assert_eq!(
        run(original.path(), "production"),
        open,
        "control: as generated, the pages render in production"
    );
    let closed = ["debug/env 404", "dev-login 404"];
    assert_eq!(run(hardened.path(), "production"), closed);
    // A missing or unknown NODE_ENV denies too.
    assert_eq!(run(hardened.path(), ""), closed);
    assert_eq!(run(hardened.path(), "test"), closed);
    assert_eq!(run(hardened.path(), "development"), open);
}
