//! The pipeline: parse each file once, run every rule and pass over it, resolve overlapping
//! edits, verify that each changed file still parses, and repeat until nothing changes.

use crate::config::Config;
use crate::error::Error;
use crate::lang::{first_syntax_error, has_syntax_error, Lang, TextEdit, Tree};
use crate::passes::{Facts, FileView, Pass, PassOutput, ProjectView};
use crate::plan::{Applicability, Edit, Finding, Proposal, Status};
use crate::rules::{scan_file, Catalog, CollectedNodes, Overrun, Prefilter, ScanIndex, Selection};
use crate::stack::Stack;
use crate::workspace::{body_of, checked_path, join_bom, Before, Undo, Workspace};
use rayon::prelude::*;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

/// Fix rounds before casehard gives up and names the rules that keep rewriting.
pub const MAX_ROUNDS: usize = 10;

#[derive(Clone, Debug)]
pub struct Options {
    pub selection: Selection,
    /// Apply fixes whose applicability is `review` (on by default; `safe` fixes always apply).
    pub review_fixes: bool,
    /// Advanced once per file scanned.
    pub progress: Option<indicatif::ProgressBar>,
    /// Source bytes whose syntax trees may be kept between phases ([`TREE_BUDGET`] by
    /// default): it trades memory for parses, never changes a result.
    pub tree_budget: usize,
    /// Skip files that no active rule can match and no pass wants, and nodes that lack the
    /// identifier a rule's pattern names (on by default): it saves parses and matching, never
    /// changes a result.
    pub prefilter: bool,
    /// Keep each fix as proposed against the file as read, for SARIF's artifact changes (on by
    /// default; the command line keeps them only for `--format sarif`): on 10,000 generated
    /// files with 126,000 findings they are 15 MB.
    pub original_edits: bool,
    /// Fix a file while its scan still holds its tree, when no pass may edit it (on by
    /// default): the change is verified by an incremental reparse and the next round's scan is
    /// made on that tree. The fix phase uses it only when it chooses exactly the same edits,
    /// so it saves parses and never changes a result.
    pub early_fixes: bool,
    /// How long the rules may take to check one file ([`SCAN_TIME_LIMIT`] by default; `None`
    /// for no limit). A file past it is reported as a problem and not rewritten.
    pub scan_time_limit: Option<std::time::Duration>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            selection: Selection::default(),
            review_fixes: true,
            progress: None,
            tree_budget: TREE_BUDGET,
            prefilter: true,
            original_edits: true,
            early_fixes: true,
            scan_time_limit: Some(SCAN_TIME_LIMIT),
        }
    }
}

/// How long the rules may take to check one file. A rule that looks along the tree (`inside`,
/// `precedes` to the end) costs, on each node it is tried on, up to the depth or the length of
/// what it looks along, so a file made for it (thousands of owner fields destructured in one
/// handler, schemas nested thousands deep) can take hours; generated files take milliseconds.
/// Past this, the file is reported, as Semgrep reports a rule that times out, and never
/// rewritten half-checked. A limit on time, not on steps: ast-grep counts none.
pub const SCAN_TIME_LIMIT: std::time::Duration = std::time::Duration::from_secs(10);

/// A file casehard could not check (it does not parse, or its rules ran past the
/// [`Options::scan_time_limit`]): reported, and not rewritten (no further, when it is found
/// after a fix).
#[derive(Clone, Debug, serde::Serialize)]
pub struct Problem {
    pub path: String,
    pub line: usize,
    pub column: usize,
    pub message: String,
}

pub struct Outcome {
    /// The project after hardening.
    pub workspace: Workspace,
    /// Every changed or created path → what it was before; [`Outcome::original`] gives the
    /// bytes.
    pub before: BTreeMap<String, Before>,
    pub findings: Vec<Finding>,
    pub problems: Vec<Problem>,
    pub stack: Stack,
}

impl Outcome {
    pub fn has_changes(&self) -> bool {
        !self.before.is_empty()
    }
    /// The bytes `path` was read with: a changed file's are rebuilt, an unchanged file's are
    /// its current ones; `None` for a file casehard created or one not in the project.
    pub fn original(&self, path: &str) -> Option<std::borrow::Cow<'_, [u8]>> {
        original(&self.workspace, &self.before, path)
    }
    pub fn open_findings(&self) -> impl Iterator<Item = &Finding> {
        self.findings.iter().filter(|f| f.is_open())
    }
    /// Keeps only the edits and findings in `paths` (for `--since`): changes to other files are
    /// undone; files casehard creates are kept only while something in scope needs them.
    pub fn restrict_to(&mut self, paths: &BTreeSet<String>) {
        let outside: Vec<String> = self
            .before
            .iter()
            .filter(|(p, b)| !b.is_created() && !paths.contains(*p))
            .map(|(p, _)| p.clone())
            .collect();
        for path in outside {
            if let Some(bytes) = self.original(&path).map(|b| b.into_owned()) {
                self.before.remove(&path);
                if let Some(entry) = self.workspace.files.get_mut(&path) {
                    entry.bytes = bytes;
                }
            }
        }
        self.findings.retain(|f| paths.contains(&f.path));
        self.problems.retain(|p| paths.contains(&p.path));
        // Created files serve the changes and fixes in scope (a helper an edited handler
        // imports, the migration that fixes an edited one); with none in scope they go too.
        let needed = self.before.values().any(|b| !b.is_created())
            || self.findings.iter().any(|f| f.status == Status::Fixed);
        if !needed {
            let created: Vec<String> = self
                .before
                .iter()
                .filter(|(_, b)| b.is_created())
                .map(|(p, _)| p.clone())
                .collect();
            for path in created {
                self.before.remove(&path);
                self.workspace.files.remove(&path);
            }
        }
    }

    /// Exit-code view: anything to change, anything open, anything unreadable.
    pub fn is_clean(&self) -> bool {
        !self.has_changes() && self.open_findings().next().is_none() && self.problems.is_empty()
    }
}

/// Per-round phase times on stderr when `CASEHARD_TIMINGS` is set, for profiling.
struct Timings(Option<std::time::Instant>);

impl Timings {
    fn start() -> Timings {
        Timings(std::env::var_os("CASEHARD_TIMINGS").map(|_| std::time::Instant::now()))
    }
    fn lap(&self) -> std::time::Duration {
        self.0.map(|t| t.elapsed()).unwrap_or_default()
    }
    fn report(
        &self,
        round: usize,
        files: usize,
        proposals: usize,
        scanned: std::time::Duration,
        finished: std::time::Duration,
    ) {
        if self.0.is_some() {
            eprintln!(
                "round {round}: {files} files scanned in {scanned:.2?}, passes finished at {finished:.2?}, {proposals} proposals applied at {:.2?}; {}",
                self.lap(),
                memory()
            );
        }
    }
}

/// When the process started, for `CASEHARD_TIMINGS`' lines; set by `main`.
pub static STARTED: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();

/// The process's resident and peak memory (Linux), and the time since it started, for
/// `CASEHARD_TIMINGS`.
pub fn memory() -> String {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .map(|v| v.trim().to_string())
            .unwrap_or_else(|| "?".into())
    };
    let since = STARTED
        .get()
        .map(|t| format!(" ({:.2?} since start)", t.elapsed()));
    format!(
        "resident {}, peak {}{}",
        field("VmRSS:"),
        field("VmHWM:"),
        since.unwrap_or_default()
    )
}

