//! Rendering findings: for people, as JSON (schema: `docs/lint-json.md`), as SARIF 2.1.0.

use crate::rule::{Finding, Severity};
use crate::rules;
use kiln_dockerfile::error::{render_in, SourceLines};
use serde_json::{json, Value};

/// The findings of one file.
#[derive(Debug, Clone, Copy)]
pub struct FileFindings<'a> {
    /// The path as given on the command line (`<stdin>` for standard input).
    pub path: &'a str,
    /// The Dockerfile's text, for showing source lines.
    pub source: &'a str,
    pub findings: &'a [Finding],
}

/// Counts by severity: (errors, warnings, infos).
pub fn counts<'a>(findings: impl IntoIterator<Item = &'a Finding>) -> (usize, usize, usize) {
    let mut c = (0, 0, 0);
    for f in findings {
        match f.severity {
            Severity::Error => c.0 += 1,
            Severity::Warning => c.1 += 1,
            Severity::Info => c.2 += 1,
        }
    }
    c
}

/// One finding like a compiler diagnostic: `warning[KL003]: message`, ` --> file:line:col`,
/// the source line with carets under the span, the hint, the rule's name and doc page.
pub fn human_finding(f: &Finding, path: &str, source: &str) -> String {
    human_finding_in(f, path, &SourceLines::new(source))
}

/// [`human_finding`] against a source already split into lines (many findings, one file).
fn human_finding_in(f: &Finding, path: &str, source: &SourceLines<'_>) -> String {
    let level = format!("{}[{}]", f.severity, f.rule.id);
    let mut out = render_in(&level, &f.message, f.span, f.hint.as_deref(), path, source);
    let pad = if f.span.start.line == 0 {
        String::new()
    } else {
        " ".repeat(f.span.start.line.to_string().len())
    };
    out.push_str(&format!(
        "{pad} = rule: {} ({})\n",
        f.rule.name,
        f.rule.doc_path()
    ));
    out
}

/// Every file's findings for people, with a closing summary line.
pub fn human(files: &[FileFindings<'_>]) -> String {
    let mut out = String::new();
    for file in files {
        let lines = SourceLines::new(file.source);
        for f in file.findings {
            out.push_str(&human_finding_in(f, file.path, &lines));
            out.push('\n');
        }
    }
    let (e, w, i) = counts(files.iter().flat_map(|f| f.findings.iter()));
    let total = e + w + i;
    if total == 0 {
        out.push_str(&format!(
            "no findings in {} file{}\n",
            files.len(),
            plural(files.len())
        ));
    } else {
        out.push_str(&format!(
            "{total} finding{}: {e} error{}, {w} warning{}, {i} info\n",
            plural(total),
            plural(e),
            plural(w)
        ));
    }
    out
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

fn finding_json(f: &Finding) -> Value {
    json!({
        "rule": f.rule.id,
        "name": f.rule.name,
        "severity": f.severity,
        "message": f.message,
        "hint": f.hint,
        "line": f.span.start.line,
        "column": f.span.start.col,
        "end_line": f.span.end.line,
        "end_column": f.span.end.col,
        "doc": f.rule.doc_path(),
    })
}

/// The JSON report (schema version 1, documented in `docs/lint-json.md`).
pub fn json(files: &[FileFindings<'_>]) -> Value {
    let (e, w, i) = counts(files.iter().flat_map(|f| f.findings.iter()));
    json!({
        "version": 1,
        "tool": {"name": "kiln", "version": env!("CARGO_PKG_VERSION")},
        "files": files.iter().map(|file| json!({
            "path": file.path,
            "findings": file.findings.iter().map(finding_json).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "summary": {"error": e, "warning": w, "info": i},
    })
}

fn sarif_level(s: Severity) -> &'static str {
    match s {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Info => "note",
    }
}

/// A path as a relative URI reference (forward slashes, reserved characters escaped).
fn uri(path: &str) -> String {
    let p = if path == "<stdin>" { "stdin" } else { path };
    let p = p.replace('\\', "/");
    let p = p.strip_prefix("./").unwrap_or(&p);
    let mut out = String::new();
    for b in p.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The SARIF 2.1.0 log: one run, every rule described in `tool.driver.rules`.
pub fn sarif(files: &[FileFindings<'_>]) -> Value {
    let all: Vec<_> = rules::all().collect();
    let rules_json: Vec<Value> = all
        .iter()
        .map(|r| {
            let mut props = json!({"tags": ["dockerfile"]});
            if let Some(h) = r.hadolint {
                props["hadolint"] = json!(h);
            }
            if let Some(b) = r.buildkit {
                props["buildkit"] = json!(b);
            }
            json!({
                "id": r.id,
                "name": r.name,
                "shortDescription": {"text": r.summary},
                "fullDescription": {"text": r.why},
                "help": {
                    "text": format!("{}\n\nSee {}.", r.fix, r.doc_path()),
                    "markdown": format!("{}\n\n{}\n\nSee [{}]({}).", r.summary, r.fix, r.id, r.doc_path()),
                },
                "defaultConfiguration": {"level": sarif_level(r.severity)},
                "properties": props,
            })
        })
        .collect();
    let mut results = Vec::new();
    for file in files {
        for f in file.findings {
            let index = all.iter().position(|r| r.id == f.rule.id).unwrap_or(0);
            let mut physical = json!({
                "artifactLocation": {"uri": uri(file.path), "uriBaseId": "%SRCROOT%"},
            });
            if f.span.start.line >= 1 {
                let mut region = json!({
                    "startLine": f.span.start.line,
                    "startColumn": f.span.start.col.max(1),
                });
                if f.span.end.line >= f.span.start.line && f.span.end > f.span.start {
                    region["endLine"] = json!(f.span.end.line);
                    region["endColumn"] = json!(f.span.end.col.max(1));
                }
                physical["region"] = region;
            }
            let text = match &f.hint {
                Some(h) => format!("{} (hint: {h})", f.message),
                None => f.message.clone(),
            };
            results.push(json!({
                "ruleId": f.rule.id,
                "ruleIndex": index,
                "level": sarif_level(f.severity),
                "message": {"text": text},
                "locations": [{"physicalLocation": physical}],
            }));
        }
    }
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "kiln",
                "version": env!("CARGO_PKG_VERSION"),
                "semanticVersion": env!("CARGO_PKG_VERSION"),
                "rules": rules_json,
            }},
            "columnKind": "unicodeCodePoints",
            "originalUriBaseIds": {"%SRCROOT%": {"description": {"text": "The directory kiln lint ran in."}}},
            "results": results,
        }],
    })
}
