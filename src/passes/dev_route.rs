//! `debug/dev-route`: debug, seed and test routes that answer in production. Generators
//! leave them behind (a route that dumps `process.env`, one that reseeds the database, a
//! "dev login", a page that shows the environment); each handler and page (App Router or
//! Pages Router) now answers only in development and 404 everywhere else.

use crate::lang::{Fields, Lang};
use crate::passes::imports::{self, ImportFacts};
use crate::passes::routes::{self, Handler};
use crate::passes::{facts_of, Facts, FileView, Pass, PassOutput, ProjectView};
use crate::plan::{Applicability, Area, Edit, Proposal, Severity};
use crate::rules::RuleMeta;
use ast_grep_core::tree_sitter::StrDoc;
use ast_grep_core::Node;
use std::collections::BTreeMap;

pub const DEV_ROUTE: &str = "debug/dev-route";
/// Route path segments of development-only routes: the word itself, with leading underscores
/// (`_debug`), or followed by `-` or `_` (`dev-login`, `test_email`). Not `env` or `config`:
/// apps serve their public runtime configuration there (a debug dump of the environment sits
/// under `debug/`).
const DEV_WORDS: &[&str] = &["debug", "dev", "seed", "test", "dump"];
/// Words an app may also use for its own resources (an exam's tests, a plant shop's seeds): as
/// a bare segment they mark a development route only at the end of the path (`api/seed`), not
/// when more follows (`api/test/[id]/results`).
const RESOURCE_WORDS: &[&str] = &["dev", "seed", "test"];
const METHODS: &[&str] = &["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"];
const EXPRESS_METHODS: &[&str] = &["get", "post", "put", "patch", "delete", "all", "use"];
/// What a guarded handler tests: development only, so a missing NODE_ENV denies too.
const DEVELOPMENT: &str = "process.env.NODE_ENV !== \"development\"";

pub struct DevRoute {
    meta: [RuleMeta; 1],
}

impl Default for DevRoute {
    fn default() -> Self {
        DevRoute {
            meta: [crate::passes::rule_meta(
                "src/passes/dev_route.rs",
                Area::Ops,
                DEV_ROUTE,
                "Debug, seed and test routes and pages answer only in development",
                Severity::Error,
                Applicability::Review,
                [
                    "Finds route handlers on debug, dev, seed, test and dump paths (`app/api/debug/route.ts`, `pages/api/seed.ts`, `app.get(\"/api/dev-login\", ...)`; bare `dev`, `seed` and `test` only as the path's last segment, since apps also name their own resources so) and makes them answer only when `NODE_ENV` is `development` (as under `next dev`): App Router handlers return 404 first, Pages Router handlers end with 404, Express routes get a guard before their handler, App Router pages on such paths (`app/debug/page.tsx`) call `notFound()` first, and Pages Router pages (`pages/debug.tsx`) answer `{ notFound: true }` from their `getStaticProps` or `getServerSideProps`, added when they have none. Handlers and pages that already read `NODE_ENV` are left alone.",
                    "These routes are written to make development easy — dump the environment, reseed or wipe the database, sign in as anyone — and ship with the app, where anyone who guesses the path can call them.",
                    "export async function GET() {\n  return NextResponse.json({ env: process.env });\n}",
                    "export async function GET() {\n  if (process.env.NODE_ENV !== \"development\") return new NextResponse(null, { status: 404 });\n  return NextResponse.json({ env: process.env });\n}",
                    "Review: a route on such a path that production needs (a health check named `test`) stops answering there; move it to another path. Staging runs with NODE_ENV=production and is refused too.",
                ],
                &["CWE-489: Active Debug Code", "CWE-215: Insertion of Sensitive Information Into Debugging Code"],
            )],
        }
    }
}

/// Whether a route path (`api/debug/users`) names a development-only route.
fn dev_path(route: &str) -> bool {
    let segments: Vec<&str> = route.split('/').filter(|s| !s.is_empty()).collect();
    segments.iter().enumerate().any(|(i, segment)| {
        let s = segment.trim_start_matches('_').to_lowercase();
        DEV_WORDS.iter().any(|w| {
            let suffixed = s
                .strip_prefix(w)
                .is_some_and(|rest| rest.starts_with(['-', '_']));
            let last = i + 1 == segments.len();
            suffixed || (s == *w && (last || !RESOURCE_WORDS.contains(w)))
        })
    })
}

