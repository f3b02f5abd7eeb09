//! Which Dockerfile line made each layer and each history entry of a stage's image, kept
//! beside the stage as its steps run, and stored beside the built image
//! ([`kiln_oci::store::BuildRecord`]) so `kiln audit` can name the line of a finding.

use kiln_oci::store::{BuildRecord, LayerLine};
use kiln_oci::LayerRef;

/// Lines of a stage's layers and history entries, aligned with them.
#[derive(Debug, Clone, Default)]
pub struct SourceLines {
    pub layers: Vec<Option<u32>>,
    pub history: Vec<Option<u32>>,
}

impl SourceLines {
    /// A base image's layers and history, all from the stage's FROM line.
    pub fn base(layers: usize, history: usize, from_line: u32) -> SourceLines {
        SourceLines {
            layers: vec![Some(from_line); layers],
            history: vec![Some(from_line); history],
        }
    }

    /// The record of an image made of `layers` (`None` when the lines do not match them,
    /// as after `--squash`).
    pub fn record(&self, dockerfile: &str, layers: &[LayerRef]) -> Option<BuildRecord> {
        (layers.len() == self.layers.len()).then(|| BuildRecord {
            dockerfile: dockerfile.to_string(),
            layers: layers
                .iter()
                .zip(&self.layers)
                .map(|(l, line)| LayerLine {
                    diff_id: l.diff_id.to_string(),
                    line: *line,
                })
                .collect(),
            history: self.history.clone(),
        })
    }
}
