//! Arbitrary text through the whole catalog, as a route handler and as a component: no
//! panic, the fix loop converges, and when the input parsed, every file casehard changed or
//! created still parses.
#![no_main]

use casehard::rules::Catalog;
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

/// AddressSanitizer's default options for this binary. Its fake stacks (which catch uses of a
/// returned function's locals) move locals to the heap, where PostgreSQL's parser, which
/// measures its recursion by the distance between the addresses of two locals, finds its stack
/// limit exceeded on every statement: each migration, casehard's own among them, would read as
/// unparsable, and the RLS pass would write a new one every round. Safe Rust has no such uses.
#[no_mangle]
pub extern "C" fn __asan_default_options() -> *const std::ffi::c_char {
    c"detect_stack_use_after_return=0".as_ptr()
}

fn catalog() -> &'static Catalog {
    static CATALOG: OnceLock<Catalog> = OnceLock::new();
    CATALOG.get_or_init(|| Catalog::load(&[]).expect("built-in catalog"))
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    casehard::fuzzing::check(catalog(), text);
});
