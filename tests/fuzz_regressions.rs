//! Inputs the fuzz target (`cargo +nightly fuzz run rewrite`) found or that guard what it
//! checks, replayed on stable: tests/fixtures/fuzz/* through the same property.

mod harness;

#[test]
fn fuzz_inputs_keep_the_property() {
    let catalog = harness::catalog();
    let dir = harness::manifest_dir().join("tests/fixtures/fuzz");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        if let Ok(text) = std::str::from_utf8(&bytes) {
            casehard::fuzzing::check(&catalog, text);
            seen += 1;
        }
    }
    assert!(seen > 0, "no inputs in {}", dir.display());
}

/// The fuzzer's seeds (every TypeScript source of the rule fixtures and demo apps, as the
/// README seeds its corpus) keep the property in every project it places text in: without a
/// package.json and on each generator stack.
#[test]
fn the_seeds_keep_the_property_on_every_stack() {
    let catalog = harness::catalog();
    let root = harness::manifest_dir();
    let mut seeds = Vec::new();
    for dir in ["tests/fixtures/rules", "tests/fixtures/apps"] {
        collect_sources(&root.join(dir), &mut seeds);
    }
    assert!(seeds.len() > 100, "only {} seeds", seeds.len());
    for path in &seeds {
        let text = std::fs::read_to_string(path).unwrap();
        for project in 0..casehard::fuzzing::PROJECTS.len() {
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                casehard::fuzzing::check_in(&catalog, &text, project)
            }));
            assert!(outcome.is_ok(), "{} in project {project}", path.display());
        }
    }
}

fn collect_sources(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            collect_sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "ts" || e == "tsx") {
            out.push(path);
        }
    }
}
