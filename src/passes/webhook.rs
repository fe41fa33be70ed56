//! `webhook/stripe-signature`: Stripe webhook route handlers that trust an unverified body.
//!
//! A Next.js route handler whose body feeds Stripe event handling (`event.type`, event names
//! such as `checkout.session.completed`, or a path naming a webhook) and that reads the body
//! with `await req.text()` or `await req.json()` without `constructEvent`: the line that reads
//! the body becomes a call to a verification helper (injected once, from
//! templates/nextjs/stripe-webhook.ts.hbs) that fails closed; the rest of the handler, its
//! `switch` on event types included, stays as it was.

use crate::lang::Lang;
use crate::lang::{unwrapped, Fields};
use crate::passes::clients::{self, Kind};
use crate::passes::imports::{self, ImportFacts};
use crate::passes::{
    facts_of, helper_file, helper_for, helper_path, Facts, FileView, Pass, PassOutput, ProjectView,
};
use crate::plan::{Applicability, Area, Edit, Proposal, Severity};
use crate::rules::{Docs, Origin, RuleMeta};
use crate::stack::alias_root;
use ast_grep_core::tree_sitter::StrDoc;
use ast_grep_core::Node;
use serde_json::json;
use std::collections::BTreeMap;

pub const SIGNATURE: &str = "webhook/stripe-signature";
pub const IDEMPOTENCY: &str = "webhook/idempotency";
const HELPER: &str = "verifyStripeWebhook";
/// Where the helper for Supabase edge functions goes (Supabase's folder for shared code).
const EDGE_HELPER: &str = "supabase/functions/_shared/casehard-stripe-webhook.ts";
/// The helper for Node handlers (Express, Pages Router API routes).
const NODE_HELPER: &str = "verifyStripeRequest";
const GUARD: &str = "firstDelivery";
const EVENT_NAMES: &[&str] = &[
    "checkout.session.completed",
    "customer.subscription",
    "invoice.paid",
    "invoice.payment",
    "payment_intent.",
];

type N<'a> = Node<'a, StrDoc<Lang>>;

pub struct StripeSignature {
    meta: [RuleMeta; 2],
}

impl Default for StripeSignature {
    fn default() -> Self {
        StripeSignature {
            meta: [RuleMeta {
                id: SIGNATURE.into(),
                title: "Stripe webhooks are verified before they are trusted".into(),
                severity: Severity::Error,
                area: Area::Payments,
                applicability: Applicability::Review,
                origin: Origin::Pass("src/passes/webhook.rs"),
                docs: Docs {
                    what: "Finds Next.js route handlers that handle Stripe events from a body they never verified (`JSON.parse(await req.text())`, `await req.json()`, no `constructEvent`), and makes the line that reads the body call an injected helper that verifies the `stripe-signature` header with the Stripe SDK (`constructEventAsync` with an explicit 300-second tolerance, Web Crypto so edge runtimes work too). Without `STRIPE_WEBHOOK_SECRET` the helper answers 500; a missing, forged or stale signature gets a bare 400. The handler's own logic is untouched.".into(),
                    why: "Anyone who finds the endpoint can POST `{\"type\": \"checkout.session.completed\", ...}` and be granted a plan, credits or a paid order for free; an old genuine event can be replayed. Only the signature proves Stripe sent it, and only the timestamp inside it bounds replays.".into(),
                    before: "export async function POST(req: Request) {\n  const payload = await req.text();\n  const event = JSON.parse(payload);\n  switch (event.type) { /* ... */ }\n}".into(),
                    after: "export async function POST(req: Request) {\n  const verified = await verifyStripeWebhook(req);\n  if (!verified.ok) return verified.response;\n  const payload = verified.payload;\n  const event = JSON.parse(payload);\n  switch (event.type) { /* ... */ }\n}".into(),
                    fix_safety: Some("Review: set STRIPE_WEBHOOK_SECRET (the endpoint's signing secret from the Stripe dashboard or `stripe listen`) in every environment, or every webhook is refused with 500.".into()),
                    references: vec![
                        "CWE-345: Insufficient Verification of Data Authenticity".into(),
                        "CWE-294: Authentication Bypass by Capture-replay".into(),
                        "https://docs.stripe.com/webhooks#verify-webhook-signatures".into(),
                    ],
                },
            },
            RuleMeta {
                id: IDEMPOTENCY.into(),
                title: "Each webhook event is processed once".into(),
                severity: Severity::Warning,
                area: Area::Payments,
                applicability: Applicability::Review,
                origin: Origin::Pass("src/passes/webhook.rs"),
                docs: Docs {
                    what: "In a verified Stripe webhook handler, records the event id in a `processed_webhook_events` table before the handler's side effects, with one `insert ... on conflict do nothing`, and answers an id already recorded with 200 without processing it again. The table comes as a migration where the app keeps its migrations, and the helper uses the app's own client (Drizzle, Prisma, a node-postgres pool) or, in a Supabase edge function, the function's service-role supabase-js client (a duplicate id is PostgreSQL's unique violation, 23505; any other failure throws, so nothing is processed unrecorded). Where casehard finds no such client, the finding is manual.".into(),
                    why: "Stripe delivers at least once and retries on any timeout; an attacker can also replay a genuine event inside the tolerance window. Without a record of processed ids, each delivery grants the credits, ships the order or extends the plan again.".into(),
                    before: "const event = JSON.parse(payload);
switch (event.type) { /* grant credits */ }".into(),
                    after: "const event = JSON.parse(payload);
if (!(await firstDelivery(event.id))) return Response.json({ received: true, duplicate: true });
switch (event.type) { /* grant credits */ }".into(),
                    fix_safety: Some("Review: apply the migration before deploying the handler; an event whose processing fails after its id was recorded is not retried by a redelivery, so make failures visible.".into()),
                    references: vec![
                        "CWE-294: Authentication Bypass by Capture-replay".into(),
                        "https://docs.stripe.com/webhooks#handle-duplicate-events".into(),
                    ],
                },
            }],
        }
    }
}

