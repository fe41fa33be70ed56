//! Request handlers as the passes that edit them find them: App Router `route.ts` exports,
//! Pages Router API defaults and Express routes.

use crate::lang::{Fields, Lang};
use ast_grep_core::tree_sitter::StrDoc;
use ast_grep_core::Node;

type N<'a> = Node<'a, StrDoc<Lang>>;

/// The node kinds a pass that edits handlers and Express routes reads.
pub const KINDS: &[&str] = &[
    "function_declaration",
    "variable_declarator",
    "call_expression",
];

/// The file's exported handlers among `names` (see [`exported_handler`]).
pub fn exported_handlers(file: &crate::passes::FileView<'_>, names: &[&str]) -> Vec<Handler> {
    file.nodes("function_declaration")
        .iter()
        .chain(file.nodes("variable_declarator"))
        .filter_map(|n| exported_handler(n, file.text, names))
        .collect()
}

/// An exported handler function, and where code goes at its start.
pub struct Handler {
    /// The exported name (`POST`), or `default`.
    pub name: String,
    /// Right after the body's `{`.
    pub at: usize,
    /// The parameters that are plain identifiers, in order (`req`, `res`).
    pub params: Vec<String>,
    /// The indentation of the body's first statement (the function's own when the body is
    /// empty).
    pub indent: String,
    /// The body holds a statement (not only comments).
    pub statements: bool,
    /// The body, braces included.
    pub body: std::ops::Range<usize>,
}

/// An exported handler among `names` (`default` for `export default function`):
/// `export async function POST(req) { ... }`, `export const POST = async (req) => { ... }`,
/// `export default async function handler(req, res) { ... }`.
pub fn exported_handler(node: &N, text: &str, names: &[&str]) -> Option<Handler> {
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
    handler(name, &function, text)
}

/// The function a module exports by name as its default (`const Page = () => { ... };` or
/// `function Page() { ... }`, then `export default Page;`), as the handler `default`.
pub fn default_export_by_name(file: &crate::passes::FileView<'_>) -> Option<Handler> {
    let value = default_export_value(file)?;
    if value.kind() != "identifier" {
        return None;
    }
    handler(
        "default".to_string(),
        &declared_function(file, &value)?,
        file.text,
    )
}

/// The value of the module's `export default <expression>;` (not a declaration it exports).
pub fn default_export_value<'a>(file: &crate::passes::FileView<'a>) -> Option<N<'a>> {
    file.tree.root().children().find_map(|stmt| {
        (stmt.kind() == "export_statement" && stmt.children().any(|c| c.kind() == "default"))
            .then(|| stmt.child_in("value"))?
    })
}

/// The function the identifier `name` names at the top of the module: `function name() {}`,
/// or `const name = () => ...`.
pub fn declared_function<'a>(file: &crate::passes::FileView<'a>, name: &N<'a>) -> Option<N<'a>> {
    let name = name.text();
    let named = |n: &N| n.child_in("name").is_some_and(|id| id.text() == name);
    file.nodes("function_declaration")
        .iter()
        .find(|f| named(f) && f.parent().is_some_and(|p| p.kind() == "program"))
        .cloned()
        .or_else(|| {
            file.nodes("variable_declarator")
                .iter()
                .filter(|d| named(d))
                .find_map(|d| d.child_in("value").filter(|v| v.kind() == "arrow_function"))
        })
}

/// `function` as a handler: where code goes at the start of its body.
fn handler(name: String, function: &N, text: &str) -> Option<Handler> {
    let params = param_names(function)?;
    let body = function.child_in("body")?;
    if body.kind() != "statement_block" {
        return None;
    }
    let first = body
        .children()
        .find(|c| c.is_named() && c.kind() != "comment");
    let indent = match &first {
        Some(first) => crate::passes::line_indent(text, first.range().start),
        None => crate::passes::line_indent(text, function.range().start),
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

/// `x.use("/path", ...)`, `x.post("/path", ...)` with a method among `methods`: the method,
/// the route path (the literal's text without quotes) and the call's arguments.
pub fn route_call<'a>(call: &N<'a>, methods: &[&str]) -> Option<(String, String, Vec<N<'a>>)> {
    let func = call.child_in("function")?;
    if func.kind() != "member_expression" {
        return None;
    }
    let method = func.child_in("property")?.text().to_string();
    if !methods.contains(&method.as_str()) {
        return None;
    }
    let args = crate::lang::call_args(call);
    let path = args.first().and_then(crate::lang::string_value)?;
    Some((method, path, args))
}

/// `app.post("/login", handler)` (or `router.post`): the method, the route path, and where
/// the first handler argument starts.
pub fn express_route(call: &N, methods: &[&str]) -> Option<(String, String, usize)> {
    let (method, path, args) = route_call(call, methods)?;
    let handler = args.get(1)?.range().start;
    Some((method, path, handler))
}
