//! Every rule in the catalog, on its fixtures: `valid*` files give no finding and no change;
//! `invalid*` files match their snapshot (findings and diff), their output parses, and a
//! second run changes nothing.

mod harness;

use casehard::workspace::{load_dir, LoadOptions, Workspace};
use harness::*;
use std::fs;
use std::path::Path;

/// A rule's fixtures: single source files (`valid.ts`, `invalid-trpc.ts`) or folders that
/// are whole projects (`invalid-npm-v3/` with a package.json and a lockfile).
fn fixtures_of(id: &str) -> Vec<(String, Workspace)> {
    let dir = manifest_dir().join("tests/fixtures/rules").join(id);
    let mut fixtures: Vec<(String, Workspace)> = fs::read_dir(&dir)
        .unwrap_or_else(|_| panic!("rule {id} has no fixture folder {}", dir.display()))
        .map(|e| e.unwrap().path())
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            let ws = if p.is_dir() {
                load_dir(&p, &LoadOptions::default()).unwrap()
            } else {
                Workspace::from_files([(name.as_str(), fs::read_to_string(&p).unwrap())]).unwrap()
            };
            (name, ws)
        })
        .collect();
    fixtures.sort_by(|a, b| a.0.cmp(&b.0));
    fixtures
}

#[test]
fn every_rule_has_valid_and_invalid_fixtures() {
    for meta in catalog().metas() {
        let names: Vec<String> = fixtures_of(&meta.id).into_iter().map(|(n, _)| n).collect();
        assert!(
            names.iter().any(|n| n.starts_with("valid")),
            "{} has no valid fixture",
            meta.id
        );
        assert!(
            names.iter().any(|n| n.starts_with("invalid")),
            "{} has no invalid fixture",
            meta.id
        );
    }
}

#[test]
fn every_fixture_folder_names_a_rule() {
    let catalog = catalog();
    let root = manifest_dir().join("tests/fixtures/rules");
    for area in fs::read_dir(&root).unwrap() {
        let area = area.unwrap();
        for rule in fs::read_dir(area.path()).unwrap() {
            let id = format!(
                "{}/{}",
                area.file_name().to_string_lossy(),
                rule.unwrap().file_name().to_string_lossy()
            );
            assert!(
                catalog.meta(&id).is_some(),
                "fixtures for unknown rule {id}"
            );
        }
    }
}

#[test]
fn valid_fixtures_have_no_findings_and_no_changes() {
    for meta in catalog().metas() {
        for (name, ws) in fixtures_of(&meta.id)
            .into_iter()
            .filter(|(n, _)| n.starts_with("valid"))
        {
            let outcome = run(ws, &only(&meta.id));
            assert!(
                outcome.findings.is_empty()
                    && !outcome.has_changes()
                    && outcome.problems.is_empty(),
                "{} {name} should be clean:\n{}",
                meta.id,
                describe(&outcome)
            );
        }
    }
}

#[test]
fn invalid_fixtures_match_snapshots_parse_and_settle() {
    let settings = snapshot_settings();
    for meta in catalog().metas() {
        for (name, ws) in fixtures_of(&meta.id)
            .into_iter()
            .filter(|(n, _)| n.starts_with("invalid"))
        {
            let options = only(&meta.id);
            let outcome = run(ws, &options);
            assert!(
                !outcome.findings.is_empty(),
                "{} {name} found nothing",
                meta.id
            );
            assert!(
                outcome.findings.iter().all(|f| f.rule == meta.id),
                "{} {name}: findings from other rules",
                meta.id
            );
            assert_output_parses(&outcome);
            assert_idempotent(&outcome, &options);
            let stem = Path::new(&name)
                .file_stem()
                .unwrap()
                .to_string_lossy()
                .into_owned();
            let snap = format!("rule__{}__{stem}", meta.id.replace('/', "__"));
            settings.bind(|| insta::assert_snapshot!(snap, describe(&outcome)));
        }
    }
}
