//! Supply-chain findings casehard reports but cannot fix offline: `deps/lockfile-integrity`,
//! `deps/git-source`, `deps/install-scripts`, `deps/actions-sha`, `deps/docker-digest`.

use crate::passes::{Facts, Pass, PassOutput, ProjectView};
use crate::plan::{Applicability, Area, Proposal, Severity};
use crate::rules::{Docs, Origin, RuleMeta};
use regex::Regex;
use std::collections::BTreeMap;
use std::sync::LazyLock;

pub const INTEGRITY: &str = "deps/lockfile-integrity";
pub const GIT: &str = "deps/git-source";
pub const SCRIPTS: &str = "deps/install-scripts";
pub const ACTIONS: &str = "deps/actions-sha";
pub const DOCKER: &str = "deps/docker-digest";

static USES: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^\s*(?:-\s+)?uses:\s*['\x22]?([^\s'\x22#]+)").unwrap());
static FROM: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)^\s*FROM\s+(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?").unwrap()
});

pub struct SupplyChain {
    meta: [RuleMeta; 5],
}

// One argument per documentation field: a struct literal per rule would say the same at length.
#[allow(clippy::too_many_arguments)]
fn meta(
    id: &str,
    title: &str,
    severity: Severity,
    what: &str,
    why: &str,
    before: &str,
    after: &str,
    refs: &[&str],
) -> RuleMeta {
    RuleMeta {
        id: id.into(),
        title: title.into(),
        severity,
        area: Area::SupplyChain,
        applicability: Applicability::Manual,
        origin: Origin::Pass("src/passes/deps/supply_chain.rs"),
        docs: Docs {
            what: what.into(),
            why: why.into(),
            before: before.into(),
            after: after.into(),
            fix_safety: Some("Manual: the fix needs the network or a person's decision.".into()),
            references: refs.iter().map(|s| s.to_string()).collect(),
        },
    }
}

impl Default for SupplyChain {
    fn default() -> Self {
        SupplyChain {
            meta: [
                meta(INTEGRITY, "Every locked package has an integrity hash", Severity::Warning,
                    "Reports lockfile entries for registry packages that carry no integrity hash (`integrity` in npm and yarn classic, `resolution.integrity` in pnpm, the hash in bun.lock).",
                    "Without the hash the package manager installs whatever bytes the registry or a mirror serves under that version: a swapped tarball goes unnoticed.",
                    "\"node_modules/left-pad\": { \"version\": \"1.3.0\", \"resolved\": \"https://registry.npmjs.org/left-pad/-/left-pad-1.3.0.tgz\" }",
                    "Regenerate the lockfile (`npm install --package-lock-only`) so every entry records its sha512.",
                    &["CWE-494: Download of Code Without Integrity Check"]),
                meta(GIT, "No dependency is installed from a git repository", Severity::Warning,
                    "Reports dependencies that resolve to a git repository (git+https, git+ssh, github:, user/repo).",
                    "A git dependency is not published, signed or scanned by the registry; a branch or tag can be moved, and installing one runs its `prepare` script.",
                    "\"ui-kit\": \"github:acme/ui-kit\"",
                    "Publish it to a registry, or at least pin the commit: \"ui-kit\": \"github:acme/ui-kit#<40-hex commit>\"",
                    &["CWE-829: Inclusion of Functionality from Untrusted Control Sphere"]),
                meta(SCRIPTS, "Packages that run install scripts are known", Severity::Info,
                    "Lists locked packages that run scripts when installed (`hasInstallScript` in package-lock.json, `requiresBuild` in pnpm v6).",
                    "Install scripts run with the developer's and the CI runner's rights the moment the package is installed; they are how most npm malware acts.",
                    "\"node_modules/esbuild\": { \"hasInstallScript\": true }",
                    "Install with `--ignore-scripts` and allow only the packages that need it (pnpm `onlyBuiltDependencies`, npm `ignore-scripts=true` plus explicit rebuilds).",
                    &["CWE-506: Embedded Malicious Code", "https://docs.npmjs.com/cli/v10/using-npm/scripts"]),
                meta(ACTIONS, "GitHub Actions are pinned to a commit SHA", Severity::Warning,
                    "Reports `uses:` steps in `.github/workflows/*.yml` that reference an action by tag or branch instead of a full 40-character commit SHA (local `./` actions and `docker://...@sha256:` are fine).",
                    "A tag is a movable pointer: whoever controls the action's repository (or steals its token, as in tj-actions/changed-files in 2025) can point it at code that reads your secrets.",
                    "uses: actions/checkout@v4",
                    "uses: actions/checkout@<40-hex commit SHA> # v4",
                    &["CWE-829: Inclusion of Functionality from Untrusted Control Sphere", "https://docs.github.com/en/actions/security-for-github-actions/security-guides/security-hardening-for-github-actions#using-third-party-actions"]),
                meta(DOCKER, "Container base images are pinned by digest", Severity::Warning,
                    "Reports `FROM` lines in Dockerfiles whose image has no `@sha256:` digest (build stages named earlier and `scratch` are fine).",
                    "A tag such as `node:20-alpine` is re-pointed with every rebuild upstream; the image you tested is not the one the next build pulls.",
                    "FROM node:20-alpine",
                    "FROM node:20-alpine@sha256:<digest>",
                    &["CWE-494: Download of Code Without Integrity Check"]),
            ],
        }
    }
}