/// A statement in a handler that reads the body unverified.
#[derive(Debug)]
struct BodyRead {
    /// The whole `const x = await req.text();` statement.
    statement: std::ops::Range<usize>,
    request: String,
    variable: String,
    /// `json()`: the replacement must parse the verified payload itself.
    json: bool,
    /// The statement around the read, kept as written (see [`Around`]).
    around: Around,
    indent: String,
}

/// A declaration's text before and after the expression that reads the body: the read is
/// replaced and the rest kept, so `let`, a type annotation, `as Stripe.Event` and the
/// statement's own semicolon stay as the app wrote them.
#[derive(Debug)]
struct Around {
    before: String,
    after: String,
}

impl Around {
    /// Around `read` and the parentheses right around it, which its replacement does not need;
    /// or around only `read`'s text up to `up_to`, when `read` goes on past it (tree-sitter
    /// reads `await req.json() as T` as `await (req.json() as T)`: the ` as T` is kept).
    fn new(text: &str, statement: &std::ops::Range<usize>, read: &N, up_to: usize) -> Around {
        let mut node = read.clone();
        while let Some(p) = node
            .parent()
            .filter(|p| p.kind() == "parenthesized_expression")
        {
            node = p;
        }
        let read = if up_to < read.range().end {
            read.range().start..up_to
        } else {
            node.range()
        };
        Around {
            before: text[statement.start..read.start].to_string(),
            after: text[read.end..statement.end].to_string(),
        }
    }
    /// The declaration with `value` where the read was.
    fn with(&self, value: &str) -> String {
        format!("{}{value}{}", self.before, self.after)
    }
}

/// `const event = JSON.parse(...)` in a verified handler: where the guard goes.
#[derive(Debug)]
struct EventDecl {
    end: usize,
    variable: String,
    indent: String,
    /// The response object of a Node handler (`res`); `None` in a route handler that returns
    /// a `Response`.
    response: Option<String>,
    /// In an edge function: the service-role supabase-js client declared before the event in
    /// a scope that holds it, which records the event ids.
    client: Option<String>,
}

/// Where a handler runs, which decides how it reads the raw body and answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Shape {
    /// Next.js App Router `route.ts`: Web `Request` in, `Response` out.
    Route,
    /// Next.js Pages Router `pages/api/*`: Node request and response, body parsed by Next.
    Pages,
    /// An Express app: Node request and response, body parsed by middleware.
    Express,
    /// A Supabase edge function: Deno, Web `Request` in, `Response` out.
    Edge,
}

/// `const event = req.body` (or `JSON.parse(req.body)`) in a `(req, res)` handler.
#[derive(Debug)]
struct NodeRead {
    statement: std::ops::Range<usize>,
    variable: String,
    /// The statement around the read, kept as written.
    around: Around,
    request: String,
    response: String,
    /// Where `async ` goes when the handler is not async yet.
    make_async: Option<usize>,
    indent: String,
}

/// An Express webhook route: its path literal and where a route-level middleware goes.
#[derive(Debug)]
struct ExpressRoute {
    app: String,
    path: String,
    /// Start of the handler argument (a middleware goes before it).
    handler_at: usize,
}

