//! A declarative rule: one `patches/<area>/<name>.toml` file, an ast-grep rule plus metadata.
//!
//! ```toml
//! title = "Request schemas reject unknown fields"
//! severity = "warning"            # error | warning | info
//! area = "schemas"                # auth | rbac | payments | schemas | supply-chain | ops
//! applicability = "review"        # safe | review | manual (manual: no fix)
//! languages = ["typescript", "tsx"]   # optional, default both grammars
//! scope = "request-input"         # optional: any (default) | request-input
//! message = "..."                 # may use $METAVARS
//! fix = "$CALL.strict()"          # optional ast-grep fix template
//!
//! [rule]                          # ast-grep rule: pattern, kind, regex, inside, has, not, all, any …
//! pattern = "z.object($SHAPE)"
//!
//! [constraints.SHAPE]             # optional, per metavariable
//! kind = "object"
//!
//! [docs]
//! what = "..."  why = "..."  before = "..."  after = "..."  fix_safety = "..."  references = [...]
//! ```
//!
//! Top-level keys must come before the first `[table]` (TOML puts a later `fix = ...` inside
//! the table above it); the loader rejects unknown keys and names the field that is wrong.

use super::{Docs, Origin, RuleMeta};
use crate::error::Error;
use crate::lang::{has_syntax_error, Lang, ALL_LANGS};
use crate::plan::{Applicability, Area, Severity};
use ast_grep_config::{DeserializeEnv, RuleCore, SerializableRule, SerializableRuleCore};
use ast_grep_core::replacer::TemplateFix;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use std::collections::HashMap;

/// Which files a rule looks at, beyond its language.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scope {
    /// Every source file.
    Any,
    /// Request handlers (route handlers, server actions, Express/Hono routes, tRPC routers) and
    /// the modules they import: where a schema validates what a client sent.
    RequestInput,
}

/// A compiled rule for one grammar.
pub struct Compiled {
    pub matcher: RuleCore,
    pub fix: Option<TemplateFix>,
    /// An identifier in the text of every node the rule can match (see
    /// [`required_identifier`]): a node without it is not offered to the matcher.
    pub required: Option<memchr::memmem::Finder<'static>>,
}

pub struct DeclarativeRule {
    pub meta: RuleMeta,
    /// `meta.id`, shared by the rule's proposals.
    pub id: std::sync::Arc<str>,
    pub message: std::sync::Arc<str>,
    pub scope: Scope,
    /// Strings one of which is in the text of every file the rule can match (compared
    /// ignoring ASCII case); `None` when the rule does not say, and every file may match.
    pub needs: Option<Vec<String>>,
    compiled: [Option<Compiled>; 2],
}

impl std::fmt::Debug for DeclarativeRule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeclarativeRule")
            .field("id", &self.meta.id)
            .finish_non_exhaustive()
    }
}

impl DeclarativeRule {
    pub fn compiled(&self, lang: Lang) -> Option<&Compiled> {
        self.compiled[lang_slot(lang)].as_ref()
    }

    /// The identifier every match holds in its text whatever the grammar (see
    /// [`required_identifier`]), so every file it can match holds it too.
    pub fn required(&self) -> Option<&[u8]> {
        let mut needles = self
            .compiled
            .iter()
            .flatten()
            .map(|c| c.required.as_ref().map(|f| f.needle()));
        let first = needles.next()??;
        needles.all(|n| n == Some(first)).then_some(first)
    }
}

fn lang_slot(lang: Lang) -> usize {
    match lang {
        Lang::TypeScript => 0,
        Lang::Tsx => 1,
    }
}

const KNOWN_KEYS: &[&str] = &[
    "id",
    "title",
    "severity",
    "area",
    "applicability",
    "languages",
    "scope",
    "message",
    "needs",
    "fix",
    "rule",
    "constraints",
    "docs",
];