/// Where a finding is, in the original file: the key that dedupes it across rounds. Its
/// path, rule id and message are numbers in the engine's [`Interner`]: keys are ordered by
/// those numbers, which keeps a file's findings together, not by the names. Small, because
/// every finding has one: 16 bytes where three shared strings and an offset took 56.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
struct FindingKey {
    path: Sym,
    /// Files are at most [`crate::workspace::MAX_SQL_BYTES`] long.
    offset: u32,
    rule: Sym,
    message: Sym,
}

/// A finding's offset as its key holds it.
fn offset_key(offset: usize) -> u32 {
    u32::try_from(offset).unwrap_or(u32::MAX)
}

/// A string's number in the [`Interner`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
struct Sym(u32);

/// One copy of each path, rule id and message the findings name, numbered: on 2,000 generated
/// files with 25,000 findings, copies in each key took 5 MB.
#[derive(Default)]
struct Interner {
    ids: HashMap<Arc<str>, Sym>,
    names: Vec<Arc<str>>,
}

impl Interner {
    fn get(&mut self, s: &str) -> Sym {
        if let Some(&id) = self.ids.get(s) {
            return id;
        }
        let id = Sym(u32::try_from(self.names.len()).expect("fewer than 2^32 names"));
        let shared: Arc<str> = s.into();
        self.names.push(shared.clone());
        self.ids.insert(shared, id);
        id
    }

    fn name(&self, id: Sym) -> &str {
        &self.names[id.0 as usize]
    }
}

struct FindingState {
    applicability: Applicability,
    has_fix: bool,
    /// What few findings have, boxed so that the many without it stay small.
    rare: Option<Box<RareState>>,
}

#[derive(Default)]
struct RareState {
    /// Why the fix was not applied.
    dropped: Option<Box<str>>,
    /// The fix as proposed against the file as it was read (for SARIF), if it was and
    /// [`Options::original_edits`] asks for it.
    original_edits: Box<[Edit]>,
}

impl FindingState {
    fn new(applicability: Applicability, has_fix: bool, dropped: Option<String>) -> FindingState {
        FindingState {
            applicability,
            has_fix,
            rare: dropped.map(|reason| {
                Box::new(RareState {
                    dropped: Some(reason.into()),
                    ..RareState::default()
                })
            }),
        }
    }

    fn rare(&mut self) -> &mut RareState {
        self.rare.get_or_insert_default()
    }
}

/// The edits applied to one file in one round: (start, end, inserted length).
type RoundEdits = Vec<(usize, usize, usize)>;

/// Maps an offset in the text after `edits` back to the text before them. An offset inside a
/// replacement maps to the replacement's start.
fn map_back(edits: &RoundEdits, offset: usize) -> usize {
    let mut shift: isize = 0;
    for &(start, end, new_len) in edits {
        let new_start = (start as isize + shift) as usize;
        if offset < new_start {
            break;
        }
        if offset < new_start + new_len {
            return start;
        }
        shift += new_len as isize - (end - start) as isize;
    }
    (offset as isize - shift).max(0) as usize
}

/// What may use a file: by pass, whether it wants it; by rule index, whether the rule is tried
/// on it.
struct Wants {
    passes: Vec<bool>,
    rules: Vec<bool>,
}

struct ScannedFile {
    path: String,
    /// Kept when the file may receive fixes, for an incremental reparse after them.
    tree: Option<Tree>,
    proposals: Vec<Proposal>,
    facts: Vec<Option<Facts>>,
    problem: Option<Problem>,
    /// The file's own rules' fixes, applied and verified during the scan.
    early: Option<Box<EarlyFix>>,
}

/// A file's fixes made during its scan (see [`Options::early_fixes`]): the edits chosen, in
/// order, and the next round's scan of the text they make, with its request scope.
struct EarlyFix {
    edits: EditLog,
    next: Option<(bool, ScannedFile)>,
}

/// A sequence of edits written into one buffer: each edit's start, end and text length (four
/// bytes each) and its text. Exact, and one allocation per file where the edits themselves
/// take one per edit; every file the first run changes holds one until its fixes are made.
struct EditLog(Vec<u8>);

impl EditLog {
    /// `None` if an offset does not fit in four bytes.
    fn new<'e>(edits: impl Iterator<Item = &'e Edit>) -> Option<EditLog> {
        let mut log = Vec::new();
        for e in edits {
            for n in [e.start, e.end, e.text.len()] {
                log.extend_from_slice(&u32::try_from(n).ok()?.to_le_bytes());
            }
            log.extend_from_slice(e.text.as_bytes());
        }
        log.shrink_to_fit();
        Some(EditLog(log))
    }

    /// Whether `edits` are exactly the edits written here, in the same order.
    fn holds<'e>(&self, edits: impl Iterator<Item = &'e Edit>) -> bool {
        EditLog::new(edits).is_some_and(|other| other.0 == self.0)
    }
}

struct Engine<'a> {
    catalog: &'a Catalog,
    index: ScanIndex,
    prefilter: Prefilter,
    passes: Vec<&'a dyn Pass>,
    options: &'a Options,
    stack: Stack,
    config: &'a Config,
    history: HashMap<String, Vec<RoundEdits>>,
    findings: BTreeMap<FindingKey, FindingState>,
    strings: Interner,
    dropped: BTreeSet<FindingKey>,
    problems: Vec<Problem>,
    broken: BTreeSet<String>,
    pass_facts: Vec<BTreeMap<String, Facts>>,
    /// The next round's scan of each file this round changed, made on the tree that verified
    /// the change (so the file is not parsed again), with the request scope it assumed.
    prescanned: HashMap<String, (bool, ScannedFile)>,
    /// Trees of this round's scan for files that may receive fixes.
    round_trees: HashMap<String, Tree>,
    /// Fixes this round's scan made early, by path.
    early_fixes: HashMap<String, Box<EarlyFix>>,
    /// Node kinds the selected passes read.
    pass_kinds: Vec<&'static str>,
    /// Source bytes whose trees the current phase may still keep (see [`TREE_BUDGET`]).
    tree_budget: TreeBudget,
    /// The lockfiles as parsed in an earlier round, reused while their bytes are the same.
    lock_cache: crate::passes::deps::LockCache,
}

/// How many bytes of source may have their syntax trees kept between the phases of a round
/// (scan → fix, and a verified change → the next round's fix), where the fix reparses
/// incrementally instead of in full: a tree takes twenty to thirty times its source. Files
/// that only their own rules fix need none (they are fixed during the scan, see
/// [`Options::early_fixes`]); a typical generated app keeps every tree the others need; in a
/// large project the files past the budget are parsed in full instead, so memory stays
/// bounded whatever the size of the project. The
/// trees of a fixed file's new text also hold the subtrees they share with the old one: on
/// 2,000 generated files 256 KiB cost 11 MB at the peak and 64 KiB costs 3 MB, while a
/// budget that kept every tree saved 0.4 s of 1.7 for 600 MB.
pub const TREE_BUDGET: usize = 64 << 10;

/// How many files are fixed in parallel before their new texts replace the old ones.
const FIX_BATCH: usize = 256;

/// The bytes `path` was read with (see [`Outcome::original`]).
fn original<'w>(
    ws: &'w Workspace,
    before: &BTreeMap<String, Before>,
    path: &str,
) -> Option<std::borrow::Cow<'w, [u8]>> {
    let now = &ws.get(path)?.bytes;
    match before.get(path) {
        Some(Before::Created) => None,
        Some(Before::Edited(undo)) => Some(undo.original(now).into()),
        None => Some(now[..].into()),
    }
}

/// A budget shared by the files of a phase processed in parallel: bytes left, and the
/// budget of each phase.
struct TreeBudget(std::sync::atomic::AtomicUsize, usize);