struct FileFacts {
    shape: Shape,
    node_reads: Vec<NodeRead>,
    express_routes: Vec<ExpressRoute>,
    /// `app.use(express.json())`: (app, statement start, indentation).
    json_mounts: Vec<(String, usize, String)>,
    reads: Vec<BodyRead>,
    /// For a handler already verified and without a guard.
    events: Vec<EventDecl>,
    imports: ImportFacts,
}

/// Whether `text` contains `needle` (ASCII, any case), without copying the text.
fn contains_ignore_case(text: &str, needle: &str) -> bool {
    let needle = needle.as_bytes();
    text.as_bytes()
        .windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle))
}

/// An Express module that mounts a JSON body parser.
fn json_parser_file(text: &str) -> bool {
    express_module(text) && (text.contains("express.json(") || text.contains("bodyParser.json("))
}

fn express_module(text: &str) -> bool {
    text.contains("from \"express\"")
        || text.contains("from 'express'")
        || text.contains("require(\"express\")")
        || text.contains("require('express')")
}

fn webhook_shape(path: &str, text: &str) -> Option<Shape> {
    let stripe_events = text.contains("event.type") || EVENT_NAMES.iter().any(|e| text.contains(e));
    // A hand-rolled HMAC check is `webhook/hmac-timing`'s: its provider may not be Stripe.
    if !stripe_events || text.contains("createHmac(") {
        return None;
    }
    // Stripe, not any provider whose events have a `type`.
    let named = path.contains("stripe")
        || contains_ignore_case(text, "stripe")
        || EVENT_NAMES.iter().any(|e| text.contains(e));
    let route =
        path.ends_with("/route.ts") || path.ends_with("/route.js") || path.ends_with("/route.tsx");
    if route && named {
        return Some(Shape::Route);
    }
    if path.starts_with("supabase/functions/") && !path.contains("/_shared/") && named {
        return Some(Shape::Edge);
    }
    let hono = text.contains("from \"hono\"") || text.contains("from 'hono'");
    if hono && named && contains_ignore_case(text, "webhook") {
        // Hono hands handlers the Web `Request` (`c.req.raw`) and takes a `Response` back.
        return Some(Shape::Route);
    }
    let pages = path.starts_with("pages/api/") || path.contains("/pages/api/");
    if pages && named {
        return Some(Shape::Pages);
    }
    (express_module(text) && contains_ignore_case(text, "webhook")).then_some(Shape::Express)
}

