//! casehard's one error type. Every variant names what it is about (a file, a rule, a line)
//! and, where one exists, what to do next.

use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: not a directory", .0.display())]
    NotADirectory(PathBuf),
    #[error("{}: cannot walk the project: {message}", root.display())]
    Walk { root: PathBuf, message: String },
    #[error("refusing path `{path}`: {reason}")]
    UnsafePath { path: String, reason: String },
    #[error("{file}: {message}")]
    Rule { file: String, message: String },
    #[error("duplicate rule id `{id}`: defined in {first} and in {second}")]
    DuplicateRule {
        id: String,
        first: String,
        second: String,
    },
    #[error("unknown rule id `{0}` (run `casehard rules` for the catalog)")]
    UnknownRule(String),
    #[error("{file}: {message}")]
    Config { file: String, message: String },
    #[error(
        "fixes did not converge after {rounds} rounds; these rules keep rewriting the same code: {}; the last round changed {}",
        rules.join(", "),
        some_of(files)
    )]
    NoConvergence {
        rounds: usize,
        rules: Vec<String>,
        /// The files the last round changed.
        files: Vec<String>,
    },
    #[error(
        "{}: the git work tree has uncommitted changes:\n{}\ncommit or stash them first, review with `casehard diff`, or pass --allow-dirty",
        root.display(),
        files.iter().map(|f| format!("  {f}")).collect::<Vec<_>>().join("\n")
    )]
    DirtyTree { root: PathBuf, files: Vec<String> },
    #[error(
        "{}: not under version control, so the changes could not be reviewed or undone; run `casehard diff` to review, `git init && git add -A && git commit` first, or pass --allow-no-vcs",
        .0.display()
    )]
    NoVcs(PathBuf),
    #[error("{}: not inside a git repository; `casehard pr` commits to one (run `git init` and commit the project first)", .0.display())]
    NoRepository(PathBuf),
    #[error("{}: {message}", repo.display())]
    Git { repo: PathBuf, message: String },
    #[error("refusing the archive, nothing was written: {entry}: {reason}")]
    Archive { entry: String, reason: String },
    #[error("template `{name}`: {message}")]
    Template { name: String, message: String },
}

impl Error {
    pub fn io(path: &Path, source: std::io::Error) -> Error {
        Error::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    pub fn rule(file: impl Into<String>, message: impl Into<String>) -> Error {
        Error::Rule {
            file: file.into(),
            message: message.into(),
        }
    }
}

/// The first few of a list of files, and how many more there are.
fn some_of(files: &[String]) -> String {
    const SHOWN: usize = 5;
    let mut out = files
        .iter()
        .take(SHOWN)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if files.len() > SHOWN {
        out.push_str(&format!(" and {} more", files.len() - SHOWN));
    }
    out
}
