//! Injected files are rendered from `templates/**/*.hbs` (compiled into the binary) with
//! handlebars, without HTML escaping (it corrupts SQL and TypeScript) and in strict mode (a
//! missing variable is an error, not an empty string).
//!
//! A template is compiled the first time it is rendered, with the partials it names: compiling
//! all of them (172 KB, mostly MFA planes a run rarely writes) took half the instructions of a
//! run on a small app.
//!
//! Code templates are compiled once per code style, with the style's quote, semicolon and
//! indent written into their text where that cannot change the output ([`specialize`]): the
//! TypeScript templates hold hundreds of `{{q}}`, `{{s}}` and `{{i}}`, and handlebars counts
//! each tag's line and column from the start of the template, so compiling a template took
//! time in its tags times its length (mfa-core: 6.6 ms; written in, 0.7 ms).

use crate::error::Error;
use crate::rules::BUILTIN_TEMPLATES;
use crate::stack::Style;
use handlebars::{handlebars_helper, Handlebars};
use std::collections::HashMap;
use std::sync::{OnceLock, RwLock};

/// The style a registry's templates have written in: none for templates rendered without one
/// (SQL), which keep every tag.
type StyleKey = Option<Style>;

fn registries() -> &'static RwLock<HashMap<StyleKey, Handlebars<'static>>> {
    static REGISTRIES: OnceLock<RwLock<HashMap<StyleKey, Handlebars<'static>>>> = OnceLock::new();
    REGISTRIES.get_or_init(|| RwLock::new(HashMap::new()))
}

// `{{line x}}`: `x` kept on one line, for a comment in generated code. A name read from the
// project (a policy's, a table's, a file's) may hold a line break, which would end an SQL
// `--` comment and make the rest of the name a statement of casehard's own migration; the
// break is written as `\n` (or `\r`) instead, so the comment still shows it.
// Any other value renders as it would without the helper.
handlebars_helper!(line: |value: Json| match value {
    serde_json::Value::String(text) => one_line(text),
    other => handlebars::JsonRender::render(other),
});

/// `text` with its line breaks written as escapes.
pub(crate) fn one_line(text: &str) -> String {
    if !text.contains(['\r', '\n']) {
        // Every finding's message passes here: the common case copies once.
        return text.to_string();
    }
    text.replace('\r', "\\r").replace('\n', "\\n")
}

/// `{{string x}}`: `x` as a string literal in the project's quotes (the data's `q`), escaped so
/// that it stays one string whatever it holds: a module path comes from a file's name, which
/// may hold a quote (`db"; run(); "x.ts`) that would otherwise end the string and make the rest
/// code of the file casehard writes.
fn string(
    h: &handlebars::Helper<'_>,
    hb: &Handlebars<'_>,
    ctx: &handlebars::Context,
    _: &mut handlebars::RenderContext<'_, '_>,
    out: &mut dyn handlebars::Output,
) -> handlebars::HelperResult {
    // In strict mode (every registry casehard renders with) a missing value is an error.
    let param = h
        .param(0)
        .filter(|p| !(hb.strict_mode() && p.is_value_missing()))
        .ok_or(handlebars::RenderErrorReason::ParamNotFoundForIndex(
            "string", 0,
        ))?;
    let value = handlebars::JsonRender::render(param.value());
    let quote = ctx
        .data()
        .get("q")
        .and_then(|q| q.as_str())
        .and_then(|q| q.chars().next())
        .unwrap_or('"');
    let style = Style {
        quote,
        ..Style::default()
    };
    out.write(&style.string(&value))?;
    Ok(())
}

fn new_registry() -> Handlebars<'static> {
    let mut hb = Handlebars::new();
    hb.register_helper("line", Box::new(line));
    hb.register_helper("string", Box::new(string));
    hb.register_escape_fn(handlebars::no_escape);
    hb.set_strict_mode(true);
    hb
}