impl TreeBudget {
    fn reset(&self) {
        self.0.store(self.1, std::sync::atomic::Ordering::Relaxed);
    }
    /// Takes `bytes` from the budget; false (taking nothing) when it has not that much left.
    fn take(&self, bytes: usize) -> bool {
        use std::sync::atomic::Ordering::Relaxed;
        self.0
            .fetch_update(Relaxed, Relaxed, |left| left.checked_sub(bytes))
            .is_ok()
    }
}

/// Hands what the worker threads of a parallel phase (the scan, the fixes) freed back to the
/// system. glibc keeps what a thread frees in that thread's arena, where the main thread
/// (passes' `finish`, the bookkeeping, the diff) cannot reuse it; on the typical 10,000-file
/// corpus that was 25 MB of the peak. Elsewhere a no-op.
fn release_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns free memory to the kernel; it is thread-safe.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Gives glibc's malloc one arena per core (`std::thread::available_parallelism`, as many as
/// the worker threads) rather than its default of eight per core. With more arenas than
/// threads, what the parallel phases leave in them (texts, proposals, findings) fragments
/// across all of them; with one arena, the threads wait on its lock: on the stress corpora
/// (2 cores) one arena cost 10% of the first run's wall time, mostly in the fixes and the RLS
/// replay, where both threads allocate without pause. What fragments is handed back after each
/// batch of fixes (see `Engine::apply`): the stress 10,000-file run peaks at 238 MiB with two
/// arenas, 235 MiB with one. Call it before the worker threads start. Elsewhere a no-op.
pub fn set_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let arenas = libc::c_int::try_from(cores).unwrap_or(libc::c_int::MAX);
        // SAFETY: mallopt only changes an allocator setting; called before other threads exist.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, arenas);
        }
    }
}

/// Runs every selected rule and pass over `ws` until nothing changes.
pub fn run(
    mut ws: Workspace,
    catalog: &Catalog,
    config: &Config,
    options: &Options,
) -> Result<Outcome, Error> {
    let sel = &options.selection;
    let clock = Timings::start();
    let stack = Stack::detect(&ws);
    if clock.0.is_some() {
        eprintln!("stack detected in {:.2?}; {}", clock.lap(), memory());
    }
    let passes: Vec<&dyn Pass> = catalog
        .passes
        .iter()
        .map(|p| p.as_ref())
        .filter(|p| p.rules().iter().any(|m| sel.allows(&m.id)))
        .collect();
    let mut engine = Engine {
        catalog,
        index: ScanIndex::new(&catalog.rules, |r| sel.allows(&r.meta.id))
            .checking_identifiers(options.prefilter),
        prefilter: Prefilter::new(&catalog.rules, |r| sel.allows(&r.meta.id)),
        pass_facts: passes.iter().map(|_| BTreeMap::new()).collect(),
        passes,
        options,
        stack,
        config,
        history: HashMap::new(),
        findings: BTreeMap::new(),
        strings: Interner::default(),
        dropped: BTreeSet::new(),
        problems: Vec::new(),
        broken: BTreeSet::new(),
        prescanned: HashMap::new(),
        round_trees: HashMap::new(),
        early_fixes: HashMap::new(),
        pass_kinds: Vec::new(),
        tree_budget: TreeBudget(
            std::sync::atomic::AtomicUsize::new(options.tree_budget),
            options.tree_budget,
        ),
        lock_cache: Default::default(),
    };
    let mut kinds: Vec<&'static str> = engine
        .passes
        .iter()
        .flat_map(|p| p.kinds().iter().copied())
        .collect();
    kinds.sort_unstable();
    kinds.dedup();
    engine.pass_kinds = kinds;
    let mut before: BTreeMap<String, Before> = BTreeMap::new();
    let mut dirty: Vec<String> = ws.sources().map(|(p, _)| p.to_string()).collect();
    let mut rounds = 0;
    let mut last_rules: BTreeSet<String> = BTreeSet::new();
    let mut last_files: Vec<String> = Vec::new();

    loop {
        if rounds == MAX_ROUNDS {
            return Err(Error::NoConvergence {
                rounds: MAX_ROUNDS,
                rules: last_rules.into_iter().collect(),
                files: last_files,
            });
        }
        let clock = Timings::start();
        let proposals = engine.scan_round(&ws, &dirty, rounds);
        release_freed_memory();
        let scanned = clock.lap();
        if clock.0.is_some() {
            eprintln!("  scanned; {}", memory());
        }
        let (proposals, new_files) = engine.finish_passes(&ws, proposals);
        let finished = clock.lap();
        if clock.0.is_some() {
            eprintln!("  passes finished; {}", memory());
        }
        let count = proposals.len();
        let applied = engine.apply(&mut ws, &mut before, proposals, new_files)?;
        clock.report(rounds, dirty.len(), count, scanned, finished);
        rounds += 1;
        if applied.is_empty() {
            break;
        }
        last_rules = applied.values().flatten().cloned().collect();
        last_files = applied.keys().cloned().collect();
        if clock.0.is_some() {
            for (path, rules) in &applied {
                eprintln!("  changed {path}: {rules:?}");
            }
        }
        let mut next: BTreeSet<String> = applied
            .into_keys()
            .filter(|p| Lang::for_path(p).is_some())
            .collect();
        next.extend(engine.stack.refresh_request_scope(&ws));
        next.retain(|p| !engine.broken.contains(p));
        dirty = next.into_iter().collect();
    }

    if let Some(bar) = &options.progress {
        bar.finish_and_clear();
    }
    // What the rounds kept for the next round is done with; only the findings are reported.
    engine.pass_facts = Vec::new();
    engine.history = HashMap::new();
    // The report reads names by number only.
    engine.strings.ids = HashMap::new();
    release_freed_memory();
    let findings = engine.report(&ws, &before);
    if Timings::start().0.is_some() {
        eprintln!("reported; {}", memory());
        let mut times: Vec<(std::time::Duration, u64, &str)> = engine
            .index
            .rule_times()
            .into_iter()
            .zip(&catalog.rules)
            .filter(|((_, tries), _)| *tries > 0)
            .map(|((t, tries), r)| (t, tries, r.meta.id.as_str()))
            .collect();
        times.sort_by(|a, b| b.cmp(a));
        for (t, tries, id) in times.iter().take(12) {
            eprintln!("  matcher {id}: {t:.2?} on {tries} nodes (all threads)");
        }
    }
    let mut problems = engine.problems;
    problems.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(Outcome {
        workspace: ws,
        before,
        findings,
        problems,
        stack: engine.stack,
    })
}

impl<'a> Engine<'a> {
    /// Parses the dirty files (in parallel), runs the rules and the passes' scans on each.
    fn scan_round(&mut self, ws: &Workspace, dirty: &[String], round: usize) -> Vec<Proposal> {
        self.round_trees.clear();
        self.early_fixes.clear();
        self.tree_budget.reset();
        // A change verified last round was scanned then, unless its request scope moved since.
        let mut prescanned = std::mem::take(&mut self.prescanned);
        let work: Vec<(&String, Option<ScannedFile>)> = dirty
            .iter()
            .map(|p| {
                let done = prescanned
                    .remove(p)
                    .filter(|(scope, _)| *scope == self.stack.request_input.contains(p))
                    .map(|(_, mut file)| {
                        if let Some(tree) = &file.tree {
                            if !self.tree_budget.take(tree.get_text().len()) {
                                file.tree = None;
                            }
                        }
                        file
                    });
                (p, done)
            })
            .collect();
        drop(prescanned);
        let progress = self.options.progress.as_ref();
        if let Some(bar) = progress {
            bar.set_length(work.len() as u64);
            bar.set_position(0);
            bar.set_message(format!("round {}", round + 1));
        }
        let scanned: Vec<ScannedFile> = work
            .into_par_iter()
            .filter_map(|(path, done)| {
                let scanned = match done {
                    Some(file) => Some(file),
                    None => self.scan_one(ws, path, round),
                };
                if let Some(bar) = progress {
                    bar.inc(1);
                }
                scanned
            })
            .collect();
        let mut proposals = Vec::new();
        for file in scanned {
            if let Some(p) = file.problem {
                self.broken.insert(file.path.clone());
                self.problems.push(p);
                continue;
            }
            if let Some(tree) = file.tree {
                self.round_trees.insert(file.path.clone(), tree);
            }
            if let Some(early) = file.early {
                self.early_fixes.insert(file.path.clone(), early);
            }
            for (i, facts) in file.facts.into_iter().enumerate() {
                match facts {
                    Some(f) => self.pass_facts[i].insert(file.path.clone(), f),
                    None => self.pass_facts[i].remove(&file.path),
                };
            }
            proposals.extend(file.proposals);
        }
        proposals
    }

