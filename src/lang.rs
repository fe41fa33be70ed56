//! The source languages casehard reads, bound to ast-grep-core over tree-sitter-typescript.
//!
//! `.ts`/`.mts`/`.cts` are parsed with the TypeScript grammar (the TSX grammar misreads `<T>x`
//! casts and some generic arrows); everything else that is JavaScript-like is parsed with the
//! TSX grammar, which is a superset of JavaScript with JSX. A pattern compiled for one grammar
//! matches nothing in a tree of the other (node kind ids differ), so every rule is compiled once
//! per grammar.

use ast_grep_core::matcher::{Pattern, PatternBuilder, PatternError};
use ast_grep_core::tree_sitter::{LanguageExt, StrDoc, TSLanguage};
use ast_grep_core::{AstGrep, Language};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::sync::OnceLock;

/// Gives tree-sitter its own allocator (mimalloc) for the syntax trees, which every file's
/// parse builds and drops again: in glibc's malloc that churn was ~15% of the CPU of a run that
/// rewrites half of 10,000 files, and it scattered the trees among the texts and findings that
/// live to the end. With mimalloc, arenas committed on use (eager commit off, so the peak
/// memory stays where it was), the same run took 19.5 s instead of 23.5.
///
/// # Safety
/// Call it first, before any tree-sitter object exists (a tree made with one allocator must
/// not be freed by the other), and not from two threads at once. A second call does nothing.
pub unsafe fn use_tree_allocator() {
    static DONE: std::sync::Once = std::sync::Once::new();
    DONE.call_once(|| {
        use libmimalloc_sys as mi;
        /// `mi_option_arena_eager_commit` in mimalloc 3's `mimalloc.h` (the crate has no name for it).
        const ARENA_EAGER_COMMIT: mi::mi_option_t = 4;
        // SAFETY: options are set before mimalloc's first allocation; the caller guarantees no
        // tree-sitter object exists yet.
        unsafe {
            mi::mi_option_set(ARENA_EAGER_COMMIT, 0);
            tree_sitter::set_allocator(Some(tree_sitter::Allocator {
                malloc: mi::mi_malloc,
                calloc: mi::mi_calloc,
                realloc: mi::mi_realloc,
                free: mi::mi_free,
            }));
        }
    });
}

/// A grammar casehard parses with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    TypeScript,
    Tsx,
}

pub const ALL_LANGS: [Lang; 2] = [Lang::TypeScript, Lang::Tsx];

/// A parsed source file.
pub type Tree = AstGrep<StrDoc<Lang>>;
/// A node of a parsed TypeScript/TSX file.
pub type N<'a> = ast_grep_core::Node<'a, StrDoc<Lang>>;

/// The text of a plain string literal (`"x"`, `'x'`), without its quotes.
pub fn string_value(node: &N) -> Option<String> {
    if node.kind() != "string" {
        return None;
    }
    let t = node.text();
    Some(t[1..t.len().saturating_sub(1)].to_string())
}

/// `expr` without the parentheses, type assertions and `!` around it: the `await req.json()` in
/// `(await req.json()) as Stripe.Event`, the call in `await (req.json() as T)` (as tree-sitter
/// reads `await req.json() as T`).
pub fn unwrapped(expr: N<'_>) -> N<'_> {
    let mut e = expr;
    while matches!(
        e.kind().as_ref(),
        "parenthesized_expression"
            | "as_expression"
            | "satisfies_expression"
            | "non_null_expression"
    ) {
        let inner = e.children().find(|c| c.is_named());
        match inner {
            Some(inner) => e = inner,
            None => break,
        }
    }
    e
}

/// A call's arguments, comments left out.
pub fn call_args<'a>(call: &N<'a>) -> Vec<N<'a>> {
    call.child_in("arguments")
        .map(|a| {
            a.children()
                .filter(|c| c.is_named() && c.kind() != "comment")
                .collect()
        })
        .unwrap_or_default()
}

