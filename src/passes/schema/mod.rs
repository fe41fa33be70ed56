//! The `schema/` passes: input schemas that need facts from other files.

pub mod insert_omits_privileged;
pub mod mass_assignment;