/// Parses and compiles one rule file. `id` is the file's path under `patches/` without `.toml`.
pub fn load_rule(id: &str, text: &str, origin: Origin) -> Result<DeclarativeRule, Error> {
    let file = match &origin {
        Origin::File(f) => f.clone(),
        _ => format!("patches/{id}.toml"),
    };
    let err = |msg: String| Error::rule(file.clone(), msg);
    let table: toml::Table =
        toml::from_str(text).map_err(|e| err(format!("not valid TOML: {e}")))?;

    for key in table.keys() {
        if !KNOWN_KEYS.contains(&key.as_str()) {
            let hint = if table.contains_key("rule") {
                " (top-level keys must come before the first [table])"
            } else {
                ""
            };
            return Err(err(format!(
                "unknown field `{key}`; expected one of {}{hint}",
                KNOWN_KEYS.join(", ")
            )));
        }
    }
    if let Some(declared) = table.get("id") {
        if declared.as_str() != Some(id) {
            return Err(err(format!(
                "field `id`: says {declared} but the file's path makes it \"{id}\""
            )));
        }
    }
    if !valid_id(id) {
        return Err(err(format!(
            "rule id `{id}` must be <area>/<name> in lowercase letters, digits and dashes"
        )));
    }

    let title: String = field(&table, "title", &file)?;
    let severity: Severity = field(&table, "severity", &file)?;
    let area: Area = field(&table, "area", &file)?;
    let applicability: Applicability = field(&table, "applicability", &file)?;
    let message: String = field(&table, "message", &file)?;
    let docs: Docs = field(&table, "docs", &file)?;
    let languages: Vec<Lang> = optional(&table, "languages", &file)?.unwrap_or(ALL_LANGS.to_vec());
    let scope: Scope = optional(&table, "scope", &file)?.unwrap_or(Scope::Any);
    let fix: Option<String> = optional(&table, "fix", &file)?;
    let needs: Option<Vec<String>> = optional(&table, "needs", &file)?;
    if needs
        .as_ref()
        .is_some_and(|n| n.is_empty() || n.iter().any(String::is_empty))
    {
        return Err(err(
            "field `needs`: list at least one string, none of them empty (or leave it out)".into(),
        ));
    }
    let rule: SerializableRule = field(&table, "rule", &file)?;
    let constraints: Option<HashMap<String, SerializableRule>> =
        optional(&table, "constraints", &file)?;

    match (&fix, applicability) {
        (Some(_), Applicability::Manual) => {
            return Err(err(
                "field `fix`: a rule with applicability \"manual\" has no fix".into(),
            ))
        }
        (None, Applicability::Safe | Applicability::Review) => {
            return Err(err(format!(
                "field `applicability`: \"{}\" needs a `fix`; a rule without one is \"manual\"",
                applicability.as_str()
            )))
        }
        _ => {}
    }
    if languages.is_empty() {
        return Err(err("field `languages`: empty".into()));
    }
    check_patterns(&table, &languages, &file)?;

    let core = SerializableRuleCore {
        rule,
        constraints,
        utils: None,
        transform: None,
    };
    let mut compiled: [Option<Compiled>; 2] = [None, None];
    for lang in languages {
        let matcher = core.get_matcher(DeserializeEnv::new(lang)).map_err(|e| {
            err(format!(
                "field `rule` ({}): {}",
                lang.name(),
                error_chain(&e)
            ))
        })?;
        let fix = match &fix {
            Some(template) => {
                let t = TemplateFix::try_new(template, &lang)
                    .map_err(|e| err(format!("field `fix`: {}", error_chain(&e))))?;
                let defined = matcher.defined_vars();
                if let Some(v) = t.used_vars().into_iter().find(|v| !defined.contains(v)) {
                    return Err(err(format!(
                        "field `fix`: uses ${v}, which the rule does not capture"
                    )));
                }
                Some(t)
            }
            None => None,
        };
        let required = table
            .get("rule")
            .and_then(|r| required_identifier(r, lang))
            .map(|id| memchr::memmem::Finder::new(id.as_bytes()).into_owned());
        compiled[lang_slot(lang)] = Some(Compiled {
            matcher,
            fix,
            required,
        });
    }

    Ok(DeclarativeRule {
        id: id.into(),
        meta: RuleMeta {
            id: id.to_string(),
            title,
            severity,
            area,
            applicability,
            docs,
            origin,
        },
        message: message.into(),
        scope,
        needs,
        compiled,
    })
}

