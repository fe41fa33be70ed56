//! `casehard sbom`: CycloneDX 1.5 JSON from every lockfile format, validated against the
//! CycloneDX schema, listing every package the lockfile holds, deterministic.

mod harness;

use harness::*;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The CycloneDX 1.5 schema and the two it references, fetched from the npm registry by
/// `.ci/run` (as shipped in @cyclonedx/cyclonedx-library). Missing is a failure, never a skip.
fn validator() -> jsonschema::Validator {
    let dir = std::env::var_os("CASEHARD_CYCLONEDX_SCHEMAS")
        .map(PathBuf::from)
        .unwrap_or_else(|| manifest_dir().join("target/test-deps/cyclonedx"));
    let load = |name: &str| -> serde_json::Value {
        let path = dir.join(name);
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!("the CycloneDX schema is needed at {} ({e}); `bash .ci/run` fetches it, or set CASEHARD_CYCLONEDX_SCHEMAS", path.display())
        });
        serde_json::from_str(&text).unwrap()
    };
    let base = "http://cyclonedx.org/schema/";
    let mut options = jsonschema::options();
    for companion in ["spdx.SNAPSHOT.schema.json", "jsf-0.82.SNAPSHOT.schema.json"] {
        let resource = jsonschema::Resource::from_contents(load(companion)).unwrap();
        options = options.with_resource(format!("{base}{companion}"), resource);
    }
    options
        .build(&load("bom-1.5.SNAPSHOT.schema.json"))
        .expect("schema compiles")
}

fn sbom(dir: &Path) -> serde_json::Value {
    let run = casehard(dir, &["sbom", "."]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    serde_json::from_str(&run.stdout).expect("SBOM is JSON")
}

fn purls(bom: &serde_json::Value) -> BTreeSet<String> {
    bom["components"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["purl"].as_str().unwrap().to_string())
        .collect()
}

fn pin_fixture(name: &str) -> PathBuf {
    manifest_dir()
        .join("tests/fixtures/rules/deps/pin-exact")
        .join(name)
}

#[test]
fn every_lockfile_format_gives_a_valid_cyclonedx_1_5_document() {
    let validator = validator();
    let mut projects: Vec<PathBuf> = [
        "invalid-npm-v1",
        "invalid-npm-v2",
        "invalid-npm-v3",
        "invalid-shrinkwrap",
        "invalid-pnpm-v6",
        "invalid-pnpm-v9",
        "invalid-yarn-classic",
        "invalid-yarn-berry",
        "invalid-bun",
        "invalid-workspaces",
        "invalid-git",
    ]
    .iter()
    .map(|n| pin_fixture(n))
    .collect();
    projects.push(manifest_dir().join("tests/fixtures/apps/nextjs-supabase-stripe"));
    for dir in projects {
        let bom = sbom(&dir);
        let errors: Vec<String> = validator
            .iter_errors(&bom)
            .map(|e| format!("{e} at {}", e.instance_path))
            .collect();
        assert!(
            errors.is_empty(),
            "{}: invalid CycloneDX:\n{}",
            dir.display(),
            errors.join("\n")
        );
        assert_eq!(bom["specVersion"], "1.5");
        assert!(
            !bom["components"].as_array().unwrap().is_empty(),
            "{}",
            dir.display()
        );
    }
    // The validator does catch a broken document.
    let mut broken = sbom(&pin_fixture("invalid-npm-v3"));
    broken["components"][0]["scope"] = serde_json::json!("sometimes");
    assert!(!validator.is_valid(&broken));
}

#[test]
fn lists_every_package_in_the_lockfile() {
    // Counted independently: every name@version under node_modules in the npm lockfile.
    for dir in [
        pin_fixture("invalid-npm-v3"),
        manifest_dir().join("tests/fixtures/apps/nextjs-supabase-stripe"),
    ] {
        let lock: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("package-lock.json")).unwrap())
                .unwrap();
        let mut expected = BTreeSet::new();
        for (key, entry) in lock["packages"].as_object().unwrap() {
            let Some(at) = key.rfind("node_modules/") else {
                continue;
            };
            if entry.get("link").is_some() {
                continue;
            }
            let name = entry
                .get("name")
                .and_then(|n| n.as_str())
                .unwrap_or(&key[at + 13..]);
            let name = name
                .strip_prefix('@')
                .map_or(name.to_string(), |n| format!("%40{n}"));
            expected.insert(format!(
                "pkg:npm/{name}@{}",
                entry["version"].as_str().unwrap()
            ));
        }
        assert_eq!(purls(&sbom(&dir)), expected, "{}", dir.display());
    }
    let pnpm = sbom(&pin_fixture("invalid-pnpm-v9"));
    assert!(purls(&pnpm).contains("pkg:npm/react@18.3.1"));
    // yarn classic does not install the root's own peer dependencies (npm 7+ does), so it locks
    // a subset of npm's set, the alias under its real name.
    let yarn = purls(&sbom(&pin_fixture("invalid-yarn-classic")));
    assert!(
        yarn.is_subset(&purls(&sbom(&pin_fixture("invalid-npm-v3")))),
        "{yarn:?}"
    );
    for want in [
        "pkg:npm/is-number@7.0.0",
        "pkg:npm/zod@3.25.76",
        "pkg:npm/ms@2.1.3",
        "pkg:npm/left-pad@1.3.0",
    ] {
        assert!(yarn.contains(want), "{want} missing from {yarn:?}");
    }
    assert!(
        !yarn.iter().any(|p| p.contains("isnum")),
        "an alias is listed as the real package: {yarn:?}"
    );
}

#[test]
fn the_graph_hashes_and_scopes_are_right() {
    let bom = sbom(&pin_fixture("invalid-npm-v3"));
    let deps = bom["dependencies"].as_array().unwrap();
    let root = deps
        .iter()
        .find(|d| d["ref"] == "root:odd-format-app")
        .unwrap();
    let direct: Vec<&str> = root["dependsOn"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    for want in [
        "pkg:npm/zod@3.25.76",
        "pkg:npm/is-number@7.0.0",
        "pkg:npm/left-pad@1.3.0",
        "pkg:npm/ms@2.1.3",
    ] {
        assert!(
            direct.contains(&want),
            "root should depend on {want}: {direct:?}"
        );
    }
    let react = deps
        .iter()
        .find(|d| d["ref"] == "pkg:npm/react@18.3.1")
        .unwrap();
    assert_eq!(
        react["dependsOn"],
        serde_json::json!(["pkg:npm/loose-envify@1.4.0"])
    );
    let ms = bom["components"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "ms")
        .unwrap();
    assert_eq!(
        ms["scope"], "excluded",
        "a dev dependency is not part of the runtime"
    );
    assert_eq!(ms["hashes"][0]["alg"], "SHA-512");
    assert_eq!(ms["hashes"][0]["content"].as_str().unwrap().len(), 128);
}

#[test]
fn the_same_lockfile_gives_the_same_bytes() {
    let dir = pin_fixture("invalid-pnpm-v9");
    let a = casehard(&dir, &["sbom", "."]).stdout;
    let b = casehard(&dir, &["sbom", "."]).stdout;
    assert_eq!(a, b);
    let none = tempfile::tempdir().unwrap();
    std::fs::write(
        none.path().join("package.json"),
        "{\"dependencies\":{\"zod\":\"^3\"}}",
    )
    .unwrap();
    let run = casehard(none.path(), &["sbom", "."]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("no lockfile"), "{}", run.stderr);
}