/// A node's child in a field, found by the field's id. ast-grep's `Node::field` asks tree-sitter
/// by name, which compares the name with every field name of the grammar on each call; the
/// passes' checks on every call and declaration made that a tenth of a scan. The ids are read
/// once per grammar.
pub trait Fields<'r> {
    /// The child in the field `name` (as `Node::field`).
    fn child_in(&self, name: &str) -> Option<N<'r>>;
}

impl<'r> Fields<'r> for N<'r> {
    fn child_in(&self, name: &str) -> Option<N<'r>> {
        static IDS: [OnceLock<std::collections::HashMap<&'static str, u16>>; 2] =
            [OnceLock::new(), OnceLock::new()];
        let lang = *self.lang();
        let ids = IDS[lang as usize].get_or_init(|| {
            let grammar = lang.grammar();
            (1..=grammar.field_count() as u16)
                .filter_map(|id| Some((grammar.field_name_for_id(id)?, id)))
                .collect()
        });
        self.child_by_field_id(*ids.get(name)?)
    }
}

fn typescript() -> &'static TSLanguage {
    static TS: OnceLock<TSLanguage> = OnceLock::new();
    TS.get_or_init(|| tree_sitter_typescript::LANGUAGE_TYPESCRIPT.into())
}

fn tsx() -> &'static TSLanguage {
    static TSX: OnceLock<TSLanguage> = OnceLock::new();
    TSX.get_or_init(|| tree_sitter_typescript::LANGUAGE_TSX.into())
}

impl Lang {
    /// The grammar for a file name, or `None` when casehard does not parse it.
    pub fn for_path(path: &str) -> Option<Lang> {
        let ext = Path::new(path).extension()?.to_str()?;
        match ext {
            "ts" | "mts" | "cts" => Some(Lang::TypeScript),
            "tsx" | "js" | "jsx" | "mjs" | "cjs" => Some(Lang::Tsx),
            _ => None,
        }
    }

    fn grammar(&self) -> &'static TSLanguage {
        match self {
            Lang::TypeScript => typescript(),
            Lang::Tsx => tsx(),
        }
    }

    /// Parses source text. tree-sitter always produces a tree (with ERROR nodes for broken
    /// input); this fails only if the parser itself refuses.
    pub fn parse(self, src: &str) -> Result<Tree, String> {
        AstGrep::try_new(src, self)
    }

    pub fn name(&self) -> &'static str {
        match self {
            Lang::TypeScript => "typescript",
            Lang::Tsx => "tsx",
        }
    }
}

impl Language for Lang {
    fn kind_to_id(&self, kind: &str) -> u16 {
        self.grammar().id_for_node_kind(kind, true)
    }
    fn field_to_id(&self, field: &str) -> Option<u16> {
        self.grammar().field_id_for_name(field).map(|f| f.get())
    }
    fn from_path<P: AsRef<Path>>(path: P) -> Option<Self> {
        Lang::for_path(path.as_ref().to_str()?)
    }
    fn build_pattern(&self, builder: &PatternBuilder) -> Result<Pattern, PatternError> {
        builder.build(|src| StrDoc::try_new(src, *self))
    }
}

impl LanguageExt for Lang {
    fn get_ts_language(&self) -> TSLanguage {
        self.grammar().clone()
    }
}

thread_local! {
    /// One parser per grammar per thread, for incremental reparses.
    static PARSERS: std::cell::RefCell<[Option<tree_sitter::Parser>; 2]> = const { std::cell::RefCell::new([None, None]) };
}

/// A replacement in a text, in byte offsets of the text before it: `start..end` became
/// `new_len` bytes.
#[derive(Clone, Copy, Debug)]
pub struct TextEdit {
    pub start: usize,
    pub end: usize,
    pub new_len: usize,
}

