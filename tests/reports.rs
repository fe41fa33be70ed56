//! Machine-readable reports: SARIF 2.1.0 validated against its JSON schema, with rules,
//! locations and fixes; the versioned JSON document; text with code frames.

mod harness;

use harness::*;
use std::path::PathBuf;

/// The SARIF 2.1.0 schema, fetched from the npm registry by `.ci/run` (it is the OASIS
/// schema as shipped in `@microsoft/jest-sarif`). Missing is a failure, never a skip.
fn sarif_schema() -> serde_json::Value {
    let path = std::env::var_os("CASEHARD_SARIF_SCHEMA")
        .map(PathBuf::from)
        .unwrap_or_else(|| manifest_dir().join("target/test-deps/sarif-schema-2.1.0.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "the SARIF 2.1.0 schema is needed at {} ({e}); `bash .ci/run` fetches it, or set CASEHARD_SARIF_SCHEMA",
            path.display()
        )
    });
    serde_json::from_str(&text).expect("schema is JSON")
}

fn demo_sarif() -> serde_json::Value {
    let repo = repo_with(&manifest_dir().join("tests/fixtures/apps/nextjs-supabase-stripe"));
    let run = casehard(repo.path(), &["diff", ".", "--format", "sarif"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    serde_json::from_str(&run.stdout).expect("SARIF is JSON")
}

/// Panics with every error if `log` does not validate against the SARIF 2.1.0 schema.
fn assert_valid_sarif(validator: &jsonschema::Validator, log: &serde_json::Value) {
    let errors: Vec<String> = validator
        .iter_errors(log)
        .map(|e| format!("{} at {}", e, e.instance_path))
        .collect();
    assert!(
        errors.is_empty(),
        "SARIF does not validate:\n{}",
        errors.join("\n")
    );
}

#[test]
fn sarif_validates_against_the_2_1_0_schema() {
    let schema = sarif_schema();
    let validator = jsonschema::validator_for(&schema).expect("schema compiles");
    let log = demo_sarif();
    assert_valid_sarif(&validator, &log);
    // The validator does catch a broken log.
    let mut broken = log.clone();
    broken["runs"][0]["results"][0]["level"] = serde_json::json!("catastrophic");
    assert!(!validator.is_valid(&broken));
}

#[test]
fn a_file_casehard_could_not_check_is_an_error_notification_in_sarif() {
    let schema = sarif_schema();
    let validator = jsonschema::validator_for(&schema).expect("schema compiles");
    let demo = demo_sarif();
    let invocation = &demo["runs"][0]["invocations"][0];
    assert_eq!(invocation["executionSuccessful"], true);
    assert_eq!(
        invocation["toolExecutionNotifications"],
        serde_json::json!([])
    );

    let repo = repo_with(&manifest_dir().join("tests/fixtures/apps/nextjs-supabase-stripe"));
    // A handler with a schema to check, which does not parse.
    let broken = "import { z } from \"zod\";\nconst schema = z.object({ title: z.string() });\nexport async function function POST(req: Request) {\n  return Response.json(schema.parse(await req.json()));\n}\n";
    std::fs::write(repo.path().join("src/app/api/broken.ts"), broken).unwrap();
    let run = casehard(repo.path(), &["diff", ".", "--format", "sarif"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let log: serde_json::Value = serde_json::from_str(&run.stdout).expect("SARIF is JSON");
    assert_valid_sarif(&validator, &log);
    let invocation = &log["runs"][0]["invocations"][0];
    assert_eq!(invocation["executionSuccessful"], false);
    let notes = invocation["toolExecutionNotifications"].as_array().unwrap();
    assert_eq!(notes.len(), 1, "{notes:#?}");
    assert_eq!(notes[0]["level"], "error");
    assert!(
        notes[0]["message"]["text"]
            .as_str()
            .unwrap()
            .contains("syntax error"),
        "{notes:#?}"
    );
    let at = &notes[0]["locations"][0]["physicalLocation"];
    assert_eq!(at["artifactLocation"]["uri"], "src/app/api/broken.ts");
    assert_eq!(at["region"]["startLine"], 3);
    // The rest of the project is still reported.
    assert_eq!(
        log["runs"][0]["results"].as_array().unwrap().len(),
        demo["runs"][0]["results"].as_array().unwrap().len()
    );
}

#[test]
fn sarif_carries_rules_locations_and_fixes() {
    let log = demo_sarif();
    let run = &log["runs"][0];
    let rules: Vec<&str> = run["tool"]["driver"]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    for meta in catalog().metas() {
        assert!(rules.contains(&meta.id.as_str()), "{} missing", meta.id);
    }
    let results = run["results"].as_array().unwrap();
    let repo = repo_with(&manifest_dir().join("tests/fixtures/apps/nextjs-supabase-stripe"));
    let json: serde_json::Value =
        serde_json::from_str(&casehard(repo.path(), &["diff", ".", "--format", "json"]).stdout)
            .unwrap();
    assert_eq!(
        results.len(),
        json["findings"].as_array().unwrap().len(),
        "a result per finding"
    );
    let strict = results
        .iter()
        .find(|r| {
            r["ruleId"] == "schema/zod-strict"
                && r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
                    == "src/app/actions/profile.ts"
        })
        .expect("zod-strict result");
    assert_eq!(
        strict["locations"][0]["physicalLocation"]["region"]["startLine"],
        7
    );
    assert_eq!(
        rules[strict["ruleIndex"].as_u64().unwrap() as usize],
        "schema/zod-strict"
    );
    // Applying the fix's replacement to the original file gives casehard's change.
    let original = std::fs::read_to_string(
        manifest_dir()
            .join("tests/fixtures/apps/nextjs-supabase-stripe/src/app/actions/profile.ts"),
    )
    .unwrap();
    let r = &strict["fixes"][0]["artifactChanges"][0]["replacements"][0];
    let at = r["deletedRegion"]["byteOffset"].as_u64().unwrap() as usize;
    let len = r["deletedRegion"]["byteLength"].as_u64().unwrap() as usize;
    let fixed = format!(
        "{}{}{}",
        &original[..at],
        r["insertedContent"]["text"].as_str().unwrap(),
        &original[at + len..]
    );
    assert!(
        fixed.contains("  bio: z.string().max(280).optional(),\n}).strict();\n"),
        "{fixed}"
    );
    let manual = results
        .iter()
        .find(|r| r["ruleId"] == "schema/owner-from-body")
        .unwrap();
    assert!(manual.get("fixes").is_none(), "a manual finding has no fix");
    assert_eq!(manual["level"], "error");
}

#[test]
fn text_findings_carry_a_code_frame() {
    let repo = repo_with(&manifest_dir().join("tests/fixtures/apps/nextjs-supabase-stripe"));
    let run = casehard(repo.path(), &["check", "."]);
    let expected = " 13 |       user_id: body.userId,\n    |       ^\n";
    assert!(run.stderr.contains(expected), "{}", run.stderr);
}
