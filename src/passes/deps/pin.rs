//! `deps/pin-exact`, `deps/lockfile-missing`, `deps/floating-version`, `deps/save-exact`.

use super::{lock_for, manifests};
use crate::deps::lockfile::{Lock, SpecChange};
use crate::deps::{classify, is_exact_version, Section, Spec};
use crate::passes::{Facts, Pass, PassOutput, ProjectView};
use crate::plan::{Applicability, Area, Edit, NewFile, Proposal, Severity};
use crate::rules::{Docs, Origin, RuleMeta};
use std::collections::BTreeMap;

pub const PIN: &str = "deps/pin-exact";
pub const MISSING: &str = "deps/lockfile-missing";
pub const FLOATING: &str = "deps/floating-version";
pub const SAVE_EXACT: &str = "deps/save-exact";
const ORIGIN: Origin = Origin::Pass("src/passes/deps/pin.rs");

pub struct PinDependencies {
    meta: [RuleMeta; 4],
}

fn meta(
    id: &str,
    title: &str,
    severity: Severity,
    applicability: Applicability,
    docs: Docs,
) -> RuleMeta {
    RuleMeta {
        id: id.into(),
        title: title.into(),
        severity,
        area: Area::SupplyChain,
        applicability,
        origin: ORIGIN,
        docs,
    }
}

impl Default for PinDependencies {
    fn default() -> Self {
        let refs = |r: &[&str]| r.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        PinDependencies {
            meta: [
                meta(PIN, "Dependencies are pinned to the version the lockfile resolved", Severity::Warning, Applicability::Safe, Docs {
                    what: "In every package.json (workspaces included), `dependencies`, `devDependencies` and `optionalDependencies` declared with a range (`^`, `~`, `>=`, `1.x`, `*`), `latest` or another dist-tag are rewritten to the exact version the lockfile already resolved — package-lock.json (v1, v2, v3), npm-shrinkwrap.json, pnpm-lock.yaml (v6, v9), yarn.lock (classic and berry) or bun.lock. `npm:` aliases keep their target and get its exact version; git dependencies get the commit the lockfile recorded. The lockfile's own record of the manifest (package-lock's `packages[\"\"]`, pnpm's importer specifiers, yarn's descriptors, bun's workspaces) is updated so a frozen install still accepts it. `peerDependencies`, `workspace:`, `file:`, `link:` and tarball URLs are left alone. Only the version strings change: the file's formatting, key order and indentation stay byte for byte.".into(),
                    why: "A range lets the next install pick up whatever was published since, including a hijacked release (event-stream, ua-parser-js, the 2025 npm worm). The lockfile protects one install; the next `npm install` that rewrites it, or a tool that ignores it, does not. Exact versions make every upgrade a reviewed change.".into(),
                    before: "\"dependencies\": { \"zod\": \"^3.23.0\" }".into(),
                    after: "\"dependencies\": { \"zod\": \"3.23.8\" }".into(),
                    fix_safety: Some("Safe: each version is the one the lockfile already installs, so nothing that runs changes.".into()),
                    references: refs(&["CWE-1357: Reliance on Insufficiently Trustworthy Component", "CWE-829: Inclusion of Functionality from Untrusted Control Sphere", "https://docs.npmjs.com/cli/v10/configuring-npm/package-lock-json"]),
                }),
                meta(MISSING, "The project has a lockfile", Severity::Warning, Applicability::Manual, Docs {
                    what: "Reports a package.json with dependencies and no lockfile in its folder or above. casehard cannot know what was installed without the network, so it pins nothing and names the command that creates one.".into(),
                    why: "Without a lockfile every install resolves every range afresh: two deploys of the same commit can run different code, and a malicious release is picked up the moment it is published.".into(),
                    before: "package.json with \"zod\": \"^3.23.0\" and no lockfile".into(),
                    after: "npm install --package-lock-only --ignore-scripts, then commit package-lock.json and run casehard again".into(),
                    fix_safety: Some("Manual: creating a lockfile needs the registry.".into()),
                    references: refs(&["CWE-1357: Reliance on Insufficiently Trustworthy Component"]),
                }),
                meta(FLOATING, "No dependency asks for `latest` or any version", Severity::Warning, Applicability::Manual, Docs {
                    what: "Reports dependencies declared as `latest`, `*`, `x`, an empty string or another dist-tag that no lockfile resolves (where one does, `deps/pin-exact` pins them).".into(),
                    why: "`latest` and `*` accept any release, including a major version with breaking changes or a compromised publish, the next time anything installs.".into(),
                    before: "\"next\": \"latest\"".into(),
                    after: "\"next\": \"14.2.18\"".into(),
                    fix_safety: Some("Manual: the version to pin comes from a lockfile or a person.".into()),
                    references: refs(&["CWE-1357: Reliance on Insufficiently Trustworthy Component"]),
                }),
                meta(SAVE_EXACT, "New dependencies are saved with exact versions", Severity::Info, Applicability::Safe, Docs {
                    what: "Adds `save-exact=true` to the project's `.npmrc` (npm and pnpm read it), creating the file or merging into the one that is there.".into(),
                    why: "Without it the next `npm install <pkg>` — by a person or by the generator's next iteration — writes `^` ranges again and undoes the pinning.".into(),
                    before: "(no .npmrc)".into(),
                    after: "save-exact=true".into(),
                    fix_safety: Some("Safe: it changes only how new dependencies are written into package.json.".into()),
                    references: refs(&["https://docs.npmjs.com/cli/v10/using-npm/config#save-exact"]),
                }),
            ],
        }
    }
}

