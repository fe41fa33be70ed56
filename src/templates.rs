//! Injected files are rendered from `templates/**/*.hbs` (compiled into the binary) with
//! handlebars, without HTML escaping (it corrupts SQL and TypeScript) and in strict mode (a
//! missing variable is an error, not an empty string).
//!
//! A template is compiled the first time it is rendered, with the partials it names: compiling
//! all of them (172 KB, mostly MFA planes a run rarely writes) took half the instructions of a
//! run on a small app.

use crate::error::Error;
use crate::rules::BUILTIN_TEMPLATES;
use handlebars::Handlebars;
use std::sync::{OnceLock, RwLock};

fn registry() -> &'static RwLock<Handlebars<'static>> {
    static REGISTRY: OnceLock<RwLock<Handlebars<'static>>> = OnceLock::new();
    REGISTRY.get_or_init(|| {
        let mut hb = Handlebars::new();
        hb.register_escape_fn(handlebars::no_escape);
        hb.set_strict_mode(true);
        RwLock::new(hb)
    })
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

/// Compiles the built-in template `name` and the partials it names, unless they are already;
/// a name no template has is left for `render` to report.
fn compile(hb: &mut Handlebars<'static>, name: &str) -> Result<(), Error> {
    if hb.has_template(name) {
        return Ok(());
    }
    let Some((_, text)) = BUILTIN_TEMPLATES.iter().find(|(n, _)| *n == name) else {
        return Ok(());
    };
    hb.register_template_string(name, text)
        .map_err(|e| Error::Template {
            name: format!("templates/{name}.hbs"),
            message: e.to_string(),
        })?;
    for partial in partials(text) {
        compile(hb, partial)?;
    }
    Ok(())
}

/// Renders `templates/<name>.hbs` with `data`.
pub fn render(name: &str, data: &serde_json::Value) -> Result<String, Error> {
    let lock = registry();
    let compiled = lock
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .has_template(name);
    if !compiled {
        compile(&mut lock.write().unwrap_or_else(|e| e.into_inner()), name)?;
    }
    let hb = lock.read().unwrap_or_else(|e| e.into_inner());
    hb.render(name, data).map_err(|e| Error::Template {
        name: name.to_string(),
        message: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_compiles_and_missing_variables_are_errors() {
        let mut hb = Handlebars::new();
        hb.set_strict_mode(true);
        for (name, text) in BUILTIN_TEMPLATES {
            compile(&mut hb, name).unwrap();
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

    #[test]
    fn a_template_is_compiled_with_the_partials_it_names() {
        assert_eq!(
            partials("a {{> mfa/next-plane.ts}} b {{~> x ~}} {{#> y}}{{/y}} {{x}} {{>z a=1}}"),
            ["mfa/next-plane.ts", "x", "y", "z"]
        );
        let mut hb = Handlebars::new();
        compile(&mut hb, "mfa/supabase-mfa.ts").unwrap();
        assert!(hb.has_template("mfa/next-plane.ts"));
        assert!(!hb.has_template("sql/rls.sql"));
    }
}