/// The longest identifier that the text of every node `rule` matches must hold, if the rule
/// names one: an identifier (not a `$METAVAR`) in a pattern the node itself must fit — the
/// rule's own `pattern`, one in its `all`, or one in a `has` (a descendant's text is inside the
/// node's). At its default strictness ast-grep matches a pattern's named leaves by their text,
/// so a node without that identifier cannot match. Patterns met only through `any`, `not`,
/// `inside`, `precedes`, `follows` or `matches` say nothing about the node's own text, and a
/// pattern object (which may set a strictness that ignores text) is not read at all.
fn required_identifier(rule: &toml::Value, lang: Lang) -> Option<String> {
    fn collect(rule: &toml::Value, lang: Lang, out: &mut Vec<String>) {
        let toml::Value::Table(t) = rule else { return };
        for (key, value) in t {
            match (key.as_str(), value) {
                ("pattern", toml::Value::String(pattern)) => identifiers(pattern, lang, out),
                ("has", _) => collect(value, lang, out),
                ("all", toml::Value::Array(items)) => {
                    for item in items {
                        collect(item, lang, out);
                    }
                }
                _ => {}
            }
        }
    }
    fn identifiers(pattern: &str, lang: Lang, out: &mut Vec<String>) {
        const NAMES: &[&str] = &[
            "identifier",
            "property_identifier",
            "type_identifier",
            "shorthand_property_identifier",
            "shorthand_property_identifier_pattern",
        ];
        let Ok(tree) = lang.parse(pattern) else {
            return;
        };
        if has_syntax_error(&tree) {
            return;
        }
        for node in tree.root().dfs() {
            if node.get_inner_node().child_count() == 0 && NAMES.contains(&&*node.kind()) {
                let text = node.text();
                if !text.contains('$') {
                    out.push(text.to_string());
                }
            }
        }
    }
    let mut found = Vec::new();
    collect(rule, lang, &mut found);
    found.into_iter().max_by_key(|s| s.len())
}

fn valid_id(id: &str) -> bool {
    let parts: Vec<&str> = id.split('/').collect();
    parts.len() >= 2
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        })
}

fn field<T: DeserializeOwned>(table: &toml::Table, key: &str, file: &str) -> Result<T, Error> {
    optional(table, key, file)?.ok_or_else(|| Error::rule(file, format!("missing field `{key}`")))
}

fn optional<T: DeserializeOwned>(
    table: &toml::Table,
    key: &str,
    file: &str,
) -> Result<Option<T>, Error> {
    let Some(value) = table.get(key) else {
        return Ok(None);
    };
    value
        .clone()
        .try_into()
        .map(Some)
        .map_err(|e: toml::de::Error| {
            Error::rule(
                file,
                format!("field `{key}`: {}", e.message().replace("yaml", "TOML")),
            )
        })
}