impl Pass for PinDependencies {
    fn rules(&self) -> &[RuleMeta] {
        &self.meta
    }

    fn finish(&self, project: &ProjectView<'_>, _: &BTreeMap<String, Facts>, out: &mut PassOutput) {
        let ws = project.workspace;
        let manifests = manifests(ws);
        if manifests.is_empty() {
            return;
        }
        let locks: Vec<&Lock> = project
            .lockfiles()
            .iter()
            .filter_map(|l| l.as_ref().ok())
            .collect();
        let mut changes: BTreeMap<String, Vec<SpecChange>> = BTreeMap::new();
        for manifest in &manifests {
            let governing = lock_for(locks.iter().copied(), manifest);
            for d in manifest
                .declared
                .iter()
                .filter(|d| d.section != Section::PeerDependencies)
            {
                let spec = classify(&d.spec);
                let Some((lock, importer)) = governing.as_ref().map(|(l, i)| (*l, i.clone()))
                else {
                    if matches!(spec, Spec::Any | Spec::Tag) {
                        out.proposals.push(Proposal {
                            rule: FLOATING.into(),
                            path: manifest.path.as_str().into(),
                            at: d.spec_range.clone(),
                            message: format!("`{}` asks for `{}`: any release, whenever anything installs; pin an exact version", d.name, d.spec).into(),
                            applicability: Applicability::Manual,
                            edits: vec![],
                        });
                    }
                    continue;
                };
                let Some(new) = pinned_spec(lock, &importer, &d.name, &d.spec, &spec) else {
                    continue;
                };
                if new == d.spec {
                    continue;
                }
                out.proposals.push(Proposal {
                    rule: PIN.into(),
                    path: manifest.path.as_str().into(),
                    at: d.spec_range.clone(),
                    message: format!(
                        "`{}` `{}` → `{new}`, the {} {} resolved",
                        d.name,
                        d.spec,
                        if matches!(spec, Spec::Git { .. }) {
                            "commit"
                        } else {
                            "version"
                        },
                        lock.path
                    )
                    .into(),
                    applicability: Applicability::Safe,
                    edits: vec![Edit::replace(d.spec_range.clone(), new.clone())],
                });
                changes
                    .entry(lock.path.clone())
                    .or_default()
                    .push(SpecChange {
                        dir: importer.clone(),
                        section: d.section.key(),
                        name: d.name.clone(),
                        old: d.spec.clone(),
                        new,
                    });
            }
            if governing.is_none() {
                let registry_deps = manifest
                    .declared
                    .iter()
                    .filter(|d| {
                        d.section != Section::PeerDependencies
                            && !matches!(classify(&d.spec), Spec::Local)
                    })
                    .count();
                // In a monorepo without a lockfile, say it once, at the top.
                let nested = manifests.iter().any(|m| {
                    m.dir != manifest.dir
                        && (m.dir.is_empty() || manifest.dir.starts_with(&format!("{}/", m.dir)))
                });
                if registry_deps > 0 && !nested {
                    out.proposals.push(Proposal {
                        rule: MISSING.into(),
                        path: manifest.path.as_str().into(),
                        at: 0..0,
                        message: format!(
                            "{registry_deps} {} and no lockfile: nothing pins what gets installed; run `{}` in {}, commit the lockfile, and run casehard again",
                            if registry_deps == 1 { "dependency" } else { "dependencies" },
                            lockfile_command(ws, manifest),
                            if manifest.dir.is_empty() { "the project root".to_string() } else { format!("`{}`", manifest.dir) }
                        ).into(),
                        applicability: Applicability::Manual,
                        edits: vec![],
                    });
                }
            }
        }
        for lock in &locks {
            let Some(list) = changes.get(&lock.path) else {
                continue;
            };
            let Some(text) = ws.text(&lock.path) else {
                continue;
            };
            let edits = lock.record_edits(text.body, list);
            if edits.is_empty() {
                continue;
            }
            out.proposals.push(Proposal {
                rule: PIN.into(),
                path: lock.path.as_str().into(),
                at: edits[0].start..edits[0].end,
                message: format!("{} ({}): its record of the manifests now says the pinned versions, so a frozen install accepts them", lock.path, lock.format.label()).into(),
                applicability: Applicability::Safe,
                edits,
            });
        }
        if let Some(root) = manifests.iter().min_by_key(|m| m.dir.len()) {
            save_exact(ws, &root.dir, out);
        }
    }
}

