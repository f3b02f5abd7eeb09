//! `kiln lint`: check Dockerfiles against the rules of `kiln-lint` (docs/rules/).
//!
//! The library is pure; this command does the I/O: it reads each Dockerfile, the
//! configuration (`.kiln.toml` or `kiln.toml` in the current directory, or `--config`), the
//! `.dockerignore` next to each Dockerfile (`NAME.dockerignore` first, as BuildKit does), and
//! measures the build context (the Dockerfile's directory) with a bounded walk.
//!
//! Exit codes: 0 when no finding reaches `--fail-level`, 1 when one does (a Dockerfile the
//! front end rejects is an error finding, KL000), 2 for a bad command line or
//! configuration, 3 when a file cannot be read.

use crate::exit::Failure;
use crate::input::Source;
use clap::{Args, ValueEnum};
use kiln_lint::output::{self, FileFindings};
use kiln_lint::{Config, ContextSummary, LintInput, Severity};
use kiln_oci::ErrorKind;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LintFormat {
    /// Diagnostics with source lines, for people.
    Human,
    /// One JSON document (schema: docs/lint-json.md).
    Json,
    /// SARIF 2.1.0, for code-scanning tools.
    Sarif,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FailLevel {
    Error,
    Warning,
    Info,
}

#[derive(Debug, Args)]
#[command(
    after_help = "Exit codes: 0 no finding at or above --fail-level, 1 a finding reaches it (or a Dockerfile is invalid), 2 bad command line or configuration, 3 file not readable.\nInline ignores: `# kiln-ignore=KL003,apt-upgrade` on the line above an instruction."
)]
pub struct LintArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t = LintFormat::Human)]
    pub format: LintFormat,
    /// Exit 1 when a finding is at least this severe (default: fail-level from the
    /// configuration, else info: any finding fails, like hadolint's default).
    #[arg(long, value_enum)]
    pub fail_level: Option<FailLevel>,
    /// Configuration file (default: .kiln.toml or kiln.toml in the current directory).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Disable a rule (ID or name); may be repeated.
    #[arg(long = "ignore", value_name = "RULE")]
    pub ignore: Vec<String>,
    /// Do not look at the build context (.dockerignore, size).
    #[arg(long)]
    pub no_context: bool,
    /// Dockerfiles to check, or - for standard input.
    #[arg(default_value = "Dockerfile")]
    pub files: Vec<PathBuf>,
}

/// Stop measuring the context after this many entries.
const MAX_ENTRIES: u64 = 200_000;
/// Top-level names worth naming in KL110's hint.
const NOTABLE: &[&str] = &[
    ".git",
    "node_modules",
    "target",
    ".venv",
    "venv",
    "__pycache__",
    "dist",
    "build",
    ".env",
    ".terraform",
];

fn load_config(args: &LintArgs) -> Result<Config, Failure> {
    let path = match &args.config {
        Some(p) => Some(p.clone()),
        None => [".kiln.toml", "kiln.toml"]
            .iter()
            .map(PathBuf::from)
            .find(|p| p.is_file()),
    };
    let mut cfg = match path {
        None => Config::default(),
        Some(p) => {
            let text = std::fs::read_to_string(&p).map_err(|e| {
                Failure::new(
                    ErrorKind::Io,
                    format!("error: cannot read {}: {e}", p.display()),
                )
            })?;
            Config::from_toml(&text).map_err(|e| config_failure(&p.display().to_string(), &e))?
        }
    };
    for name in &args.ignore {
        cfg.disable(name)
            .map_err(|e| config_failure("--ignore", &e))?;
    }
    Ok(cfg)
}

fn config_failure(what: &str, e: &kiln_lint::ConfigError) -> Failure {
    let mut msg = format!("error: {what}: {}", e.message);
    if let Some(h) = &e.hint {
        msg.push_str(&format!("\n = hint: {h}"));
    }
    Failure::new(ErrorKind::Usage, msg)
}

/// The `.dockerignore` for `dockerfile`: `NAME.dockerignore` beside it, else
/// `.dockerignore` in its directory.
fn read_dockerignore(dockerfile: &Path, dir: &Path) -> Option<String> {
    let mut candidates = Vec::new();
    if let Some(name) = dockerfile.file_name() {
        let mut n = name.to_os_string();
        n.push(".dockerignore");
        candidates.push(dir.join(n));
    }
    candidates.push(dir.join(".dockerignore"));
    candidates
        .into_iter()
        .find_map(|p| std::fs::read_to_string(p).ok())
}

/// Measure `dir` (regular files, no symlinks followed), stopping once `limit` bytes or
/// [`MAX_ENTRIES`] entries are passed.
fn measure(dir: &Path, limit: u64) -> ContextSummary {
    let mut s = ContextSummary::default();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if NOTABLE.contains(&name.as_str()) {
                s.notable.push(name);
            }
        }
        s.notable.sort();
    }
    let mut stack = vec![dir.to_path_buf()];
    let mut entries = 0u64;
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            entries += 1;
            if entries > MAX_ENTRIES || s.total_bytes > limit {
                s.truncated = true;
                return s;
            }
            let Ok(ft) = e.file_type() else { continue };
            if ft.is_dir() {
                stack.push(e.path());
            } else if ft.is_file() {
                s.file_count += 1;
                s.total_bytes += e.metadata().map(|m| m.len()).unwrap_or(0);
            }
        }
    }
    s
}

