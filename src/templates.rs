//! Injected files are rendered from `templates/**/*.hbs` (compiled into the binary) with
//! handlebars, without HTML escaping (it corrupts SQL and TypeScript) and in strict mode (a
//! missing variable is an error, not an empty string).

use crate::error::Error;
use crate::rules::BUILTIN_TEMPLATES;
use handlebars::Handlebars;
use std::sync::OnceLock;

fn registry() -> Result<&'static Handlebars<'static>, Error> {
    static REGISTRY: OnceLock<Result<Handlebars<'static>, String>> = OnceLock::new();
    REGISTRY
        .get_or_init(|| {
            let mut hb = Handlebars::new();
            hb.register_escape_fn(handlebars::no_escape);
            hb.set_strict_mode(true);
            for (name, text) in BUILTIN_TEMPLATES {
                hb.register_template_string(name, text)
                    .map_err(|e| format!("{name}: {e}"))?;
            }
            Ok(hb)
        })
        .as_ref()
        .map_err(|message| Error::Template {
            name: "templates/".into(),
            message: message.clone(),
        })
}

/// Renders `templates/<name>.hbs` with `data`.
pub fn render(name: &str, data: &serde_json::Value) -> Result<String, Error> {
    registry()?.render(name, data).map_err(|e| Error::Template {
        name: name.to_string(),
        message: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_compiles_and_missing_variables_are_errors() {
        assert!(registry().is_ok());
        let e = render("sql/rls.sql", &serde_json::json!({})).unwrap_err();
        assert!(e.to_string().contains("sql/rls.sql"), "{e}");
    }
}