/// The exact spec for a declared one, from the lockfile; `None` to leave it.
fn pinned_spec(lock: &Lock, importer: &str, name: &str, spec: &str, kind: &Spec) -> Option<String> {
    let resolution = lock.resolve_spec(importer, name, spec)?;
    match kind {
        Spec::Range | Spec::Any | Spec::Tag => {
            is_exact_version(&resolution.version).then(|| resolution.version.clone())
        }
        Spec::Alias { target, range } if !is_exact_version(range) => {
            let version = resolution
                .version
                .rsplit_once('@')
                .map_or(resolution.version.as_str(), |(_, v)| v);
            is_exact_version(version).then(|| format!("npm:{target}@{version}"))
        }
        Spec::Git { commit: None } => {
            let commit = resolution.git_commit.as_ref()?;
            let base = spec.split('#').next().unwrap_or(spec);
            Some(format!("{base}#{commit}"))
        }
        _ => None,
    }
}

/// The command that writes a lockfile without installing or running scripts.
fn lockfile_command(
    ws: &crate::workspace::Workspace,
    manifest: &crate::deps::Manifest,
) -> &'static str {
    let declared = ws
        .text(&manifest.path)
        .and_then(|t| serde_json::from_str::<serde_json::Value>(t.body).ok())
        .and_then(|v| {
            v.get("packageManager")
                .and_then(|p| p.as_str())
                .map(str::to_string)
        })
        .unwrap_or_default();
    if declared.starts_with("pnpm") {
        "pnpm install --lockfile-only --ignore-scripts"
    } else if declared.starts_with("yarn@1") {
        "yarn install --ignore-scripts"
    } else if declared.starts_with("yarn") {
        "yarn install --mode=update-lockfile"
    } else if declared.starts_with("bun") {
        "bun install --lockfile-only"
    } else {
        "npm install --package-lock-only --ignore-scripts"
    }
}

const NPMRC_HEADER: &str =
    "# casehard deps/save-exact: new dependencies are saved with exact versions\n";

/// `.npmrc` with `save-exact=true`: created, or merged into the one that is there.
fn save_exact(ws: &crate::workspace::Workspace, dir: &str, out: &mut PassOutput) {
    let path = if dir.is_empty() {
        ".npmrc".to_string()
    } else {
        format!("{dir}/.npmrc")
    };
    let Some(entry) = ws.get(&path) else {
        if !ws.contains(&path) {
            out.new_files.push(NewFile {
                rule: SAVE_EXACT.into(),
                path,
                content: format!("{NPMRC_HEADER}save-exact=true\n"),
                message: "no .npmrc sets `save-exact=true`: the next `npm install <pkg>` writes a range again".into(),
                fixes: vec![],
            });
        }
        return;
    };
    let Ok(text) = std::str::from_utf8(&entry.bytes) else {
        return;
    };
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let body = line.trim_end_matches(['\n', '\r']);
        let setting = body.trim();
        if let Some(value) = setting
            .strip_prefix("save-exact")
            .map(|r| r.trim_start())
            .and_then(|r| r.strip_prefix('='))
        {
            if value.trim() == "true" {
                return;
            }
            let start = offset + body.find("save-exact").unwrap_or(0);
            out.proposals.push(Proposal {
                rule: SAVE_EXACT.into(),
                path: path.as_str().into(),
                at: start..offset + body.len(),
                message: format!("{path} sets `{setting}`: the next install writes ranges again")
                    .into(),
                applicability: Applicability::Safe,
                edits: vec![Edit::replace(start..offset + body.len(), "save-exact=true")],
            });
            return;
        }
        offset += line.len();
    }
    let newline = if text.contains("\r\n") { "\r\n" } else { "\n" };
    let lead = if text.is_empty() || text.ends_with('\n') {
        ""
    } else {
        newline
    };
    out.proposals.push(Proposal {
        rule: SAVE_EXACT.into(),
        path: path.as_str().into(),
        at: text.len()..text.len(),
        message: format!(
            "{path} does not set `save-exact=true`: the next install writes ranges again"
        )
        .into(),
        applicability: Applicability::Safe,
        edits: vec![Edit::insert(
            text.len(),
            format!("{lead}save-exact=true{newline}"),
        )],
    });
}
