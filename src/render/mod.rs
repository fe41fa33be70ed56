//! Turning an outcome into what the user sees: a diff, written files, or a report.

pub mod branch;
pub mod diff;
pub mod pr_body;
pub mod report;
pub mod sarif;
pub mod write;

/// What a streaming renderer writes, as a string (for JSON documents and tests).
pub(crate) fn to_string(render: impl FnOnce(&mut Vec<u8>) -> std::io::Result<()>) -> String {
    let mut out = Vec::new();
    render(&mut out).expect("writing to memory does not fail");
    String::from_utf8(out).expect("renderers write UTF-8")
}
