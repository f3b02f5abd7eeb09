//! Golden cases for every rule, and the rule documentation.
//!
//! `tests/lint/<ID>/trigger/<case>.Dockerfile` must produce at least one finding of rule ID,
//! `tests/lint/<ID>/no-trigger/<case>.Dockerfile` none. Every case's complete findings are
//! compared with `<case>.expected`. Optional companions: `<case>.dockerignore`,
//! `<case>.context` (`total_bytes=N`, `notable=a,b`), `<case>.kiln.toml`.
//!
//! `docs/rules/<ID>.md` and `docs/rules/README.md` are generated from the rule table and
//! the first trigger / no-trigger case of each rule; the test fails when they differ.
//!
//! `KILN_BLESS=1 cargo test -p kiln-lint --test rules` rewrites the expected files and docs.

use kiln_lint::{lint, rules, Config, ContextSummary, Finding, LintInput};
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn bless() -> bool {
    std::env::var_os("KILN_BLESS").is_some()
}

fn render(findings: &[Finding]) -> String {
    let mut s = String::new();
    for f in findings {
        let _ = write!(
            s,
            "{}:{}-{}:{} {} {} {}",
            f.span.start.line,
            f.span.start.col,
            f.span.end.line,
            f.span.end.col,
            f.severity,
            f.rule.id,
            f.message
        );
        if let Some(h) = &f.hint {
            let _ = write!(s, " [hint: {h}]");
        }
        s.push('\n');
    }
    s
}

fn sibling(case: &Path, ext: &str) -> PathBuf {
    let stem = case
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("")
        .trim_end_matches(".Dockerfile");
    case.with_file_name(format!("{stem}.{ext}"))
}

fn run_case(case: &Path) -> Vec<Finding> {
    let bytes = fs::read(case).expect("read case");
    let ignore = fs::read_to_string(sibling(case, "dockerignore")).ok();
    let ctx = fs::read_to_string(sibling(case, "context")).ok().map(|t| {
        let mut c = ContextSummary::default();
        for line in t.lines() {
            match line.split_once('=') {
                Some(("total_bytes", v)) => c.total_bytes = v.trim().parse().expect("total_bytes"),
                Some(("notable", v)) => c.notable = v.split(',').map(str::to_string).collect(),
                Some(("truncated", v)) => c.truncated = v.trim() == "true",
                _ => {}
            }
        }
        c
    });
    let cfg = match fs::read_to_string(sibling(case, "kiln.toml")) {
        Ok(t) => Config::from_toml(&t).expect("case config"),
        Err(_) => Config::default(),
    };
    let input = LintInput {
        dockerfile: &bytes,
        dockerignore: ignore.as_deref(),
        context: ctx.as_ref(),
        config: &cfg,
    };
    lint(&input)
}

