//! Rules as data, and the findings they produce.

use kiln_dockerfile::Span;
use serde::Serialize;

/// How bad a finding is. Ordered: `Info < Warning < Error`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Error,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }

    pub fn parse(s: &str) -> Option<Severity> {
        match s.to_ascii_lowercase().as_str() {
            "info" => Some(Severity::Info),
            "warning" | "warn" => Some(Severity::Warning),
            "error" => Some(Severity::Error),
            _ => None,
        }
    }
}

impl std::fmt::Display for Severity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One rule: identity, default severity, message template and documentation.
#[derive(Debug, PartialEq, Eq)]
pub struct Rule {
    /// Stable ID, `KLnnn`.
    pub id: &'static str,
    /// Stable short kebab-case name.
    pub name: &'static str,
    pub severity: Severity,
    /// One line: what the rule looks for.
    pub summary: &'static str,
    /// The finding's message; `{0}`, `{1}`, ... are replaced by the finding's arguments.
    pub message: &'static str,
    /// Why it matters (documentation).
    pub why: &'static str,
    /// How to fix it (documentation).
    pub fix: &'static str,
    /// The hadolint rule that checks the same thing, if any.
    pub hadolint: Option<&'static str>,
    /// The BuildKit check that checks the same thing, if any.
    pub buildkit: Option<&'static str>,
}

/// Rules about what the image carries (package caches and lists, recommended packages,
/// the number of layers, the form of CMD): they matter in the stages whose files reach
/// the image, not in a builder stage that the image takes files from with `COPY --from`.
/// `kiln build` leaves their findings in such stages out (`kiln lint` shows them all).
const ABOUT_THE_IMAGE: &[&str] = &[
    "KL001", "KL002", "KL010", "KL020", "KL023", "KL030", "KL040", "KL042", "KL044", "KL046",
    "KL047", "KL050", "KL080", "KL081",
];

impl Rule {
    /// Does this rule only matter for stages whose files reach the image?
    pub fn about_the_image(&self) -> bool {
        ABOUT_THE_IMAGE.contains(&self.id)
    }

    /// The documentation page, relative to the repository root.
    pub fn doc_path(&self) -> String {
        format!("docs/rules/{}.md", self.id)
    }

    /// The message with `{n}` replaced by `args[n]`.
    pub fn format(&self, args: &[&str]) -> String {
        let mut out = String::with_capacity(self.message.len() + 16);
        let mut rest = self.message;
        while let Some(open) = rest.find('{') {
            out.push_str(&rest[..open]);
            let after = &rest[open + 1..];
            match after.find('}') {
                Some(close) => match after[..close].parse::<usize>() {
                    Ok(n) => {
                        out.push_str(args.get(n).copied().unwrap_or(""));
                        rest = &after[close + 1..];
                    }
                    Err(_) => {
                        out.push('{');
                        rest = after;
                    }
                },
                None => {
                    out.push('{');
                    rest = after;
                }
            }
        }
        out.push_str(rest);
        out
    }
}

/// A rule violation at a place in the Dockerfile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub rule: &'static Rule,
    /// The rule's severity, or the configured override.
    pub severity: Severity,
    pub message: String,
    /// Where: line and column from the front end's spans (line 0: the file as a whole).
    pub span: Span,
    /// What to do about it, when there is something specific to say.
    pub hint: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rules_about_the_image_exist() {
        for id in ABOUT_THE_IMAGE {
            assert!(crate::rules::all().any(|r| r.id == *id), "{id}");
        }
        let marked = crate::rules::all().filter(|r| r.about_the_image()).count();
        assert_eq!(marked, ABOUT_THE_IMAGE.len());
    }

    #[test]
    fn formats_placeholders_and_keeps_stray_braces() {
        let r = crate::rules::find("KL003").expect("rule");
        assert!(r.format(&["curl"]).contains("curl"));
        let rule = Rule {
            message: "a {0} b {1} {x} {",
            ..*r
        };
        assert_eq!(rule.format(&["1"]), "a 1 b  {x} {");
    }
}
