//! Dependencies: the manifests (package.json, with the byte range of every version string),
//! what their specs mean, and what the lockfile resolved them to.

pub mod lockfile;
pub mod sbom;

use jsonc_parser::ast::{Object, Value};
use std::ops::Range;

/// The sections of package.json that hold dependencies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Section {
    Dependencies,
    DevDependencies,
    OptionalDependencies,
    PeerDependencies,
}

impl Section {
    pub const ALL: [Section; 4] = [
        Section::Dependencies,
        Section::DevDependencies,
        Section::OptionalDependencies,
        Section::PeerDependencies,
    ];
    pub fn key(&self) -> &'static str {
        match self {
            Section::Dependencies => "dependencies",
            Section::DevDependencies => "devDependencies",
            Section::OptionalDependencies => "optionalDependencies",
            Section::PeerDependencies => "peerDependencies",
        }
    }
}

/// One dependency as a manifest declares it.
#[derive(Clone, Debug)]
pub struct Declared {
    pub section: Section,
    pub name: String,
    pub spec: String,
    /// The bytes of the spec between its quotes.
    pub spec_range: Range<usize>,
}

/// A package.json.
#[derive(Clone, Debug)]
pub struct Manifest {
    pub path: String,
    /// Its folder (`""` for the root): the importer key in lockfiles.
    pub dir: String,
    pub name: Option<String>,
    pub version: Option<String>,
    pub declared: Vec<Declared>,
}

/// Reads a package.json; `None` if it is not a JSON object.
pub fn parse_manifest(path: &str, text: &str) -> Option<Manifest> {
    let ast = jsonc_parser::parse_to_ast(text, &Default::default(), &Default::default()).ok()?;
    let Some(Value::Object(root)) = ast.value else {
        return None;
    };
    let dir = path
        .strip_suffix("package.json")?
        .trim_end_matches('/')
        .to_string();
    let mut declared = Vec::new();
    for section in Section::ALL {
        for (name, lit) in string_props(&root, section.key()) {
            declared.push(Declared {
                section,
                name,
                spec: lit.1,
                spec_range: lit.0,
            });
        }
    }
    Some(Manifest {
        path: path.to_string(),
        dir,
        name: root.get_string("name").map(|s| s.value.to_string()),
        version: root.get_string("version").map(|s| s.value.to_string()),
        declared,
    })
}

/// The edit that declares `name` at `version` in a package.json's `dependencies`, where npm
/// would put it (in name order, in the file's indentation); `None` when it is declared already
/// or the manifest has no `dependencies` object.
pub fn add_dependency(text: &str, name: &str, version: &str) -> Option<crate::plan::Edit> {
    let ast = jsonc_parser::parse_to_ast(text, &Default::default(), &Default::default()).ok()?;
    let Some(Value::Object(root)) = ast.value else {
        return None;
    };
    let Some(Value::Object(deps)) = root.get("dependencies").map(|p| &p.value) else {
        return None;
    };
    let entry = format!(
        "{}: {}",
        serde_json::json!(name),
        serde_json::json!(version)
    );
    let names: Vec<String> = deps
        .properties
        .iter()
        .map(|p| p.name.clone().into_string())
        .collect();
    if names.iter().any(|n| n == name) {
        return None;
    }
    let line_indent = |at: usize| -> String {
        let start = text[..at].rfind('\n').map_or(0, |i| i + 1);
        text[start..at]
            .chars()
            .take_while(|c| c.is_whitespace())
            .collect()
    };
    let props = &deps.properties;
    if let Some(next) = props
        .iter()
        .find(|p| p.name.clone().into_string().as_str() > name)
    {
        let at = next.range.start;
        return Some(crate::plan::Edit::insert(
            at,
            format!("{entry},\n{}", line_indent(at)),
        ));
    }
    match props.last() {
        Some(last) => Some(crate::plan::Edit::insert(
            last.range.end,
            format!(",\n{}{entry}", line_indent(last.range.start)),
        )),
        None => {
            let open = deps.range.start + 1;
            let outer = line_indent(deps.range.start);
            Some(crate::plan::Edit::insert(
                open,
                format!("\n{outer}  {entry}\n{outer}"),
            ))
        }
    }
}

