//! Arbitrary project files other than TypeScript — SQL migrations, a Prisma schema,
//! package.json, lockfiles (with the package.json they lock), .npmrc, a Dockerfile, a CI
//! workflow, casehard.toml — through the whole catalog: no panic, the fix loop converges,
//! every file casehard writes is well formed for its kind, and a second run changes nothing
//! (`casehard::fuzzing::check_file`).
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    casehard::fuzzing::check_file(common::catalog(), data);
});