impl Lang {
    /// Parses `new_src`, the text of `old` after `edits` (ascending, non-overlapping), reusing
    /// the unchanged parts of `old`'s tree. tree-sitter guarantees the same tree as a fresh
    /// parse; it is several times cheaper.
    pub fn reparse(self, old: &Tree, edits: &[TextEdit], new_src: &str) -> Result<Tree, String> {
        let doc = old.root().get_doc();
        let old_src = doc.src.as_str();
        let mut ts_tree = doc.tree.clone();
        for edit in input_edits(old_src, edits, new_src).iter().rev() {
            // Last edit first: each one leaves the offsets before it unchanged.
            ts_tree.edit(edit);
        }
        let slot = match self {
            Lang::TypeScript => 0,
            Lang::Tsx => 1,
        };
        let tree = PARSERS.with(|cell| {
            let mut parsers = cell.borrow_mut();
            let parser = match &mut parsers[slot] {
                Some(p) => p,
                empty => {
                    let mut p = tree_sitter::Parser::new();
                    p.set_language(self.grammar()).map_err(|e| e.to_string())?;
                    empty.insert(p)
                }
            };
            parser.reset();
            parser
                .parse(new_src.as_bytes(), Some(&ts_tree))
                .ok_or_else(|| "the parser gave no tree".to_string())
        })?;
        Ok(AstGrep::doc(StrDoc {
            src: new_src.to_string(),
            lang: self,
            tree,
        }))
    }
}

/// The edits (ascending, in the order they were applied: an insertion before a replacement
/// that starts where it is) in tree-sitter's terms, in one pass over the old text: each
/// edit's positions are counted on from the previous one's, and where its text lands in the
/// new text from the lengths the edits before it changed by.
fn input_edits(old_src: &str, edits: &[TextEdit], new_src: &str) -> Vec<tree_sitter::InputEdit> {
    let mut out = Vec::with_capacity(edits.len());
    // Where the count of rows and columns has reached in the old text.
    let (mut at, mut point) = (0, tree_sitter::Point { row: 0, column: 0 });
    // How much longer the new text is for the edits before this one.
    let mut delta = 0isize;
    for e in edits {
        if e.start < at {
            // Out of order (not what callers pass): count from the start again.
            (at, point) = (0, tree_sitter::Point { row: 0, column: 0 });
        }
        let start_position = advance(point, &old_src[at..e.start]);
        let old_end_position = advance(start_position, &old_src[e.start..e.end]);
        let new_start = (e.start as isize + delta) as usize;
        let inserted = &new_src[new_start..new_start + e.new_len];
        out.push(tree_sitter::InputEdit {
            start_byte: e.start,
            old_end_byte: e.end,
            new_end_byte: e.start + e.new_len,
            start_position,
            old_end_position,
            new_end_position: advance(start_position, inserted),
        });
        (at, point) = (e.end, old_end_position);
        delta += e.new_len as isize - (e.end - e.start) as isize;
    }
    out
}

fn advance(mut p: tree_sitter::Point, text: &str) -> tree_sitter::Point {
    match text.rfind('\n') {
        Some(last) => {
            p.row += text.matches('\n').count();
            p.column = text.len() - last - 1;
        }
        None => p.column += text.len(),
    }
    p
}

/// True when the tree holds a syntax error (an ERROR or MISSING node) that is the file's,
/// not the grammar's (see [`grammar_false_alarm`]).
pub fn has_syntax_error(tree: &Tree) -> bool {
    first_syntax_error(tree).is_some()
}

/// tree-sitter-typescript 0.23.2 rejects a `&` that does not start an HTML entity in JSX —
/// in an attribute string (`href="/x?a=1&b=2"`) or in text (`<p>Tom & Jerry</p>`) — which JSX
/// and every TypeScript compiler accept. It leaves an ERROR node there and the rest of the
/// tree intact; that error is the grammar's, not the file's.
fn grammar_false_alarm(node: &ast_grep_core::Node<'_, StrDoc<Lang>>) -> bool {
    let in_attribute_string = node
        .ancestors()
        .find(|a| a.kind() == "string")
        .is_some_and(|s| s.parent().is_some_and(|p| p.kind() == "jsx_attribute"));
    // The `&` is either the ERROR's first byte or the last one before it (kept in jsx_text).
    let source = node.root().get_text();
    let before = &source[..node.range().start];
    let at_ampersand = node.text().starts_with('&') || before.trim_end().ends_with('&');
    let in_text = node.is_error()
        && at_ampersand
        && node
            .parent()
            .is_some_and(|p| matches!(p.kind().as_ref(), "jsx_element" | "jsx_fragment"));
    in_attribute_string || in_text
}

