//! Inputs the fuzz target (`cargo +nightly fuzz run rewrite`) found or that guard what it
//! checks, replayed on stable: tests/fixtures/fuzz/* through the same property.

mod harness;

#[test]
fn fuzz_inputs_keep_the_property() {
    let catalog = harness::catalog();
    replay("tests/fixtures/fuzz", |bytes| {
        if let Ok(text) = std::str::from_utf8(bytes) {
            casehard::fuzzing::check(&catalog, text);
        }
    });
}

/// Gives every input in `dir` (under the manifest directory) to `check`; fails naming the first
/// one it panics on, or when there are none.
fn replay(dir: &str, check: impl Fn(&[u8])) {
    let dir = harness::manifest_dir().join(dir);
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| check(&bytes)));
        assert!(outcome.is_ok(), "{}", path.display());
        seen += 1;
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
        collect_files(&root.join(dir), &mut seeds);
    }
    seeds.retain(|p| p.extension().is_some_and(|e| e == "ts" || e == "tsx"));
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

/// Inputs the second fuzz target (`cargo +nightly fuzz run files`: SQL migrations, Prisma
/// schemas, package files, lockfiles, CI files, casehard.toml) found or that guard what it
/// checks, replayed on stable: tests/fixtures/fuzz-files/*, each its first byte choosing the
/// file's place and the rest its text.
#[test]
fn file_fuzz_inputs_keep_the_property() {
    let catalog = harness::catalog();
    replay("tests/fixtures/fuzz-files", |bytes| {
        casehard::fuzzing::check_file(&catalog, bytes)
    });
}

/// Every project file of the fixtures that the second fuzz target places (by name; see
/// `fuzzing::file_place_for`) keeps its property. With `CASEHARD_WRITE_FUZZ_SEEDS=<dir>` the
/// test also writes them there as the target's seeds (README, "Fuzzing"). A Prisma schema
/// with migrations is a seed twice: alone, and with its first migration.
#[test]
fn the_file_seeds_keep_the_property() {
    let catalog = harness::catalog();
    let root = harness::manifest_dir();
    let mut files = Vec::new();
    collect_files(&root.join("tests/fixtures"), &mut files);
    let write_to = std::env::var_os("CASEHARD_WRITE_FUZZ_SEEDS").map(std::path::PathBuf::from);
    let mut places = std::collections::BTreeSet::new();
    let mut failed = Vec::new();
    for path in &files {
        let relative = path
            .strip_prefix(&root)
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        let Some(place) = casehard::fuzzing::file_place_for(&relative) else {
            continue;
        };
        let Ok(text) = std::fs::read_to_string(path) else {
            continue;
        };
        // A lockfile comes with the package.json beside it, which it locks.
        let manifest = (casehard::deps::lockfile::LOCKFILES
            .iter()
            .any(|l| relative.ends_with(l)))
        .then(|| std::fs::read_to_string(path.with_file_name("package.json")).ok())
        .flatten();
        let mut seeds = vec![(place, text.clone(), manifest, relative.clone())];
        // A Prisma schema with migrations is also a seed with its first migration.
        if relative.ends_with(".prisma") {
            let mut migrations = Vec::new();
            let dir = path.with_file_name("migrations");
            if dir.is_dir() {
                collect_files(&dir, &mut migrations);
            }
            migrations.retain(|m| m.ends_with("migration.sql"));
            migrations.sort();
            if let Some(first) = migrations.first() {
                let sql = std::fs::read_to_string(first).unwrap();
                let place = casehard::fuzzing::PRISMA_MIGRATED;
                seeds.push((place, text, Some(sql), format!("{relative}+migration")));
            }
        }
        for (place, text, beside, name) in seeds {
            places.insert(place);
            if let Some(dir) = &write_to {
                std::fs::create_dir_all(dir).unwrap();
                let seed = casehard::fuzzing::file_input(place, &text, beside.as_deref());
                std::fs::write(dir.join(name.replace('/', "__")), seed).unwrap();
            }
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                casehard::fuzzing::check_file_in(&catalog, place, &text, beside.as_deref())
            }));
            if outcome.is_err() {
                failed.push(name);
            }
        }
    }
    assert!(failed.is_empty(), "the property fails on {failed:?}");
    // Every place has a seed, so the fuzzer starts from a real file of each kind.
    assert_eq!(
        places.len(),
        casehard::fuzzing::FILE_PLACES.len(),
        "places with seeds: {places:?}"
    );
}

/// Every file under `dir`, but those in `node_modules`.
fn collect_files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            if path.file_name().is_some_and(|n| n == "node_modules") {
                continue;
            }
            collect_files(&path, out);
        } else {
            out.push(path);
        }
    }
}