impl Pass for StripeSignature {
    fn rules(&self) -> &[RuleMeta] {
        &self.meta
    }
    fn kinds(&self) -> &'static [&'static str] {
        &["lexical_declaration", "call_expression"]
    }
    fn wants(&self, path: &str, text: &str) -> bool {
        match webhook_shape(path, text) {
            Some(_) => !(verified(text) && text.contains(GUARD)),
            None => json_parser_file(text),
        }
    }
    fn may_edit(&self, facts: &Facts) -> bool {
        facts.downcast_ref::<FileFacts>().is_some_and(|f| {
            !f.reads.is_empty()
                || !f.events.is_empty()
                || !f.node_reads.is_empty()
                || !f.json_mounts.is_empty()
        })
    }

    fn scan(&self, file: &FileView<'_>) -> Option<Facts> {
        let Some(shape) = webhook_shape(file.path, file.text) else {
            // The app's global JSON parser, in a file other than the webhook route's: the raw
            // body mount goes before it.
            let (_, json_mounts) = express_calls(file.nodes("call_expression"), file.text);
            return (!json_mounts.is_empty()).then(|| {
                Box::new(FileFacts {
                    shape: Shape::Express,
                    node_reads: vec![],
                    express_routes: vec![],
                    json_mounts,
                    reads: vec![],
                    events: vec![],
                    imports: ImportFacts::default(),
                }) as Facts
            });
        };
        let decls = file.nodes("lexical_declaration");
        let is_verified = verified(file.text);
        let events: Vec<EventDecl> = if is_verified {
            let clients = if shape == Shape::Edge {
                service_clients(decls)
            } else {
                vec![]
            };
            decls
                .iter()
                .filter_map(|d| event_decl(d, file.text, shape, &clients))
                .collect()
        } else {
            vec![]
        };
        let (reads, node_reads) = match (is_verified, shape) {
            (true, _) => (vec![], vec![]),
            (false, Shape::Route | Shape::Edge) => (
                decls
                    .iter()
                    .filter_map(|d| body_read(d, file.text))
                    .collect(),
                vec![],
            ),
            (false, _) => (
                vec![],
                decls
                    .iter()
                    .filter_map(|d| node_read(d, file.text))
                    .collect(),
            ),
        };
        let (express_routes, json_mounts) = if shape == Shape::Express && !node_reads.is_empty() {
            express_calls(file.nodes("call_expression"), file.text)
        } else {
            (vec![], vec![])
        };
        if reads.is_empty() && events.is_empty() && node_reads.is_empty() {
            return None;
        }
        Some(Box::new(FileFacts {
            shape,
            node_reads,
            express_routes,
            json_mounts,
            reads,
            events,
            imports: imports::scan(&file.tree.root(), file.text),
        }))
    }

    fn finish(
        &self,
        project: &ProjectView<'_>,
        facts: &BTreeMap<String, Facts>,
        out: &mut PassOutput,
    ) {
        let files: Vec<(&str, &FileFacts)> = facts_of::<FileFacts>(facts).collect();
        if files.is_empty() {
            return;
        }
        let ws = project.workspace;
        let style = &project.stack.style;
        let helper_path = helper_path(ws, "stripe-webhook.ts");
        for (path, file) in &files {
            let style = &project.style_of(path);
            let s = style.semi();
            for read in &file.reads {
                let i = &read.indent;
                let payload = read.around.with(if read.json {
                    "JSON.parse(verified.payload)"
                } else {
                    "verified.payload"
                });
                let text = format!(
                    "const verified = await {HELPER}({}){s}\n{i}if (!verified.ok) return verified.response{s}\n{i}{payload}",
                    read.request
                );
                let mut edits = vec![Edit::replace(read.statement.clone(), text)];
                let helper = if file.shape == Shape::Edge {
                    EDGE_HELPER
                } else {
                    &helper_path
                };
                if let Some(import) =
                    imports::add_named_import(ws, &file.imports, style, path, HELPER, helper)
                {
                    edits.insert(0, import);
                }
                out.proposals.push(Proposal {
                    rule: SIGNATURE.into(),
                    path: (*path).into(),
                    at: read.statement.clone(),
                    message: format!(
                        "this Stripe webhook handler trusts the body `{}` without checking its signature: anyone can post a forged event; verify it first (fails closed without STRIPE_WEBHOOK_SECRET)",
                        read.variable
                    ).into(),
                    applicability: Applicability::Review,
                    edits,
                });
            }
        }
        let node_helper_path = helper_path.replace("stripe-webhook.ts", "stripe-webhook-node.ts");
        for (path, file) in &files {
            node_handlers(project, path, file, &files, &node_helper_path, out);
        }
        if files.iter().any(|(_, f)| !f.node_reads.is_empty()) {
            out.new_files.extend(helper_file(
                project,
                SIGNATURE,
                &node_helper_path,
                "webhook/stripe-webhook-node.ts",
                json!({}),
                format!(
                    "{node_helper_path}: the verification helper the Node webhook handlers call"
                ),
            ));
        }
        idempotency(project, &files, out);
        let edge: Vec<&(&str, &FileFacts)> = files
            .iter()
            .filter(|(_, f)| f.shape == Shape::Edge && !f.reads.is_empty())
            .collect();
        if !edge.is_empty() {
            // The Stripe SDK as the functions already import it, or from npm.
            let stripe = edge
                .iter()
                .find_map(|(p, _)| stripe_specifier(ws.text(p)?.body))
                .unwrap_or_else(|| "npm:stripe@17.4.0".into());
            out.new_files.extend(helper_file(
                project,
                SIGNATURE,
                EDGE_HELPER,
                "webhook/stripe-webhook-web.ts",
                json!({
                    "stripe": stripe,
                    "secret": format!("Deno.env.get({})", style.string("STRIPE_WEBHOOK_SECRET")),
                }),
                format!("{EDGE_HELPER}: the verification helper the edge functions call"),
            ));
        }
        if files
            .iter()
            .any(|(_, f)| f.shape == Shape::Route && !f.reads.is_empty())
        {
            out.new_files.extend(helper_file(
                project,
                SIGNATURE,
                &helper_path,
                "webhook/stripe-webhook-web.ts",
                json!({ "stripe": "stripe", "secret": "process.env.STRIPE_WEBHOOK_SECRET" }),
                format!("{helper_path}: the verification helper the webhook handlers call"),
            ));
        }
    }
}