/// The string-valued properties of `obj[key]`: name → (inner byte range, value).
pub fn string_props(obj: &Object<'_>, key: &str) -> Vec<(String, (Range<usize>, String))> {
    let Some(Value::Object(inner)) = obj.get(key).map(|p| &p.value) else {
        return vec![];
    };
    inner
        .properties
        .iter()
        .filter_map(|p| {
            let lit = p.value.as_string_lit()?;
            let name = p.name.clone().into_string();
            Some((
                name,
                (
                    lit.range.start + 1..lit.range.end - 1,
                    lit.value.to_string(),
                ),
            ))
        })
        .collect()
}

/// What a version spec asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Spec {
    /// `1.2.3` (with an optional leading `=` or `v`).
    Exact,
    /// `^1.2.3`, `~1.2`, `>=1`, `1.x`, `1 - 2`, `1.2.3 || 2`.
    Range,
    /// `*`, `x` or empty: anything.
    Any,
    /// A dist-tag such as `latest`, `next`, `beta`.
    Tag,
    /// `npm:other@range`: an alias.
    Alias { target: String, range: String },
    /// `workspace:`, `file:`, `link:`, `portal:`, `patch:`: local sources, left alone.
    Local,
    /// git URLs, `github:`, `user/repo`: pinned by commit if at all.
    Git { commit: Option<String> },
    /// A tarball URL.
    Url,
}

pub fn classify(spec: &str) -> Spec {
    let s = spec.trim();
    if s.is_empty() || s == "*" || s.eq_ignore_ascii_case("x") {
        return Spec::Any;
    }
    for local in ["workspace:", "file:", "link:", "portal:", "patch:", "exec:"] {
        if s.starts_with(local) {
            return Spec::Local;
        }
    }
    if let Some(rest) = s.strip_prefix("npm:") {
        // npm:name@range, where name may be scoped (@scope/name@range).
        let at = version_at(rest);
        let (target, range) = match at {
            Some(i) => (&rest[..i], &rest[i + 1..]),
            None => (rest, "*"),
        };
        return Spec::Alias {
            target: target.to_string(),
            range: range.to_string(),
        };
    }
    let gitish = s.starts_with("git+")
        || s.starts_with("git://")
        || s.starts_with("github:")
        || s.starts_with("gitlab:")
        || s.starts_with("bitbucket:")
        || s.ends_with(".git")
        || s.contains(".git#")
        || (s.contains('/')
            && !s.contains(':')
            && !s.starts_with('.')
            && !s.starts_with('@')
            && !s.contains(' '));
    if gitish {
        let commit = s
            .rsplit_once('#')
            .map(|(_, c)| c)
            .filter(|c| c.len() == 40 && c.chars().all(|ch| ch.is_ascii_hexdigit()))
            .map(str::to_string);
        return Spec::Git { commit };
    }
    if s.starts_with("http://") || s.starts_with("https://") {
        return Spec::Url;
    }
    if is_exact_version(s.trim_start_matches('=').trim_start_matches('v')) {
        return Spec::Exact;
    }
    let rangey = s.chars().any(|c| "^~<>=|* ".contains(c))
        || s.split('.').any(|p| p == "x" || p == "X" || p == "*");
    if rangey || s.chars().next().is_some_and(|c| c.is_ascii_digit()) {
        Spec::Range
    } else {
        Spec::Tag
    }
}

/// The major and minor version a range starts at (`^15.5.9`, `~15.5`, `>=15.5.0`, `15`): what
/// the project can count on having. `None` for ranges that name no version (`latest`, `*`).
pub fn range_floor(spec: &str) -> Option<(u32, u32)> {
    let mut parts = spec
        .trim_start_matches(|c: char| !c.is_ascii_digit())
        .split(|c: char| !c.is_ascii_digit())
        .map(|p| p.parse::<u32>().ok());
    Some((parts.next()??, parts.next().flatten().unwrap_or(0)))
}

