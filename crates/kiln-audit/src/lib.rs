//! `kiln audit`: what makes an image unsafe or fat, found in one pass over its layers and
//! its config.
//!
//! Every layer is read once, in order, through the project's hardened tar reader
//! ([`kiln_oci::tar`]): each member's header is checked (setuid, world-writable, file
//! capabilities, devices, `.git`), small text files are read for secrets and credential
//! files ([`files`], [`secrets`]), and a tree of the stack ([`tree`]) tells which file
//! versions later layers deleted or replaced. Secrets are reported in the layer that holds
//! them even when a later layer deletes the file: the bytes still ship with the image.
//! Then the config (user, healthcheck, ports, ENV, LABELs, history) and the final account
//! files are checked ([`config`]), and what the final tree carries for nothing is summed
//! ([`leftovers`]). Each finding names its layer and the step (history entry) that made
//! it.

pub mod checks;
mod config;
mod error;
mod files;
mod finding;
mod leftovers;
pub mod report;
pub mod secrets;
mod tree;
mod walk;

pub use error::AuditError;
pub use finding::{Finding, Severity};

use kiln_oci::store::StoredImage;
use kiln_oci::Store;
use serde::Serialize;

/// One layer of the audited image.
#[derive(Debug, Clone, Serialize)]
pub struct LayerSummary {
    pub index: usize,
    pub digest: String,
    /// Bytes of its tar stream.
    pub size: u64,
    /// Bytes of its blob as stored (compressed or not).
    pub blob_size: u64,
    /// The step that made it (history `created_by`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub step: Option<String>,
    /// The Dockerfile line of that step (images built in this store).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
}

/// An audit's result.
#[derive(Debug, Clone, Serialize)]
pub struct Audit {
    /// The image as named.
    pub image: String,
    /// Its ID (config digest).
    pub id: String,
    /// The Dockerfile it was built from, for images built in this store: `line` of a
    /// finding or layer is a line of it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dockerfile: Option<String>,
    pub findings: Vec<Finding>,
    pub layers: Vec<LayerSummary>,
    /// Bytes of every layer's files.
    pub total_bytes: u64,
    /// Bytes of file versions later layers deleted or replaced.
    pub wasted_bytes: u64,
    /// The share of the layers' file bytes the final image shows (1.0: nothing wasted).
    pub efficiency: f64,
}

impl Audit {
    /// How many findings are at or above `s`.
    pub fn at_or_above(&self, s: Severity) -> usize {
        self.findings.iter().filter(|f| f.severity >= s).count()
    }
}

/// Audit image `name` (a name or ID) of `store`.
pub fn audit(store: &Store, name: &str) -> Result<Audit, AuditError> {
    let stored = store.lookup(name).map_err(|e| AuditError::image(name, e))?;
    audit_stored(store, name, &stored)
}

fn audit_stored(store: &Store, name: &str, stored: &StoredImage) -> Result<Audit, AuditError> {
    let image_err = |e| AuditError::image(name, e);
    let image = store.load_image(&stored.manifest).map_err(image_err)?;
    let config: serde_json::Value = store
        .read_blob_json(&image.config_digest, kiln_oci::image::MAX_CONFIG_BYTES)
        .map_err(image_err)?;
    let layers = image.layers().map_err(|e| AuditError::image(name, e))?;
    let mut walked = walk::Walked::default();
    for (i, l) in layers.iter().enumerate() {
        walked.layer(store, i, l)?;
    }
    let at = Places::new(store, &stored.config, &config, &layers);
    let mut findings = file_findings(&walked, &at);
    findings.extend(config_findings(&config, &walked, &at));
    findings.sort_by(|a, b| b.severity.cmp(&a.severity).then(a.id.cmp(b.id)));
    let findings = capped(findings);
    let wasted_bytes: u64 = walked.tree.wasted().map(|(_, b, _)| b).sum();
    let total_bytes = walked.tree.visible().map(|(_, s)| s.size).sum::<u64>() + wasted_bytes;
    let efficiency = if total_bytes == 0 {
        1.0
    } else {
        1.0 - wasted_bytes as f64 / total_bytes as f64
    };
    let layers = layers
        .iter()
        .enumerate()
        .map(|(i, l)| LayerSummary {
            index: i,
            digest: l.digest.to_string(),
            size: walked.sizes[i],
            blob_size: l.size,
            step: at.steps[i].clone(),
            line: at.layer_line(i),
        })
        .collect();
    Ok(Audit {
        image: name.to_string(),
        id: stored.config.to_string(),
        dockerfile: at.dockerfile.clone(),
        findings,
        layers,
        total_bytes,
        wasted_bytes,
        efficiency,
    })
}

/// Where a finding is: the step of each layer (history), and for images built in this
/// store the Dockerfile lines of the layers and history entries (its build record, used
/// only when it names exactly these layers and this history).
struct Places {
    steps: Vec<Option<String>>,
    dockerfile: Option<String>,
    layer_lines: Vec<Option<u32>>,
    history_lines: Vec<Option<u32>>,
}