/// The module specifier a file imports the Stripe SDK from (`npm:stripe@17`, an esm.sh URL).
fn stripe_specifier(text: &str) -> Option<String> {
    text.lines()
        .filter(|l| l.trim_start().starts_with("import"))
        .find_map(|l| {
            let quote = l.rfind(['"', '\''])?;
            let open = l[..quote].rfind(['"', '\''])?;
            let spec = &l[open + 1..quote];
            (spec.contains("stripe") && !spec.starts_with('.')).then(|| spec.to_string())
        })
}

/// Whether a handler already verifies its body.
fn verified(text: &str) -> bool {
    text.contains("constructEvent") || text.contains(HELPER) || text.contains(NODE_HELPER)
}

/// The import specifier for `target` from `from`, in the `@/` alias when the project uses it.
fn module_specifier(ws: &crate::workspace::Workspace, from: &str, target: &str) -> String {
    let root = alias_root(ws);
    let uses_alias = ws.sources().any(|(p, _)| {
        ws.text(p)
            .is_some_and(|t| t.body.contains("from \"@/") || t.body.contains("from '@/"))
    });
    match target.strip_prefix(&format!("{root}/")) {
        Some(rest) if !root.is_empty() && uses_alias => {
            let rest = rest.trim_end_matches(".ts").trim_end_matches(".tsx");
            format!("@/{}", rest.strip_suffix("/index").unwrap_or(rest))
        }
        _ => imports::relative_specifier(crate::passes::deps::dir_of(from), target),
    }
}

/// The guard in verified handlers, the helper that records event ids through the app's own
/// client (Drizzle, Prisma or a node-postgres pool), and the table's migration where the
/// app's migrations live; a manual finding where casehard finds no client to record them with.
fn idempotency(project: &ProjectView<'_>, files: &[(&str, &FileFacts)], out: &mut PassOutput) {
    if !project.selection.allows(IDEMPOTENCY) {
        return;
    }
    let ws = project.workspace;
    let helper_path = helper_path(ws, "webhook-events.ts");
    let edge_helper = helper_for(ws, EDGE_HELPER, "webhook-events.ts");
    let client = clients::of_app(ws, project.stack);
    let mut guarded = false;
    let mut edge_guarded = false;
    for (path, file) in files {
        let style = &project.style_of(path);
        let s = style.semi();
        for event in &file.events {
            let at = event.end..event.end;
            // The guard's arguments, its module and how the message names the recorder.
            let (args, helper, through) = match (file.shape, &event.client, &client) {
                (Shape::Edge, Some(c), _) => {
                    edge_guarded = true;
                    (
                        format!("{c}, {}.id", event.variable),
                        &edge_helper,
                        format!(", through `{c}`,"),
                    )
                }
                (Shape::Edge, None, _) | (_, _, None) => {
                    out.proposals.push(Proposal {
                        rule: IDEMPOTENCY.into(),
                        path: (*path).into(),
                        at,
                        message: format!(
                            "`{0}` is processed every time it is delivered; record `{0}.id` (insert ... on conflict do nothing) before the side effects and skip ids already seen",
                            event.variable
                        ).into(),
                        applicability: Applicability::Manual,
                        edits: vec![],
                    });
                    continue;
                }
                _ => {
                    guarded = true;
                    (
                        format!("{}.id", event.variable),
                        &helper_path,
                        String::new(),
                    )
                }
            };
            let answer = match &event.response {
                None => "Response.json({ received: true, duplicate: true })".to_string(),
                Some(res) => {
                    format!("{res}.status(200).json({{ received: true, duplicate: true }})")
                }
            };
            let mut edits = vec![Edit::insert(
                event.end,
                format!(
                    "\n{}if (!(await {GUARD}({args}))) return {answer}{s}",
                    event.indent
                ),
            )];
            if let Some(import) =
                imports::add_named_import(ws, &file.imports, style, path, GUARD, helper)
            {
                edits.insert(0, import);
            }
            out.proposals.push(Proposal {
                rule: IDEMPOTENCY.into(),
                path: (*path).into(),
                at,
                message: format!(
                    "`{}` is processed again on every redelivery or replay; its id is now recorded first{through} and a repeat is answered without side effects",
                    event.variable
                ).into(),
                applicability: Applicability::Review,
                edits,
            });
        }
    }
    if edge_guarded {
        out.new_files.extend(helper_file(
            project,
            IDEMPOTENCY,
            &edge_helper,
            "webhook/events-supabase.ts",
            json!({}),
            format!("{edge_helper}: records each webhook event id once, through the edge function's service-role client"),
        ));
    }
    if guarded || edge_guarded {
        crate::passes::server_tables_migration(
            project,
            crate::passes::ServerTables {
                rule: IDEMPOTENCY,
                table: "processed_webhook_events",
                name: "webhook_events",
                template: "sql/webhook_events.sql",
                extra: json!({}),
                what: "the table of processed webhook event ids",
            },
            out,
        );
    }
    let (Some(client), true) = (client, guarded) else {
        return;
    };
    let template = match client.kind {
        Kind::Drizzle => "webhook/events-drizzle.ts",
        Kind::Prisma => "webhook/events-prisma.ts",
        Kind::Pool => "webhook/events-pg.ts",
    };
    out.new_files.extend(helper_file(
        project,
        IDEMPOTENCY,
        &helper_path,
        template,
        json!({
            "client": client.name,
            "module": module_specifier(ws, &helper_path, &client.path),
        }),
        format!(
            "{helper_path}: records each webhook event id once, through the app's own `{}`",
            client.name
        ),
    ));
}

