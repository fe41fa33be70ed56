//! Arbitrary project files other than TypeScript — SQL migrations, a Prisma schema,
//! package.json, lockfiles (with the package.json they lock), .npmrc, a Dockerfile, a CI
//! workflow, casehard.toml — through the whole catalog: no panic, the fix loop converges,
//! every file casehard writes is well formed for its kind, and a second run changes nothing
//! (`casehard::fuzzing::check_file`).
#![no_main]

use casehard::rules::Catalog;
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

/// As in the rewrite target: PostgreSQL's parser measures its stack by the addresses of its
/// locals, which AddressSanitizer's fake stacks move to the heap.
#[no_mangle]
pub extern "C" fn __asan_default_options() -> *const std::ffi::c_char {
    c"detect_stack_use_after_return=0".as_ptr()
}

fn catalog() -> &'static Catalog {
    static CATALOG: OnceLock<Catalog> = OnceLock::new();
    CATALOG.get_or_init(|| Catalog::load(&[]).expect("built-in catalog"))
}

fuzz_target!(|data: &[u8]| {
    casehard::fuzzing::check_file(catalog(), data);
});