/// ast-grep accepts a pattern with a syntax error in it and then matches nothing; reject it.
fn check_patterns(table: &toml::Table, langs: &[Lang], file: &str) -> Result<(), Error> {
    fn walk<'a>(v: &'a toml::Value, path: &str, out: &mut Vec<(String, &'a str)>) {
        match v {
            toml::Value::Table(t) => {
                for (k, v) in t {
                    let here = format!("{path}.{k}");
                    match (k.as_str(), v) {
                        ("pattern", toml::Value::String(s)) => out.push((here, s)),
                        ("pattern", toml::Value::Table(t)) => {
                            if let Some(toml::Value::String(s)) = t.get("context") {
                                out.push((here, s));
                            }
                        }
                        _ => walk(v, &here, out),
                    }
                }
            }
            toml::Value::Array(a) => {
                for (i, v) in a.iter().enumerate() {
                    walk(v, &format!("{path}[{i}]"), out);
                }
            }
            _ => {}
        }
    }
    let mut patterns = Vec::new();
    for key in ["rule", "constraints"] {
        if let Some(v) = table.get(key) {
            walk(v, key, &mut patterns);
        }
    }
    for (place, pattern) in patterns {
        for lang in langs {
            let tree = lang
                .parse(pattern)
                .map_err(|e| Error::rule(file, format!("field `{place}`: {e}")))?;
            if has_syntax_error(&tree) {
                return Err(Error::rule(
                    file,
                    format!(
                        "field `{place}`: pattern `{pattern}` does not parse as {}",
                        lang.name()
                    ),
                ));
            }
        }
    }
    Ok(())
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut msg = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        source = s.source();
    }
    msg.replace("yaml", "TOML")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every key of `value` (a rule, or part of one), however deep, with its path and value.
    fn entries<'v>(value: &'v toml::Value, path: &str, out: &mut Vec<(String, &'v toml::Value)>) {
        match value {
            toml::Value::Table(t) => {
                for (k, v) in t {
                    let here = format!("{path}.{k}");
                    out.push((here.clone(), v));
                    entries(v, &here, out);
                }
            }
            toml::Value::Array(items) => {
                for (i, v) in items.iter().enumerate() {
                    entries(v, &format!("{path}[{i}]"), out);
                }
            }
            _ => {}
        }
    }

    /// The paths of the `inside`, `follows` and `precedes` under an `inside` that walks to the
    /// root (`stopBy = "end"`): each asks, at every ancestor, for its parent or siblings.
    fn lookups_on_walks_to_the_root(rule: &toml::Value, path: &str) -> Vec<String> {
        let is = |p: &str, keys: &[&str]| keys.iter().any(|k| p.ends_with(&format!(".{k}")));
        let mut all = vec![];
        entries(rule, path, &mut all);
        let mut found = vec![];
        for (here, v) in all {
            if is(&here, &["inside"]) && v.get("stopBy").and_then(|s| s.as_str()) == Some("end") {
                let mut inner = vec![];
                entries(v, &here, &mut inner);
                found.extend(
                    inner
                        .into_iter()
                        .map(|(p, _)| p)
                        .filter(|p| is(p, &["inside", "follows", "precedes"])),
                );
            }
        }
        found
    }

    /// tree-sitter finds a node's parent and siblings by walking down from the root. An
    /// `inside` that walks to the root and, at each ancestor, looks up that ancestor's parent
    /// or siblings costs the depth squared for every node it is tried on: `schema/zod-strict`'s
    /// `.output(...)` exception written so took 31 s on schemas nested 1,000 deep. The path
    /// through a field is checked with `field` instead (see the `shapes` benchmark).
    #[test]
    fn no_builtin_rule_looks_around_each_ancestor_on_a_walk_to_the_root() {
        let mut found = vec![];
        for (id, text) in crate::rules::embedded::BUILTIN_RULES {
            let table: toml::Table = toml::from_str(text).unwrap();
            found.extend(lookups_on_walks_to_the_root(&table["rule"], id));
        }
        assert!(found.is_empty(), "{found:?}");
        // It finds the shape the zod-strict exception had.
        let old: toml::Table = toml::from_str(
            r#"rule.not.inside = { stopBy = "end", any = [{ kind = "arguments", inside = { kind = "call_expression" } }] }"#,
        )
        .unwrap();
        assert_eq!(
            lookups_on_walks_to_the_root(&old["rule"], "old"),
            ["old.not.inside.any[0].inside"]
        );
    }

    fn required(rule: &str) -> Option<String> {
        let table: toml::Table = toml::from_str(rule).unwrap();
        required_identifier(&table["rule"], Lang::TypeScript)
    }

    #[test]
    fn the_required_identifier_comes_only_from_patterns_the_node_must_fit() {
        // The longest identifier of the node's own pattern, never a metavariable.
        assert_eq!(
            required("[rule]\npattern = \"z.object($$$ARGS)\"").as_deref(),
            Some("object")
        );
        assert_eq!(required("[rule]\npattern = \"$CALL\""), None);
        // From `all` and from `has` (a descendant's text is in the node's).
        assert_eq!(
            required("[rule]\nkind = \"pair\"\n[[rule.all]]\nhas = { field = \"value\", pattern = \"session.user.id\" }\n[[rule.all]]\npattern = \"$P\"").as_deref(),
            Some("session")
        );
        // Never from what is outside the node or may be absent from it.
        for rule in [
            "[rule]\nkind = \"call_expression\"\ninside = { pattern = \"createServer($$$A)\" }",
            "[rule]\nany = [{ pattern = \"foo($A)\" }, { pattern = \"bar($A)\" }]",
            "[rule]\nkind = \"call_expression\"\nnot = { pattern = \"verifyWebhook($A)\" }",
            "[rule]\npattern = { context = \"class A { secretKey = $V }\", selector = \"public_field_definition\", strictness = \"signature\" }",
        ] {
            assert_eq!(required(rule), None, "{rule}");
        }
    }

    /// Compiling a rule keeps its required identifier, for each grammar.
    #[test]
    fn compiled_rules_carry_their_required_identifier() {
        let catalog = crate::rules::Catalog::load(&[]).unwrap();
        let required = |id: &str, lang: Lang| {
            let rule = catalog.rules.iter().find(|r| r.meta.id == id).unwrap();
            let finder = rule.compiled(lang).unwrap().required.as_ref();
            finder.map(|f| String::from_utf8(f.needle().to_vec()).unwrap())
        };
        for lang in ALL_LANGS {
            assert_eq!(
                required("schema/zod-strict", lang).as_deref(),
                Some("object")
            );
            // `kind = "pair"` with metavariable patterns names no identifier.
            assert_eq!(required("schema/owner-from-body", lang), None);
        }
    }

    const GOOD: &str = r#"