/// `const <name> = <value>` inside a function (a handler, never module level): its name (an
/// identifier or a destructuring pattern), its value and the indentation of its line.
fn local_const<'a>(decl: &N<'a>, text: &str) -> Option<(N<'a>, N<'a>, String)> {
    let declarator = decl
        .children()
        .find(|c| c.kind() == "variable_declarator")?;
    let name = declarator.child_in("name")?;
    let value = declarator.child_in("value")?;
    decl.ancestors().find(|a| {
        matches!(
            a.kind().as_ref(),
            "function_declaration" | "arrow_function" | "function_expression"
        )
    })?;
    let indent = crate::passes::line_indent(text, decl.range().start);
    Some((name, value, indent))
}

/// `const event = JSON.parse(...)`, `stripe.webhooks.constructEvent(...)` or
/// `await stripe.webhooks.constructEventAsync(...)` in a handler.
/// A supabase-js client made with the service-role key (`createClient(url,
/// Deno.env.get("SUPABASE_SERVICE_ROLE_KEY") ?? "")`): its name, where its declaration ends
/// and the block (or module) it is visible in.
struct ServiceClient {
    name: String,
    declared: usize,
    scope: std::ops::Range<usize>,
}

fn service_clients(decls: &[N]) -> Vec<ServiceClient> {
    decls
        .iter()
        .filter(|d| d.text().contains("SERVICE_ROLE"))
        .filter_map(|d| {
            let declarator = d.children().find(|c| c.kind() == "variable_declarator")?;
            let name = declarator.child_in("name")?;
            let value = unwrapped(declarator.child_in("value")?);
            let function = value.child_in("function")?;
            if name.kind() != "identifier"
                || value.kind() != "call_expression"
                || function.text() != "createClient"
            {
                return None;
            }
            let scope = d
                .ancestors()
                .find(|a| matches!(a.kind().as_ref(), "statement_block" | "program"))?;
            Some(ServiceClient {
                name: name.text().to_string(),
                declared: d.range().end,
                scope: scope.range(),
            })
        })
        .collect()
}

fn event_decl(decl: &N, text: &str, shape: Shape, clients: &[ServiceClient]) -> Option<EventDecl> {
    let (name, value, indent) = local_const(decl, text)?;
    if name.kind() != "identifier" {
        return None;
    }
    let variable = name.text().to_string();
    let response = match shape {
        Shape::Route | Shape::Edge => None,
        _ => Some(handler_params(decl)?.1),
    };
    let call = if value.kind() == "await_expression" {
        value.children().find(|c| c.kind() == "call_expression")?
    } else {
        value
    };
    if call.kind() != "call_expression" {
        return None;
    }
    let function = call.child_in("function")?.text().to_string();
    let event = function == "JSON.parse"
        || function.ends_with(".constructEvent")
        || function.ends_with(".constructEventAsync");
    if !event {
        return None;
    }
    let end = decl.range().end;
    let client = clients
        .iter()
        .filter(|c| c.declared <= end && c.scope.contains(&end))
        .max_by_key(|c| c.declared)
        .map(|c| c.name.clone());
    Some(EventDecl {
        end,
        variable,
        indent,
        response,
        client,
    })
}

