//! What both fuzz targets need: AddressSanitizer's options and the built-in catalog.

use casehard::rules::Catalog;
use std::sync::OnceLock;

/// AddressSanitizer's default options for the target's binary. Its fake stacks (which catch uses
/// of a returned function's locals) move locals to the heap, where PostgreSQL's parser, which
/// measures its recursion by the distance between the addresses of two locals, finds its stack
/// limit exceeded on every statement: each migration, casehard's own among them, would read as
/// unparsable, and the RLS pass would write a new one every round. Safe Rust has no such uses.
#[no_mangle]
pub extern "C" fn __asan_default_options() -> *const std::ffi::c_char {
    c"detect_stack_use_after_return=0".as_ptr()
}

/// The built-in catalog, loaded once per process.
pub fn catalog() -> &'static Catalog {
    static CATALOG: OnceLock<Catalog> = OnceLock::new();
    CATALOG.get_or_init(|| Catalog::load(&[]).expect("built-in catalog"))
}
