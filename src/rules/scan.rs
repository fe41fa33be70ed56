//! One walk of a file's tree for all declarative rules: each node is offered only to the rules
//! whose pattern can match its kind (ast-grep's potential kinds), so adding rules does not add
//! walks.

use super::{DeclarativeRule, Scope, Suppressions};
use crate::lang::{Lang, Tree, ALL_LANGS};
use crate::plan::{Applicability, Edit, Proposal};
use ast_grep_core::matcher::MatcherExt;
use ast_grep_core::meta_var::MetaVarEnv;
use ast_grep_core::tree_sitter::StrDoc;
use ast_grep_core::{Language, Matcher, Node};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Instant;

/// For each grammar: node kind id → indexes of the rules that may match it.
pub struct ScanIndex {
    by_kind: [Vec<Vec<usize>>; 2],
    any_kind: [Vec<usize>; 2],
    /// With `CASEHARD_TIMINGS` set: by rule index, nanoseconds spent in its matcher and the
    /// nodes it was tried on.
    clock: Option<Box<[(AtomicU64, AtomicU64)]>>,
    /// Whether a node is offered only to the rules whose required identifier it holds.
    check_identifiers: bool,
}

impl ScanIndex {
    /// By rule index, the time its matcher took and the nodes it was tried on, summed over
    /// every thread; empty unless `CASEHARD_TIMINGS` is set.
    pub fn rule_times(&self) -> Vec<(std::time::Duration, u64)> {
        self.clock
            .iter()
            .flatten()
            .map(|(ns, tries)| {
                (
                    std::time::Duration::from_nanos(ns.load(Relaxed)),
                    tries.load(Relaxed),
                )
            })
            .collect()
    }
}

fn slot(lang: Lang) -> usize {
    match lang {
        Lang::TypeScript => 0,
        Lang::Tsx => 1,
    }
}

/// Which files the active declarative rules can match at all, from the strings they need: a
/// file with none of them, and that no pass wants, is not parsed; in a file that is, a rule
/// none of whose strings it holds is not tried.
pub struct Prefilter {
    /// Every rule's `needs` (ASCII case ignored) and required identifier
    /// ([`DeclarativeRule::required`], compared by case once found), searched in one pass.
    strings: Option<aho_corasick::AhoCorasick>,
    /// What each of those strings is, by pattern id.
    string_of: Vec<Wanted>,
    /// By rule index: the scope of an active rule, none for an inactive one.
    scopes: Vec<Option<Scope>>,
    /// By rule index: active and with no `needs`, so tried in every file of its scope.
    unconditional: Vec<bool>,
    /// By rule index: the identifier an active rule requires, if any.
    identifiers: Vec<Option<Vec<u8>>>,
}

/// A string the prefilter looks for, and the rule (its index in the catalog) it is for.
#[derive(Clone, Copy)]
enum Wanted {
    /// One of the rule's `needs`.
    Needle(usize),
    /// The identifier its pattern names: a file without it cannot match the rule.
    Identifier(usize),
}

impl Prefilter {
    pub fn new(rules: &[DeclarativeRule], active: impl Fn(&DeclarativeRule) -> bool) -> Prefilter {
        let mut strings: Vec<&[u8]> = Vec::new();
        let mut string_of = Vec::new();
        let mut scopes = vec![None; rules.len()];
        let mut unconditional = vec![false; rules.len()];
        let mut identifiers = vec![None; rules.len()];
        for (i, rule) in rules.iter().enumerate().filter(|(_, r)| active(r)) {
            scopes[i] = Some(rule.scope);
            match &rule.needs {
                None => unconditional[i] = true,
                Some(needs) => {
                    for n in needs {
                        strings.push(n.as_bytes());
                        string_of.push(Wanted::Needle(i));
                    }
                }
            }
            if let Some(identifier) = rule.required() {
                strings.push(identifier);
                string_of.push(Wanted::Identifier(i));
                identifiers[i] = Some(identifier.to_vec());
            }
        }
        let strings = (!strings.is_empty()).then(|| {
            aho_corasick::AhoCorasick::builder()
                .ascii_case_insensitive(true)
                .build(&strings)
                .expect("literal strings always build")
        });
        Prefilter {
            strings,
            string_of,
            scopes,
            unconditional,
            identifiers,
        }
    }