/// `const x = await req.text()` (or `.json()`) in a handler, with the request's name.
fn body_read(decl: &N, text: &str) -> Option<BodyRead> {
    let (name, value, indent) = local_const(decl, text)?;
    let variable = name.text().to_string();
    let value = unwrapped(value);
    if value.kind() != "await_expression" {
        return None;
    }
    let call = unwrapped(value.children().find(|c| c.is_named())?);
    if call.kind() != "call_expression" {
        return None;
    }
    let func = call
        .child_in("function")
        .filter(|f| f.kind() == "member_expression")?;
    let method = func.child_in("property")?.text().to_string();
    let object = func.child_in("object")?;
    // `req.text()` in a route handler; `c.req.json()` in Hono, whose Web request is `c.req.raw`.
    let request = match object.kind().as_ref() {
        "identifier" => object.text().to_string(),
        "member_expression"
            if object.child_in("property")?.text() == "req"
                && object.child_in("object")?.kind() == "identifier" =>
        {
            format!("{}.raw", object.text())
        }
        _ => return None,
    };
    if method != "text" && method != "json" {
        return None;
    }
    Some(BodyRead {
        around: Around::new(text, &decl.range(), &value, call.range().end),
        statement: decl.range(),
        request,
        variable,
        json: method == "json",
        indent,
    })
}

/// The function around `node` and its first two parameter names (`req`, `res`), with where
/// `async ` goes when it is not async.
fn handler_params(node: &N) -> Option<(String, String, Option<usize>)> {
    let function = node.ancestors().find(|a| {
        matches!(
            a.kind().as_ref(),
            "function_declaration" | "arrow_function" | "function_expression"
        )
    })?;
    let params = crate::passes::routes::param_names(&function)?;
    let [req, res, ..] = params.as_slice() else {
        return None;
    };
    let is_async = function.children().any(|c| c.kind() == "async");
    let make_async = (!is_async).then(|| function.range().start);
    Some((req.clone(), res.clone(), make_async))
}

/// `const event = req.body` or `const event = JSON.parse(req.body...)` in a `(req, res)`
/// handler.
fn node_read(decl: &N, text: &str) -> Option<NodeRead> {
    let (name, value, indent) = local_const(decl, text)?;
    let variable = name.text().to_string();
    let (request, response, make_async) = handler_params(decl)?;
    let body = format!("{request}.body");
    let value = unwrapped(value);
    let reads_body = value.text() == body
        || (value.kind() == "call_expression"
            && value.child_in("function")?.text() == "JSON.parse"
            && value
                .child_in("arguments")?
                .children()
                .find(|c| c.is_named())
                .is_some_and(|a| a.text().starts_with(&body)));
    if !reads_body {
        return None;
    }
    Some(NodeRead {
        around: Around::new(text, &decl.range(), &value, value.range().end),
        statement: decl.range(),
        variable,
        request,
        response,
        make_async,
        indent,
    })
}

/// Express webhook routes (`app.post("/.../webhook", ..., handler)`) and global JSON body
/// parsers (`app.use(express.json())`) in a file.
fn express_calls(calls: &[N], text: &str) -> (Vec<ExpressRoute>, Vec<(String, usize, String)>) {
    let mut routes = vec![];
    let mut mounts = vec![];
    for call in calls {
        let Some(func) = call
            .child_in("function")
            .filter(|f| f.kind() == "member_expression")
        else {
            continue;
        };
        let (Some(object), Some(method)) = (func.child_in("object"), func.child_in("property"))
        else {
            continue;
        };
        if object.kind() != "identifier" {
            continue;
        }
        let args = crate::lang::call_args(call);
        match method.text().as_ref() {
            "post" => {
                let (Some(first), Some(last)) = (args.first(), args.last()) else {
                    continue;
                };
                let path = first.text().to_lowercase();
                if first.kind() == "string"
                    && (path.contains("webhook") || path.contains("stripe"))
                    && args.len() >= 2
                {
                    routes.push(ExpressRoute {
                        app: object.text().to_string(),
                        path: first.text().to_string(),
                        handler_at: last.range().start,
                    });
                }
            }
            "use" => {
                let json = args.iter().any(|a| {
                    let t = a.text();
                    a.kind() == "call_expression"
                        && (t.starts_with("express.json(") || t.starts_with("bodyParser.json("))
                });
                // The whole statement, so the new mount goes on its own line before it.
                let statement = call.parent().filter(|p| p.kind() == "expression_statement");
                if let (true, Some(statement)) = (json, statement) {
                    let start = statement.range().start;
                    let indent = crate::passes::line_indent(text, start);
                    mounts.push((object.text().to_string(), start, indent));
                }
            }
            _ => {}
        }
    }
    (routes, mounts)
}