impl Places {
    fn new(
        store: &Store,
        id: &kiln_oci::Digest,
        config: &serde_json::Value,
        layers: &[kiln_oci::LayerRef],
    ) -> Places {
        let steps = layer_steps(config, layers.len());
        let history_len = config["history"].as_array().map_or(0, Vec::len);
        let record = store.build_record(id).filter(|r| {
            r.layers.len() == layers.len()
                && r.history.len() == history_len
                && r.layers
                    .iter()
                    .zip(layers)
                    .all(|(a, b)| a.diff_id == b.diff_id.to_string())
        });
        match record {
            Some(r) => Places {
                steps,
                dockerfile: Some(r.dockerfile),
                layer_lines: r.layers.iter().map(|l| l.line).collect(),
                history_lines: r.history,
            },
            None => Places {
                steps,
                dockerfile: None,
                layer_lines: Vec::new(),
                history_lines: Vec::new(),
            },
        }
    }

    fn layer_line(&self, layer: usize) -> Option<u32> {
        self.layer_lines.get(layer).copied().flatten()
    }

    fn history_line(&self, entry: Option<usize>) -> Option<u32> {
        entry.and_then(|i| self.history_lines.get(i).copied().flatten())
    }
}

/// Findings of the layers' members and of what the final tree carries.
fn file_findings(walked: &walk::Walked, at: &Places) -> Vec<Finding> {
    let mut out = Vec::new();
    for (layer, path, hit) in &walked.hits {
        out.push(Finding {
            id: hit.check.id,
            severity: hit.check.severity,
            message: hit.message.clone(),
            layer: Some(*layer),
            path: Some(format!("/{path}")),
            line: at.layer_line(*layer),
            step: at.steps[*layer].clone(),
            hidden_by_layer: walked.tree.hidden_by(path, *layer),
            bytes: None,
        });
    }
    for l in leftovers::find(&walked.tree) {
        out.push(Finding {
            id: l.check.id,
            severity: l.check.severity,
            message: l.message,
            layer: Some(l.layer),
            path: Some(l.path),
            line: at.layer_line(l.layer),
            step: at.steps[l.layer].clone(),
            hidden_by_layer: l.hidden_by,
            bytes: Some(l.bytes),
        });
    }
    out
}

/// Findings of the config and of the final account files.
fn config_findings(config: &serde_json::Value, walked: &walk::Walked, at: &Places) -> Vec<Finding> {
    let hits = config::config(config).into_iter().chain(config::accounts(
        walked.account("etc/passwd"),
        walked.account("etc/shadow"),
    ));
    hits.map(|h| Finding {
        id: h.check.id,
        severity: h.check.severity,
        message: h.message,
        layer: None,
        path: None,
        line: at.history_line(h.history),
        step: h.step,
        hidden_by_layer: None,
        bytes: None,
    })
    .collect()
}

/// A history line as findings show it: secrets redacted, at most [`MAX_STEP`] characters.
pub(crate) fn shown_step(created_by: &str) -> String {
    let s = secrets::redact(created_by);
    match s.char_indices().nth(MAX_STEP) {
        Some((i, _)) => format!("{}...", &s[..i]),
        None => s,
    }
}

/// Longest history line kept in a finding (one can be megabytes).
const MAX_STEP: usize = 400;

/// Most findings of one check listed; the rest are counted in one more finding.
const MAX_PER_CHECK: usize = 100;

/// At most [`MAX_PER_CHECK`] findings of each check (a hostile layer can hold millions of
/// world-writable files); what is left out is said in a last finding of that check.
fn capped(findings: Vec<Finding>) -> Vec<Finding> {
    let mut count: std::collections::HashMap<&'static str, usize> = Default::default();
    let mut out = Vec::new();
    for f in findings {
        let n = count.entry(f.id).or_default();
        *n += 1;
        if *n <= MAX_PER_CHECK {
            out.push(f);
        }
    }
    for c in checks::ALL {
        let n = count.get(c.id).copied().unwrap_or(0);
        if n > MAX_PER_CHECK {
            out.push(Finding {
                id: c.id,
                severity: c.severity,
                message: format!("and {} more {} findings", n - MAX_PER_CHECK, c.id),
                layer: None,
                path: None,
                line: None,
                step: None,
                hidden_by_layer: None,
                bytes: None,
            });
        }
    }
    out
}

/// The step that made each layer: the history entries that are not empty layers, in
/// order (`None` where the history is shorter, as in images made by hand).
fn layer_steps(config: &serde_json::Value, layers: usize) -> Vec<Option<String>> {
    let mut steps: Vec<Option<String>> = config["history"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|h| !h["empty_layer"].as_bool().unwrap_or(false))
        .map(|h| h["created_by"].as_str().map(shown_step))
        .take(layers)
        .collect();
    steps.resize(layers, None);
    steps
}
