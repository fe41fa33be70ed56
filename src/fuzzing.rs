//! The property the fuzz target (fuzz/) checks, here so that crashes it finds are kept as
//! ordinary regression tests (tests/fuzz_regressions.rs) that run on stable.

use crate::config::Config;
use crate::engine::{self, Options};
use crate::error::Error;
use crate::lang::{has_syntax_error, Lang};
use crate::rules::Catalog;
use crate::workspace::Workspace;

/// Where the text is placed: a route handler (request scope, server rules) on a path that
/// both a development route and a sign-in route would take, so `debug/dev-route` and
/// `auth/rate-limit` edit the same handlers too; and a component (TSX), as an App Router page
/// on a development path, so a default-exported function also gets `debug/dev-route`'s guard
/// and import.
const PLACES: &[&str] = &["app/api/debug/login/route.ts", "src/app/debug/page.tsx"];

/// Runs the catalog over `text` in each place; panics on any violation of the properties: a
/// run that does not converge, a changed file that no longer parses when the input did, an
/// original (the diff's old side) that is not the input, or a result that the shortcuts
/// change: the prefilter (files and nodes left out of rules that cannot match them) and the
/// early fixes (a file fixed during its scan).
pub fn check(catalog: &Catalog, text: &str) {
    for place in PLACES {
        let ws = Workspace::from_files([(*place, text)]).expect("fixed paths are valid");
        let lang = Lang::for_path(place).expect("source path");
        let parsed = lang
            .parse(text)
            .map(|t| !has_syntax_error(&t))
            .unwrap_or(false);
        let plain = Options {
            prefilter: false,
            early_fixes: false,
            ..Options::default()
        };
        let everything = engine::run(ws.clone(), catalog, &Config::default(), &plain);
        match engine::run(ws, catalog, &Config::default(), &Options::default()) {
            Ok(outcome) => {
                let everything = everything
                    .expect("the run without shortcuts fails where the one with them does not");
                assert!(
                    format!("{:?}", outcome.findings) == format!("{:?}", everything.findings)
                        && outcome.workspace.get(place).map(|f| &f.bytes)
                            == everything.workspace.get(place).map(|f| &f.bytes),
                    "{place}: the shortcuts change the result:\n{text}"
                );
                // The diff's old side is rebuilt from the fixed text: it must be the input.
                if let Some(original) = outcome.original(place) {
                    assert!(
                        original.as_ref() == text.as_bytes(),
                        "{place}: the text rebuilt as read differs from the input:\n--- input\n{text}\n--- rebuilt\n{}",
                        String::from_utf8_lossy(&original)
                    );
                }
                for path in outcome.before.keys() {
                    let Some(lang) = Lang::for_path(path) else {
                        continue;
                    };
                    let body = outcome
                        .workspace
                        .text(path)
                        .expect("casehard writes UTF-8")
                        .body;
                    let tree = lang.parse(body).expect("parses");
                    assert!(
                        !parsed || !has_syntax_error(&tree),
                        "{path}: the input parsed, casehard's output does not:\n--- input\n{text}\n--- output\n{body}"
                    );
                }
            }
            Err(Error::NoConvergence { rules, .. }) => {
                panic!("rules keep rewriting {place}: {rules:?}\n{text}")
            }
            Err(_) => {}
        }
    }
}
