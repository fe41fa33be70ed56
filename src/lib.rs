//! casehard: hardens the full-stack TypeScript apps that AI generators emit, as a reviewable
//! change. See DESIGN.md in the shared folder for the architecture.

pub mod cli;
pub mod config;
pub mod deps;
pub mod engine;
pub mod error;
pub mod fuzzing;
pub mod lang;
pub mod passes;
pub mod plan;
pub mod render;
pub mod rules;
pub mod schema;
pub mod stack;
pub mod templates;
pub mod vcs;
pub mod workspace;

pub use error::Error;
