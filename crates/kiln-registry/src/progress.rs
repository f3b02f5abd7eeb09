//! Progress of registry transfers, per blob. The registry client prints nothing: it hands
//! each event to the caller's [`TransferProgress`] (kiln's build reporter, or the display
//! of `kiln pull` / `kiln push`), which decides how to show it.

use kiln_oci::Digest;
use std::sync::Arc;

/// The operation a transfer event belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transfer {
    /// Pulling an image into the store.
    Pull,
    /// Pushing an image to a registry.
    Push,
    /// Exporting build cache records to a registry (`--cache-to`).
    CacheExport,
}

impl Transfer {
    /// `pull`, `push`, `cache-export`: the name in JSON progress events.
    pub fn as_str(self) -> &'static str {
        match self {
            Transfer::Pull => "pull",
            Transfer::Push => "push",
            Transfer::CacheExport => "cache-export",
        }
    }
}

/// How a blob ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlobEnd {
    /// Downloaded (pull) or uploaded (push).
    Transferred,
    /// Mounted from another repository of the same registry (push).
    Mounted,
    /// Skipped: the destination had it already (the store for a pull, the registry for a
    /// push).
    Existed,
}

impl BlobEnd {
    /// `transferred`, `mounted`, `exists`.
    pub fn as_str(self) -> &'static str {
        match self {
            BlobEnd::Transferred => "transferred",
            BlobEnd::Mounted => "mounted",
            BlobEnd::Existed => "exists",
        }
    }
}

/// What happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransferKind {
    /// The transfer begins (`Pulling REF`, `Pushing REF`).
    Begin,
    /// A remark about the transfer: a layer being recompressed, the number of cache
    /// records exported.
    Note(String),
    /// A blob starts moving; `size` in bytes.
    BlobStarted { digest: Digest, size: u64 },
    /// `done` of `size` bytes of the blob have moved so far.
    BlobAdvanced {
        digest: Digest,
        done: u64,
        size: u64,
    },
    /// The blob is finished.
    BlobDone { digest: Digest, end: BlobEnd },
}

/// One transfer event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransferEvent {
    pub transfer: Transfer,
    /// The image or cache reference the transfer is about.
    pub reference: Arc<str>,
    pub kind: TransferKind,
}

impl TransferEvent {
    /// The event as one plain line, as kiln has always printed them (`Copying blob
    /// sha256:.. (123 bytes)` for a pull, `Blob sha256:..: Uploaded` for a push); `None` for
    /// events a plain display does not print (bytes advanced, a pull's blob ending, a
    /// push's blob starting).
    pub fn line(&self) -> Option<String> {
        let r = &self.reference;
        Some(match (&self.kind, self.transfer) {
            (TransferKind::Begin, Transfer::Pull) => format!("Pulling {r}"),
            (TransferKind::Begin, Transfer::Push) => format!("Pushing {r}"),
            // The export's note says what and where.
            (TransferKind::Begin, Transfer::CacheExport) => return None,
            (TransferKind::Note(m), _) => m.clone(),
            (TransferKind::BlobStarted { digest, size }, Transfer::Pull) => {
                format!("Copying blob {digest} ({size} bytes)")
            }
            (TransferKind::BlobStarted { .. }, _)
            | (TransferKind::BlobAdvanced { .. }, _)
            | (TransferKind::BlobDone { .. }, Transfer::Pull) => return None,
            (TransferKind::BlobDone { digest, end }, _) => {
                let end = match end {
                    BlobEnd::Transferred => "Uploaded",
                    BlobEnd::Mounted => "Mounted",
                    BlobEnd::Existed => "Existed",
                };
                format!("Blob {digest}: {end}")
            }
        })
    }
}

/// Receives transfer events; called from the transfer's worker threads.
pub trait TransferProgress: Send + Sync {
    fn event(&self, event: &TransferEvent);
}

impl std::fmt::Debug for dyn TransferProgress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TransferProgress")
    }
}

/// Sends one transfer's events to an optional [`TransferProgress`].
#[derive(Clone)]
pub(crate) struct Reporter {
    sink: Option<Arc<dyn TransferProgress>>,
    transfer: Transfer,
    reference: Arc<str>,
}

impl Reporter {
    pub(crate) fn new(
        sink: &Option<Arc<dyn TransferProgress>>,
        transfer: Transfer,
        reference: &impl std::fmt::Display,
    ) -> Reporter {
        Reporter {
            sink: sink.clone(),
            transfer,
            reference: reference.to_string().into(),
        }
    }

    pub(crate) fn emit(&self, kind: TransferKind) {
        if let Some(s) = &self.sink {
            s.event(&TransferEvent {
                transfer: self.transfer,
                reference: self.reference.clone(),
                kind,
            });
        }
    }

    pub(crate) fn note(&self, message: String) {
        self.emit(TransferKind::Note(message));
    }

    pub(crate) fn started(&self, digest: &Digest, size: u64) {
        self.emit(TransferKind::BlobStarted {
            digest: *digest,
            size,
        });
    }

    pub(crate) fn advanced(&self, digest: &Digest, done: u64, size: u64) {
        self.emit(TransferKind::BlobAdvanced {
            digest: *digest,
            done,
            size,
        });
    }

    pub(crate) fn done(&self, digest: &Digest, end: BlobEnd) {
        self.emit(TransferKind::BlobDone {
            digest: *digest,
            end,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[derive(Default)]
    struct Seen(Mutex<Vec<TransferEvent>>);

    impl TransferProgress for Seen {
        fn event(&self, event: &TransferEvent) {
            self.0.lock().expect("seen").push(event.clone());
        }
    }

    #[test]
    fn events_reach_the_sink_with_their_transfer_and_plain_lines() {
        let seen = Arc::new(Seen::default());
        let sink: Option<Arc<dyn TransferProgress>> = Some(seen.clone());
        let r = Reporter::new(&sink, Transfer::Pull, &"example.com/app:1");
        let d = Digest::of_bytes(b"layer");
        r.emit(TransferKind::Begin);
        r.started(&d, 5);
        r.advanced(&d, 5, 5);
        r.done(&d, BlobEnd::Transferred);
        let events = seen.0.lock().expect("seen").clone();
        assert_eq!(events.len(), 4);
        assert!(events.iter().all(|e| e.transfer == Transfer::Pull));
        let lines: Vec<Option<String>> = events.iter().map(TransferEvent::line).collect();
        assert_eq!(lines[0].as_deref(), Some("Pulling example.com/app:1"));
        assert_eq!(lines[1], Some(format!("Copying blob {d} (5 bytes)")));
        assert_eq!(lines[2], None);
        assert_eq!(lines[3], None);
        let pushed = TransferEvent {
            transfer: Transfer::Push,
            reference: "example.com/app:1".into(),
            kind: TransferKind::BlobDone {
                digest: d,
                end: BlobEnd::Transferred,
            },
        };
        assert_eq!(pushed.line(), Some(format!("Blob {d}: Uploaded")));
        // Without a sink nothing happens (and nothing is printed).
        Reporter::new(&None, Transfer::Push, &"x").emit(TransferKind::Begin);
    }
}
