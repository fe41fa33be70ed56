//! Turning an outcome into what the user sees: a diff, written files, or a report.

pub mod branch;
pub mod diff;
pub mod pr_body;
pub mod report;
pub mod sarif;
pub mod write;