title = "t"
severity = "warning"
area = "schemas"
applicability = "safe"
message = "m"
fix = "foo($A)"
[rule]
pattern = "bar($A)"
[docs]
what = "w"
why = "y"
before = "bar(1)"
after = "foo(1)"
"#;

    /// GOOD with a pattern that names no identifier, so only `needs` filters files.
    fn unnamed() -> String {
        GOOD.replace("pattern = \"bar($A)\"", "pattern = \"$F($A)\"")
    }

    #[test]
    fn a_file_without_the_identifier_a_pattern_names_is_not_offered_the_rule() {
        use crate::rules::Prefilter;
        let named = load(GOOD).unwrap();
        let filter = Prefilter::new(std::slice::from_ref(&named), |_| true);
        assert_eq!(filter.rules_for("export const x = bar(1);", false), [true]);
        assert_eq!(filter.rules_for("export const x = foo(1);", false), [false]);
        // Matched by case, as ast-grep compares a pattern's identifiers.
        assert_eq!(filter.rules_for("BAR(1)", false), [false]);
        assert_eq!(filter.rules_for("BAR(1); bar(2)", false), [true]);
        // With `needs` too, a file must hold both; a need equal to the identifier is both.
        let both = load(&GOOD.replace("fix = ", "needs = [\"baz\"]\nfix = ")).unwrap();
        let filter = Prefilter::new(std::slice::from_ref(&both), |_| true);
        assert_eq!(filter.rules_for("baz; bar(1)", false), [true]);
        assert_eq!(filter.rules_for("bar(1)", false), [false]);
        assert_eq!(filter.rules_for("baz(1)", false), [false]);
        let same = load(&GOOD.replace("fix = ", "needs = [\"bar\"]\nfix = ")).unwrap();
        let filter = Prefilter::new(std::slice::from_ref(&same), |_| true);
        assert_eq!(filter.rules_for("bar(1)", false), [true]);
        assert_eq!(filter.rules_for("BAR(1)", false), [false]);
    }

    fn load(text: &str) -> Result<DeclarativeRule, Error> {
        load_rule("test/rule", text, Origin::Builtin)
    }

    #[test]
    fn loads_a_good_rule_for_both_grammars() {
        let r = load(GOOD).unwrap();
        assert!(r.compiled(Lang::TypeScript).is_some());
        assert!(r.compiled(Lang::Tsx).is_some());
    }

    #[test]
    fn names_the_unknown_field() {
        let e = load(&GOOD.replace("message = \"m\"", "mesage = \"m\"")).unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("patches/test/rule.toml"), "{msg}");
        assert!(msg.contains("unknown field `mesage`"), "{msg}");
    }

    #[test]
    fn names_a_bad_field_value() {
        let e = load(&GOOD.replace("area = \"schemas\"", "area = \"nope\"")).unwrap_err();
        assert!(e.to_string().contains("field `area`"), "{e}");
        let e = load(&GOOD.replace("pattern = \"bar($A)\"", "patern = \"bar($A)\"")).unwrap_err();
        assert!(e.to_string().contains("field `rule`"), "{e}");
    }

    #[test]
    fn a_rule_needing_strings_prefilters_files_by_them_in_its_scope() {
        use crate::rules::Prefilter;
        let needing =
            load(&unnamed().replace("fix = ", "needs = [\"bar\", \"baz.\"]\nfix = ")).unwrap();
        let filter = Prefilter::new(std::slice::from_ref(&needing), |_| true);
        assert!(filter.wanted("export const x = bar(1);", false));
        assert!(filter.wanted("BAZ.qux", false), "ASCII case is ignored");
        assert!(!filter.wanted("export const x = foo(1);", false));
        let scoped = load(&unnamed().replace(
            "fix = ",
            "scope = \"request-input\"\nneeds = [\"bar\"]\nfix = ",
        ))
        .unwrap();
        let filter = Prefilter::new(std::slice::from_ref(&scoped), |_| true);
        assert!(!filter.wanted("bar(1)", false), "outside its scope");
        assert!(filter.wanted("bar(1)", true));
        // A needle of a rule out of scope overlapping one of a rule in scope hides nothing.
        let inner = load(&unnamed().replace("fix = ", "needs = [\"json(\"]\nfix = ")).unwrap();
        let outer = load(&unnamed().replace(
            "fix = ",
            "scope = \"request-input\"\nneeds = [\"x.json(\"]\nfix = ",
        ))
        .unwrap();
        let filter = Prefilter::new(&[outer, inner], |_| true);
        assert!(filter.wanted("await x.json()", false));
        // A rule that does not say what it needs may match anywhere; an inactive one nowhere.
        let plain = load(&unnamed()).unwrap();
        let both = [needing, plain];
        assert!(Prefilter::new(&both, |_| true).wanted("foo(1)", false));
        assert!(!Prefilter::new(&both, |r| r.needs.is_some()).wanted("foo(1)", false));
        let e = load(&unnamed().replace("fix = ", "needs = []\nfix = ")).unwrap_err();
        assert!(e.to_string().contains("field `needs`"), "{e}");
    }

    #[test]
    fn a_file_is_offered_only_the_rules_whose_strings_it_holds() {
        use crate::rules::Prefilter;
        let needs =
            |n: &str| load(&unnamed().replace("fix = ", &format!("needs = {n}\nfix = "))).unwrap();
        // 0 needs `json(`, 1 needs `.json(` (found inside the other's match), 2 needs nothing,
        // 3 needs `json(` but is inactive, 4 needs one of two strings.
        let rules = [
            needs(r#"["json("]"#),
            needs(r#"["x.json("]"#),
            load(&unnamed()).unwrap(),
            needs(r#"["json("]"#),
            needs(r#"["express.json(", "bodyparser.json("]"#),
        ];
        let filter = Prefilter::new(&rules, |r| !std::ptr::eq(r, &rules[3]));
        assert_eq!(
            filter.rules_for("await x.json()", false),
            [true, true, true, false, false]
        );
        assert_eq!(
            filter.rules_for("app.use(bodyParser.json())", false),
            [true, false, true, false, true],
            "ASCII case is ignored"
        );
        assert_eq!(
            filter.rules_for("foo(1)", false),
            [false, false, true, false, false]
        );
    }

    #[test]
    fn rejects_fix_with_uncaptured_metavariable() {
        let e = load(&GOOD.replace("foo($A)", "foo($B)")).unwrap_err();
        assert!(e.to_string().contains("$B"), "{e}");
    }

    #[test]
    fn rejects_pattern_that_does_not_parse() {
        let e = load(&GOOD.replace("bar($A)\"", "bar($A\"")).unwrap_err();
        assert!(e.to_string().contains("does not parse"), "{e}");
    }

    #[test]
    fn rejects_manual_rule_with_fix_and_fixable_rule_without() {
        assert!(load(&GOOD.replace("\"safe\"", "\"manual\"")).is_err());
        assert!(load(&GOOD.replace("fix = \"foo($A)\"\n", "")).is_err());
    }

    #[test]
    fn rejects_mismatched_id() {
        let e = load(&format!("id = \"other/rule\"\n{GOOD}")).unwrap_err();
        assert!(e.to_string().contains("field `id`"), "{e}");
    }
}