    fn scan_one(&self, ws: &Workspace, path: &str, round: usize) -> Option<ScannedFile> {
        let lang = Lang::for_path(path)?;
        let text = ws.text(path)?;
        let Some(wants) = self.wants(path, text.body) else {
            return Some(self.skipped(path));
        };
        let owned: Tree = match lang.parse(text.body) {
            Ok(t) => t,
            Err(e) => return Some(self.problem(path, 1, 1, format!("cannot parse: {e}"))),
        };
        if round == 0 && has_syntax_error(&owned) {
            let (line, col) = first_syntax_error(&owned).unwrap_or((1, 1));
            return Some(self.problem(
                path,
                line,
                col,
                "syntax error; casehard does not rewrite a file that does not parse".into(),
            ));
        }
        Some(self.scan_parsed(path, lang, owned, text.body, &wants, true))
    }

    /// Which passes want a file and which rules may match in it; `None` when none of them can
    /// use it, and the file need not be parsed at all.
    fn wants(&self, path: &str, text: &str) -> Option<Wants> {
        let passes: Vec<bool> = self.passes.iter().map(|p| p.wants(path, text)).collect();
        let request_input = self.stack.request_input.contains(path);
        if !self.options.prefilter {
            let rules = self.prefilter.in_scope(request_input);
            return Some(Wants { passes, rules });
        }
        let rules = self.prefilter.rules_for(text, request_input);
        if !passes.contains(&true) && !rules.contains(&true) {
            return None;
        }
        Some(Wants { passes, rules })
    }

    fn skipped(&self, path: &str) -> ScannedFile {
        ScannedFile {
            path: path.to_string(),
            tree: None,
            proposals: Vec::new(),
            facts: self.passes.iter().map(|_| None).collect(),
            problem: None,
            early: None,
        }
    }

    /// Scans a parsed file; its tree is kept when the file may receive fixes and the budget
    /// allows, for an incremental reparse after them. With `early`, a file that only its own
    /// rules fix is fixed now, on this tree (see [`Options::early_fixes`]).
    fn scan_parsed(
        &self,
        path: &str,
        lang: Lang,
        owned: Tree,
        text: &str,
        wants: &Wants,
        early: bool,
    ) -> ScannedFile {
        let (proposals, facts) = match self.scan_tree(path, lang, &owned, text, wants) {
            Ok(scanned) => scanned,
            Err(overrun) => {
                let limit = self.options.scan_time_limit.unwrap_or_default();
                return self.problem(
                    path,
                    overrun.line,
                    overrun.column,
                    format!(
                        "casehard stopped checking this file after {limit:.2?}, here, most of it spent on {}: the rest of the file is not checked and casehard makes no further change to it (raise the limit with --scan-time-limit)",
                        overrun.rule
                    ),
                );
            }
        };
        let passes_may_edit = self
            .passes
            .iter()
            .zip(&facts)
            .any(|(pass, f)| f.as_ref().is_some_and(|f| pass.may_edit(f)));
        let rules_fix = proposals.iter().any(|p| self.fixable(p));
        let early = (early && self.options.early_fixes && rules_fix && !passes_may_edit)
            .then(|| self.fix_early(path, lang, &owned, text, &proposals))
            .flatten();
        let may_change = passes_may_edit || (rules_fix && early.is_none());
        ScannedFile {
            path: path.to_string(),
            tree: (may_change && self.tree_budget.take(text.len())).then_some(owned),
            proposals,
            facts,
            problem: None,
            early,
        }
    }

    /// Whether a proposal's fix is applied, unless an earlier round dropped it.
    fn fixable(&self, p: &Proposal) -> bool {
        !p.edits.is_empty()
            && p.applicability != Applicability::Manual
            && (self.options.review_fixes || p.applicability == Applicability::Safe)
    }

    /// Chooses and applies a file's fixes as the fix phase would if no pass proposed any,
    /// verifies the result by an incremental reparse of `tree`, and scans it for the next
    /// round. `None` when nothing is fixed or the result does not parse (the fix phase then
    /// decides, as it does for every file).
    fn fix_early(
        &self,
        path: &str,
        lang: Lang,
        tree: &Tree,
        text: &str,
        proposals: &[Proposal],
    ) -> Option<Box<EarlyFix>> {
        let candidates: Vec<(u32, Proposal)> = proposals
            .iter()
            .filter(|p| self.fixable(p))
            .map(|p| {
                (
                    offset_key(self.original_offset(path, p.at.start)),
                    p.clone(),
                )
            })
            .collect();
        let chosen = choose_fixes(text, candidates, |offset| *offset);
        if chosen.is_empty() {
            return None;
        }
        let edits = || chosen.iter().flat_map(|(_, p)| &p.edits);
        let log = EditLog::new(edits())?;
        let fixed = apply_edits(text, edits());
        let tree = clean_reparse(lang, tree, text, edits(), &fixed)?;
        let next = self.prescan(path, tree, &fixed);
        Some(Box::new(EarlyFix { edits: log, next }))
    }

    /// The next round's scan of a changed file, on the tree that verified the change.
    fn prescan(&self, path: &str, tree: Tree, text: &str) -> Option<(bool, ScannedFile)> {
        let lang = Lang::for_path(path)?;
        let scope = self.stack.request_input.contains(path);
        let file = match self.wants(path, text) {
            Some(wants) => self.scan_parsed(path, lang, tree, text, &wants, false),
            None => self.skipped(path),
        };
        Some((scope, file))
    }

    /// The engine's one walk of a tree: rule proposals, and each pass's facts.
    fn scan_tree(
        &self,
        path: &str,
        lang: Lang,
        tree: &Tree,
        text: &str,
        wants: &Wants,
    ) -> Result<(Vec<Proposal>, Vec<Option<Facts>>), Overrun> {
        let mut nodes = CollectedNodes::new(lang, &self.pass_kinds);
        let deadline = self
            .options
            .scan_time_limit
            .map(|limit| std::time::Instant::now() + limit);
        let proposals = scan_file(
            &self.index,
            &self.catalog.rules,
            &wants.rules,
            path,
            tree,
            &mut nodes,
            deadline,
        )?;
        let view = FileView {
            path,
            lang,
            tree,
            text,
            nodes: &nodes,
            drizzle: Default::default(),
        };
        let facts = self
            .passes
            .iter()
            .zip(&wants.passes)
            .map(|(p, wanted)| if *wanted { p.scan(&view) } else { None })
            .collect();
        Ok((proposals, facts))
    }