    /// By rule index, the active rules whose scope holds a file (`request_input`: the file is in
    /// the request-input scope), whatever its text: what is tried with the prefilter off.
    pub fn in_scope(&self, request_input: bool) -> Vec<bool> {
        self.scopes
            .iter()
            .map(|s| s.is_some_and(|s| s == Scope::Any || request_input))
            .collect()
    }

    /// By rule index, the rules that may match in a file with this text: those of
    /// [`Prefilter::in_scope`] with no `needs`, or with one of theirs in it, and that hold the
    /// identifier their pattern names, if it names one. Strings are found overlapping, so one
    /// inside another's match (`json(` in `x.json(`) still counts.
    pub fn rules_for(&self, text: &str, request_input: bool) -> Vec<bool> {
        let scope = self.in_scope(request_input);
        let mut on: Vec<bool> = scope
            .iter()
            .zip(&self.unconditional)
            .map(|(s, u)| *s && *u)
            .collect();
        let Some(ac) = &self.strings else {
            return on;
        };
        let mut held = vec![false; on.len()];
        let mut needs_missing = (0..on.len())
            .filter(|&i| scope[i] && !self.unconditional[i])
            .count();
        let mut identifiers_missing = (0..on.len())
            .filter(|&i| scope[i] && self.identifiers[i].is_some())
            .count();
        for m in ac.find_overlapping_iter(text) {
            if needs_missing == 0 && identifiers_missing == 0 {
                break;
            }
            match self.string_of[m.pattern().as_usize()] {
                Wanted::Needle(rule) => {
                    if scope[rule] && !on[rule] {
                        on[rule] = true;
                        needs_missing -= 1;
                    }
                }
                Wanted::Identifier(rule) => {
                    if scope[rule]
                        && !held[rule]
                        && self.identifiers[rule].as_deref() == Some(&text.as_bytes()[m.range()])
                    {
                        held[rule] = true;
                        identifiers_missing -= 1;
                    }
                }
            }
        }
        for (rule, identifier) in self.identifiers.iter().enumerate() {
            if identifier.is_some() {
                on[rule] &= held[rule];
            }
        }
        on
    }

    /// Whether a rule may match in a file with this text.
    pub fn wanted(&self, text: &str, request_input: bool) -> bool {
        self.rules_for(text, request_input).contains(&true)
    }
}

impl ScanIndex {
    /// Indexes the rules for which `active` is true.
    pub fn new(rules: &[DeclarativeRule], active: impl Fn(&DeclarativeRule) -> bool) -> ScanIndex {
        let mut by_kind: [Vec<Vec<usize>>; 2] = [Vec::new(), Vec::new()];
        let mut any_kind: [Vec<usize>; 2] = [Vec::new(), Vec::new()];
        for (i, rule) in rules.iter().enumerate() {
            if !active(rule) {
                continue;
            }
            for lang in ALL_LANGS {
                let Some(c) = rule.compiled(lang) else {
                    continue;
                };
                let s = slot(lang);
                match c.matcher.potential_kinds() {
                    Some(kinds) => {
                        for k in kinds.iter() {
                            if by_kind[s].len() <= k {
                                by_kind[s].resize(k + 1, Vec::new());
                            }
                            by_kind[s][k].push(i);
                        }
                    }
                    None => any_kind[s].push(i),
                }
            }
        }
        let clock = std::env::var_os("CASEHARD_TIMINGS").map(|_| {
            (0..rules.len())
                .map(|_| (AtomicU64::new(0), AtomicU64::new(0)))
                .collect()
        });
        ScanIndex {
            by_kind,
            any_kind,
            clock,
            check_identifiers: true,
        }
    }

    /// Whether nodes lacking a rule's required identifier skip its matcher (on by default;
    /// off with the prefilter, to show that it changes no result).
    pub fn checking_identifiers(mut self, on: bool) -> ScanIndex {
        self.check_identifiers = on;
        self
    }

    pub fn is_empty(&self) -> bool {
        self.by_kind.iter().all(|v| v.iter().all(|r| r.is_empty()))
            && self.any_kind.iter().all(|v| v.is_empty())
    }
}

/// Nodes of the kinds the passes asked for, gathered during the rules' walk so that passes do
/// not walk the tree again.
pub struct CollectedNodes<'t> {
    kinds: Vec<(u16, Vec<Node<'t, StrDoc<Lang>>>)>,
}

