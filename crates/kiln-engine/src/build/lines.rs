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
    /// Did a step of this Dockerfile add a layer or a history entry? An image made of a
    /// base alone (`FROM app:1`) is that base, byte for byte: its record, if any, stays.
    pub from_steps: bool,
}

impl SourceLines {
    /// A base image's layers and history, all from the stage's FROM line.
    pub fn base(layers: usize, history: usize, from_line: u32) -> SourceLines {
        SourceLines {
            layers: vec![Some(from_line); layers],
            history: vec![Some(from_line); history],
            from_steps: false,
        }
    }

    /// A step at `line` added a layer.
    pub fn layer(&mut self, line: u32) {
        self.layers.push(Some(line));
        self.from_steps = true;
    }

    /// A step at `line` added a history entry.
    pub fn history(&mut self, line: u32) {
        self.history.push(Some(line));
        self.from_steps = true;
    }

    /// The record of an image made of `layers`: `None` when no step of this Dockerfile
    /// made any of it, or when the lines do not match the layers.
    pub fn record(&self, dockerfile: &str, layers: &[LayerRef]) -> Option<BuildRecord> {
        (self.from_steps && layers.len() == self.layers.len()).then(|| BuildRecord {
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
