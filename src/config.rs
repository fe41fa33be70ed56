//! `casehard.toml` at the project root. Unknown keys are an error, not silently ignored.

use crate::error::Error;
use crate::rules::Selection;
use crate::workspace::Workspace;
use serde::Deserialize;
use std::collections::BTreeSet;

pub const CONFIG_FILE: &str = "casehard.toml";

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub rules: RulesConfig,
    #[serde(default)]
    pub rls: RlsConfig,
    #[serde(default)]
    pub mfa: MfaConfig,
}

/// `[mfa]`: which admin actions a second admin must approve.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MfaConfig {
    /// Path words (`"role"`, `"refunds"`): an admin write whose path has a segment containing
    /// one of them waits for a second admin. Role changes and balance or credit adjustments
    /// by default; `[]` turns dual approval off.
    #[serde(default = "MfaConfig::default_dual_approval")]
    pub dual_approval: Vec<String>,
}

impl MfaConfig {
    fn default_dual_approval() -> Vec<String> {
        ["role", "balance", "credit"].map(String::from).to_vec()
    }
}

impl Default for MfaConfig {
    fn default() -> Self {
        MfaConfig {
            dual_approval: MfaConfig::default_dual_approval(),
        }
    }
}

/// `[rls]`: what inference cannot know.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RlsConfig {
    /// Tables anyone may read (`["plans", "public.pricing"]`).
    #[serde(default)]
    pub public_read: Vec<String>,
    /// table → the column that holds the owner's user id.
    #[serde(default)]
    pub owners: std::collections::BTreeMap<String, String>,
    /// Tables only admins use (`["audit_log"]`): an admin is a user whose JWT `app_metadata`
    /// says `role: "admin"`, and on Supabase they must have signed in with a second factor.
    #[serde(default)]
    pub admin_only: Vec<String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RulesConfig {
    /// Rule ids never to run.
    #[serde(default)]
    pub skip: BTreeSet<String>,
    /// When set, run only these rule ids.
    #[serde(default)]
    pub only: Option<BTreeSet<String>>,
}

impl Config {
    /// Reads `casehard.toml` from the workspace, or the defaults when there is none.
    pub fn from_workspace(ws: &Workspace) -> Result<Config, Error> {
        match ws.text(CONFIG_FILE) {
            Some(text) => Config::parse(text.body),
            None if ws.get(CONFIG_FILE).is_some() => Err(Error::Config {
                file: CONFIG_FILE.into(),
                message: "not UTF-8".into(),
            }),
            None => Ok(Config::default()),
        }
    }

    pub fn parse(text: &str) -> Result<Config, Error> {
        toml::from_str(text).map_err(|e| Error::Config {
            file: CONFIG_FILE.into(),
            message: toml_error(text, &e),
        })
    }

    pub fn selection(&self) -> Selection {
        Selection {
            only: self.rules.only.clone(),
            skip: self.rules.skip.clone(),
        }
    }
}

/// A TOML error as "line N: message".
pub fn toml_error(text: &str, e: &toml::de::Error) -> String {
    match e.span() {
        Some(span) => {
            let line = text[..span.start.min(text.len())].matches('\n').count() + 1;
            format!("line {line}: {}", e.message())
        }
        None => e.message().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_keys_are_errors_with_a_line() {
        let e = Config::parse("[rules]\nskip = []\nsikp = []\n").unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("casehard.toml: line 3"), "{msg}");
        assert!(msg.contains("sikp"), "{msg}");
        assert!(Config::parse("[rule]\n").is_err());
    }

    #[test]
    fn reads_skip_and_only() {
        let c = Config::parse("[rules]\nskip = [\"a/b\"]\nonly = [\"a/b\", \"c/d\"]\n").unwrap();
        let s = c.selection();
        assert!(!s.allows("a/b"));
        assert!(s.allows("c/d"));
        assert!(!s.allows("e/f"));
    }
}