/// The partials a template's text names (`{{> name}}`, `{{~> name}}`, `{{#> name}}`).
fn partials(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("{{") {
        rest = &rest[at + 2..];
        let tag = rest.trim_start_matches(['~', '#']).trim_start();
        if let Some(name) = tag.strip_prefix('>') {
            let name = name.trim_start();
            let end = name
                .find(|c: char| c.is_whitespace() || c == '}' || c == '~')
                .unwrap_or(name.len());
            out.push(&name[..end]);
        }
    }
    out
}

/// The style's values of the three style tags, `q`, `s` and `i`.
fn style_values(style: &Style) -> [(&'static str, String); 3] {
    [
        ("{{q}}", style.quote.to_string()),
        ("{{s}}", style.semi().to_string()),
        ("{{i}}", style.indent.clone()),
    ]
}

/// `text` with each `{{q}}`, `{{s}}` and `{{i}}` replaced by the style's value where handlebars
/// would render the same either way; elsewhere the tag stays and is rendered from the data.
/// A tag stays when:
/// - its line holds a block, partial, comment or `else` tag: written in as whitespace (or as
///   nothing), it could make that line standalone, which handlebars removes (or indents a
///   partial by);
/// - whitespace control (`{{~` or `~}}`) reaches it across whitespace and other style tags:
///   its value would be trimmed with the whitespace, which stops at a tag;
/// - it is escaped (`\{{`) or part of a triple-stash (`{{{`), or the value holds a brace,
///   backslash or tilde; the text has a raw block (`{{{{`): nothing is written in.
pub(crate) fn specialize(text: &str, style: &Style) -> String {
    let values = style_values(style);
    let style_tag_at = |at: usize| -> Option<usize> {
        values
            .iter()
            .position(|(tag, _)| text.as_bytes()[at..].starts_with(tag.as_bytes()))
    };
    let unsafe_value = values
        .iter()
        .any(|(_, v)| v.contains(['{', '}', '\\', '~']));
    if unsafe_value || text.contains("{{{{") {
        return text.to_string();
    }
    let bytes = text.as_bytes();
    // Skips whitespace and style tags from `at` forward: where the next other thing starts.
    let next_other = |mut at: usize| -> usize {
        loop {
            if at < bytes.len() && bytes[at].is_ascii_whitespace() {
                at += 1;
            } else if at < bytes.len() && style_tag_at(at).is_some() {
                at += 5;
            } else {
                return at;
            }
        }
    };
    // The same backward from `end`: where the previous other thing ends.
    let previous_other = |mut end: usize| -> usize {
        loop {
            if end > 0 && bytes[end - 1].is_ascii_whitespace() {
                end -= 1;
            } else if end >= 5 && style_tag_at(end - 5).is_some() {
                end -= 5;
            } else {
                return end;
            }
        }
    };
    let line_has_block_tag = |at: usize| -> bool {
        let start = text[..at].rfind('\n').map_or(0, |n| n + 1);
        let end = text[at..].find('\n').map_or(text.len(), |n| at + n);
        text[start..end].match_indices("{{").any(|(i, _)| {
            let tag = text[start + i + 2..end]
                .trim_start_matches('~')
                .trim_start();
            tag.starts_with(['#', '/', '^', '>', '!']) || tag.starts_with("else")
        })
    };
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut at = 0;
    while let Some(found) = text[at..].find("{{") {
        let start = at + found;
        at = start + 2;
        let Some(which) = style_tag_at(start) else {
            continue;
        };
        let end = start + 5;
        let escaped = start > 0 && matches!(bytes[start - 1], b'\\' | b'{');
        let trimmed = text[next_other(end)..].starts_with("{{~")
            || text[..previous_other(start)].ends_with("~}}");
        if escaped || trimmed || line_has_block_tag(start) {
            continue;
        }
        out.push_str(&text[copied..start]);
        out.push_str(&values[which].1);
        copied = end;
        at = end;
    }
    out.push_str(&text[copied..]);
    out
}

/// Compiles the built-in template `name` and the partials it names, unless they are already,
/// with `style` written in; a name no template has is left for `render` to report.
fn compile(hb: &mut Handlebars<'static>, name: &str, style: &StyleKey) -> Result<(), Error> {
    if hb.has_template(name) {
        return Ok(());
    }
    let Some((_, text)) = BUILTIN_TEMPLATES.iter().find(|(n, _)| *n == name) else {
        return Ok(());
    };
    let written;
    let source = match style {
        Some(style) => {
            written = specialize(text, style);
            written.as_str()
        }
        None => text,
    };
    hb.register_template_string(name, source)
        .map_err(|e| Error::Template {
            name: format!("templates/{name}.hbs"),
            message: e.to_string(),
        })?;
    for partial in partials(text) {
        compile(hb, partial, style)?;
    }
    Ok(())
}

fn render_in(name: &str, style: StyleKey, data: &serde_json::Value) -> Result<String, Error> {
    let lock = registries();
    let compiled = lock
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .get(&style)
        .is_some_and(|hb| hb.has_template(name));
    if !compiled {
        let mut all = lock.write().unwrap_or_else(|e| e.into_inner());
        let hb = all.entry(style.clone()).or_insert_with(new_registry);
        compile(hb, name, &style)?;
    }
    let all = lock.read().unwrap_or_else(|e| e.into_inner());
    let hb = all.get(&style).expect("compiled above");
    hb.render(name, data).map_err(|e| Error::Template {
        name: name.to_string(),
        message: e.to_string(),
    })
}

/// Renders `templates/<name>.hbs` with `data`.
pub fn render(name: &str, data: &serde_json::Value) -> Result<String, Error> {
    render_in(name, None, data)
}

/// Renders the code template `templates/<name>.hbs` in `style`: `data` gets the style's `q`
/// (quote), `s` (statement end) and `i` (indent), which the compiled template mostly has
/// written in already.
pub fn render_in_style(
    name: &str,
    style: &Style,
    data: &serde_json::Value,
) -> Result<String, Error> {
    render_in(name, Some(style.clone()), &with_style(data, style))
}

/// `data` with the style's `q`, `s` and `i` (each tag's name, between its braces).
fn with_style(data: &serde_json::Value, style: &Style) -> serde_json::Value {
    let mut data = data.clone();
    if let Some(fields) = data.as_object_mut() {
        for (tag, value) in style_values(style) {
            fields.insert(tag[2..3].to_string(), value.into());
        }
    }
    data
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_compiles_and_missing_variables_are_errors() {
        let mut hb = Handlebars::new();
        hb.set_strict_mode(true);
        for (name, text) in BUILTIN_TEMPLATES {
            compile(&mut hb, name, &None).unwrap();
            assert!(hb.has_template(name), "{name}");
            for partial in partials(text) {
                assert!(
                    hb.has_template(partial),
                    "{name} names {partial}, no template"
                );
            }
        }
        let e = render("sql/rls.sql", &serde_json::json!({})).unwrap_err();
        assert!(e.to_string().contains("sql/rls.sql"), "{e}");
    }

    /// A `--` comment ends at a line break: what an SQL template writes into one from the
    /// project must stay on the line, or the rest of it is SQL in casehard's migration.
    #[test]
    fn sql_comments_keep_project_text_on_one_line() {
        for (name, text) in BUILTIN_TEMPLATES
            .iter()
            .filter(|(n, _)| n.ends_with(".sql"))
        {
            for l in text
                .lines()
                .filter(|l| !l.trim_start().starts_with("{{!--"))
            {
                let Some(at) = l.find("--") else { continue };
                for (i, _) in l[at..].match_indices("{{") {
                    let tag = &l[at + i + 2..];
                    assert!(
                        tag.starts_with(['#', '/', '!'])
                            || tag.starts_with("else")
                            || tag.starts_with("line "),
                        "{name}: `{l}` writes a value into a comment without {{{{line}}}}"
                    );
                }
            }
        }
        let out = render(
            "sql/storage-policies.sql",
            &serde_json::json!({ "policies": [{
                "name": "\"a\ndrop table t; --\"",
                "who": "anyone\r\ngrant all on t to anon;",
                "from": "x.sql",
                "creates": [],
            }] }),
        )
        .unwrap();
        let statements: Vec<&str> = out
            .lines()
            .filter(|l| !l.trim().is_empty() && !l.starts_with("--"))
            .collect();
        assert_eq!(statements.len(), 2, "{out}");
        assert!(
            statements[0].starts_with("drop policy if exists \"a"),
            "{out}"
        );
        assert!(
            out.contains(
                "-- \"a\\ndrop table t; --\" let anyone\\r\\ngrant all on t to anon; (from x.sql)"
            ),
            "{out}"
        );
    }

    /// A value between the project's quotes is written by `{{string}}`, never as
    /// `{{q}}{{x}}{{q}}`, which a quote in the value would end.
    #[test]
    fn values_in_code_strings_are_escaped() {
        for (name, text) in BUILTIN_TEMPLATES {
            for (at, _) in text.match_indices("{{q}}{{") {
                let tag = &text[at + 7..];
                assert!(
                    ["q}}", "s}}", "i}}"].iter().any(|t| tag.starts_with(t)),
                    "{name}: `{}` writes a value between quotes without {{{{string}}}}",
                    &tag[..tag.find('}').unwrap_or(tag.len())]
                );
            }
        }
        let style = Style {
            quote: '\'',
            ..Style::default()
        };
        let out = render_in_style(
            "webhook/events-pg.ts",
            &style,
            &serde_json::json!({ "rule": "r", "client": "pool", "module": "./d'; run(); 'b" }),
        )
        .unwrap();
        assert!(
            out.contains(r"import { pool } from './d\'; run(); \'b';"),
            "{out}"
        );
    }

    #[test]
    fn a_template_is_compiled_with_the_partials_it_names() {
        assert_eq!(
            partials("a {{> mfa/next-plane.ts}} b {{~> x ~}} {{#> y}}{{/y}} {{x}} {{>z a=1}}"),
            ["mfa/next-plane.ts", "x", "y", "z"]
        );
        let mut hb = Handlebars::new();
        compile(&mut hb, "mfa/supabase-mfa.ts", &None).unwrap();
        assert!(hb.has_template("mfa/next-plane.ts"));
        assert!(!hb.has_template("sql/rls.sql"));
    }

    fn styles() -> Vec<Style> {
        let mut out = vec![];
        for quote in ['"', '\'', '`'] {
            for semicolons in [true, false] {
                for indent in ["  ", "    ", "\t"] {
                    out.push(Style {
                        quote,
                        semicolons,
                        indent: indent.into(),
                    });
                }
            }
        }
        out
    }

    /// Renders `text` in `style` as a non-strict registry would, with the style in the data,
    /// and the built-in partials it names specialized or not as `text` is.
    fn rendered(text: &str, style: &Style, data: &serde_json::Value, written: bool) -> String {
        let mut hb = Handlebars::new();
        hb.register_helper("line", Box::new(line));
        hb.register_helper("string", Box::new(string));
        hb.register_escape_fn(handlebars::no_escape);
        let data = with_style(data, style);
        hb.register_template_string("t", text).unwrap();
        for partial in partials(text) {
            if let Some((_, body)) = BUILTIN_TEMPLATES.iter().find(|(n, _)| *n == partial) {
                let body = if written {
                    specialize(body, style)
                } else {
                    body.to_string()
                };
                hb.register_template_string(partial, body).unwrap();
            }
        }
        hb.register_template_string("p", "{{i}}one{{s}}\n{{i}}two{{s}}\n")
            .unwrap();
        hb.render("t", &data).unwrap()
    }

    fn renders_the_same_in_every_style(text: &str, data: &serde_json::Value, what: &str) {
        for style in styles() {
            let written = specialize(text, &style);
            assert_eq!(
                rendered(&written, &style, data, true),
                rendered(text, &style, data, false),
                "{what} in {style:?} became {written:?}"
            );
        }
    }

    #[test]
    fn a_style_is_written_in_only_where_the_output_stays_the_same() {
        // Each would render differently with the tag replaced by its value everywhere.
        let kept = [
            // The line would become standalone and be removed.
            "a\n{{i}}{{#if x}}\n{{i}}b{{s}}\n{{/if}}\n",
            // The partial would be indented line by line.
            "a\n{{i}}{{> p}}\nz\n",
            // Trimmed with the whitespace before `{{~`, across another style tag.
            "a{{s}} {{i}}\n{{~x}}\n",
            // Trimmed after `~}}`.
            "{{x~}}{{i}}b\n",
            // Escaped: the text `{{i}}`.
            "a \\{{i}} b\n",
            // In a raw block: the text `{{i}}`.
            "{{{{raw}}}}\n{{i}}x\n{{{{/raw}}}}\n",
        ];
        for text in kept {
            let data = serde_json::json!({ "x": true });
            renders_the_same_in_every_style(text, &data, &format!("{text:?}"));
            let naive = |style: &Style| {
                style_values(style)
                    .iter()
                    .fold(text.to_string(), |t, (tag, v)| t.replace(tag, v))
            };
            assert!(
                styles().iter().any(|style| {
                    let data = serde_json::json!({ "x": true });
                    rendered(&naive(style), style, &data, true)
                        != rendered(text, style, &data, false)
                }),
                "{text:?}: writing every tag in changes nothing, so the case proves nothing"
            );
        }
        let style = Style {
            quote: '\'',
            semicolons: false,
            indent: "\t".into(),
        };
        assert_eq!(
            specialize(
                "{{i}}f({{q}}a{{q}}){{s}}\n{{i}}{{#if x}}{{x}}{{/if}}\n",
                &style
            ),
            "\tf('a')\n{{i}}{{#if x}}{{x}}{{/if}}\n"
        );
        // A value handlebars would read as syntax: nothing is written in.
        let braced = Style {
            indent: "{".into(),
            ..Style::default()
        };
        assert_eq!(specialize("{{i}}a", &braced), "{{i}}a");
    }

    /// The names a template reads, for data that takes every `if` one way or the other.
    fn variables(text: &str) -> Vec<(bool, String)> {
        let mut out = vec![];
        let mut rest = text;
        while let Some(at) = rest.find("{{") {
            rest = &rest[at + 2..];
            let tag = rest.trim_start_matches(['~', '{']).trim_start();
            let end = tag.find("}}").unwrap_or(tag.len());
            let words: Vec<&str> = tag[..end]
                .trim_end_matches('~')
                .split_whitespace()
                .collect();
            match words.as_slice() {
                ["#if" | "#unless", name, ..] => out.push((true, name.to_string())),
                [name] if name.chars().all(|c| c.is_alphanumeric() || c == '_') => {
                    out.push((false, name.to_string()))
                }
                _ => {}
            }
        }
        out
    }

    #[test]
    fn every_template_renders_the_same_with_its_style_written_in() {
        let mut written_in = 0;
        let mut tags = 0;
        for (name, text) in BUILTIN_TEMPLATES {
            for taken in [true, false] {
                let mut data = serde_json::json!({});
                for (condition, var) in variables(text) {
                    data[&var] = if condition {
                        taken.into()
                    } else {
                        format!("<{var}>").into()
                    };
                }
                renders_the_same_in_every_style(text, &data, name);
            }
            let count = |t: &str| {
                ["{{q}}", "{{s}}", "{{i}}"]
                    .iter()
                    .map(|tag| t.matches(tag).count())
                    .sum::<usize>()
            };
            tags += count(text);
            written_in += count(text) - count(&specialize(text, &Style::default()));
        }
        // Most tags are written in; that is what makes compiling fast.
        assert!(written_in * 10 > tags * 9, "{written_in} of {tags}");
    }
}
