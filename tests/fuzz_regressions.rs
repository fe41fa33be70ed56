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
