//! Request handlers as the passes that edit them find them: App Router `route.ts` exports,
//! Pages Router API defaults and Express routes.

use crate::lang::{Fields, Lang};
use ast_grep_core::tree_sitter::StrDoc;
use ast_grep_core::Node;

type N<'a> = Node<'a, StrDoc<Lang>>;

/// An exported handler function, and where code goes at its start.
pub struct Handler {
    /// The exported name (`POST`), or `default`.
    pub name: String,
    /// Right after the body's `{`.
    pub at: usize,
    /// The parameters that are plain identifiers, in order (`req`, `res`).
    pub params: Vec<String>,
    /// The indentation of the body's first statement (the function's own plus one level when
    /// the body is empty).
    pub indent: String,
    /// The body holds a statement (not only comments).
    pub statements: bool,
    /// The body, braces included.
    pub body: std::ops::Range<usize>,
}

/// An exported handler among `names` (`default` for `export default function`):
/// `export async function POST(req) { ... }`, `export const POST = async (req) => { ... }`,
/// `export default async function handler(req, res) { ... }`. `unit` is one level of the
/// file's indentation.
pub fn exported_handler(node: &N, text: &str, names: &[&str], unit: &str) -> Option<Handler> {
    let export = node.ancestors().find(|a| a.kind() == "export_statement")?;
    let default = export.children().any(|c| c.kind() == "default");
    let (name, function) = match node.kind().as_ref() {
        "function_declaration" | "function_expression" if default => {
            // The declaration itself is the export's value, not a function nested in it.
            let direct = export.child_in("declaration").or(export.child_in("value"));
            (direct.is_some_and(|d| d.range() == node.range()))
                .then(|| ("default".to_string(), node.clone()))?
        }
        "function_declaration" => (node.child_in("name")?.text().to_string(), node.clone()),
        "variable_declarator" => {
            let value = node.child_in("value")?;
            if value.kind() != "arrow_function" {
                return None;
            }
            (node.child_in("name")?.text().to_string(), value)
        }
        _ => return None,
    };
    if !names.contains(&name.as_str()) {
        return None;
    }
    let params = param_names(&function)?;
    let body = function.child_in("body")?;
    if body.kind() != "statement_block" {
        return None;
    }
    let first = body
        .children()
        .find(|c| c.is_named() && c.kind() != "comment");
    let indent = match &first {
        Some(first) => line_indent(text, first.range().start),
        None => line_indent(text, function.range().start) + unit,
    };
    Some(Handler {
        name,
        at: body.range().start + 1,
        params,
        indent,
        statements: first.is_some(),
        body: body.range(),
    })
}

/// The names of a function's parameters that are plain identifiers (`req`, `res: Response`),
/// in order; `None` when it has no parameter list.
pub fn param_names(function: &N) -> Option<Vec<String>> {
    let names = function
        .child_in("parameters")?
        .children()
        .filter(|p| p.is_named())
        .filter_map(|p| {
            let pattern = p.child_in("pattern").unwrap_or(p);
            (pattern.kind() == "identifier").then(|| pattern.text().to_string())
        })
        .collect();
    Some(names)
}

/// The whitespace that starts the line holding `at`.
fn line_indent(text: &str, at: usize) -> String {
    let line_start = text[..at].rfind('\n').map_or(0, |i| i + 1);
    text[line_start..at]
        .chars()
        .take_while(|c| c.is_whitespace())
        .collect()
}

/// `app.post("/login", handler)` (or `router.post`): the method, the route path literal's
/// text without quotes, and where the first handler argument starts.
pub fn express_route(call: &N, methods: &[&str]) -> Option<(String, String, usize)> {
    let func = call.child_in("function")?;
    if func.kind() != "member_expression" {
        return None;
    }
    let method = func.child_in("property")?.text().to_string();
    if !methods.contains(&method.as_str()) {
        return None;
    }
    let args = crate::lang::call_args(call);
    let (first, second) = (args.first()?, args.get(1)?);
    if first.kind() != "string" {
        return None;
    }
    let path = first
        .text()
        .trim_matches(|c| c == '"' || c == '\'' || c == '`')
        .to_string();
    Some((method, path, second.range().start))
}
