//! Lockfiles: what each importer (the root and every workspace package) resolved its
//! dependencies to, every package for the SBOM, and edits that keep the lockfile's own record
//! of the manifests in step when casehard pins them.

use crate::plan::Edit;
use jsonc_parser::ast::{Object, Value};
use serde_json::Value as Json;
use std::collections::BTreeMap;

/// The lockfile names casehard reads, in the order package managers prefer them.
pub const LOCKFILES: &[&str] = &[
    "npm-shrinkwrap.json",
    "package-lock.json",
    "pnpm-lock.yaml",
    "yarn.lock",
    "bun.lock",
];

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Format {
    Npm(u64),
    Pnpm(String),
    YarnClassic,
    YarnBerry,
    Bun,
}

impl Format {
    pub fn label(&self) -> String {
        match self {
            Format::Npm(v) => format!("npm lockfile v{v}"),
            Format::Pnpm(v) => format!("pnpm lockfile {v}"),
            Format::YarnClassic => "yarn classic lockfile".into(),
            Format::YarnBerry => "yarn berry lockfile".into(),
            Format::Bun => "bun lockfile".into(),
        }
    }
}

/// What a dependency of an importer resolved to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resolution {
    pub version: String,
    /// For git dependencies: the commit the lockfile recorded.
    pub git_commit: Option<String>,
}

/// A package in the lockfile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Package {
    pub name: String,
    pub version: String,
    pub integrity: Option<String>,
    pub resolved: Option<String>,
    pub dev: bool,
    pub optional: bool,
    pub install_script: bool,
    /// name@version of the packages it depends on (as far as the lockfile says).
    pub depends_on: Vec<String>,
    /// 1-based line of its entry in the lockfile, for findings.
    pub line: usize,
}

impl Package {
    pub fn id(&self) -> String {
        format!("{}@{}", self.name, self.version)
    }
    pub fn is_git(&self) -> bool {
        self.resolved.as_deref().is_some_and(|r| {
            r.starts_with("git+")
                || r.starts_with("git://")
                || r.contains("codeload.github.com")
                || r.starts_with("github:")
        })
    }
}

#[derive(Clone, Debug)]
pub struct Lock {
    pub path: String,
    pub format: Format,
    pub packages: Vec<Package>,
    /// importer folder (`""` for the root) → dependency name → resolution.
    pub importers: BTreeMap<String, BTreeMap<String, Resolution>>,
}

/// A change of one declared spec, for the lockfile's record of the manifest.
#[derive(Clone, Debug)]
pub struct SpecChange {
    pub dir: String,
    pub section: &'static str,
    pub name: String,
    pub old: String,
    pub new: String,
}

impl Lock {
    pub fn resolve(&self, dir: &str, name: &str) -> Option<&Resolution> {
        self.importers.get(dir).and_then(|m| m.get(name))
    }

    /// Edits to the lockfile text so its record of the manifests says what they now say.
    pub fn record_edits(&self, text: &str, changes: &[SpecChange]) -> Vec<Edit> {
        match self.format {
            Format::Npm(v) if v >= 2 => json_record_edits(text, changes, |root, dir| {
                object_at(root, &["packages", dir])
            }),
            Format::Bun => json_record_edits(text, changes, |root, dir| {
                object_at(root, &["workspaces", dir])
            }),
            Format::Pnpm(_) => pnpm_record_edits(text, changes),
            Format::YarnClassic | Format::YarnBerry => {
                yarn_record_edits(text, changes, self.format == Format::YarnBerry)
            }
            Format::Npm(_) => Vec::new(),
        }
    }
}

/// A lockfile's text with where its lines start, for the line each package is recorded on: a
/// lockfile holds thousands, and counting newlines from the top for each was quadratic.
struct Lines<'t> {
    text: &'t str,
    newlines: Vec<usize>,
}

