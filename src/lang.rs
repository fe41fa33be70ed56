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

/// True when the tree holds a syntax error (an ERROR or MISSING node).
pub fn has_syntax_error(tree: &Tree) -> bool {
    tree.root().get_inner_node().has_error()
}

/// The first syntax error's 1-based line and column, for error messages.
pub fn first_syntax_error(tree: &Tree) -> Option<(usize, usize)> {
    let root = tree.root();
    if !root.get_inner_node().has_error() {
        return None;
    }
    let found = root
        .dfs()
        .find(|n| n.is_error() || n.is_missing())
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

    #[test]
    fn reports_first_error_position() {
        let tree = Lang::TypeScript.parse("const a = 1;\nconst = ;\n").unwrap();
        assert_eq!(first_syntax_error(&tree).map(|p| p.0), Some(2));
    }
}