/// What kind of file serves a development path.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Served {
    /// An App Router `route.ts`: exported method handlers.
    #[default]
    Route,
    /// A Pages Router API file: a default `(req, res)` handler.
    PagesApi,
    /// An App Router `page.tsx`: a default component, rendered for anyone who opens the URL.
    Page,
    /// A Pages Router page (`pages/debug.tsx`): a default component, whose data function
    /// (`getStaticProps`, `getServerSideProps`) can answer 404 instead.
    PagesPage,
}

/// Pages Router files that are no page of their own.
const PAGES_SPECIAL: &[&str] = &["_app", "_document", "_error", "404", "500"];

/// The route of an App Router `route.ts` or `page.tsx`, or of a Pages Router API file, on a
/// development path, and what kind of file it is.
fn dev_route(path: &str) -> Option<(String, Served)> {
    let stem = path.rsplit_once('.').map_or(path, |(stem, _)| stem);
    let pages_page = ["pages/", "src/pages/"]
        .iter()
        .find_map(|root| stem.strip_prefix(root))
        .filter(|page| !page.starts_with("api/") && !PAGES_SPECIAL.contains(page));
    let (route, served) = if let Some(i) = path.find("pages/api/") {
        (&stem[i + "pages/".len()..], Served::PagesApi)
    } else if let Some(page) = pages_page {
        if !matches!(
            path.rsplit_once('.'),
            Some((_, "tsx" | "jsx" | "ts" | "js"))
        ) {
            return None;
        }
        (page, Served::PagesPage)
    } else {
        let (dir, served) = match stem.strip_suffix("/route") {
            Some(dir) => (dir, Served::Route),
            // Only under `app/`: a `page.tsx` elsewhere (`pages/dev/page.tsx`) is no App Router
            // page, and `notFound()` works only in one.
            None if path.starts_with("app/") || path.contains("/app/") => {
                (stem.strip_suffix("/page")?, Served::Page)
            }
            None => return None,
        };
        (&dir[dir.find("app/").map_or(0, |i| i + 4)..], served)
    };
    let route = route.trim_end_matches("/index");
    dev_path(route).then(|| (route.to_string(), served))
}

/// The URL path of an App Router route: its route groups (`(tools)`) are not part of it.
fn url_path(route: &str) -> String {
    route
        .split('/')
        .filter(|s| !(s.starts_with('(') && s.ends_with(')')))
        .collect::<Vec<_>>()
        .join("/")
}

/// Whether `node` sits in an `if` whose condition reads NODE_ENV (routes registered only
/// outside production).
fn inside_env_check(node: &Node<'_, StrDoc<Lang>>) -> bool {
    node.ancestors().any(|a| {
        a.kind() == "if_statement"
            && a.child_in("condition")
                .is_some_and(|c| c.text().contains("NODE_ENV"))
    })
}

