//! The catalog: declarative rules from `patches/**/*.toml` and the Rust passes, each with the
//! documentation `casehard explain <id>` prints.

mod declarative;
mod scan;
mod suppress;

pub use declarative::{load_rule, DeclarativeRule, Scope};
pub use scan::{scan_file, CollectedNodes, Overrun, Prefilter, ScanIndex};
pub use suppress::Suppressions;

use crate::error::Error;
use crate::passes::{self, Pass};
use crate::plan::{Applicability, Area, Severity};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/embedded.rs"));
}
pub use embedded::BUILTIN_TEMPLATES;

/// The documentation every rule carries (ruff's headings).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Docs {
    /// What it does.
    pub what: String,
    /// Why it matters: the attack it stops.
    pub why: String,
    /// Code before the fix.
    pub before: String,
    /// Code after the fix (or what to do, for manual rules).
    pub after: String,
    /// Why the fix has the applicability it has.
    #[serde(default)]
    pub fix_safety: Option<String>,
    /// CWE ids, vendor documentation.
    #[serde(default)]
    pub references: Vec<String>,
}

/// Where a rule comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    /// `patches/<id>.toml`, compiled into the binary.
    Builtin,
    /// A file given with `--rules DIR`.
    File(String),
    /// Rust code in `src/passes/`.
    Pass(&'static str),
}

#[derive(Clone, Debug)]
pub struct RuleMeta {
    pub id: String,
    pub title: String,
    pub severity: Severity,
    pub area: Area,
    pub applicability: Applicability,
    pub docs: Docs,
    pub origin: Origin,
}

impl RuleMeta {
    /// The text `casehard explain` prints.
    pub fn explain(&self) -> String {
        let d = &self.docs;
        let origin = match &self.origin {
            Origin::Builtin => format!("patches/{}.toml", self.id),
            Origin::File(f) => f.clone(),
            Origin::Pass(f) => f.to_string(),
        };
        let mut out = format!(
            "# {} — {}\n\narea: {}   severity: {}   fix: {}   defined in: {}\n\n## What it does\n{}\n\n## Why is this bad?\n{}\n\n## Example\nBefore:\n\n{}\n\nAfter:\n\n{}\n",
            self.id,
            self.title,
            self.area.as_str(),
            self.severity.as_str(),
            self.applicability.as_str(),
            origin,
            d.what.trim(),
            d.why.trim(),
            indent_block(&d.before),
            indent_block(&d.after),
        );
        if let Some(s) = &d.fix_safety {
            out.push_str(&format!("\n## Fix safety\n{}\n", s.trim()));
        }
        if !d.references.is_empty() {
            out.push_str("\n## References\n");
            for r in &d.references {
                out.push_str(&format!("- {r}\n"));
            }
        }
        out
    }
}