fn cases(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(dir)
        .map(|rd| rd.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    v.retain(|p| p.to_string_lossy().ends_with(".Dockerfile"));
    v.sort();
    v
}

#[test]
fn every_rule_has_golden_cases_that_pass() {
    let base = root().join("tests/lint");
    let mut failures = Vec::new();
    let mut n_cases = 0;
    for rule in rules::all() {
        for (kind, must) in [("trigger", true), ("no-trigger", false)] {
            let dir = base.join(rule.id).join(kind);
            let list = cases(&dir);
            if list.is_empty() && (must || rule.id != "KL000") {
                failures.push(format!("{}: no {kind} case in {}", rule.id, dir.display()));
            }
            for case in list {
                n_cases += 1;
                let findings = run_case(&case);
                let hit = findings.iter().any(|f| f.rule.id == rule.id);
                if hit != must {
                    failures.push(format!(
                        "{}: {} {} rule {}\n{}",
                        case.display(),
                        if must { "does not trigger" } else { "triggers" },
                        kind,
                        rule.id,
                        render(&findings)
                    ));
                }
                let got = render(&findings);
                let exp_path = sibling(&case, "expected");
                if bless() {
                    fs::write(&exp_path, &got).expect("write expected");
                } else {
                    let want = fs::read_to_string(&exp_path).unwrap_or_default();
                    if want != got {
                        failures.push(format!(
                            "{}: output differs\n--- expected\n{want}--- got\n{got}",
                            case.display()
                        ));
                    }
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} problems:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(n_cases >= 80, "only {n_cases} cases");
}

fn example(rule: &str, kind: &str) -> String {
    let dir = root().join("tests/lint").join(rule).join(kind);
    cases(&dir)
        .first()
        .and_then(|p| fs::read_to_string(p).ok())
        .unwrap_or_default()
}

fn doc_page(r: &kiln_lint::Rule) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# {} {}\n", r.id, r.name);
    let _ = writeln!(s, "Severity: **{}**", r.severity);
    let mut also = Vec::new();
    if let Some(h) = r.hadolint {
        also.push(format!("hadolint {h}"));
    }
    if let Some(b) = r.buildkit {
        also.push(format!("BuildKit check {b}"));
    }
    if !also.is_empty() {
        let _ = writeln!(s, "Counterparts: {}", also.join(", "));
    }
    let _ = writeln!(s, "\n## What\n\n{}\n", r.summary);
    let _ = writeln!(s, "## Why\n\n{}\n", r.why);
    let _ = writeln!(s, "## How to fix\n\n{}\n", r.fix);
    let bad = example(r.id, "trigger");
    let good = example(r.id, "no-trigger");
    let _ = writeln!(s, "## Example\n\nReported:\n\n```dockerfile\n{}```\n", bad);
    if !good.is_empty() {
        let _ = writeln!(s, "Not reported:\n\n```dockerfile\n{}```\n", good);
    }
    if r.id != "KL000" {
        let _ = writeln!(
            s,
            "## Turning it off\n\nOn one instruction: `# kiln-ignore={}` on the line above it. Everywhere: `disable = [\"{}\"]` in the `[lint]` table of `.kiln.toml`, or `kiln lint --ignore {}`.",
            r.id, r.name, r.id
        );
    }
    s
}

fn index_page() -> String {
    let mut s = String::from(
        "# kiln lint rules\n\n\
Run `kiln lint [--format human|json|sarif] [--fail-level error|warning|info] [FILE...]`.\n\n\
- Exit code 0 when no finding is at or above `--fail-level`, 1 when one is (a Dockerfile that does not parse is a KL000 error), 2 for a bad command line or configuration, 3 for an unreadable file. The default fail level is `info` (any finding fails), as hadolint's default `--failure-threshold`; `fail-level` in `.kiln.toml` changes the default.\n\
- Ignore a rule on one instruction with a comment on the line above it: `# kiln-ignore=KL003,apt-upgrade`.\n\
- Configuration: the `[lint]` table of `.kiln.toml` or `kiln.toml` in the current directory (or `--config FILE`):\n\n\
```toml\n[lint]\ndisable = [\"KL050\", \"pip-unpinned\"]\nfail-level = \"warning\"\ntrusted-registries = [\"docker.io\", \"ghcr.io\"]\nknown-env = [\"MY_BASE_IMAGE_VAR\"]\ncontext-size-limit-mib = 100\n\n[lint.severity]\nKL002 = \"warning\"\napk-upgrade = \"off\"\n```\n\n\
- JSON output: `docs/lint-json.md`. SARIF output: SARIF 2.1.0, one run, every rule in `tool.driver.rules`.\n\n\
The `hadolint` column is the mapping used by the agreement test (`crates/kiln-lint/tests/agreement.rs`): for these rules kiln reports the same instruction lines as hadolint on `tests/lint-corpus/`, except for the differences listed in `tests/lint-corpus/differences.txt`.\n\n\
| ID | name | severity | hadolint | BuildKit | what |\n|---|---|---|---|---|---|\n",
    );
    for r in rules::all() {
        let _ = writeln!(
            s,
            "| [{}]({}.md) | {} | {} | {} | {} | {} |",
            r.id,
            r.id,
            r.name,
            r.severity,
            r.hadolint.unwrap_or(""),
            r.buildkit.unwrap_or(""),
            r.summary.replace('|', "\\|")
        );
    }
    s
}

#[test]
fn rule_docs_are_generated_from_the_table() {
    let dir = root().join("docs/rules");
    let mut wanted = vec![(dir.join("README.md"), index_page())];
    for r in rules::all() {
        wanted.push((dir.join(format!("{}.md", r.id)), doc_page(r)));
    }
    let mut stale = Vec::new();
    for (path, text) in &wanted {
        if bless() {
            fs::create_dir_all(&dir).expect("docs dir");
            fs::write(path, text).expect("write doc");
        } else if fs::read_to_string(path).ok().as_deref() != Some(text.as_str()) {
            stale.push(path.display().to_string());
        }
    }
    assert!(
        stale.is_empty(),
        "stale docs (regenerate with KILN_BLESS=1): {stale:?}"
    );
}