impl<'t> CollectedNodes<'t> {
    /// The kinds to collect, as names; resolved to this grammar's kind ids.
    pub fn new(lang: Lang, kinds: &[&str]) -> CollectedNodes<'t> {
        CollectedNodes {
            kinds: kinds
                .iter()
                .map(|k| (lang.kind_to_id(k), Vec::new()))
                .collect(),
        }
    }

    /// The collected nodes of `kind`, in document order (empty if it was not asked for).
    pub fn of(&self, lang: Lang, kind: &str) -> &[Node<'t, StrDoc<Lang>>] {
        let id = lang.kind_to_id(kind);
        self.kinds
            .iter()
            .find(|(k, _)| *k == id)
            .map_or(&[], |(_, v)| v.as_slice())
    }

    fn offer(&mut self, node: &Node<'t, StrDoc<Lang>>) {
        let id = node.kind_id();
        if let Some((_, v)) = self.kinds.iter_mut().find(|(k, _)| *k == id) {
            v.push(node.clone());
        }
    }
}

/// Runs the indexed rules over one parsed file, in one walk that also collects nodes for the
/// passes. Only the rules `on` (by rule index: in the file's scope and, with the prefilter, with
/// a string they need in it; [`Prefilter::rules_for`]) are tried. Past `deadline`, the scan
/// stops before the next rule it would try ([`Overrun`]).
pub fn scan_file<'t>(
    index: &ScanIndex,
    rules: &[DeclarativeRule],
    on: &[bool],
    path: &str,
    tree: &'t Tree,
    collect: &mut CollectedNodes<'t>,
    deadline: Option<Instant>,
) -> Result<Vec<Proposal>, Overrun> {
    let lang = *tree.lang();
    let s = slot(lang);
    let by_kind = &index.by_kind[s];
    let any_kind = &index.any_kind[s];
    let mut out = Vec::new();
    let mut suppressions: Option<Suppressions> = None;
    let mut shared_path: Option<Arc<str>> = None;
    let root = tree.root();
    let source = tree.get_text().as_bytes();
    let mut spent = Spent::default();
    for node in root.dfs() {
        collect.offer(&node);
        let kind = usize::from(node.kind_id());
        let candidates = by_kind.get(kind).map(Vec::as_slice).unwrap_or(&[]);
        for &i in candidates.iter().chain(any_kind) {
            if !on[i] {
                continue;
            }
            let rule = &rules[i];
            let Some(compiled) = rule.compiled(lang) else {
                continue;
            };
            // A node without the identifier the rule's pattern names cannot match it.
            if let (true, Some(required)) = (index.check_identifiers, &compiled.required) {
                if required.find(&source[node.range()]).is_none() {
                    continue;
                }
            }
            if let Some(deadline) = deadline {
                if spent.check(i, deadline) {
                    let at = node.start_pos();
                    return Err(Overrun {
                        rule: rules[spent.costliest()].id.clone(),
                        line: at.line() + 1,
                        column: at.column(&node) + 1,
                    });
                }
            }
            let matched = match &index.clock {
                None => compiled.matcher.match_node(node.clone()),
                Some(clock) => {
                    let t = std::time::Instant::now();
                    let m = compiled.matcher.match_node(node.clone());
                    let (ns, tries) = &clock[i];
                    ns.fetch_add(t.elapsed().as_nanos() as u64, Relaxed);
                    tries.fetch_add(1, Relaxed);
                    m
                }
            };
            let Some(m) = matched else {
                continue;
            };
            // Broken regions parse as ERROR nodes and patterns still match in them: skip.
            if m.ancestors().any(|a| a.is_error()) {
                continue;
            }
            let line = m.start_pos().line();
            let sup = suppressions.get_or_insert_with(|| Suppressions::parse(tree.get_text()));
            if sup.covers(line, &rule.meta.id) {
                continue;
            }
            let edits = match &compiled.fix {
                Some(fix) if rule.meta.applicability != Applicability::Manual => {
                    let e = m.replace_by(fix);
                    let text = String::from_utf8(e.inserted_text).unwrap_or_default();
                    let mut edit = Edit {
                        start: e.position,
                        end: e.position + e.deleted_length,
                        text,
                    };
                    // A template rewrites the whole match; only what changes is kept (a
                    // schema's `.strict()`, not a copy of the schema).
                    edit.trim(tree.get_text());
                    vec![edit]
                }
                _ => Vec::new(),
            };
            out.push(Proposal {
                rule: rule.id.clone(),
                path: shared_path.get_or_insert_with(|| path.into()).clone(),
                at: m.range(),
                message: interpolate(&rule.message, m.get_env()),
                applicability: rule.meta.applicability,
                edits,
            });
        }
    }
    Ok(out)
}

