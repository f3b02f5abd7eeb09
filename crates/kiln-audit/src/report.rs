//! An audit for people (findings by severity, the layers' sizes, the efficiency) and as
//! JSON (the [`Audit`] itself).

use crate::Audit;

/// Text from the image as the terminal shows it: control characters (escape sequences
/// could rewrite the report's lines) written as `\u{..}`.
fn safe(s: &str) -> String {
    s.chars()
        .map(|c| {
            // Bidirectional overrides and zero-width marks reorder or hide what is shown.
            let invisible = matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}');
            if c.is_control() || invisible {
                c.escape_unicode().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// The human report.
pub fn human(a: &Audit) -> String {
    let mut out = format!("audit of {} ({})\n", a.image, short(&a.id));
    for f in &a.findings {
        out.push_str(&format!(
            "{:<8} {}  {}\n",
            f.severity.as_str().to_uppercase(),
            f.id,
            safe(&f.message)
        ));
        let mut place = Vec::new();
        if let (Some(file), Some(line)) = (&a.dockerfile, f.line) {
            place.push(format!("{}:{line}", safe(file)));
        }
        if let Some(l) = f.layer {
            place.push(format!("layer {l}"));
        }
        if let Some(h) = f.hidden_by_layer {
            place.push(format!(
                "deleted or replaced in layer {h}, still in the image's layers"
            ));
        }
        if !place.is_empty() {
            out.push_str(&format!("{:<8}       {}\n", "", place.join("; ")));
        }
        if let Some(s) = &f.step {
            out.push_str(&format!("{:<8}       made by: {}\n", "", one_line(s)));
        }
    }
    let counts: Vec<String> = ["critical", "high", "medium", "low"]
        .iter()
        .map(|s| {
            let n = a
                .findings
                .iter()
                .filter(|f| f.severity.as_str() == *s)
                .count();
            format!("{n} {s}")
        })
        .collect();
    out.push_str(&format!(
        "\n{} findings: {}\n\nlayers:\n",
        a.findings.len(),
        counts.join(", ")
    ));
    for l in &a.layers {
        let mut step = l.step.as_deref().map(one_line).unwrap_or_default();
        if let (Some(file), Some(line)) = (&a.dockerfile, l.line) {
            step = format!("{}:{line}  {step}", safe(file));
        }
        out.push_str(&format!(
            "  {:>3}  {:>12} bytes  {}\n",
            l.index, l.size, step
        ));
    }
    out.push_str(&format!(
        "efficiency: {:.1}% ({} bytes of {} are files later layers deleted or replaced)\n",
        a.efficiency * 100.0,
        a.wasted_bytes,
        a.total_bytes
    ));
    out
}

/// The JSON report.
pub fn json(a: &Audit) -> String {
    serde_json::to_string_pretty(a).unwrap_or_default() + "\n"
}

fn short(id: &str) -> &str {
    let hex = id.strip_prefix("sha256:").unwrap_or(id);
    &hex[..hex.len().min(12)]
}

/// A history line on one line, at most 100 characters.
fn one_line(s: &str) -> String {
    let flat: String = s.split_whitespace().collect::<Vec<_>>().join(" ");
    safe(&match flat.char_indices().nth(100) {
        Some((i, _)) => format!("{}...", &flat[..i]),
        None => flat,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(safe("a\u{1b}[2Kb"), "a\\u{1b}[2Kb");
        assert_eq!(one_line("RUN \u{1b}]0;x\u{7}"), "RUN \\u{1b}]0;x\\u{7}");
    }
}