/// What a Pages Router page on a development path gets when it has no data function to guard.
enum PageProps {
    /// A data function of its own at the end of the file (at this offset): `getStaticProps`,
    /// or `getServerSideProps` on a dynamic route, which `getStaticProps` would need
    /// `getStaticPaths` for.
    Add {
        at: usize,
        dynamic: bool,
        /// The file does not end with a line break.
        open_line: bool,
    },
    /// Its data function is written so casehard cannot put a guard first (an expression body,
    /// a wrapped function), or it uses `getInitialProps`, which no data function may join:
    /// why, for the finding.
    Manual(&'static str),
}

/// An App Router page component whose arrow function's body is an expression
/// (`const Page = () => <pre>...</pre>`): nothing to put a guard before until it is a block.
struct ExpressionPage {
    /// The expression body, and its text.
    body: std::ops::Range<usize>,
    expr: String,
    /// The indentation of the line the component starts on.
    indent: String,
    /// The body holds a line break inside a string or template, which re-indenting its lines
    /// would change.
    multiline_string: bool,
}

/// The default-exported component of an App Router page, when it is an arrow function whose
/// body is an expression: `export default () => (...)`, or `const Page = () => (...)` exported
/// by name.
fn expression_page(file: &FileView<'_>) -> Option<ExpressionPage> {
    let value = routes::default_export_value(file)?;
    let arrow = match value.kind().as_ref() {
        "arrow_function" => value,
        "identifier" => routes::declared_function(file, &value)?,
        _ => return None,
    };
    if arrow.kind() != "arrow_function" {
        return None;
    }
    let body = arrow.child_in("body")?;
    if body.kind() == "statement_block" {
        return None;
    }
    let multiline_string = body.dfs().any(|n| {
        matches!(n.kind().as_ref(), "string" | "template_string") && n.text().contains('\n')
    });
    Some(ExpressionPage {
        body: body.range(),
        expr: body.text().to_string(),
        indent: crate::passes::line_indent(file.text, arrow.range().start),
        multiline_string,
    })
}

struct FileFacts {
    route: String,
    served: Served,
    handlers: Vec<Handler>,
    /// An App Router page whose component's body is an expression.
    expression_page: Option<ExpressionPage>,
    /// A Pages Router page without a data function casehard guards.
    page_props: Option<PageProps>,
    /// Express routes: (method, path, where the guard goes: before the first handler).
    express: Vec<(String, String, usize)>,
    /// The file uses `NextResponse` (a handler typed to return one cannot return a `Response`).
    next_response: bool,
    /// For a page, which calls `notFound` from `next/navigation`.
    imports: Option<ImportFacts>,
}

impl Pass for DevRoute {
    fn rules(&self) -> &[RuleMeta] {
        &self.meta
    }
    fn kinds(&self) -> &'static [&'static str] {
        routes::KINDS
    }
    fn wants(&self, path: &str, text: &str) -> bool {
        let express =
            text.contains("express") && DEV_WORDS.iter().any(|w| text.contains(&format!("/{w}")));
        (dev_route(path).is_some() || express) && !path.contains("lib/casehard/")
    }
    fn may_edit(&self, facts: &Facts) -> bool {
        facts.downcast_ref::<FileFacts>().is_some_and(|f| {
            !f.handlers.is_empty()
                || !f.express.is_empty()
                || matches!(f.page_props, Some(PageProps::Add { .. }))
                || f.expression_page.is_some()
        })
    }
    fn scan(&self, file: &FileView<'_>) -> Option<Facts> {
        let (route, served) = dev_route(file.path).unwrap_or_default();
        let pages = served == Served::PagesApi;
        let names: &[&str] = match served {
            Served::Route => METHODS,
            Served::PagesPage => &["getStaticProps", "getServerSideProps"],
            _ => &["default"],
        };
        let mut page_props = None;
        let mut expression = None;
        let handlers: Vec<Handler> = if route.is_empty() {
            vec![]
        } else if served == Served::PagesPage {
            let data = routes::exported_handlers(file, names);
            if data
                .iter()
                .any(|h| file.text[h.body.clone()].contains("NODE_ENV"))
            {
                vec![]
            } else if data.iter().any(|h| h.statements) {
                data.into_iter().filter(|h| h.statements).collect()
            } else {
                let root = file.tree.root();
                let has_default = root.children().any(|stmt| {
                    stmt.kind() == "export_statement"
                        && stmt.children().any(|c| c.kind() == "default")
                });
                let written = ["getStaticProps", "getServerSideProps"]
                    .iter()
                    .any(|name| file.text.contains(name));
                page_props = has_default.then(|| {
                    if file.text.contains("getInitialProps") {
                        PageProps::Manual("it uses `getInitialProps`, which `getStaticProps` and `getServerSideProps` cannot join: make the page answer 404 unless NODE_ENV is development, or move it off a path production serves")
                    } else if written {
                        PageProps::Manual("casehard cannot put a guard first in its data function (an expression body or a wrapped function): return `{ notFound: true }` there first unless NODE_ENV is development")
                    } else {
                        PageProps::Add {
                            at: file.text.len(),
                            dynamic: route.contains('['),
                            open_line: !file.text.is_empty() && !file.text.ends_with('\n'),
                        }
                    }
                });
                vec![]
            }
        } else {
            let mut found = routes::exported_handlers(file, names);
            // A page may also name its component first and export it after.
            if served == Served::Page && found.is_empty() {
                found.extend(routes::default_export_by_name(file));
            }
            if served == Served::Page && found.is_empty() {
                expression = expression_page(file).filter(|p| !p.expr.contains("NODE_ENV"));
            }
            found
                .into_iter()
                // An empty handler has nothing to keep from production.
                .filter(|h| h.statements && !file.text[h.body.clone()].contains("NODE_ENV"))
                .filter(|h| !pages || h.params.len() >= 2)
                .collect()
        };
        let express: Vec<(String, String, usize)> = if file.text.contains("express") {
            file.nodes("call_expression")
                .iter()
                .filter(|c| !c.text().contains("NODE_ENV") && !inside_env_check(c))
                .filter_map(|c| routes::express_route(c, EXPRESS_METHODS))
                .filter(|(_, path, _)| dev_path(path))
                .collect()
        } else {
            vec![]
        };
        (!handlers.is_empty()
            || !express.is_empty()
            || page_props.is_some()
            || expression.is_some())
        .then(|| {
            Box::new(FileFacts {
                route,
                served,
                handlers,
                page_props,
                expression_page: expression,
                express,
                next_response: file.text.contains("NextResponse"),
                imports: (served == Served::Page)
                    .then(|| imports::scan(&file.tree.root(), file.text)),
            }) as Facts
        })
    }

