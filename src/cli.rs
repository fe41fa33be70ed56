//! Command-line interface: argument definitions and the commands' flow.

use crate::config::Config;
use crate::engine::{self, Options, Outcome};
use crate::error::Error;
use crate::render::{branch, diff, pr_body, report, sarif, write};
use crate::rules::{Catalog, Selection};
use crate::vcs::{self, VcsState};
use crate::workspace::{archive, git_tree, load_dir, LoadOptions};
use clap::{Parser, Subcommand, ValueEnum};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

const AFTER_HELP: &str = "\
Exit codes: 0 nothing to do, 1 changes or open findings, 2 usage or runtime error.

Examples:
  casehard diff ./app                 review what would change (writes nothing)
  casehard diff ./app | git apply     apply the reviewed diff yourself
  casehard fix ./app                  write the changes (git work tree must be clean)
  casehard check ./app --format json  CI gate with a machine-readable report
  casehard explain schema/zod-strict  what a rule does and why";

#[derive(Parser, Debug)]
#[command(name = "casehard", version, about = "Hardens AI-generated TypeScript apps: MFA, RLS, verified webhooks, strict schemas, pinned dependencies — as a reviewable change", after_help = AFTER_HELP)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,

    /// Findings format.
    #[arg(long, global = true, value_enum, default_value_t = Format::Text)]
    pub format: Format,

    /// Colored diff output (NO_COLOR turns `auto` off).
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,

    /// Run only these rule ids (repeatable or comma-separated).
    #[arg(long, global = true, value_delimiter = ',')]
    pub only: Vec<String>,

    /// Do not run these rule ids (repeatable or comma-separated).
    #[arg(long, global = true, value_delimiter = ',')]
    pub skip: Vec<String>,

    /// Also load rules from this folder (`<DIR>/<area>/<name>.toml`; repeatable).
    #[arg(long = "rules", global = true, value_name = "DIR")]
    pub rule_dirs: Vec<PathBuf>,

    /// Apply only fixes marked `safe`; `review` fixes are reported but not applied.
    #[arg(long, global = true)]
    pub safe_only: bool,

    /// List skipped files and folders with the reason.
    #[arg(short, long, global = true)]
    pub verbose: bool,

    /// Limit edits and findings to files changed since this git revision (cross-file passes
    /// still read the whole project).
    #[arg(long, global = true, value_name = "REV")]
    pub since: Option<String>,

    /// How long the rules may take to check one file; a file past it is reported as a problem
    /// and not changed further (0: no limit).
    #[arg(long, global = true, value_name = "SECONDS", default_value_t = engine::SCAN_TIME_LIMIT.as_secs_f64(), value_parser = seconds)]
    pub scan_time_limit: f64,
}