/// Node handlers (Express, Pages Router): the body read becomes a verification through the
/// Node helper; the raw body is made available (`express.raw` before any JSON parser, or
/// `bodyParser: false`); the handler becomes async where it was not.
fn node_handlers(
    project: &ProjectView<'_>,
    path: &str,
    file: &FileFacts,
    files: &[(&str, &FileFacts)],
    helper_path: &str,
    out: &mut PassOutput,
) {
    let ws = project.workspace;
    let style = &project.style_of(path);
    let s = style.semi();
    let Some(text) = ws.text(path).map(|t| t.body) else {
        return;
    };
    for (n, read) in file.node_reads.iter().enumerate() {
        let i = &read.indent;
        let replacement = format!(
            "const verified = await {NODE_HELPER}({}, {}){s}\n{i}if (!verified) return{s}\n{i}{}",
            read.request,
            read.response,
            read.around.with("JSON.parse(verified.payload)")
        );
        let mut edits = vec![Edit::replace(read.statement.clone(), replacement)];
        if let Some(at) = read.make_async {
            edits.push(Edit::insert(at, "async "));
        }
        if n == 0 {
            if let Some(import) =
                imports::add_named_import(ws, &file.imports, style, path, NODE_HELPER, helper_path)
            {
                edits.insert(0, import);
            }
            match file.shape {
                Shape::Pages if !text.contains("bodyParser: false") => {
                    if text.contains("export const config") {
                        out.proposals.push(Proposal {
                            rule: SIGNATURE.into(),
                            path: path.into(),
                            at: read.statement.clone(),
                            message: "this API route's `config` does not turn the body parser off, so the raw body Stripe signed is gone: add `api: { bodyParser: false }` to it".into(),
                            applicability: Applicability::Manual,
                            edits: vec![],
                        });
                        return;
                    }
                    let end = text.len();
                    let newline = if text.ends_with('\n') { "" } else { "\n" };
                    edits.push(Edit::insert(
                        end,
                        format!("{newline}\n// The signature covers the exact bytes Stripe sent: Next.js must not parse them first.\nexport const config = {{ api: {{ bodyParser: false }} }}{s}\n"),
                    ));
                }
                Shape::Express if !text.contains("express.raw(") => {
                    let Some(route) = file.express_routes.first() else {
                        out.proposals.push(Proposal {
                            rule: SIGNATURE.into(),
                            path: path.into(),
                            at: read.statement.clone(),
                            message: "this Express webhook handler trusts `req.body` without checking its Stripe signature, and casehard cannot find its route to give it the raw body: mount express.raw({ type: 'application/json' }) on it and verify with stripe.webhooks.constructEvent".into(),
                            applicability: Applicability::Manual,
                            edits: vec![],
                        });
                        return;
                    };
                    let raw = format!(
                        "express.raw({{ type: {} }})",
                        style.string("application/json")
                    );
                    let mount = |app: &str, indent: &str| {
                        format!("{app}.use({}, {raw}){s}\n{indent}", route.path)
                    };
                    // Before the global JSON parser: it then leaves the already-read body alone.
                    // The parser may be mounted in the module that creates the app, which
                    // passes the app to the one that declares the route.
                    let elsewhere = files.iter().find_map(|(p, f)| {
                        (*p != path).then(|| f.json_mounts.first().map(|m| (*p, m)))?
                    });
                    let mounted = |p: &str| {
                        ws.text(p).is_some_and(|t| {
                            t.body
                                .contains(&format!("use({}, express.raw(", route.path))
                        })
                    };
                    match (
                        file.json_mounts.iter().find(|(app, _, _)| *app == route.app),
                        elsewhere,
                    ) {
                        (Some((app, at, indent)), _) => {
                            edits.push(Edit::insert(*at, mount(app, indent)))
                        }
                        (None, Some((other, _))) if mounted(other) => {}
                        (None, Some((other, (app, at, indent)))) => out.proposals.push(Proposal {
                            rule: SIGNATURE.into(),
                            path: other.into(),
                            at: *at..*at,
                            message: format!("{}: the Stripe webhook route needs the raw body, so it gets express.raw before this global JSON parser", route.path).into(),
                            applicability: Applicability::Review,
                            edits: vec![Edit::insert(*at, mount(app, indent))],
                        }),
                        (None, None) => {
                            edits.push(Edit::insert(route.handler_at, format!("{raw}, ")))
                        }
                    }
                }
                _ => {}
            }
        }
        out.proposals.push(Proposal {
            rule: SIGNATURE.into(),
            path: path.into(),
            at: read.statement.clone(),
            message: format!(
                "this Stripe webhook handler trusts the body `{}` without checking its signature: anyone can post a forged event; verify the raw body first (fails closed without STRIPE_WEBHOOK_SECRET)",
                read.variable
            ).into(),
            applicability: Applicability::Review,
            edits,
        });
    }
}