    fn problem(&self, path: &str, line: usize, column: usize, message: String) -> ScannedFile {
        ScannedFile {
            path: path.to_string(),
            tree: None,
            proposals: Vec::new(),
            facts: Vec::new(),
            problem: Some(Problem {
                path: path.to_string(),
                line,
                column,
                message,
            }),
            early: None,
        }
    }

    fn finish_passes(
        &self,
        ws: &Workspace,
        mut proposals: Vec<Proposal>,
    ) -> (Vec<Proposal>, Vec<crate::plan::NewFile>) {
        let view = ProjectView {
            workspace: ws,
            stack: &self.stack,
            config: self.config,
            selection: &self.options.selection,
            locks: std::sync::OnceLock::new(),
            lock_cache: &self.lock_cache,
        };
        let mut out = PassOutput::default();
        let timed = Timings::start().0.is_some();
        for (pass, facts) in self.passes.iter().zip(&self.pass_facts) {
            let clock = Timings::start();
            pass.finish(&view, facts, &mut out);
            if timed {
                let rules = pass.rules();
                let first = rules.first().map_or("?", |m| m.id.as_str());
                eprintln!("  finish {first}…: {:.2?}; {}", clock.lap(), memory());
            }
        }
        let sel = &self.options.selection;
        proposals.extend(
            out.proposals
                .into_iter()
                .filter(|p| sel.allows(&p.rule) && !self.broken.contains(&*p.path)),
        );
        out.new_files.retain(|f| sel.allows(&f.rule));
        (proposals, out.new_files)
    }

    /// The original offset of an offset in the current text of `path`.
    /// The key of a finding at `offset` in the current text of `path`.
    fn key(&mut self, path: &str, offset: usize, rule: &str, message: &str) -> FindingKey {
        let offset = self.original_offset(path, offset);
        FindingKey {
            path: self.strings.get(path),
            offset: offset_key(offset),
            rule: self.strings.get(rule),
            message: self.strings.get(message),
        }
    }

    fn original_offset(&self, path: &str, mut offset: usize) -> usize {
        if let Some(rounds) = self.history.get(path) {
            for edits in rounds.iter().rev() {
                offset = map_back(edits, offset);
            }
        }
        offset
    }

    /// Records findings, applies the fixes that do not overlap, verifies each changed file.
    /// Returns the changed paths with the rules that changed them.
    fn apply(
        &mut self,
        ws: &mut Workspace,
        before: &mut BTreeMap<String, Before>,
        proposals: Vec<Proposal>,
        new_files: Vec<crate::plan::NewFile>,
    ) -> Result<BTreeMap<String, BTreeSet<String>>, Error> {
        let mut by_path: BTreeMap<String, Vec<(FindingKey, Proposal)>> = BTreeMap::new();
        for p in proposals {
            let key = self.key(&p.path, p.at.start, &p.rule, &p.message);
            let fixable = self.fixable(&p) && !self.dropped.contains(&key);
            let unmodified = !self.history.contains_key(&*p.path);
            let state =
                self.findings
                    .entry(key)
                    .or_insert(FindingState::new(p.applicability, false, None));
            state.has_fix |= !p.edits.is_empty();
            if self.options.original_edits && unmodified && !p.edits.is_empty() {
                let rare = state.rare();
                if rare.original_edits.is_empty() {
                    rare.original_edits = p.edits.as_slice().into();
                }
            }
            if fixable {
                by_path
                    .entry(p.path.to_string())
                    .or_default()
                    .push((key, p));
            }
        }

        // The findings a created file fixes sit in this round's texts: they are keyed before
        // this round's edits move those texts on.
        let new_files: Vec<(crate::plan::NewFile, Vec<(FindingKey, Applicability)>)> = new_files
            .into_iter()
            .map(|mut file| {
                let fixes = std::mem::take(&mut file.fixes)
                    .into_iter()
                    .filter(|f| self.options.selection.allows(&f.rule))
                    .map(|f| {
                        let applicability = self
                            .catalog
                            .meta(&f.rule)
                            .map_or(f.applicability, |m| m.applicability);
                        (
                            self.key(&f.path, f.at.start, &f.rule, &f.message),
                            applicability,
                        )
                    })
                    .collect();
                (file, fixes)
            })
            .collect();

        let clock = Timings::start();
        let mut trees = std::mem::take(&mut self.round_trees);
        let mut early = std::mem::take(&mut self.early_fixes);
        let work: Vec<FileWork> = by_path
            .into_iter()
            .map(|(path, c)| {
                let tree = trees.remove(&path);
                let early = early.remove(&path);
                (path, c, tree, early)
            })
            .collect();
        drop(trees);
        drop(early);
        self.tree_budget.reset();
        let mut applied: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        // Each file is fixed and verified on its own, in parallel, a batch at a time: a batch's
        // new texts replace the old ones before the next is made, so the project is never held
        // both as read and as fixed.
        let mut work = work.into_iter().peekable();
        while work.peek().is_some() {
            let batch: Vec<FileWork> = work.by_ref().take(FIX_BATCH).collect();
            let this = &*self;
            let fixed: Vec<(FixedFile, Option<(bool, ScannedFile)>)> = batch
                .into_par_iter()
                .filter_map(|(path, candidates, tree, early)| {
                    let text = ws.text(&path)?;
                    let chosen = choose_fixes(text.body, candidates, |key| key.offset);
                    if chosen.is_empty() {
                        return None;
                    }
                    // The scan's early fix stands when it chose exactly these edits: the text,
                    // and so its verification and its next scan, are the same.
                    let edits = || chosen.iter().flat_map(|(_, p)| &p.edits);
                    if let Some(early) = early.filter(|early| early.edits.holds(edits())) {
                        let body = apply_edits(text.body, edits());
                        let fixed = FixedFile::new(
                            path,
                            text.bom,
                            text.body,
                            body,
                            chosen,
                            Vec::new(),
                            None,
                        );
                        return Some((fixed, early.next));
                    }
                    let mut fixed = fix_file(path, text.bom, text.body, chosen, tree);
                    // The tree that verified the change serves the next round's scan right away.
                    let next = fixed
                        .tree
                        .take()
                        .filter(|_| !fixed.kept.is_empty())
                        .and_then(|tree| this.prescan(&fixed.path, tree, &fixed.body));
                    Some((fixed, next))
                })
                .collect();
            for (file, next) in fixed {
                self.take_fixed(ws, before, &mut applied, file, next);
            }
            // The old texts this batch replaced sit in the arenas of the threads that read them.
            release_freed_memory();
        }
        if clock.0.is_some() {
            eprintln!("  fixed and rescanned in {:.2?}", clock.lap());
        }

        for (file, fixes) in new_files {
            let path = checked_path(&file.path)?;
            // A file that is there but was not read (too large, binary, a link) is not ours to
            // write over.
            if ws.contains(&path) || ws.skipped.iter().any(|s| s.path == path) {
                continue;
            }
            // A created file is verified like an edited one: one that does not parse is not written.
            let check = Check::for_path(&path, "");
            if !check.passes(&file.content) {
                let reason = format!(
                    "the file casehard would create has {} at line {}; not created",
                    check.what_breaks(),
                    check.error_line(&file.content)
                );
                let key = self.key(&path, 0, &file.rule, &file.message);
                self.dropped.insert(key);
                self.findings.insert(
                    key,
                    FindingState::new(Applicability::Review, true, Some(reason)),
                );
                continue;
            }
            ws.insert(path.clone(), file.content.into_bytes(), 0o644);
            before.insert(path.clone(), Before::Created);
            let applicability = self
                .catalog
                .meta(&file.rule)
                .map_or(Applicability::Safe, |m| m.applicability);
            for (key, applicability) in fixes {
                self.findings
                    .insert(key, FindingState::new(applicability, true, None));
            }
            let key = self.key(&path, 0, &file.rule, &file.message);
            self.findings
                .insert(key, FindingState::new(applicability, true, None));
            applied.entry(path).or_default().insert(file.rule);
        }
        Ok(applied)
    }