fn indent_block(code: &str) -> String {
    code.trim_matches('\n')
        .lines()
        .map(|l| {
            if l.is_empty() {
                String::new()
            } else {
                format!("    {l}")
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Which rules run: from `--only`/`--skip` and `casehard.toml`.
#[derive(Clone, Debug, Default)]
pub struct Selection {
    pub only: Option<BTreeSet<String>>,
    pub skip: BTreeSet<String>,
}

impl Selection {
    pub fn allows(&self, id: &str) -> bool {
        !self.skip.contains(id) && self.only.as_ref().is_none_or(|o| o.contains(id))
    }

    /// Narrows this selection by another (both must allow a rule).
    pub fn and(mut self, other: &Selection) -> Selection {
        self.skip.extend(other.skip.iter().cloned());
        self.only = match (self.only, &other.only) {
            (Some(a), Some(b)) => Some(a.intersection(b).cloned().collect()),
            (a, b) => a.or_else(|| b.clone()),
        };
        self
    }
}

pub struct Catalog {
    pub rules: Vec<DeclarativeRule>,
    pub passes: Vec<Box<dyn Pass>>,
    /// Rule id → (is a pass, index in `rules` or `passes`, index in that pass's rules).
    by_id: BTreeMap<String, (bool, usize, usize)>,
}

impl Catalog {
    /// The built-in rules and passes, plus the rules in `extra` folders.
    pub fn load(extra: &[&Path]) -> Result<Catalog, Error> {
        use rayon::prelude::*;
        // Building a rule compiles its regexes, most of the load: one rule per thread.
        let mut rules = embedded::BUILTIN_RULES
            .par_iter()
            .map(|(id, text)| load_rule(id, text, Origin::Builtin))
            .collect::<Result<Vec<_>, Error>>()?;
        for dir in extra {
            rules.extend(load_rule_dir(dir)?);
        }
        let mut catalog = Catalog {
            rules,
            passes: passes::all(),
            by_id: BTreeMap::new(),
        };
        catalog.check_unique_ids()?;
        for (i, r) in catalog.rules.iter().enumerate() {
            catalog.by_id.insert(r.meta.id.clone(), (false, i, 0));
        }
        for (i, p) in catalog.passes.iter().enumerate() {
            for (j, m) in p.rules().iter().enumerate() {
                catalog.by_id.insert(m.id.clone(), (true, i, j));
            }
        }
        Ok(catalog)
    }

    /// The catalog with one more pass (for tests of the engine).
    #[cfg(test)]
    pub(crate) fn with_pass(mut self, pass: Box<dyn Pass>) -> Catalog {
        for (j, m) in pass.rules().iter().enumerate() {
            self.by_id
                .insert(m.id.clone(), (true, self.passes.len(), j));
        }
        self.passes.push(pass);
        self
    }

    fn check_unique_ids(&self) -> Result<(), Error> {
        let mut seen: BTreeMap<&str, String> = BTreeMap::new();
        for meta in self.metas() {
            let place = match &meta.origin {
                Origin::Builtin => format!("patches/{}.toml", meta.id),
                Origin::File(f) => f.clone(),
                Origin::Pass(f) => f.to_string(),
            };
            if let Some(first) = seen.insert(&meta.id, place.clone()) {
                return Err(Error::DuplicateRule {
                    id: meta.id.clone(),
                    first,
                    second: place,
                });
            }
        }
        Ok(())
    }

    /// Every rule's metadata, rules and passes, in id order.
    pub fn metas(&self) -> Vec<&RuleMeta> {
        let mut all: Vec<&RuleMeta> = self
            .rules
            .iter()
            .map(|r| &r.meta)
            .chain(self.passes.iter().flat_map(|p| p.rules()))
            .collect();
        all.sort_by(|a, b| a.id.cmp(&b.id));
        all
    }

    pub fn meta(&self, id: &str) -> Option<&RuleMeta> {
        match *self.by_id.get(id)? {
            (false, i, _) => Some(&self.rules[i].meta),
            (true, i, j) => self.passes[i].rules().get(j),
        }
    }

    /// Fails on a rule id that names nothing, so a typo in `--skip` is not silently ignored.
    pub fn check_selection(&self, sel: &Selection) -> Result<(), Error> {
        let known: BTreeSet<&str> = self.metas().iter().map(|m| m.id.as_str()).collect();
        for id in sel.skip.iter().chain(sel.only.iter().flatten()) {
            if !known.contains(id.as_str()) {
                return Err(Error::UnknownRule(id.clone()));
            }
        }
        Ok(())
    }
}

/// Loads every `*.toml` under `dir`; the id of `dir/a/b.toml` is `a/b`.
fn load_rule_dir(dir: &Path) -> Result<Vec<DeclarativeRule>, Error> {
    let mut files = Vec::new();
    collect_toml(dir, &mut files)?;
    files.sort();
    let mut rules = Vec::new();
    for file in files {
        let rel = file.strip_prefix(dir).unwrap_or(&file);
        let id = rel
            .with_extension("")
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join("/");
        let text = std::fs::read_to_string(&file).map_err(|e| Error::io(&file, e))?;
        rules.push(load_rule(
            &id,
            &text,
            Origin::File(file.display().to_string()),
        )?);
    }
    Ok(rules)
}

fn collect_toml(dir: &Path, out: &mut Vec<std::path::PathBuf>) -> Result<(), Error> {
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        let path = entry.path();
        let ft = entry.file_type().map_err(|e| Error::io(&path, e))?;
        if ft.is_dir() {
            collect_toml(&path, out)?;
        } else if ft.is_file() && path.extension().is_some_and(|e| e == "toml") {
            out.push(path);
        }
    }
    Ok(())
}