/// The first syntax error's 1-based line and column, for error messages.
pub fn first_syntax_error(tree: &Tree) -> Option<(usize, usize)> {
    let root = tree.root();
    if !root.get_inner_node().has_error() {
        return None;
    }
    let found = root
        .dfs()
        .find(|n| (n.is_error() || n.is_missing()) && !grammar_false_alarm(n))
        .map(|n| {
            let p = n.start_pos();
            (p.line() + 1, p.column(&n) + 1)
        });
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn child_in_finds_what_field_finds_for_every_field_of_both_grammars() {
        let src = "import { z } from \"zod\";\nconst a = async (req: Request) => { const b = await req.json(); return db.insert(t).values({ ...b, n: 1 }) as X; };\nexport function f<T>(x: T): T { if (x) { return x; } else { for (const y of [1]) { try { g(y); } catch (e) {} } } return x; }\nclass C extends D implements E { m(p = 1) { return this.p?.[0]; } }\n";
        let jsx = "export default function P() { return <div className=\"a\" onClick={() => f()}>{x}</div>; }\n";
        for (lang, text) in [(Lang::TypeScript, src), (Lang::Tsx, src), (Lang::Tsx, jsx)] {
            let tree = lang.parse(text).unwrap();
            let grammar = lang.grammar();
            let names: Vec<&str> = (1..=grammar.field_count() as u16)
                .filter_map(|id| grammar.field_name_for_id(id))
                .collect();
            assert!(names.len() > 20, "{lang:?} has fields");
            let mut found = 0;
            for node in tree.root().dfs() {
                for name in &names {
                    let by_name = node.field(name).map(|n| n.range());
                    assert_eq!(node.child_in(name).map(|n| n.range()), by_name, "{name}");
                    found += usize::from(by_name.is_some());
                }
                assert_eq!(node.child_in("no_such_field").map(|n| n.range()), None);
            }
            assert!(found > 10, "{lang:?}: {found} fields seen");
        }
    }

    #[test]
    fn picks_grammar_by_extension() {
        assert_eq!(Lang::for_path("a/b.ts"), Some(Lang::TypeScript));
        assert_eq!(Lang::for_path("a/b.cts"), Some(Lang::TypeScript));
        assert_eq!(Lang::for_path("a/b.tsx"), Some(Lang::Tsx));
        assert_eq!(Lang::for_path("a/b.mjs"), Some(Lang::Tsx));
        assert_eq!(Lang::for_path("a/b.json"), None);
        assert_eq!(Lang::for_path("Makefile"), None);
    }

    #[test]
    fn typescript_cast_parses_without_error_in_ts_grammar() {
        let tree = Lang::TypeScript.parse("const x = <number>y;\n").unwrap();
        assert!(!has_syntax_error(&tree));
    }

    /// Every node's kind, bytes and rows and columns, in document order.
    fn layout(tree: &Tree) -> Vec<String> {
        tree.root()
            .dfs()
            .map(|n| {
                let n = n.get_inner_node();
                format!(
                    "{} {:?} {:?}-{:?}",
                    n.kind(),
                    n.byte_range(),
                    n.start_position(),
                    n.end_position()
                )
            })
            .collect()
    }

    /// `old` with `edits` (start, end, text; ascending) applied, reparsed incrementally and
    /// parsed afresh: the same tree, node for node, positions included.
    fn assert_reparse_matches(old_src: &str, edits: &[(usize, usize, &str)]) {
        let old = Lang::TypeScript.parse(old_src).unwrap();
        let mut new_src = String::new();
        let mut at = 0;
        for (start, end, text) in edits {
            new_src.push_str(&old_src[at..*start]);
            new_src.push_str(text);
            at = *end;
        }
        new_src.push_str(&old_src[at..]);
        let text_edits: Vec<TextEdit> = edits
            .iter()
            .map(|(start, end, text)| TextEdit {
                start: *start,
                end: *end,
                new_len: text.len(),
            })
            .collect();
        // Each edit's rows and columns, counted from the start of the text. Edits are made
        // last first, so each is made on the old text before it: it ends after its own text.
        let point = |text: &str| tree_sitter::Point {
            row: text.matches('\n').count(),
            column: text.len() - text.rfind('\n').map_or(0, |nl| nl + 1),
        };
        let inputs = input_edits(old_src, &text_edits, &new_src);
        for ((start, end, text), input) in edits.iter().zip(&inputs) {
            assert_eq!(input.start_position, point(&old_src[..*start]));
            assert_eq!(input.old_end_position, point(&old_src[..*end]));
            let made = format!("{}{text}", &old_src[..*start]);
            assert_eq!(input.new_end_position, point(&made), "{text:?}");
        }
        let re = Lang::TypeScript
            .reparse(&old, &text_edits, &new_src)
            .unwrap();
        let fresh = Lang::TypeScript.parse(&new_src).unwrap();
        assert_eq!(re.get_text(), new_src);
        assert_eq!(layout(&re), layout(&fresh), "{new_src}");
    }

    #[test]
    fn incremental_reparse_equals_a_fresh_parse() {
        let src = "const a = z.object({\n  b: 1,\n});\nfoo(a);\n";
        // `.strict()` after the object, and foo renamed barbaz.
        let end = src.find(';').unwrap();
        let foo = src.find("foo").unwrap();
        assert_reparse_matches(src, &[(end, end, ".strict()"), (foo, foo + 3, "barbaz")]);
        // Lines added, joined and removed, so later edits' rows and columns move.
        let src = "import { x } from \"y\";\n\nexport function f() {\n  return x;\n}\n\nexport const g = () =>\n  f();\nconst h = 1;\n";
        let import_end = src.find('\n').unwrap() + 1;
        let body = src.find("  return").unwrap();
        let arrow = src.find("() =>\n  f()").unwrap();
        let h = src.find("const h").unwrap();
        assert_reparse_matches(
            src,
            &[
                (import_end, import_end, "import { z } from \"zod\";\n"),
                (
                    body,
                    body,
                    "  if (!x) {\n    throw new Error(\"x\");\n  }\n",
                ),
                (arrow, arrow + "() =>\n  f()".len(), "() => f()"),
                (h, src.len(), ""),
            ],
        );
        // An insertion, then a replacement that starts where it is (as they are applied).
        let src = "call(a, b);\n";
        let a = src.find('a').unwrap();
        assert_reparse_matches(src, &[(a, a, "first,\n  "), (a, a + 1, "second")]);
    }

    #[test]
    fn ampersands_in_jsx_attribute_strings_are_not_syntax_errors() {
        let ok = Lang::Tsx
            .parse(
                "const a = <a href=\"https://x.dev/?utm_source=a&utm_medium=b\" rel='x&y'>t</a>;\n",
            )
            .unwrap();
        assert!(!has_syntax_error(&ok));
        let many = Lang::Tsx
            .parse("const a = <a href=\"/x?a=1&b=2&c=3\" data-q=\"p&q\">t</a>;\n")
            .unwrap();
        assert!(!has_syntax_error(&many));
        let text = Lang::Tsx.parse("const a = <p>Tom & Jerry</p>;\n").unwrap();
        assert!(!has_syntax_error(&text));
        // When recovery spreads beyond the text (a second bare `&`, or one and then an entity),
        // the tree is not intact: it stays an error, and casehard leaves the file alone.
        let spread = Lang::Tsx
            .parse("const a = <p>Tom & Jerry &copy; x</p>;\n")
            .unwrap();
        assert!(has_syntax_error(&spread));
        let broken = Lang::Tsx
            .parse("const a = <a href=\"x?a=1&b=2\">t</a>;\nconst = ;\n")
            .unwrap();
        assert_eq!(
            first_syntax_error(&broken).map(|p| p.0),
            Some(2),
            "a real error elsewhere is still found"
        );
    }

    #[test]
    fn reports_first_error_position() {
        let tree = Lang::TypeScript.parse("const a = 1;\nconst = ;\n").unwrap();
        assert_eq!(first_syntax_error(&tree).map(|p| p.0), Some(2));
    }
}
