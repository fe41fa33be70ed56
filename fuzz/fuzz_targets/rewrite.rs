//! Arbitrary text through the whole catalog, as a route handler and as a component: no
//! panic, the fix loop converges, and when the input parsed, every file casehard changed or
//! created still parses.
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    casehard::fuzzing::check(common::catalog(), text);
});
