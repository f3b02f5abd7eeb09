//! What an audit reports: findings of the checks in [`crate::checks`], each with where it
//! was found (layer, path) and the step that made that layer.

use serde::Serialize;

/// How bad a finding is. Ordered: `Low < Medium < High < Critical`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }

    pub fn parse(s: &str) -> Option<Severity> {
        match s.to_ascii_lowercase().as_str() {
            "low" => Some(Severity::Low),
            "medium" => Some(Severity::Medium),
            "high" => Some(Severity::High),
            "critical" => Some(Severity::Critical),
            _ => None,
        }
    }
}

/// One finding.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    /// The check's stable ID (`KA001`), documented under `docs/audit/`.
    pub id: &'static str,
    pub severity: Severity,
    /// What was found, in one line.
    pub message: String,
    /// The layer (0 = the bottom one) that holds it; none for the config.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub layer: Option<usize>,
    /// The path in the image (`/etc/shadow`), for files.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// The Dockerfile line of the step that made the layer (or set the config value),
    /// for images built in this store.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
    /// The step that made the layer, as the image's history records it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub step: Option<String>,
    /// The later layer that deletes or replaces the file: it is still in the image's
    /// layers, and in every copy of them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hidden_by_layer: Option<usize>,
    /// Bytes involved (leftovers, wasted space).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bytes: Option<u64>,
}
