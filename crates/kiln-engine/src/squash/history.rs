//! The squashed image's history: squashed layers' entries marked empty, one entry added.

use crate::config::History;

/// The history with the entries of layers `keep..` marked empty and one entry for the new
/// layer appended.
pub(super) fn squash_history(
    history: &[History],
    keep: usize,
    created: Option<String>,
    what: &str,
) -> Vec<History> {
    let mut layer = 0;
    let mut out: Vec<History> = history
        .iter()
        .map(|h| {
            let mut h = h.clone();
            if !h.empty_layer {
                if layer >= keep {
                    h.empty_layer = true;
                }
                layer += 1;
            }
            h
        })
        .collect();
    out.push(History {
        created,
        created_by: Some(what.to_owned()),
        comment: Some("kiln".into()),
        ..History::default()
    });
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A history entry made by `by`, empty (no layer) or not.
    pub(crate) fn h(by: &str, empty: bool) -> History {
        History {
            created_by: Some(by.into()),
            empty_layer: empty,
            ..History::default()
        }
    }

    #[test]
    fn history_marks_squashed_layers_empty_and_adds_one() {
        let hist = vec![
            h("base", false),
            h("ENV", true),
            h("RUN a", false),
            h("COPY", false),
        ];
        let out = squash_history(&hist, 1, Some("t".into()), "kiln build --squash");
        let empties: Vec<bool> = out.iter().map(|h| h.empty_layer).collect();
        assert_eq!(empties, [false, true, true, true, false]);
        assert_eq!(out[4].created_by.as_deref(), Some("kiln build --squash"));
    }
}