/// A scan stopped at its deadline: where, and the rule whose matching took the most of the time.
#[derive(Debug)]
pub struct Overrun {
    pub rule: Arc<str>,
    /// Where the scan stopped (1-based): the start of the node it was about to try.
    pub line: usize,
    pub column: usize,
}

/// The time a file's scan gave each rule, from one clock reading per rule tried: the time up to
/// a reading is the previous rule's (the walk between them is small beside a costly match).
#[derive(Default)]
struct Spent {
    last: Option<(usize, Instant)>,
    by_rule: Vec<(usize, std::time::Duration)>,
}

impl Spent {
    /// Charges the time since the last reading to the rule tried then and starts `rule`'s;
    /// whether `deadline` has passed.
    fn check(&mut self, rule: usize, deadline: Instant) -> bool {
        let now = Instant::now();
        if let Some((prev, since)) = self.last {
            let d = now.saturating_duration_since(since);
            match self.by_rule.iter_mut().find(|(r, _)| *r == prev) {
                Some((_, total)) => *total += d,
                None => self.by_rule.push((prev, d)),
            }
        }
        self.last = Some((rule, now));
        now >= deadline
    }

    /// The rule charged the most time (the one about to be tried when none was charged yet).
    fn costliest(&self) -> usize {
        self.by_rule
            .iter()
            .max_by_key(|(_, d)| *d)
            .map(|(r, _)| *r)
            .or(self.last.map(|(r, _)| r))
            .unwrap_or_default()
    }
}

/// Replaces `$NAME` in a message with the text the metavariable captured (first line only).
fn interpolate(message: &Arc<str>, env: &MetaVarEnv<'_, StrDoc<Lang>>) -> Arc<str> {
    if !message.contains('$') {
        return message.clone();
    }
    let mut out = String::with_capacity(message.len());
    let mut rest: &str = message;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        let name_len = after
            .find(|c: char| !(c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'))
            .unwrap_or(after.len());
        let name = &after[..name_len];
        match env.get_match(name) {
            Some(node) if !name.is_empty() => {
                let text = node.text();
                let first = text.lines().next().unwrap_or("");
                out.push_str(first);
                if text.contains('\n') {
                    out.push('…');
                }
            }
            _ => {
                out.push('$');
                out.push_str(name);
            }
        }
        rest = &after[name_len..];
    }
    out.push_str(rest);
    out.into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::Catalog;

    #[test]
    fn a_files_proposals_share_its_path_and_each_rules_id_and_fixed_message() {
        let catalog = Catalog::load(&[]).unwrap();
        let rules = &catalog.rules;
        let index = ScanIndex::new(rules, |_| true);
        let on = vec![true; rules.len()];
        let text = "import { z } from \"zod\";\nexport async function POST(req: Request) {\n  const a = z.object({ x: z.string() }).parse(await req.json());\n  const b = z.object({ y: z.string() }).parse(await req.json());\n  return Response.json({ a, b });\n}\n";
        let tree = Lang::TypeScript.parse(text).unwrap();
        let mut collect = CollectedNodes::new(Lang::TypeScript, &[]);
        let out = scan_file(
            &index,
            rules,
            &on,
            "app/api/x/route.ts",
            &tree,
            &mut collect,
            None,
        )
        .unwrap();
        let strict: Vec<&Proposal> = out
            .iter()
            .filter(|p| &*p.rule == "schema/zod-strict")
            .collect();
        assert_eq!(strict.len(), 2, "{out:#?}");
        assert!(Arc::ptr_eq(&strict[0].path, &strict[1].path));
        assert!(Arc::ptr_eq(&strict[0].rule, &strict[1].rule));
        assert!(Arc::ptr_eq(&strict[0].message, &strict[1].message));
        assert!(out.iter().all(|p| Arc::ptr_eq(&p.path, &strict[0].path)));
        assert_eq!(&*strict[0].path, "app/api/x/route.ts");
    }
}