    /// Takes one file's fixes into the workspace: its new text replaces the old, and what undoes
    /// the change is kept in `before`.
    fn take_fixed(
        &mut self,
        ws: &mut Workspace,
        before: &mut BTreeMap<String, Before>,
        applied: &mut BTreeMap<String, BTreeSet<String>>,
        file: FixedFile,
        next: Option<(bool, ScannedFile)>,
    ) {
        for (key, reason) in file.dropped {
            if let Some(state) = self.findings.get_mut(&key) {
                state.rare().dropped = Some(reason.into());
            }
            self.dropped.insert(key);
        }
        if file.kept.is_empty() {
            return;
        }
        if let Some(next) = next {
            self.prescanned.insert(file.path.clone(), next);
        }
        let entry = ws
            .files
            .get_mut(&file.path)
            .expect("text came from this file");
        let bytes = if file.bom {
            join_bom(true, &file.body)
        } else {
            file.body.into_bytes()
        };
        let was = std::mem::replace(&mut entry.bytes, bytes);
        let offset = if file.bom { 3 } else { 0 };
        if let Before::Edited(undo) = before
            .entry(file.path.clone())
            .or_insert_with(|| Before::Edited(Undo::default()))
        {
            undo.record(&was, &entry.bytes, offset, &file.record);
        }
        self.history
            .entry(file.path.clone())
            .or_default()
            .push(file.record);
        applied.entry(file.path).or_default().extend(file.kept);
    }

    /// The findings, each placed in the file as it was read. Findings are kept by path, so
    /// each file's text is indexed once.
    fn report(&mut self, ws: &Workspace, before: &BTreeMap<String, Before>) -> Vec<Finding> {
        let findings = std::mem::take(&mut self.findings);
        let mut out = Vec::with_capacity(findings.len());
        let mut file: Option<(Sym, Option<crate::plan::Indexed<'_>>)> = None;
        for (key, state) in findings {
            let path = self.strings.name(key.path);
            if file.as_ref().is_none_or(|(id, _)| *id != key.path) {
                // A created file's findings are placed in its text as created.
                let bytes = original(ws, before, path)
                    .or_else(|| ws.get(path).map(|e| (&e.bytes[..]).into()));
                file = Some((key.path, bytes.and_then(body_of).map(crate::plan::indexed)));
            }
            let (line, column) = file
                .as_ref()
                .and_then(|(_, indexed)| indexed.as_ref())
                .map_or((1, 1), |(text, index)| {
                    index.line_col(text, key.offset as usize)
                });
            let rule = self.strings.name(key.rule);
            let Some(meta) = self.catalog.meta(rule) else {
                continue;
            };
            let rare = state.rare.map(|r| *r).unwrap_or_default();
            let status = if let Some(reason) = &rare.dropped {
                Status::FixDropped(reason.to_string())
            } else if !state.has_fix || state.applicability == Applicability::Manual {
                Status::Open
            } else if !self.options.review_fixes && state.applicability == Applicability::Review {
                Status::FixNotApplied
            } else {
                Status::Fixed
            };
            out.push(Finding {
                severity: meta.severity,
                area: meta.area,
                rule: rule.to_string(),
                applicability: state.applicability,
                path: path.to_string(),
                line,
                column,
                // A message names what the project names (a policy, a table, a key), which may
                // hold a line break; a finding is one line of the report and of the PR body.
                message: crate::templates::one_line(self.strings.name(key.message)),
                status,
                original_edits: rare.original_edits.into_vec(),
            });
        }
        out.sort_by(|a, b| {
            (&a.path, a.line, a.column, &a.rule, &a.message)
                .cmp(&(&b.path, b.line, b.column, &b.rule, &b.message))
        });
        out
    }
}

/// One file's candidate fixes, with its tree when it was kept, and the fix its scan made early.
type FileWork = (
    String,
    Vec<(FindingKey, Proposal)>,
    Option<Tree>,
    Option<Box<EarlyFix>>,
);

/// One file after this round's fixes.
struct FixedFile {
    path: String,
    bom: bool,
    body: String,
    /// Rules whose fixes were applied.
    kept: BTreeSet<String>,
    /// Fixes dropped because they broke the parse, with the reason.
    dropped: Vec<(FindingKey, String)>,
    record: RoundEdits,
    /// The tree of the new text, for the next round.
    tree: Option<Tree>,
}

impl FixedFile {
    /// `body` changed into `body_out` by the fixes `kept`.
    fn new(
        path: String,
        bom: bool,
        body: &str,
        body_out: String,
        kept: Vec<(FindingKey, Proposal)>,
        dropped: Vec<(FindingKey, String)>,
        tree: Option<Tree>,
    ) -> FixedFile {
        let record: RoundEdits = text_edits(body, kept.iter().flat_map(|(_, p)| &p.edits))
            .into_iter()
            .map(|e| (e.start, e.end, e.new_len))
            .collect();
        FixedFile {
            path,
            bom,
            body: body_out,
            kept: kept.iter().map(|(_, p)| p.rule.to_string()).collect(),
            dropped,
            record,
            tree,
        }
    }
}

/// Orders one file's candidate fixes (by where their edits start, then by rule, then by the
/// finding's original offset, which `offset` reads from the key) and keeps those that do not
/// overlap.
fn choose_fixes<K>(
    body: &str,
    mut candidates: Vec<(K, Proposal)>,
    offset: impl Fn(&K) -> u32,
) -> Vec<(K, Proposal)> {
    candidates.sort_by(|(ka, pa), (kb, pb)| {
        let first = |p: &Proposal| p.edits.iter().map(|e| e.start).min();
        (first(pa), &pa.rule, offset(ka)).cmp(&(first(pb), &pb.rule, offset(kb)))
    });
    choose_non_overlapping(body, candidates)
}

/// Applies the chosen fixes to one file and verifies the result parses; if it does not,
/// keeps only the fixes that each leave it parsing. `body` parses cleanly (files with syntax
/// errors are never scanned, and every kept change was verified), so only the new text is
/// parsed: incrementally from `old_tree` when there is one.
fn fix_file(
    path: String,
    bom: bool,
    body: &str,
    chosen: Vec<(FindingKey, Proposal)>,
    old_tree: Option<Tree>,
) -> FixedFile {
    let check = Check::for_path(&path, body);
    let all = apply_edits(body, chosen.iter().flat_map(|(_, p)| &p.edits));
    let first: Result<Option<Tree>, ()> = match (&check, &old_tree) {
        (Check::Source(lang), Some(old)) => {
            let edits = chosen.iter().flat_map(|(_, p)| &p.edits);
            clean_reparse(*lang, old, body, edits, &all)
                .map(Some)
                .ok_or(())
        }
        (Check::Source(lang), None) => clean_parse(*lang, &all).map(Some).ok_or(()),
        (other, _) => {
            if other.passes(&all) {
                Ok(None)
            } else {
                Err(())
            }
        }
    };
    let (body_out, kept, dropped, tree) = match first {
        Ok(tree) => (all, chosen, Vec::new(), tree),
        Err(()) => {
            let mut kept: Vec<(FindingKey, Proposal)> = Vec::new();
            let mut dropped = Vec::new();
            for candidate in chosen {
                let trial = apply_edits(
                    body,
                    kept.iter()
                        .chain(std::iter::once(&candidate))
                        .flat_map(|(_, p)| &p.edits),
                );
                if check.passes(&trial) {
                    kept.push(candidate);
                    continue;
                }
                let reason = format!(
                    "the fix would leave {} at line {} of {path}; not applied",
                    check.what_breaks(),
                    check.error_line(&trial)
                );
                dropped.push((candidate.0, reason));
            }
            let text = apply_edits(body, kept.iter().flat_map(|(_, p)| &p.edits));
            (text, kept, dropped, None)
        }
    };
    FixedFile::new(path, bom, body, body_out, kept, dropped, tree)
}

/// How a changed file is verified: source is parsed with its grammar, JSON and YAML with their
/// parsers; a data file that did not parse before is not held to it after.
enum Check {
    Source(Lang),
    /// JSON as npm reads package.json and package-lock.json: no comments, no trailing commas.
    StrictJson,
    /// JSON with comments and trailing commas (tsconfig.json, bun.lock).
    Json,
    Yaml,
    Unchecked,
}

impl Check {
    fn for_path(path: &str, before: &str) -> Check {
        if let Some(lang) = Lang::for_path(path) {
            return Check::Source(lang);
        }
        let check = if path.ends_with(".json") || path.ends_with("/bun.lock") || path == "bun.lock"
        {
            // A file that was strict JSON (or is new) stays strict: JSONC's leniency would let
            // a trailing comma into a package.json, which npm then refuses to read.
            if before.is_empty() || strict_json(before) {
                Check::StrictJson
            } else {
                Check::Json
            }
        } else if path.ends_with(".yaml") || path.ends_with(".yml") {
            Check::Yaml
        } else {
            Check::Unchecked
        };
        if before.is_empty() || check.passes(before) {
            check
        } else {
            Check::Unchecked
        }
    }