    fn finish(
        &self,
        project: &ProjectView<'_>,
        facts: &BTreeMap<String, Facts>,
        out: &mut PassOutput,
    ) {
        let pages_router = project
            .stack
            .frameworks
            .contains(&crate::stack::Framework::NextPages);
        for (path, file) in facts_of::<FileFacts>(facts) {
            // `pages/` is a Pages Router's only in a Next.js app (Vite apps keep React Router
            // screens there).
            if file.served == Served::PagesPage && !pages_router {
                continue;
            }
            let style = &project.style_of(path);
            let s = style.semi();
            let q = style.quote;
            let test = DEVELOPMENT.replace('"', &q.to_string());
            for h in &file.handlers {
                let i = &h.indent;
                let mut edits = vec![];
                let guard = match file.served {
                    Served::PagesApi => {
                        let unit = &style.indent;
                        format!(
                            "\n{i}if ({test}) {{\n{i}{unit}{}.status(404).end(){s}\n{i}{unit}return{s}\n{i}}}",
                            h.params[1]
                        )
                    }
                    Served::Route => {
                        let response = if file.next_response {
                            "NextResponse"
                        } else {
                            "Response"
                        };
                        format!(
                            "\n{i}if ({test}) return new {response}(null, {{ status: 404 }}){s}"
                        )
                    }
                    Served::Page => {
                        // `notFound()` ends rendering with the app's 404 page; it returns `never`,
                        // so what the component returns keeps its type.
                        edits.extend(file.imports.as_ref().and_then(|f| {
                            imports::add_package_import(f, style, "notFound", "next/navigation")
                        }));
                        format!("\n{i}if ({test}) notFound(){s}")
                    }
                    // A data function's `{ notFound: true }` renders the app's 404 page; at
                    // build time (`getStaticProps`) the page is not generated at all.
                    Served::PagesPage => format!("\n{i}if ({test}) return {{ notFound: true }}{s}"),
                };
                edits.push(Edit::insert(h.at, guard));
                let message = match (file.served, h.name.as_str()) {
                    (Served::Page | Served::PagesPage, _) => format!("the page /{} is a development page that renders in production too; it now renders only when NODE_ENV is development, and the app's 404 page elsewhere", url_path(&file.route)),
                    (_, name) => {
                        let name = if name == "default" { "the handler".to_string() } else { format!("`{name}`") };
                        format!("{name} of {} is a development route that answers in production too; it now answers only when NODE_ENV is development, and 404 elsewhere", file.route)
                    }
                };
                out.proposals.push(Proposal {
                    rule: DEV_ROUTE.into(),
                    path: path.into(),
                    at: h.at..h.at,
                    message: message.into(),
                    applicability: Applicability::Review,
                    edits,
                });
            }
            if let Some(page) = &file.expression_page {
                let route = url_path(&file.route);
                let (message, applicability, edits) = if page.multiline_string {
                    (
                        format!("the page /{route} is a development page that renders in production too; its component returns an expression holding a multi-line string, which casehard does not re-indent into a block: make its body a block that first calls `notFound()` unless NODE_ENV is development"),
                        Applicability::Manual,
                        vec![],
                    )
                } else {
                    let (i, unit) = (&page.indent, &style.indent);
                    // The expression's later lines move one level in, with the `return`.
                    let expr = page.expr.replace('\n', &format!("\n{unit}"));
                    let block = format!(
                        "{{\n{i}{unit}if ({test}) notFound(){s}\n{i}{unit}return {expr}{s}\n{i}}}"
                    );
                    let mut edits: Vec<Edit> = file
                        .imports
                        .as_ref()
                        .and_then(|f| {
                            imports::add_package_import(f, style, "notFound", "next/navigation")
                        })
                        .into_iter()
                        .collect();
                    edits.push(Edit::replace(page.body.clone(), block));
                    (
                        format!("the page /{route} is a development page that renders in production too; it now renders only when NODE_ENV is development, and the app's 404 page elsewhere"),
                        Applicability::Review,
                        edits,
                    )
                };
                out.proposals.push(Proposal {
                    rule: DEV_ROUTE.into(),
                    path: path.into(),
                    at: page.body.start..page.body.start,
                    message: message.into(),
                    applicability,
                    edits,
                });
            }
            if let Some(props) = &file.page_props {
                let page = url_path(&file.route);
                let (message, applicability, edits) = match props {
                    PageProps::Add {
                        at,
                        dynamic,
                        open_line,
                    } => {
                        let unit = &style.indent;
                        let name = if *dynamic { "getServerSideProps" } else { "getStaticProps" };
                        let nl = if *open_line { "\n" } else { "" };
                        let add = format!(
                            "{nl}\nexport async function {name}() {{\n{unit}if ({test}) return {{ notFound: true }}{s}\n{unit}return {{ props: {{}} }}{s}\n}}\n"
                        );
                        (
                            format!("the page /{page} is a development page that renders in production too; it now gets `{name}`, which renders it only when NODE_ENV is development, and the app's 404 page elsewhere"),
                            Applicability::Review,
                            vec![Edit::insert(*at, add)],
                        )
                    }
                    PageProps::Manual(why) => (
                        format!("the page /{page} is a development page that renders in production too; {why}"),
                        Applicability::Manual,
                        vec![],
                    ),
                };
                out.proposals.push(Proposal {
                    rule: DEV_ROUTE.into(),
                    path: path.into(),
                    at: 0..0,
                    message: message.into(),
                    applicability,
                    edits,
                });
            }
            for (method, route, at) in &file.express {
                let guard = format!(
                    "(_req, res, next) => ({} ? res.status(404).end() : next()), ",
                    test
                );
                out.proposals.push(Proposal {
                    rule: DEV_ROUTE.into(),
                    path: path.into(),
                    at: *at..*at,
                    message: format!("the Express route `{method} {route}` is a development route that answers in production too; it now answers only when NODE_ENV is development, and 404 elsewhere").into(),
                    applicability: Applicability::Review,
                    edits: vec![Edit::insert(*at, guard)],
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn development_routes_are_known_by_a_whole_path_segment() {
        for (path, route) in [
            (
                "src/app/api/debug/route.ts",
                Some(("api/debug", Served::Route)),
            ),
            (
                "app/api/_debug/env/route.js",
                Some(("api/_debug/env", Served::Route)),
            ),
            (
                "app/(admin)/api/dev-login/route.ts",
                Some(("(admin)/api/dev-login", Served::Route)),
            ),
            (
                "src/pages/api/seed.ts",
                Some(("api/seed", Served::PagesApi)),
            ),
            (
                "pages/api/test_email/index.ts",
                Some(("api/test_email", Served::PagesApi)),
            ),
            ("app/api/testimonials/route.ts", None),
            ("app/api/devices/route.ts", None),
            ("app/api/auth/reset/route.ts", None),
            ("app/api/environment/route.ts", None),
            ("app/api/env/route.ts", None),
            ("app/api/test/[id]/results/route.ts", None),
            ("pages/api/seed/varieties.ts", None),
            (
                "app/api/debug/[table]/route.ts",
                Some(("api/debug/[table]", Served::Route)),
            ),
            (
                "pages/api/seed/index.ts",
                Some(("api/seed", Served::PagesApi)),
            ),
            ("app/debug/page.tsx", Some(("debug", Served::Page))),
            (
                "src/app/(tools)/seed/page.jsx",
                Some(("(tools)/seed", Served::Page)),
            ),
            ("app/testimonials/page.tsx", None),
            ("app/debug/layout.tsx", None),
            ("app/tests/[id]/page.tsx", None),
            ("pages/dev/page.tsx", None),
            ("pages/debug.tsx", Some(("debug", Served::PagesPage))),
            (
                "src/pages/debug/[table].tsx",
                Some(("debug/[table]", Served::PagesPage)),
            ),
            ("pages/seed/index.jsx", Some(("seed", Served::PagesPage))),
            ("pages/_app.tsx", None),
            ("pages/debug.module.css", None),
            ("src/components/pages/debug.tsx", None),
        ] {
            let got = dev_route(path);
            assert_eq!(got.as_ref().map(|(r, p)| (r.as_str(), *p)), route, "{path}");
        }
    }
}