impl<'t> Lines<'t> {
    fn new(text: &'t str) -> Lines<'t> {
        Lines {
            text,
            newlines: memchr::memchr_iter(b'\n', text.as_bytes()).collect(),
        }
    }

    /// The line (from 1) `needle` first occurs on; 1 if it does not.
    fn of(&self, needle: &str) -> usize {
        // memchr's searcher: several times faster than `str::find` over a large lockfile.
        memchr::memmem::find(self.text.as_bytes(), needle.as_bytes())
            .map_or(1, |at| self.newlines.partition_point(|&nl| nl < at) + 1)
    }
}

/// Reads a lockfile; the error says what is wrong with it.
pub fn parse(path: &str, text: &str) -> Result<Lock, String> {
    let file = path.rsplit('/').next().unwrap_or(path);
    match file {
        "package-lock.json" | "npm-shrinkwrap.json" => parse_npm(path, text),
        "pnpm-lock.yaml" => parse_pnpm(path, text),
        "yarn.lock" => parse_yarn(path, text),
        "bun.lock" => parse_bun(path, text),
        _ => Err("not a lockfile casehard reads".into()),
    }
}

// ---- npm ---------------------------------------------------------------------------------

fn parse_npm(path: &str, text: &str) -> Result<Lock, String> {
    let lines = Lines::new(text);
    let json: Json = serde_json::from_str(text).map_err(|e| format!("line {}: {e}", e.line()))?;
    let version = json
        .get("lockfileVersion")
        .and_then(Json::as_u64)
        .unwrap_or(1);
    let mut lock = Lock {
        path: path.to_string(),
        format: Format::Npm(version),
        packages: Vec::new(),
        importers: BTreeMap::new(),
    };
    match json.get("packages").and_then(Json::as_object) {
        Some(packages) if version >= 2 => {
            for (key, entry) in packages {
                let Some(at) = key.rfind("node_modules/") else {
                    lock.importers.entry(key.clone()).or_default();
                    continue;
                };
                if entry.get("link").and_then(Json::as_bool) == Some(true) {
                    continue;
                }
                let installed_as = &key[at + "node_modules/".len()..];
                let name = entry
                    .get("name")
                    .and_then(Json::as_str)
                    .unwrap_or(installed_as)
                    .to_string();
                let version = entry
                    .get("version")
                    .and_then(Json::as_str)
                    .unwrap_or("")
                    .to_string();
                let resolved = entry
                    .get("resolved")
                    .and_then(Json::as_str)
                    .map(str::to_string);
                let flag = |k: &str| entry.get(k).and_then(Json::as_bool).unwrap_or(false);
                let depends_on = entry
                    .get("dependencies")
                    .and_then(Json::as_object)
                    .map(|deps| {
                        deps.keys()
                            .filter_map(|d| npm_locate(packages, key, d))
                            .collect()
                    })
                    .unwrap_or_default();
                lock.packages.push(Package {
                    integrity: entry
                        .get("integrity")
                        .and_then(Json::as_str)
                        .map(str::to_string),
                    dev: flag("dev") || flag("devOptional"),
                    optional: flag("optional"),
                    install_script: flag("hasInstallScript"),
                    depends_on,
                    line: lines.of(&format!("\"{key}\": {{")),
                    name,
                    version,
                    resolved,
                });
            }
            let importer_dirs: Vec<String> = lock.importers.keys().cloned().collect();
            for dir in importer_dirs {
                let record = packages.get(&dir).cloned().unwrap_or(Json::Null);
                let mut resolved = BTreeMap::new();
                for section in ["dependencies", "devDependencies", "optionalDependencies"] {
                    for name in record
                        .get(section)
                        .and_then(Json::as_object)
                        .into_iter()
                        .flat_map(|o| o.keys())
                    {
                        let nested = if dir.is_empty() {
                            format!("node_modules/{name}")
                        } else {
                            format!("{dir}/node_modules/{name}")
                        };
                        let entry = packages
                            .get(&nested)
                            .or_else(|| packages.get(&format!("node_modules/{name}")));
                        if let Some(entry) = entry {
                            resolved.insert(name.clone(), npm_resolution(entry));
                        }
                    }
                }
                lock.importers.insert(dir, resolved);
            }
        }
        _ => {
            // v1: a nested `dependencies` tree; only the root importer.
            let mut root = BTreeMap::new();
            if let Some(deps) = json.get("dependencies").and_then(Json::as_object) {
                for (name, entry) in deps {
                    root.insert(name.clone(), npm_resolution(entry));
                }
                walk_npm_v1(deps, &lines, &mut lock.packages);
            }
            lock.importers.insert(String::new(), root);
        }
    }
    Ok(lock)
}

fn npm_resolution(entry: &Json) -> Resolution {
    let version = entry
        .get("version")
        .and_then(Json::as_str)
        .unwrap_or("")
        .to_string();
    let resolved = entry.get("resolved").and_then(Json::as_str).unwrap_or("");
    let git_commit = (resolved.starts_with("git") || version.starts_with("git"))
        .then(|| {
            resolved
                .rsplit_once('#')
                .or_else(|| version.rsplit_once('#'))
                .map(|(_, c)| c.to_string())
        })
        .flatten();
    Resolution {
        version,
        git_commit,
    }
}

/// Node's resolution: `<from>/node_modules/<dep>`, then each folder above.
fn npm_locate(packages: &serde_json::Map<String, Json>, from: &str, dep: &str) -> Option<String> {
    let mut base = from.to_string();
    loop {
        let candidate = if base.is_empty() {
            format!("node_modules/{dep}")
        } else {
            format!("{base}/node_modules/{dep}")
        };
        if let Some(entry) = packages.get(&candidate) {
            let name = entry.get("name").and_then(Json::as_str).unwrap_or(dep);
            return Some(format!(
                "{name}@{}",
                entry.get("version").and_then(Json::as_str).unwrap_or("")
            ));
        }
        if base.is_empty() {
            return None;
        }
        base = match base.rfind("/node_modules/") {
            Some(i) => base[..i].to_string(),
            None => String::new(),
        };
    }
}

fn walk_npm_v1(deps: &serde_json::Map<String, Json>, lines: &Lines, out: &mut Vec<Package>) {
    for (name, entry) in deps {
        let flag = |k: &str| entry.get(k).and_then(Json::as_bool).unwrap_or(false);
        out.push(Package {
            name: name.clone(),
            version: entry
                .get("version")
                .and_then(Json::as_str)
                .unwrap_or("")
                .to_string(),
            integrity: entry
                .get("integrity")
                .and_then(Json::as_str)
                .map(str::to_string),
            resolved: entry
                .get("resolved")
                .and_then(Json::as_str)
                .map(str::to_string),
            dev: flag("dev"),
            optional: flag("optional"),
            install_script: false,
            depends_on: entry
                .get("requires")
                .and_then(Json::as_object)
                .map(|r| {
                    r.keys()
                        .map(|d| format!("{d}@{}", v1_version_of(deps, entry, d)))
                        .collect()
                })
                .unwrap_or_default(),
            line: lines.of(&format!("\"{name}\": {{")),
        });
        if let Some(nested) = entry.get("dependencies").and_then(Json::as_object) {
            walk_npm_v1(nested, lines, out);
        }
    }
}

fn v1_version_of(siblings: &serde_json::Map<String, Json>, entry: &Json, dep: &str) -> String {
    entry
        .get("dependencies")
        .and_then(|d| d.get(dep))
        .or_else(|| siblings.get(dep))
        .and_then(|e| e.get("version"))
        .and_then(Json::as_str)
        .unwrap_or("")
        .to_string()
}

/// `root[path[0]][path[1]]...` as an object, for span edits.
fn object_at<'a, 'b>(root: &'b Object<'a>, path: &[&str]) -> Option<&'b Object<'a>> {
    let mut at = root;
    for key in path {
        match &at.get(key)?.value {
            Value::Object(o) => at = o,
            _ => return None,
        }
    }
    Some(at)
}

fn json_record_edits(
    text: &str,
    changes: &[SpecChange],
    record: impl for<'a, 'b> Fn(&'b Object<'a>, &str) -> Option<&'b Object<'a>>,
) -> Vec<Edit> {
    let Ok(ast) = jsonc_parser::parse_to_ast(text, &Default::default(), &Default::default()) else {
        return vec![];
    };
    let Some(Value::Object(root)) = ast.value else {
        return vec![];
    };
    let mut edits = Vec::new();
    for c in changes {
        let Some(obj) = record(&root, &c.dir) else {
            continue;
        };
        for (name, (range, value)) in super::string_props(obj, c.section) {
            if name == c.name && value == c.old {
                edits.push(Edit::replace(range, c.new.clone()));
            }
        }
    }
    edits
}

// ---- pnpm --------------------------------------------------------------------------------

fn yaml(text: &str) -> Result<Json, String> {
    serde_saphyr::from_str::<Json>(text).map_err(|e| e.to_string())
}

/// `18.3.1(react@18.3.1)` → `18.3.1`.
fn strip_peers(v: &str) -> &str {
    v.split('(').next().unwrap_or(v)
}

/// `@scope/name@1.2.3` → (`@scope/name`, `1.2.3`).
fn split_id(id: &str) -> Option<(&str, &str)> {
    let id = id.trim_start_matches('/');
    let at = super::version_at(id)?;
    Some((&id[..at], strip_peers(&id[at + 1..])))
}

fn parse_pnpm(path: &str, text: &str) -> Result<Lock, String> {
    let lines = Lines::new(text);
    let doc = yaml(text)?;
    let version = match doc.get("lockfileVersion") {
        Some(Json::String(s)) => s.clone(),
        Some(other) => other.to_string(),
        None => return Err("no lockfileVersion".into()),
    };
    let mut lock = Lock {
        path: path.to_string(),
        format: Format::Pnpm(version),
        packages: Vec::new(),
        importers: BTreeMap::new(),
    };
    let importers: Vec<(String, Json)> = match doc.get("importers").and_then(Json::as_object) {
        Some(map) => map.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        None => vec![(".".to_string(), doc.clone())],
    };
    for (dir, record) in importers {
        let dir = if dir == "." { String::new() } else { dir };
        let mut resolved = BTreeMap::new();
        for section in ["dependencies", "devDependencies", "optionalDependencies"] {
            for (name, dep) in record
                .get(section)
                .and_then(Json::as_object)
                .into_iter()
                .flatten()
            {
                let version = match dep {
                    Json::String(v) => v.clone(),
                    other => other
                        .get("version")
                        .and_then(Json::as_str)
                        .unwrap_or("")
                        .to_string(),
                };
                if version.starts_with("link:") || version.starts_with("file:") {
                    continue;
                }
                // An alias records the real package: `string-width@4.2.3`.
                let version = match split_id(&version) {
                    Some((real, v)) if !version.starts_with(|c: char| c.is_ascii_digit()) => {
                        format!("npm:{real}@{v}")
                    }
                    _ => strip_peers(&version).to_string(),
                };
                resolved.insert(
                    name.clone(),
                    Resolution {
                        version,
                        git_commit: None,
                    },
                );
            }
        }
        lock.importers.insert(dir, resolved);
    }
    let snapshots = doc.get("snapshots").and_then(Json::as_object);
    for (key, entry) in doc
        .get("packages")
        .and_then(Json::as_object)
        .into_iter()
        .flatten()
    {
        let Some((name, version)) = split_id(key) else {
            continue;
        };
        let resolution = entry.get("resolution");
        let deps_of = |e: &Json| -> Vec<String> {
            ["dependencies", "optionalDependencies"]
                .iter()
                .filter_map(|s| e.get(*s).and_then(Json::as_object))
                .flatten()
                .filter_map(|(d, v)| v.as_str().map(|v| format!("{d}@{}", strip_peers(v))))
                .collect()
        };
        let mut depends_on = deps_of(entry);
        if let Some(snaps) = snapshots {
            for (skey, snap) in snaps {
                if strip_peers(skey.trim_start_matches('/')) == key.trim_start_matches('/') {
                    depends_on.extend(deps_of(snap));
                }
            }
            depends_on.sort();
            depends_on.dedup();
        }
        lock.packages.push(Package {
            name: name.to_string(),
            version: version.to_string(),
            integrity: resolution
                .and_then(|r| r.get("integrity"))
                .and_then(Json::as_str)
                .map(str::to_string),
            resolved: resolution
                .and_then(|r| r.get("tarball").or_else(|| r.get("repo")))
                .and_then(Json::as_str)
                .map(str::to_string),
            dev: entry.get("dev").and_then(Json::as_bool).unwrap_or(false),
            optional: entry
                .get("optional")
                .and_then(Json::as_bool)
                .unwrap_or(false),
            install_script: entry
                .get("requiresBuild")
                .and_then(Json::as_bool)
                .unwrap_or(false),
            depends_on,
            line: lines.of(&format!("{key}:")),
        });
    }
    Ok(lock)
}

/// Rewrites `specifier:` lines under importers (or the top-level sections of a single-project
/// v6 lockfile), walking the YAML by indentation.
fn pnpm_record_edits(text: &str, changes: &[SpecChange]) -> Vec<Edit> {
    let mut edits = Vec::new();
    let has_importers = text.lines().any(|l| l == "importers:");
    let mut importer: Option<String> = if has_importers {
        None
    } else {
        Some(String::new())
    };
    let mut section: Option<String> = None;
    let mut package: Option<String> = None;
    let mut offset = 0;
    let mut in_importers = !has_importers;
    for line in text.split_inclusive('\n') {
        let body = line.trim_end_matches(['\n', '\r']);
        let indent = body.len() - body.trim_start().len();
        let content = body.trim_start();
        let key = content
            .strip_suffix(':')
            .map(|k| k.trim_matches(|c| c == '\'' || c == '"').to_string());
        if indent == 0 && !content.is_empty() {
            in_importers = if has_importers {
                content == "importers:"
            } else {
                true
            };
            if !has_importers {
                section = key.clone();
                package = None;
            }
        } else if in_importers {
            match (has_importers, indent) {
                (true, 2) => {
                    importer = key.map(|k| if k == "." { String::new() } else { k });
                    section = None;
                }
                (true, 4) => {
                    section = key;
                    package = None;
                }
                (true, 6) | (false, 2) => package = key,
                (true, 8) | (false, 4) => {
                    if let Some(value) = content.strip_prefix("specifier:") {
                        let raw = value.trim();
                        let unquoted = raw.trim_matches(|c| c == '\'' || c == '"');
                        for c in changes {
                            if Some(&c.dir) == importer.as_ref()
                                && section.as_deref() == Some(c.section)
                                && package.as_deref() == Some(c.name.as_str())
                                && unquoted == c.old
                            {
                                let start = offset
                                    + indent
                                    + "specifier:".len()
                                    + (value.len() - value.trim_start().len());
                                edits.push(Edit::replace(start..start + raw.len(), c.new.clone()));
                            }
                        }
                    }
                }
                _ => {}
            }
        }
        offset += line.len();
    }
    edits
}

// ---- yarn --------------------------------------------------------------------------------

fn parse_yarn(path: &str, text: &str) -> Result<Lock, String> {
    let lines = Lines::new(text);
    let parsed = yarn_lock_parser::parse_str(text).map_err(|e| e.to_string())?;
    let berry = text.contains("__metadata:");
    let mut lock = Lock {
        path: path.to_string(),
        format: if berry {
            Format::YarnBerry
        } else {
            Format::YarnClassic
        },
        packages: Vec::new(),
        importers: BTreeMap::new(),
    };
    let mut by_descriptor: BTreeMap<(String, String), String> = BTreeMap::new();
    for e in &parsed.entries {
        let workspace = e
            .descriptors
            .iter()
            .any(|(_, r)| r.starts_with("workspace:"));
        for (n, r) in &e.descriptors {
            let range = r.strip_prefix("npm:").unwrap_or(r);
            by_descriptor.insert((n.to_string(), range.to_string()), e.version.to_string());
        }
        if workspace {
            continue;
        }
        let first = e
            .descriptors
            .first()
            .map(|(n, r)| format!("{n}@{r}"))
            .unwrap_or_default();
        // An alias entry (`isnum@npm:is-number@^7.0.0`) holds the real package.
        let real = e.descriptors.iter().find_map(|(_, r)| {
            r.strip_prefix("npm:")
                .and_then(|t| t.get(1..)?.find('@').map(|i| t[..i + 1].to_string()))
        });
        lock.packages.push(Package {
            name: real.unwrap_or_else(|| e.name.to_string()),
            version: e.version.to_string(),
            integrity: (!e.integrity.is_empty()).then(|| e.integrity.to_string()),
            resolved: (!e.resolved.is_empty()).then(|| e.resolved.to_string()),
            dev: false,
            optional: false,
            install_script: false,
            depends_on: e
                .dependencies
                .iter()
                .map(|(d, r)| {
                    let r = r.strip_prefix("npm:").unwrap_or(r);
                    format!(
                        "{d}@{}",
                        by_descriptor
                            .get(&(d.to_string(), r.to_string()))
                            .cloned()
                            .unwrap_or_else(|| r.to_string())
                    )
                })
                .collect(),
            line: lines.of(&first),
        });
    }
    // Yarn keys entries by descriptor, not by importer: every importer shares them.
    lock.importers.insert(String::from("*"), BTreeMap::new());
    let table: BTreeMap<String, Resolution> = by_descriptor
        .into_iter()
        .map(|((n, r), v)| {
            (
                format!("{n}@{r}"),
                Resolution {
                    version: v,
                    git_commit: None,
                },
            )
        })
        .collect();
    lock.importers.insert(String::from("@descriptors"), table);
    Ok(lock)
}

impl Lock {
    /// Resolution of `name@spec`, whatever the lockfile keys by.
    pub fn resolve_spec(&self, dir: &str, name: &str, spec: &str) -> Option<&Resolution> {
        match self.format {
            Format::YarnClassic | Format::YarnBerry => {
                let table = self.importers.get("@descriptors")?;
                let bare = spec.strip_prefix("npm:").unwrap_or(spec);
                table
                    .get(&format!("{name}@{spec}"))
                    .or_else(|| table.get(&format!("{name}@{bare}")))
            }
            _ => self.resolve(dir, name),
        }
    }
}

fn yarn_record_edits(text: &str, changes: &[SpecChange], berry: bool) -> Vec<Edit> {
    let mut edits = Vec::new();
    let mut offset = 0;
    // Berry records each workspace's own ranges inside its `name@workspace:dir` entry.
    let mut workspace_entry = false;
    for line in text.split_inclusive('\n') {
        if !line.starts_with(' ') && !line.trim().is_empty() {
            workspace_entry = berry && line.contains("@workspace:");
        } else if workspace_entry && line.starts_with("    ") && !line.starts_with("     ") {
            if let Some((name, value)) = line.trim().split_once(':') {
                let name = name.trim().trim_matches('"');
                let value = value.trim();
                let unquoted = value.trim_matches('"');
                for c in changes.iter().filter(|c| c.name == name) {
                    let bare = unquoted.strip_prefix("npm:").unwrap_or(unquoted);
                    let old_bare = c.old.strip_prefix("npm:").unwrap_or(&c.old);
                    if bare == old_bare {
                        let at = offset + line.find(value).unwrap_or(0);
                        let quote = if value.starts_with('"') { "\"" } else { "" };
                        let new_bare = c.new.strip_prefix("npm:").unwrap_or(&c.new);
                        edits.push(Edit::replace(
                            at..at + value.len(),
                            format!("{quote}npm:{new_bare}{quote}"),
                        ));
                    }
                }
            }
        }
        if !line.starts_with(' ') && line.trim_end().ends_with(':') && !line.starts_with('#') {
            for c in changes {
                let (old, new) = if berry && !c.old.starts_with("npm:") {
                    (
                        format!("{}@npm:{}", c.name, c.old),
                        format!("{}@npm:{}", c.name, c.new),
                    )
                } else {
                    (
                        format!("{}@{}", c.name, c.old),
                        format!("{}@{}", c.name, c.new),
                    )
                };
                let mut from = 0;
                while let Some(i) = line[from..].find(&old) {
                    let at = from + i;
                    let before_ok = at == 0 || matches!(line.as_bytes()[at - 1], b'"' | b' ');
                    let after = line.as_bytes().get(at + old.len()).copied();
                    if before_ok && matches!(after, Some(b'"' | b',' | b':')) {
                        edits.push(Edit::replace(
                            offset + at..offset + at + old.len(),
                            new.clone(),
                        ));
                    }
                    from = at + old.len();
                }
            }
        }
        offset += line.len();
    }
    edits
}

// ---- bun ---------------------------------------------------------------------------------

fn parse_bun(path: &str, text: &str) -> Result<Lock, String> {
    let lines = Lines::new(text);
    let doc: Json = jsonc_parser::parse_to_serde_value::<Option<Json>>(text, &Default::default())
        .map_err(|e| e.to_string())?
        .ok_or("empty lockfile")?;
    let mut lock = Lock {
        path: path.to_string(),
        format: Format::Bun,
        packages: Vec::new(),
        importers: BTreeMap::new(),
    };
    let packages = doc.get("packages").and_then(Json::as_object);
    let version_of = |key: &str| -> Option<String> {
        let id = packages?.get(key)?.get(0)?.as_str()?;
        split_id(id).map(|(_, v)| v.to_string())
    };
    for (dir, ws) in doc
        .get("workspaces")
        .and_then(Json::as_object)
        .into_iter()
        .flatten()
    {
        let mut resolved = BTreeMap::new();
        for section in ["dependencies", "devDependencies", "optionalDependencies"] {
            for name in ws
                .get(section)
                .and_then(Json::as_object)
                .into_iter()
                .flat_map(|o| o.keys())
            {
                let nested = if dir.is_empty() {
                    name.clone()
                } else {
                    format!(
                        "{}/{name}",
                        ws.get("name").and_then(Json::as_str).unwrap_or(dir)
                    )
                };
                if let Some(v) = version_of(&nested).or_else(|| version_of(name)) {
                    resolved.insert(
                        name.clone(),
                        Resolution {
                            version: v,
                            git_commit: None,
                        },
                    );
                }
            }
        }
        lock.importers.insert(dir.clone(), resolved);
    }
    for (key, entry) in packages.into_iter().flatten() {
        let Some(id) = entry.get(0).and_then(Json::as_str) else {
            continue;
        };
        let Some((name, version)) = split_id(id) else {
            continue;
        };
        if version.starts_with("workspace:") {
            continue;
        }
        let meta = entry.get(2);
        let depends_on = meta
            .and_then(|m| m.get("dependencies"))
            .and_then(Json::as_object)
            .map(|d| {
                d.keys()
                    .map(|dep| {
                        format!(
                            "{dep}@{}",
                            version_of(&format!("{key}/{dep}"))
                                .or_else(|| version_of(dep))
                                .unwrap_or_default()
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        lock.packages.push(Package {
            name: name.to_string(),
            version: version.to_string(),
            integrity: entry
                .get(3)
                .and_then(Json::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_string),
            resolved: entry
                .get(1)
                .and_then(Json::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_string),
            dev: false,
            optional: meta
                .and_then(|m| m.get("optional"))
                .and_then(Json::as_bool)
                .unwrap_or(false),
            install_script: false,
            depends_on,
            line: lines.of(&format!("\"{key}\": [")),
        });
    }
    Ok(lock)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_line_a_string_is_first_on() {
        let lines = Lines::new("{\n  \"a\": {\n\n    \"b\": {}\n  },\n  \"b\": {\n}");
        assert_eq!(lines.of("{"), 1);
        assert_eq!(lines.of("\"a\": {"), 2);
        assert_eq!(lines.of("\"b\": {"), 4);
        assert_eq!(lines.of("},\n  \"b"), 5);
        assert_eq!(lines.of("\n}"), 6);
        assert_eq!(lines.of("absent"), 1);
        assert_eq!(Lines::new("").of("x"), 1);
    }

    #[test]
    fn splits_scoped_ids_and_peer_suffixes() {
        assert_eq!(
            split_id("@types/node@20.1.0"),
            Some(("@types/node", "20.1.0"))
        );
        assert_eq!(
            split_id("/react-dom@18.3.1(react@18.3.1)"),
            Some(("react-dom", "18.3.1"))
        );
    }

    #[test]
    fn pnpm_specifier_edits_respect_importer_and_section() {
        let text = "lockfileVersion: '9.0'\n\nimporters:\n\n  .:\n    dependencies:\n      zod:\n        specifier: ^3.23.0\n        version: 3.23.8\n\n  packages/a:\n    dependencies:\n      zod:\n        specifier: ^3.23.0\n        version: 3.23.8\n";
        let edits = pnpm_record_edits(
            text,
            &[SpecChange {
                dir: "packages/a".into(),
                section: "dependencies",
                name: "zod".into(),
                old: "^3.23.0".into(),
                new: "3.23.8".into(),
            }],
        );
        assert_eq!(edits.len(), 1);
        assert!(edits[0].start > text.find("packages/a").unwrap());
        assert_eq!(&text[edits[0].start..edits[0].end], "^3.23.0");
    }

    #[test]
    fn yarn_key_edits_touch_whole_descriptors_only() {
        let text = "\"react@^18.3.1\", react-dom@^18.3.1:\n  version \"18.3.1\"\n";
        let edits = yarn_record_edits(
            text,
            &[SpecChange {
                dir: String::new(),
                section: "dependencies",
                name: "react".into(),
                old: "^18.3.1".into(),
                new: "18.3.1".into(),
            }],
            false,
        );
        assert_eq!(edits.len(), 1);
        assert_eq!(&text[edits[0].start..edits[0].end], "react@^18.3.1");
        assert_eq!(edits[0].start, 1);
    }
}