    fn passes(&self, text: &str) -> bool {
        match self {
            Check::Source(lang) => clean_parse(*lang, text).is_some(),
            Check::StrictJson => strict_json(text),
            Check::Json => {
                jsonc_parser::parse_to_ast(text, &Default::default(), &Default::default()).is_ok()
            }
            Check::Yaml => serde_saphyr::from_str::<serde_json::Value>(text).is_ok(),
            Check::Unchecked => true,
        }
    }

    fn what_breaks(&self) -> &'static str {
        match self {
            Check::Source(_) => "a syntax error",
            Check::StrictJson | Check::Json => "invalid JSON",
            Check::Yaml => "invalid YAML",
            Check::Unchecked => "an error",
        }
    }

    fn error_line(&self, text: &str) -> usize {
        match self {
            Check::Source(lang) => lang
                .parse(text)
                .ok()
                .and_then(|t| first_syntax_error(&t))
                .map_or(0, |(l, _)| l),
            Check::StrictJson => serde_json::from_str::<serde::de::IgnoredAny>(text)
                .err()
                .map_or(0, |e| e.line()),
            Check::Json => {
                match jsonc_parser::parse_to_ast(text, &Default::default(), &Default::default()) {
                    Err(e) => {
                        text[..e.range().start.min(text.len())]
                            .matches('\n')
                            .count()
                            + 1
                    }
                    Ok(_) => 0,
                }
            }
            _ => 0,
        }
    }
}

/// Whether `text` is JSON without comments or trailing commas.
fn strict_json(text: &str) -> bool {
    serde_json::from_str::<serde::de::IgnoredAny>(text).is_ok()
}

/// Edits as byte ranges with the length actually inserted, in ascending order.
fn text_edits<'e>(body: &str, edits: impl Iterator<Item = &'e Edit>) -> Vec<TextEdit> {
    let crlf = uses_crlf(body);
    let mut out: Vec<TextEdit> = edits
        .map(|e| TextEdit {
            start: e.start,
            end: e.end,
            new_len: line_ending_adjusted(crlf, &e.text).len(),
        })
        .collect();
    // As `apply_edits` orders them.
    out.sort_by_key(|e| (e.start, e.end));
    out
}

/// Greedily keeps proposals (in the given order) whose edits overlap no kept edit; the rest
/// wait for the next round, when they are proposed again against the new text.
fn choose_non_overlapping<K>(body: &str, candidates: Vec<(K, Proposal)>) -> Vec<(K, Proposal)> {
    let mut taken: Vec<(usize, usize)> = Vec::new();
    let mut chosen = Vec::new();
    for (key, mut p) in candidates {
        for e in &mut p.edits {
            e.trim(body);
        }
        merge_insertions(&mut p.edits);
        let no_op = p
            .edits
            .iter()
            .all(|e| body.get(e.start..e.end) == Some(e.text.as_str()));
        let in_bounds = p
            .edits
            .iter()
            .all(|e| e.start <= e.end && body.get(e.start..e.end).is_some());
        if no_op || !in_bounds {
            continue;
        }
        let mut mine: Vec<(usize, usize)> = Vec::new();
        let clashes = p.edits.iter().any(|e| {
            let r = (e.start, e.end);
            let hit = taken.iter().chain(&mine).any(|&t| overlaps(t, r));
            mine.push(r);
            hit
        });
        if !clashes {
            taken.extend(mine);
            chosen.push((key, p));
        }
    }
    chosen
}

/// Joins a proposal's own insertions at the same point into one, in the order it lists them
/// (two imports added after the same line), so the proposal does not clash with itself.
fn merge_insertions(edits: &mut Vec<Edit>) {
    let mut merged: Vec<Edit> = Vec::with_capacity(edits.len());
    for e in edits.drain(..) {
        match merged
            .iter_mut()
            .find(|m| m.start == m.end && e.start == e.end && m.start == e.start)
        {
            Some(m) => m.text.push_str(&e.text),
            None => merged.push(e),
        }
    }
    *edits = merged;
}

/// Two ranges overlap if they share a byte, or are insertions at the same point (whose order
/// would be arbitrary).
fn overlaps(a: (usize, usize), b: (usize, usize)) -> bool {
    if a.0 == a.1 || b.0 == b.1 {
        a.0 == b.0 || (a.0 < b.0 && b.0 < a.1) || (b.0 < a.0 && a.0 < b.1)
    } else {
        a.0 < b.1 && b.0 < a.1
    }
}

/// A replacement with its newlines written the way the file writes them.
fn line_ending_adjusted(crlf: bool, text: &str) -> std::borrow::Cow<'_, str> {
    if crlf && text.contains('\n') {
        text.replace("\r\n", "\n").replace('\n', "\r\n").into()
    } else {
        text.into()
    }
}

/// Whether inserted lines must end in CRLF to match `body`.
fn uses_crlf(body: &str) -> bool {
    body.contains("\r\n")
}

/// `body` with `edits` applied, in a string of exactly the resulting length (a fixed file's
/// text lives in the workspace until the run ends).
fn apply_edits<'e>(body: &str, edits: impl Iterator<Item = &'e Edit>) -> String {
    let mut edits: Vec<&Edit> = edits.collect();
    edits.sort_by_key(|e| (e.start, e.end));
    let crlf = uses_crlf(body);
    let texts: Vec<std::borrow::Cow<'_, str>> = edits
        .iter()
        .map(|e| line_ending_adjusted(crlf, &e.text))
        .collect();
    let removed: usize = edits.iter().map(|e| e.end - e.start).sum();
    let inserted: usize = texts.iter().map(|t| t.len()).sum();
    let mut out = String::with_capacity(body.len() - removed + inserted);
    let mut at = 0;
    for (e, text) in edits.iter().zip(&texts) {
        out.push_str(&body[at..e.start]);
        out.push_str(text);
        at = e.end;
    }
    out.push_str(&body[at..]);
    out
}