/// `1.2.3` or `1.2.3-beta.1+build`: a full semver version.
pub fn is_exact_version(s: &str) -> bool {
    let core = s.split(['-', '+']).next().unwrap_or("");
    let parts: Vec<&str> = core.split('.').collect();
    parts.len() == 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
}

/// Where the `@` between a package's name and its version is in `name@version`: the first one
/// after the name's first character, since a scope's `@` starts the name (`@scope/name@1.2.3`).
/// `None` when there is none, as in an empty or a bare name.
pub fn version_at(id: &str) -> Option<usize> {
    id.char_indices()
        .skip(1)
        .find(|&(_, c)| c == '@')
        .map(|(i, _)| i)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_version_starts_after_the_first_at_past_the_names_first_character() {
        assert_eq!(version_at("zod@3.23.8"), Some(3));
        assert_eq!(version_at("@types/node@20.1.0"), Some(11));
        assert_eq!(version_at("@types/node"), None);
        // Found by fuzzing: empty ids and a multi-byte first character were sliced at byte 1.
        assert_eq!(version_at(""), None);
        assert_eq!(version_at("@"), None);
        assert_eq!(version_at("é@1"), Some(2));
        assert_eq!(
            classify("npm:"),
            Spec::Alias {
                target: String::new(),
                range: "*".into()
            }
        );
        assert_eq!(
            classify("npm:é@1.0.0"),
            Spec::Alias {
                target: "é".into(),
                range: "1.0.0".into()
            }
        );
    }

    #[test]
    fn classifies_specs() {
        assert_eq!(classify("1.2.3"), Spec::Exact);
        assert_eq!(classify("1.2.3-rc.1"), Spec::Exact);
        for r in [
            "^1.2.3", "~1.2", ">=1.0.0", "1.x", "1", "1.2", "1 - 2", "^1 || ^2",
        ] {
            assert_eq!(classify(r), Spec::Range, "{r}");
        }
        assert_eq!(classify("*"), Spec::Any);
        assert_eq!(classify("latest"), Spec::Tag);
        assert_eq!(classify("next"), Spec::Tag);
        assert_eq!(classify("workspace:*"), Spec::Local);
        assert_eq!(classify("file:../x"), Spec::Local);
        assert_eq!(
            classify("npm:@scope/real@^2.0.0"),
            Spec::Alias {
                target: "@scope/real".into(),
                range: "^2.0.0".into()
            }
        );
        assert_eq!(classify("github:user/repo"), Spec::Git { commit: None });
        assert_eq!(
            classify("user/repo#0123456789abcdef0123456789abcdef01234567"),
            Spec::Git {
                commit: Some("0123456789abcdef0123456789abcdef01234567".into())
            }
        );
        assert_eq!(classify("https://example.com/x.tgz"), Spec::Url);
    }

    #[test]
    fn a_range_starts_at_its_lowest_major_and_minor() {
        assert_eq!(range_floor("^15.5.9"), Some((15, 5)));
        assert_eq!(range_floor("~6.1"), Some((6, 1)));
        assert_eq!(range_floor(">=14"), Some((14, 0)));
        assert_eq!(range_floor("5.0.0-beta.25"), Some((5, 0)));
        assert_eq!(range_floor("latest"), None);
    }

    #[test]
    fn manifest_spans_point_at_the_version_strings() {
        let text = "{\n  \"name\": \"app\",\n  \"dependencies\": { \"react\" :   \"^18.3.1\" },\n  \"devDependencies\": {\"@types/node\":\"~20.1.0\"}\n}\n";
        let m = parse_manifest("package.json", text).unwrap();
        assert_eq!(m.dir, "");
        assert_eq!(m.declared.len(), 2);
        for d in &m.declared {
            assert_eq!(&text[d.spec_range.clone()], d.spec);
        }
        assert_eq!(
            parse_manifest("packages/a/package.json", text).unwrap().dir,
            "packages/a"
        );
    }
}