pub fn run(args: LintArgs) -> Result<(), Failure> {
    let cfg = load_config(&args)?;
    let fail_level = match args.fail_level {
        Some(FailLevel::Error) => Severity::Error,
        Some(FailLevel::Warning) => Severity::Warning,
        Some(FailLevel::Info) => Severity::Info,
        None => cfg.fail_level.unwrap_or(Severity::Info),
    };
    let mut sources = Vec::new();
    for f in &args.files {
        sources.push((f.clone(), Source::read(f)?));
    }
    let mut results = Vec::new();
    for (path, src) in &sources {
        let stdin = path.as_os_str() == "-";
        let dir = path
            .parent()
            .map(|p| {
                if p.as_os_str().is_empty() {
                    Path::new(".")
                } else {
                    p
                }
            })
            .unwrap_or(Path::new("."));
        let (ignore, ctx) = if stdin || args.no_context {
            (None, None)
        } else {
            (
                read_dockerignore(path, dir),
                Some(measure(dir, cfg.context_size_limit)),
            )
        };
        let input = LintInput {
            dockerfile: &src.bytes,
            dockerignore: ignore.as_deref(),
            context: ctx.as_ref(),
            config: &cfg,
        };
        results.push((src.name.clone(), src.text(), kiln_lint::lint(&input)));
    }
    let files: Vec<FileFindings<'_>> = results
        .iter()
        .map(|(name, text, findings)| FileFindings {
            path: name,
            source: text,
            findings,
        })
        .collect();
    let text = match args.format {
        LintFormat::Human => output::human(&files),
        LintFormat::Json => pretty(&output::json(&files))?,
        LintFormat::Sarif => pretty(&output::sarif(&files))?,
    };
    crate::output::stdout(&text)?;
    let failed = results
        .iter()
        .any(|(_, _, f)| kiln_lint::fails(f, fail_level));
    if failed {
        Err(Failure::new(ErrorKind::Rejected, ""))
    } else {
        Ok(())
    }
}

/// Lint findings for a Dockerfile about to be built, as text for standard error (empty when
/// there are none): those on the lines `needed` keeps (line 0, the file as a whole, is
/// always kept), then how many others `kiln lint` would show. The configuration is read as
/// `kiln lint` reads it; a configuration error is reported and linting skipped, never
/// failing the build. The context is not read (it is untrusted until the build reads it
/// inside its root).
pub fn build_warnings(name: &str, bytes: &[u8], plan: &kiln_dockerfile::plan::Plan) -> String {
    let args = LintArgs {
        format: LintFormat::Human,
        fail_level: None,
        config: None,
        ignore: Vec::new(),
        no_context: true,
        files: Vec::new(),
    };
    let cfg = match load_config(&args) {
        Ok(c) => c,
        Err(f) => return format!("warning: lint skipped: {}\n", f.message),
    };
    let input = LintInput {
        dockerfile: bytes,
        dockerignore: None,
        context: None,
        config: &cfg,
    };
    let (findings, skipped): (Vec<_>, Vec<_>) = kiln_lint::lint(&input)
        .into_iter()
        .partition(|f| f.span.start.line == 0 || plan.line_needed(f.span.start.line));
    // In a builder stage, what only matters for the image's content is left out.
    let (findings, builder): (Vec<_>, Vec<_>) = findings.into_iter().partition(|f| {
        let line = f.span.start.line;
        line == 0 || !f.rule.about_the_image() || plan.line_reaches_image(line)
    });
    let text = String::from_utf8_lossy(bytes);
    let mut out = match findings.is_empty() {
        true => String::new(),
        false => output::human(&[FileFindings {
            path: name,
            source: &text,
            findings: &findings,
        }]),
    };
    if !skipped.is_empty() {
        out.push_str(&format!(
            "{} lint finding(s) in stages this build does not use are not shown (kiln lint {name} shows them; --no-lint shows none)\n",
            skipped.len()
        ));
    }
    if !builder.is_empty() {
        let mut ids: Vec<&str> = builder.iter().map(|f| f.rule.id).collect();
        ids.sort_unstable();
        ids.dedup();
        out.push_str(&format!(
            "{} lint finding(s) about what the image carries ({}) in stages the image only copies files from are not shown (kiln lint shows them)\n",
            builder.len(),
            ids.join(", ")
        ));
    }
    out
}

/// `kiln build --check`: lint the Dockerfile the build would use, with `kiln lint`'s exit
/// codes, and build nothing.
pub fn check(path: PathBuf, no_context: bool) -> Result<(), Failure> {
    run(LintArgs {
        format: LintFormat::Human,
        fail_level: None,
        config: None,
        ignore: Vec::new(),
        no_context,
        files: vec![path],
    })
}

fn pretty(v: &serde_json::Value) -> Result<String, Failure> {
    serde_json::to_string_pretty(v)
        .map(|s| s + "\n")
        .map_err(|e| {
            Failure::new(
                ErrorKind::Rejected,
                format!("error: cannot encode the report: {e}"),
            )
        })
}