fn finding(rule: &str, path: &str, text: &str, line: usize, message: String) -> Proposal {
    let start: usize = text
        .split_inclusive('\n')
        .take(line.saturating_sub(1))
        .map(str::len)
        .sum();
    Proposal {
        rule: rule.into(),
        path: path.into(),
        at: start..start,
        message: message.into(),
        applicability: Applicability::Manual,
        edits: vec![],
    }
}

impl Pass for SupplyChain {
    fn rules(&self) -> &[RuleMeta] {
        &self.meta
    }

    fn finish(&self, project: &ProjectView<'_>, _: &BTreeMap<String, Facts>, out: &mut PassOutput) {
        let ws = project.workspace;
        for lock in project.lockfiles().iter().filter_map(|l| l.as_ref().ok()) {
            let Some(text) = ws.text(&lock.path) else {
                continue;
            };
            for p in &lock.packages {
                // Registry packages: npm may omit `resolved` when it equals the default registry.
                let local = p
                    .resolved
                    .as_deref()
                    .is_some_and(|r| r.starts_with("file:") || r.starts_with("link:"));
                let registry = !local && !p.is_git();
                if registry && p.integrity.is_none() {
                    out.proposals.push(finding(
                        INTEGRITY,
                        &lock.path,
                        text.body,
                        p.line,
                        format!("{} has no integrity hash in {}", p.id(), lock.path),
                    ));
                }
                if p.is_git() {
                    out.proposals.push(finding(
                        GIT,
                        &lock.path,
                        text.body,
                        p.line,
                        format!(
                            "{} is installed from git ({})",
                            p.id(),
                            p.resolved.as_deref().unwrap_or("")
                        ),
                    ));
                }
                if p.install_script {
                    out.proposals.push(finding(
                        SCRIPTS,
                        &lock.path,
                        text.body,
                        p.line,
                        format!("{} runs an install script", p.id()),
                    ));
                }
            }
        }
        for (path, _) in ws.files.iter() {
            let is_workflow = path.starts_with(".github/workflows/")
                && (path.ends_with(".yml") || path.ends_with(".yaml"));
            let file = path.rsplit('/').next().unwrap_or(path);
            let is_dockerfile = file == "Dockerfile"
                || file.starts_with("Dockerfile.")
                || file.ends_with(".Dockerfile");
            if !(is_workflow || is_dockerfile) {
                continue;
            }
            let Some(text) = ws.text(path) else { continue };
            if is_workflow {
                actions(path, text.body, out);
            } else {
                dockerfile(path, text.body, out);
            }
        }
    }
}

fn actions(path: &str, text: &str, out: &mut PassOutput) {
    for (i, line) in text.lines().enumerate() {
        let Some(cap) = USES.captures(line) else {
            continue;
        };
        let target = &cap[1];
        if target.starts_with("./")
            || (target.starts_with("docker://") && target.contains("@sha256:"))
        {
            continue;
        }
        let pinned = target
            .rsplit_once('@')
            .is_some_and(|(_, r)| r.len() == 40 && r.chars().all(|c| c.is_ascii_hexdigit()));
        if !pinned {
            out.proposals.push(finding(ACTIONS, path, text, i + 1, format!("`uses: {target}` follows a movable tag or branch; pin the action to a full commit SHA")));
        }
    }
}

fn dockerfile(path: &str, text: &str, out: &mut PassOutput) {
    let mut stages: Vec<String> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let Some(cap) = FROM.captures(line) else {
            continue;
        };
        let image = cap[1].to_string();
        if let Some(stage) = cap.get(2) {
            stages.push(stage.as_str().to_lowercase());
        }
        let named_stage = stages[..stages
            .len()
            .saturating_sub(usize::from(cap.get(2).is_some()))]
            .contains(&image.to_lowercase());
        if image == "scratch" || named_stage || image.contains("@sha256:") || image.contains('$') {
            continue;
        }
        out.proposals.push(finding(
            DOCKER,
            path,
            text,
            i + 1,
            format!("`FROM {image}` has no digest; pin it as {image}@sha256:<digest>"),
        ));
    }
}