/// A non-negative, finite number of seconds.
fn seconds(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if std::time::Duration::try_from_secs_f64(v).is_ok() => Ok(v),
        _ => Err(format!("`{s}` is not a number of seconds (0 or more)")),
    }
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Print the unified diff of every change (dry run; writes nothing).
    Diff {
        #[arg(default_value = ".")]
        path: PathBuf,
    },
    /// Write the changes into the project, each file atomically.
    Fix {
        #[arg(default_value = ".")]
        path: PathBuf,
        /// Rewrite even if the git work tree has uncommitted changes.
        #[arg(long)]
        allow_dirty: bool,
        /// Rewrite a folder that is not under version control.
        #[arg(long)]
        allow_no_vcs: bool,
    },
    /// Exit 1 if anything would change or any finding is open, 0 if clean.
    Check {
        #[arg(default_value = ".")]
        path: PathBuf,
    },
    /// Harden a project streamed on standard input (a tar archive or a JSON file map); write
    /// the diff, the hardened project, or the findings to standard output. Touches no disk.
    Pipe {
        /// What standard input holds; `auto` tells a JSON map by its first `{`.
        #[arg(long, value_enum, default_value_t = PipeFrom::Auto)]
        from: PipeFrom,
        /// What to write to standard output.
        #[arg(long, value_enum, default_value_t = PipeTo::Diff)]
        to: PipeTo,
        /// Refuse input that expands past this many bytes (after decompression).
        #[arg(long, default_value_t = 512 * 1024 * 1024, value_name = "BYTES")]
        max_bytes: u64,
        /// Refuse input with more files than this.
        #[arg(long, default_value_t = 100_000, value_name = "N")]
        max_files: usize,
    },
    /// Commit casehard's changes on a branch (never the user's uncommitted work), write a
    /// pull-request body, and optionally push the branch.
    Pr {
        #[arg(default_value = ".")]
        path: PathBuf,
        /// The branch to commit on.
        #[arg(long, default_value = "casehard/harden")]
        branch: String,
        /// The revision to base the branch on (default: HEAD).
        #[arg(long, value_name = "REV")]
        base: Option<String>,
        /// Write the pull-request body here instead of standard output.
        #[arg(long, value_name = "FILE")]
        body_file: Option<PathBuf>,
        /// Push the branch to this remote (credentials from git's credential helpers).
        #[arg(long, value_name = "REMOTE")]
        push: Option<String>,
    },
    /// Write a CycloneDX 1.5 JSON software bill of materials from the project's lockfile.
    Sbom {
        #[arg(default_value = ".")]
        path: PathBuf,
        /// Write it here instead of standard output.
        #[arg(long, short, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// List the rule catalog.
    Rules,
    /// Print a rule's documentation.
    Explain { id: String },
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
    /// SARIF 2.1.0, for code-scanning dashboards.
    Sarif,
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum PipeFrom {
    Auto,
    Tar,
    Json,
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum PipeTo {
    /// The unified diff (findings on stderr).
    Diff,
    /// The hardened project as a tar archive.
    Tar,
    /// The hardened project as a JSON file map, in the input's shape.
    Json,
    /// The findings, in `--format`.
    Report,
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

impl Cli {
    fn selection(&self) -> Selection {
        Selection {
            only: (!self.only.is_empty()).then(|| self.only.iter().cloned().collect()),
            skip: self.skip.iter().cloned().collect(),
        }
    }

    fn colors(&self) -> diff::Colors {
        let enabled = match self.color {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => {
                std::env::var_os("NO_COLOR").is_none() && std::io::stdout().is_terminal()
            }
        };
        diff::Colors { enabled }
    }

    fn catalog(&self) -> Result<Catalog, Error> {
        let dirs: Vec<&Path> = self.rule_dirs.iter().map(PathBuf::as_path).collect();
        Catalog::load(&dirs)
    }
}

/// Runs a parsed command line; the exit code follows the module's contract.
pub fn run(cli: Cli) -> Result<ExitCode, Error> {
    match &cli.command {
        Command::Rules => list_rules(&cli),
        Command::Explain { id } => {
            let catalog = cli.catalog()?;
            let meta = catalog
                .meta(id)
                .ok_or_else(|| Error::UnknownRule(id.clone()))?;
            print(&meta.explain());
            Ok(ExitCode::SUCCESS)
        }
        Command::Pr {
            path,
            branch,
            base,
            body_file,
            push,
        } => pull_request(
            &cli,
            path,
            branch,
            base.as_deref(),
            body_file.as_deref(),
            push.as_deref(),
        ),
        Command::Sbom { path, output } => {
            let root = canonical(path)?;
            let ws = load_dir(&root, &LoadOptions::default())?;
            let document = sbom_of(&ws, &root)?;
            match output {
                Some(file) => std::fs::write(file, document).map_err(|e| Error::io(file, e))?,
                None => print(&document),
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Diff { path } => {
            let run = harden(&cli, path)?;
            if cli.format == Format::Text {
                print_diff(&run.outcome, cli.colors());
            }
            if std::env::var_os("CASEHARD_TIMINGS").is_some() {
                eprintln!("diff written; {}", engine::memory());
            }
            finish(&cli, &run, "diff")
        }
        Command::Check { path } => {
            let run = harden(&cli, path)?;
            finish(&cli, &run, "check")
        }
        Command::Fix {
            path,
            allow_dirty,
            allow_no_vcs,
        } => {
            let root = canonical(path)?;
            match vcs::state(&root)? {
                VcsState::Clean => {}
                VcsState::Dirty(files) if !allow_dirty => {
                    return Err(Error::DirtyTree { root, files })
                }
                VcsState::NotVersioned if !allow_no_vcs => return Err(Error::NoVcs(root)),
                _ => {}
            }
            let run = harden(&cli, &root)?;
            let written = write::write_changes(&root, &run.outcome)?;
            if cli.format == Format::Text {
                for p in &written {
                    eprintln!("wrote {p}");
                }
            }
            finish(&cli, &run, "fix")?;
            // Written: what is left is what needs a person.
            let left_open =
                run.outcome.open_findings().next().is_some() || !run.outcome.problems.is_empty();
            Ok(exit(!left_open))
        }
        Command::Pipe {
            from,
            to,
            max_bytes,
            max_files,
        } => {
            let limits = archive::Limits {
                max_bytes: *max_bytes,
                max_files: *max_files,
            };
            // The raw stream may be compressed; the archive readers enforce the real limit on
            // what it expands to.
            let raw_limit = max_bytes.saturating_mul(2).max(1 << 20);
            let input =
                archive::read_limited(std::io::stdin().lock(), raw_limit, "standard input")?;
            let as_json = match from {
                PipeFrom::Json => true,
                PipeFrom::Tar => false,
                PipeFrom::Auto => input.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{'),
            };
            let ws = if as_json {
                archive::read_json(&input, limits)?
            } else {
                archive::read_tar(input, limits)?
            };
            let run = harden_workspace(&cli, ws)?;
            match to {
                PipeTo::Diff => print_diff(&run.outcome, cli.colors()),
                PipeTo::Tar => write_bytes(&archive::write_tar(&run.outcome.workspace)?),
                PipeTo::Json => print(&archive::write_json(&run.outcome.workspace)),
                PipeTo::Report => {}
            }
            if *to == PipeTo::Report {
                print(&findings_document(&cli, &run, "pipe"));
                return Ok(exit(run.outcome.is_clean()));
            }
            eprint_report(&run.outcome, cli.verbose);
            Ok(exit(run.outcome.is_clean()))
        }
    }
}

/// A run of the catalog over a project.
struct Hardened {
    outcome: Outcome,
    catalog: Catalog,
}

/// Reports the findings (text on stderr, json or sarif on stdout) and gives the exit code.
fn finish(cli: &Cli, run: &Hardened, command: &str) -> Result<ExitCode, Error> {
    match cli.format {
        Format::Text => eprint_report(&run.outcome, cli.verbose),
        _ => print(&findings_document(cli, run, command)),
    }
    Ok(exit(run.outcome.is_clean()))
}

/// The machine-readable document for `--format json|sarif`, or the text summary.
fn findings_document(cli: &Cli, run: &Hardened, command: &str) -> String {
    match cli.format {
        Format::Text => report::text(&run.outcome, cli.verbose),
        Format::Json => {
            let diff_text =
                (command == "diff").then(|| diff::render(&run.outcome, diff::Colors::default()));
            report::json(&run.outcome, command, diff_text.as_deref())
        }
        Format::Sarif => sarif::render(&run.outcome, &run.catalog),
    }
}

fn exit(clean: bool) -> ExitCode {
    if clean {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn canonical(path: &Path) -> Result<PathBuf, Error> {
    path.canonicalize().map_err(|e| Error::io(path, e))
}

/// Loads the project at `path` and runs the catalog over it.
fn harden(cli: &Cli, path: &Path) -> Result<Hardened, Error> {
    let root = canonical(path)?;
    let ws = load_dir(
        &root,
        &LoadOptions {
            list_ignored_dirs: cli.verbose,
        },
    )?;
    let mut run = harden_workspace(cli, ws)?;
    if let Some(rev) = &cli.since {
        let (repo, prefix) = branch::open(&root)?;
        let paths = branch::changed_since(&repo, rev, &prefix, None)?;
        run.outcome.restrict_to(&paths);
    }
    Ok(run)
}

/// `casehard pr`: harden the base commit's tree, commit the change on the branch, write the
/// body, push.
fn pull_request(
    cli: &Cli,
    path: &Path,
    branch_name: &str,
    base_rev: Option<&str>,
    body_file: Option<&Path>,
    push: Option<&str>,
) -> Result<ExitCode, Error> {
    let root = canonical(path)?;
    let (repo, prefix) = branch::open(&root)?;
    let base = branch::resolve(&repo, base_rev.unwrap_or("HEAD"))?;
    let tree = base.tree().map_err(|e| Error::Git {
        repo: root.clone(),
        message: e.message().to_string(),
    })?;
    let ws = git_tree::load_tree(&repo, &tree, &prefix)?;
    let project = project_name(&ws, &root);
    let mut run = harden_workspace(cli, ws)?;
    if let Some(rev) = &cli.since {
        let paths = branch::changed_since(&repo, rev, &prefix, Some(&base))?;
        run.outcome.restrict_to(&paths);
    }
    let title = format!("casehard: harden {project}");
    let body = pr_body::render(&run.outcome, &run.catalog, &title);
    let message = commit_message(&title, &run, &base.id().to_string());
    let update = branch::update(&repo, &base, &prefix, &run.outcome, branch_name, &message)?;
    match &update {
        branch::BranchUpdate::NothingToChange => eprintln!(
            "nothing to change on {}; no commit",
            short(&base.id().to_string())
        ),
        branch::BranchUpdate::UpToDate(c) => eprintln!(
            "{branch_name} is up to date at {}; no new commit",
            short(&c.to_string())
        ),
        branch::BranchUpdate::Committed { commit, rebuilt } => eprintln!(
            "{} {branch_name} at {} on {}",
            if *rebuilt { "rebuilt" } else { "created" },
            short(&commit.to_string()),
            short(&base.id().to_string())
        ),
    }
    let body_arg = match body_file {
        Some(file) => {
            std::fs::write(file, &body).map_err(|e| Error::io(file, e))?;
            file.display().to_string()
        }
        None => {
            print(&body);
            "<a file holding the body above>".to_string()
        }
    };
    if update != branch::BranchUpdate::NothingToChange {
        if let Some(remote) = push {
            branch::push(&repo, remote, branch_name)?;
            eprintln!("pushed {branch_name} to {remote}");
        }
        eprintln!(
            "open the pull request with:\n  gh pr create --base {} --head {branch_name} --title {} --body-file {body_arg}",
            shell_word(&branch::base_name(&repo, base_rev)),
            shell_word(&title)
        );
    }
    eprint_report(&run.outcome, cli.verbose);
    Ok(exit(run.outcome.is_clean()))
}

/// The SBOM of the project's root manifest and the lockfile that governs it.
fn sbom_of(ws: &crate::workspace::Workspace, root: &Path) -> Result<String, Error> {
    let no_sbom = |message: String| Error::Config {
        file: root.display().to_string(),
        message,
    };
    let manifests = crate::passes::deps::manifests(ws);
    let manifest = manifests
        .iter()
        .find(|m| m.dir.is_empty())
        .ok_or_else(|| no_sbom("no package.json at the project root".into()))?;
    let mut locks = Vec::new();
    for lock in crate::passes::deps::lockfiles(ws) {
        match lock {
            Ok(l) => locks.push(l),
            Err((path, e)) => {
                return Err(Error::Config {
                    file: path,
                    message: format!("cannot read the lockfile: {e}"),
                })
            }
        }
    }
    let (lock, _) = crate::passes::deps::lock_for(&locks, manifest)
        .ok_or_else(|| no_sbom("no lockfile: an SBOM lists what was resolved; run `npm install --package-lock-only --ignore-scripts` (or your package manager's equivalent) first".into()))?;
    Ok(crate::deps::sbom::cyclonedx(manifest, lock))
}

fn short(sha: &str) -> &str {
    &sha[..sha.len().min(10)]
}

/// Quotes a word for a POSIX shell when it needs it.
fn shell_word(s: &str) -> String {
    if s.chars()
        .all(|c| c.is_ascii_alphanumeric() || "-_./:@".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// The name in package.json, else the folder's name.
fn project_name(ws: &crate::workspace::Workspace, root: &Path) -> String {
    ws.text("package.json")
        .and_then(|t| serde_json::from_str::<serde_json::Value>(t.body).ok())
        .and_then(|v| v.get("name").and_then(|n| n.as_str()).map(str::to_string))
        .or_else(|| root.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "the project".into())
}

fn commit_message(title: &str, run: &Hardened, base: &str) -> String {
    let mut counts: std::collections::BTreeMap<&str, usize> = Default::default();
    for f in run
        .outcome
        .findings
        .iter()
        .filter(|f| f.status == crate::plan::Status::Fixed)
    {
        *counts.entry(f.rule.as_str()).or_default() += 1;
    }
    let mut msg = format!("{title}\n\n");
    for (rule, n) in counts {
        msg.push_str(&format!("- {rule}: {n} fix(es)\n"));
    }
    msg.push_str(&format!(
        "\nSee the pull-request body for what to review.\n\n{} {}\nCasehard-Base: {base}\n",
        branch::TRAILER,
        env!("CARGO_PKG_VERSION")
    ));
    msg
}

/// Runs the catalog over a loaded project, with casehard.toml and the command line's selection.
fn harden_workspace(cli: &Cli, ws: crate::workspace::Workspace) -> Result<Hardened, Error> {
    let config = Config::from_workspace(&ws)?;
    let catalog = cli.catalog()?;
    let from_cli = cli.selection();
    let from_config = config.selection();
    catalog.check_selection(&from_cli)?;
    catalog.check_selection(&from_config)?;
    let options = Options {
        selection: from_cli.and(&from_config),
        review_fixes: !cli.safe_only,
        progress: progress_bar(ws.files.len()),
        // Only SARIF reports fixes against the files as read.
        original_edits: cli.format == Format::Sarif,
        scan_time_limit: (cli.scan_time_limit > 0.0)
            .then(|| std::time::Duration::from_secs_f64(cli.scan_time_limit)),
        ..Options::default()
    };
    let outcome = engine::run(ws, &catalog, &config, &options)?;
    Ok(Hardened { outcome, catalog })
}

/// A progress bar on stderr for long runs on a terminal; none otherwise.
fn progress_bar(files: usize) -> Option<indicatif::ProgressBar> {
    const LONG_RUN_FILES: usize = 500;
    if files < LONG_RUN_FILES || !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = indicatif::ProgressBar::new(files as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{msg} {bar:40} {pos}/{len} files")
            .expect("valid template"),
    );
    Some(bar)
}

fn list_rules(cli: &Cli) -> Result<ExitCode, Error> {
    let catalog = cli.catalog()?;
    let metas = catalog.metas();
    match cli.format {
        Format::Json | Format::Sarif => {
            let rows: Vec<serde_json::Value> = metas
                .iter()
                .map(|m| {
                    serde_json::json!({
                        "id": m.id, "title": m.title, "area": m.area, "severity": m.severity,
                        "applicability": m.applicability,
                    })
                })
                .collect();
            print(&(serde_json::to_string_pretty(&rows).expect("serializes") + "\n"));
        }
        Format::Text => {
            let width = metas.iter().map(|m| m.id.len()).max().unwrap_or(0);
            let mut out = String::new();
            for m in metas {
                out.push_str(&format!(
                    "{:width$}  {:12}  {:7}  {:6}  {}\n",
                    m.id,
                    m.area.as_str(),
                    m.severity.as_str(),
                    m.applicability.as_str(),
                    m.title
                ));
            }
            print(&out);
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn write_bytes(bytes: &[u8]) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(bytes);
    let _ = out.flush();
}

/// Writes to stdout; a closed pipe (`casehard diff | head`) is not an error.
/// Streams the text summary to standard error.
fn eprint_report(outcome: &Outcome, verbose: bool) {
    stream(std::io::stderr().lock(), |out| {
        report::write_text(outcome, verbose, out)
    });
}

/// Streams the diff to standard output file by file.
fn print_diff(outcome: &Outcome, colors: diff::Colors) {
    stream(std::io::stdout().lock(), |out| {
        diff::write(outcome, colors, out)
    });
}

/// Runs a streaming renderer into `out`, buffered; like [`print`], a closed pipe ends it
/// quietly.
fn stream<W: Write>(
    out: W,
    render: impl FnOnce(&mut std::io::BufWriter<W>) -> std::io::Result<()>,
) {
    let mut out = std::io::BufWriter::new(out);
    let _ = render(&mut out).and_then(|()| out.flush());
}

fn print(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
}