/// The tree of `new`, `body` after `edits`, reparsed incrementally from `old` (the tree of
/// `body`), if it has no syntax error.
fn clean_reparse<'e>(
    lang: Lang,
    old: &Tree,
    body: &str,
    edits: impl Iterator<Item = &'e Edit>,
    new: &str,
) -> Option<Tree> {
    lang.reparse(old, &text_edits(body, edits), new)
        .ok()
        .filter(|t| !has_syntax_error(t))
}

/// The tree of `text` if it parses without a syntax error.
fn clean_parse(lang: Lang, text: &str) -> Option<Tree> {
    lang.parse(text).ok().filter(|t| !has_syntax_error(t))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn map_back_undoes_shifts_and_pins_inside_replacements() {
        // "aXb" -> "aYYYb": edit (1,2) inserted 3
        let edits = vec![(1, 2, 3)];
        assert_eq!(map_back(&edits, 0), 0);
        assert_eq!(map_back(&edits, 2), 1);
        assert_eq!(map_back(&edits, 4), 2);
    }

    #[test]
    fn a_proposals_own_insertions_at_one_point_are_joined_in_order() {
        let mut edits = vec![
            Edit::insert(4, "a"),
            Edit::replace(6..8, "x"),
            Edit::insert(4, "b"),
        ];
        merge_insertions(&mut edits);
        assert_eq!(edits, vec![Edit::insert(4, "ab"), Edit::replace(6..8, "x")]);
    }

    #[test]
    fn insertions_at_the_same_point_overlap() {
        assert!(overlaps((3, 3), (3, 3)));
        assert!(overlaps((1, 5), (3, 3)));
        assert!(!overlaps((1, 3), (3, 3)));
        assert!(!overlaps((1, 3), (3, 5)));
    }

    #[test]
    fn crlf_files_get_crlf_in_inserted_lines() {
        let body = "a\r\nb\r\n";
        let out = apply_edits(body, [Edit::insert(3, "x\ny\n")].iter());
        assert_eq!(out, "a\r\nx\r\ny\r\nb\r\n");
        // Held until the run ends: no spare capacity.
        assert_eq!(out.capacity(), out.len());
    }

    /// A pass that, in its first `finish`, marks every TypeScript file as reviewed; it never
    /// says it may edit a file. It proposes only once, so a round that lost its edit would
    /// not get it back in the next.
    struct MarksReviewed(Vec<crate::rules::RuleMeta>, std::sync::atomic::AtomicBool);

    impl Pass for MarksReviewed {
        fn rules(&self) -> &[crate::rules::RuleMeta] {
            &self.0
        }
        fn finish(
            &self,
            project: &ProjectView<'_>,
            _facts: &BTreeMap<String, Facts>,
            out: &mut PassOutput,
        ) {
            if self.1.swap(true, std::sync::atomic::Ordering::Relaxed) {
                return;
            }
            for (path, _) in project.workspace.sources() {
                let text = project.workspace.text(path).map_or("", |t| t.body);
                if path.ends_with(".ts") && !text.starts_with("// reviewed") {
                    out.proposals.push(Proposal {
                        rule: "test/marks-reviewed".into(),
                        path: path.into(),
                        at: 0..0,
                        message: "not reviewed".into(),
                        applicability: Applicability::Safe,
                        edits: vec![Edit::insert(0, "// reviewed\n")],
                    });
                }
            }
        }
    }

    #[test]
    fn an_early_fix_stands_only_where_the_fix_phase_chooses_the_same_edits() {
        let meta = crate::passes::rule_meta(
            "src/engine.rs",
            crate::plan::Area::Schemas,
            "test/marks-reviewed",
            "Marks files reviewed",
            crate::plan::Severity::Info,
            Applicability::Safe,
            ["", "", "", "", ""],
            &[],
        );
        let catalog = |meta: &crate::rules::RuleMeta| {
            Catalog::load(&[])
                .unwrap()
                .with_pass(Box::new(MarksReviewed(
                    vec![meta.clone()],
                    Default::default(),
                )))
        };
        let route = "import { z } from \"zod\";\n\nconst input = z.object({ name: z.string() });\n\nexport async function POST(req: Request) {\n  const body = input.parse(await req.json());\n  return Response.json(body);\n}\n";
        let files = [("src/app/api/x/route.ts", route)];
        let harden = |early_fixes: bool| {
            let ws = Workspace::from_files(files).unwrap();
            let options = Options {
                early_fixes,
                ..Options::default()
            };
            let out = run(ws, &catalog(&meta), &Config::default(), &options).unwrap();
            let text = out
                .workspace
                .text("src/app/api/x/route.ts")
                .unwrap()
                .body
                .to_string();
            let findings: Vec<String> = out
                .findings
                .iter()
                .map(|f| format!("{}:{}:{} {:?}", f.rule, f.line, f.column, f.status))
                .collect();
            (text, findings)
        };
        let (text, findings) = harden(true);
        // The scan fixed the file early with the rule's edit alone; the fix phase also has
        // the pass's, so it fixes the file itself, and both land.
        assert!(text.starts_with("// reviewed\n"), "{text}");
        assert!(
            text.contains("z.object({ name: z.string() }).strict()"),
            "{text}"
        );
        assert_eq!((text, findings), harden(false));
    }

    #[test]
    fn json_that_was_strict_stays_strict_and_jsonc_stays_jsonc() {
        let trailing = "{\"dependencies\": {\"zod\": \"3.23.8\",}}";
        let package = Check::for_path("package.json", "{\"dependencies\": {\"zod\": \"^3.23.8\"}}");
        assert!(package.passes("{\"dependencies\": {\"zod\": \"3.23.8\"}}"));
        assert!(
            !package.passes(trailing),
            "a trailing comma in a strict file"
        );
        assert!(
            !package.passes("{\"a\": 1 // why\n}"),
            "a comment in a strict file"
        );
        assert_eq!(package.error_line("{\n\"a\": 1,\n}"), 3);
        // A new file is held to strict JSON.
        assert!(!Check::for_path("created.json", "").passes(trailing));
        // A tsconfig.json with comments keeps being read as JSONC.
        let tsconfig = Check::for_path(
            "tsconfig.json",
            "{\n  // strict mode\n  \"strict\": true,\n}",
        );
        assert!(tsconfig.passes("{\n  // strict\n  \"strict\": true,\n  \"noEmit\": true,\n}"));
        assert!(!tsconfig.passes("{\n  \"strict\": \n}"));
        // What does not parse before is not checked after.
        assert!(Check::for_path("broken.json", "{").passes("}"));
    }

    #[test]
    fn an_edit_log_holds_exactly_its_edits_in_order() {
        let edits = [
            Edit::insert(4, "ab"),
            Edit::replace(6..8, ""),
            Edit::insert(9, "c"),
        ];
        let log = EditLog::new(edits.iter()).unwrap();
        assert!(log.holds(edits.iter()));
        assert!(!log.holds(edits[..2].iter()), "fewer edits");
        assert!(!log.holds(edits.iter().rev()), "another order");
        let moved = [
            Edit::insert(4, "ab"),
            Edit::replace(6..8, ""),
            Edit::insert(10, "c"),
        ];
        assert!(!log.holds(moved.iter()), "another place");
        // The text's length is written, so no text runs into the next edit's offsets.
        let joined = [Edit::insert(4, "abc"), Edit::replace(6..8, "")];
        assert!(!log.holds(joined.iter()), "another text");
        assert!(EditLog::new([Edit::insert(1 << 32, "x")].iter()).is_none());
    }
}
