//! kiln's Dockerfile linter.
//!
//! One call lints one Dockerfile: [`lint`] takes the Dockerfile's bytes, the
//! `.dockerignore` text and a summary of the build context (all read by the caller) and the
//! configuration, and gives the findings, sorted by position. Rules are data
//! ([`rules::RULES`]): a stable ID, a short name, a severity, a message template and the
//! hadolint / BuildKit counterpart. [`output`] renders findings for people (like the front
//! end's diagnostics), as JSON, or as SARIF 2.1.0.
//!
//! Pure: no I/O, no processes, no panics on any input.

pub mod config;
pub mod output;
mod pass;
mod pos;
pub mod rule;
pub mod rules;
pub mod shell;

pub use config::{Config, ConfigError};
pub use rule::{Finding, Rule, Severity};

/// What the build context looks like, measured by the caller (bounded walk).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContextSummary {
    /// Bytes in regular files counted.
    pub total_bytes: u64,
    /// Regular files counted.
    pub file_count: u64,
    /// The walk stopped at its bound: the real numbers are larger.
    pub truncated: bool,
    /// Names of notable top-level entries found (`.git`, `node_modules`, ...), for hints.
    pub notable: Vec<String>,
}

/// Everything one lint run looks at.
#[derive(Debug, Clone, Copy)]
pub struct LintInput<'a> {
    /// The Dockerfile's bytes.
    pub dockerfile: &'a [u8],
    /// The `.dockerignore` text, when the context has one.
    pub dockerignore: Option<&'a str>,
    /// The build context's size, when the caller measured it.
    pub context: Option<&'a ContextSummary>,
    pub config: &'a Config,
}

impl<'a> LintInput<'a> {
    /// Lint `dockerfile` with the default configuration and no context information.
    pub fn new(dockerfile: &'a [u8], config: &'a Config) -> Self {
        LintInput {
            dockerfile,
            dockerignore: None,
            context: None,
            config,
        }
    }
}

/// Lint one Dockerfile. A Dockerfile the front end rejects gives one `KL000` error finding
/// (no other rule runs). Findings disabled by the configuration or by an inline
/// `# kiln-ignore=` comment are left out; severities are as configured. Sorted by position,
/// then rule ID.
pub fn lint(input: &LintInput<'_>) -> Vec<Finding> {
    let raw = pass::run(input);
    let mut out: Vec<Finding> = raw
        .into_iter()
        .filter_map(|f| input.config.apply(f))
        .collect();
    out.sort_by(|a, b| {
        (a.span.start, a.rule.id, a.span.end, &a.message).cmp(&(
            b.span.start,
            b.rule.id,
            b.span.end,
            &b.message,
        ))
    });
    out.dedup_by(|a, b| a.rule.id == b.rule.id && a.span == b.span && a.message == b.message);
    out
}

/// Do any of `findings` reach `level`?
pub fn fails(findings: &[Finding], level: Severity) -> bool {
    findings.iter().any(|f| f.severity >= level)
}
