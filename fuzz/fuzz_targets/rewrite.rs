//! Arbitrary text through the whole catalog, as a route handler and as a component: no
//! panic, the fix loop converges, and when the input parsed, every file casehard changed or
//! created still parses.
#![no_main]

use casehard::rules::Catalog;
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fn catalog() -> &'static Catalog {
    static CATALOG: OnceLock<Catalog> = OnceLock::new();
    CATALOG.get_or_init(|| Catalog::load(&[]).expect("built-in catalog"))
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    casehard::fuzzing::check(catalog(), text);
});
