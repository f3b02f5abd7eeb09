//! Lint configuration: the `[lint]` table of `.kiln.toml` / `kiln.toml`.
//!
//! ```toml
//! [lint]
//! disable = ["KL003", "pip-unpinned"]      # rule IDs or names
//! fail-level = "warning"                    # error | warning | info
//! trusted-registries = ["docker.io", "ghcr.io"]
//! known-env = ["MY_BASE_IMAGE_VAR"]         # variables the base images define
//! context-size-limit-mib = 100              # KL110 threshold
//!
//! [lint.severity]                           # per-rule overrides
//! KL050 = "error"
//! apt-lists-not-cleaned = "off"             # "off" disables
//! ```

use crate::rule::{Finding, Severity};
use crate::rules;
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};

/// The default KL110 threshold: 100 MiB.
pub const DEFAULT_CONTEXT_LIMIT: u64 = 100 * 1024 * 1024;

/// A configuration error: what is wrong and what to write instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ConfigError {
    pub message: String,
    pub hint: Option<String>,
}

impl ConfigError {
    fn new(message: impl Into<String>) -> Self {
        ConfigError {
            message: message.into(),
            hint: None,
        }
    }
}

/// What to check and how strictly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Disabled rule IDs.
    pub disabled: BTreeSet<&'static str>,
    /// Severity overrides by rule ID.
    pub severity: BTreeMap<&'static str, Severity>,
    /// When not empty, base images must come from one of these registries (KL062).
    pub trusted_registries: Vec<String>,
    /// Variables the base images define, for KL102 (besides the built-in list).
    pub known_env: Vec<String>,
    /// KL110 reports a context larger than this without a `.dockerignore`.
    pub context_size_limit: u64,
    /// `fail-level` from the file; the command line wins over it.
    pub fail_level: Option<Severity>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            disabled: BTreeSet::new(),
            severity: BTreeMap::new(),
            trusted_registries: Vec::new(),
            known_env: Vec::new(),
            context_size_limit: DEFAULT_CONTEXT_LIMIT,
            fail_level: None,
        }
    }
}

#[derive(Debug, Deserialize)]
struct File {
    lint: Option<Raw>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct Raw {
    #[serde(default)]
    disable: Vec<String>,
    fail_level: Option<String>,
    #[serde(default)]
    trusted_registries: Vec<String>,
    #[serde(default)]
    known_env: Vec<String>,
    context_size_limit_mib: Option<u64>,
    #[serde(default)]
    severity: BTreeMap<String, String>,
}

fn unknown_rule(name: &str) -> ConfigError {
    let mut e = ConfigError::new(format!("unknown lint rule \"{name}\""));
    let names: Vec<&str> = rules::all().flat_map(|r| [r.id, r.name]).collect();
    e.hint = Some(
        kiln_dockerfile::suggest::did_you_mean(name, names.iter().copied(), false)
            .unwrap_or_else(|| "rules are listed in docs/rules/README.md".to_string()),
    );
    e
}

fn severity(value: &str, what: &str) -> Result<Severity, ConfigError> {
    Severity::parse(value).ok_or_else(|| ConfigError {
        message: format!("invalid severity \"{value}\" for {what}"),
        hint: Some("use \"error\", \"warning\" or \"info\"".to_string()),
    })
}

impl Config {
    /// Read the `[lint]` table of a `kiln.toml` text. Other tables are for other commands
    /// and are ignored.
    pub fn from_toml(text: &str) -> Result<Config, ConfigError> {
        let file: File = toml::from_str(text).map_err(|e| ConfigError {
            message: format!("invalid configuration: {}", e.message().trim_end()),
            hint: Some(
                "[lint] keys are disable, fail-level, trusted-registries, known-env, context-size-limit-mib and the [lint.severity] table"
                    .to_string(),
            ),
        })?;
        let raw = file.lint.unwrap_or_default();
        let mut cfg = Config::default();
        for name in &raw.disable {
            cfg.disable(name)?;
        }
        if let Some(level) = &raw.fail_level {
            cfg.fail_level = Some(severity(level, "fail-level")?);
        }
        cfg.trusted_registries = raw.trusted_registries;
        cfg.known_env = raw.known_env;
        if let Some(mib) = raw.context_size_limit_mib {
            cfg.context_size_limit = mib.saturating_mul(1024 * 1024);
        }
        for (name, level) in &raw.severity {
            let rule = rules::find(name).ok_or_else(|| unknown_rule(name))?;
            if level.eq_ignore_ascii_case("off") {
                cfg.disabled.insert(rule.id);
            } else {
                cfg.severity
                    .insert(rule.id, severity(level, &format!("rule {name}"))?);
            }
        }
        Ok(cfg)
    }

    /// Disable a rule by ID or name.
    pub fn disable(&mut self, name: &str) -> Result<(), ConfigError> {
        let rule = rules::find(name).ok_or_else(|| unknown_rule(name))?;
        if rule.id == rules::INVALID.id {
            return Err(ConfigError::new(format!(
                "rule {} reports Dockerfiles the front end rejects and cannot be disabled",
                rule.id
            )));
        }
        self.disabled.insert(rule.id);
        Ok(())
    }

    /// Drop a disabled finding; apply a severity override.
    pub(crate) fn apply(&self, mut f: Finding) -> Option<Finding> {
        if f.rule.id != rules::INVALID.id && self.disabled.contains(f.rule.id) {
            return None;
        }
        if let Some(s) = self.severity.get(f.rule.id) {
            f.severity = *s;
        }
        Some(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_lint_table() {
        let c = Config::from_toml(
            "[build]\nx = 1\n[lint]\ndisable = [\"KL003\", \"pip-unpinned\"]\nfail-level = \"warning\"\ntrusted-registries = [\"docker.io\"]\ncontext-size-limit-mib = 5\n[lint.severity]\nKL050 = \"error\"\napk-unpinned = \"off\"\n",
        )
        .expect("valid");
        assert!(c.disabled.contains("KL003"));
        assert!(c.disabled.contains("KL041"));
        assert!(c.disabled.contains("KL011"));
        assert_eq!(c.severity.get("KL050"), Some(&Severity::Error));
        assert_eq!(c.fail_level, Some(Severity::Warning));
        assert_eq!(c.context_size_limit, 5 * 1024 * 1024);
        assert_eq!(c.trusted_registries, vec!["docker.io"]);
    }

    #[test]
    fn rejects_unknown_rules_keys_and_levels() {
        let e = Config::from_toml("[lint]\ndisable = [\"apt-unpined\"]\n").expect_err("bad");
        assert_eq!(e.hint.as_deref(), Some("did you mean apt-unpinned?"));
        assert!(Config::from_toml("[lint]\ndisabled = []\n").is_err());
        assert!(Config::from_toml("[lint.severity]\nKL001 = \"loud\"\n").is_err());
        assert!(Config::from_toml("[lint]\ndisable = [\"KL000\"]\n").is_err());
        assert!(Config::from_toml("not toml [").is_err());
        assert_eq!(Config::from_toml("").expect("empty"), Config::default());
    }
}
