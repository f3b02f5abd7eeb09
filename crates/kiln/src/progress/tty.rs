//! `--progress tty`: a live display on the terminal, as BuildKit's: a line per step with
//! its timer, CACHED/DONE markers, the last lines of output under running steps, and a
//! bar per blob of a pull or push (bytes moved of its size).

use super::{Display, Summary};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use kiln_engine::build::progress::{Event, EventKind, Reporter};
use kiln_oci::Digest;
use kiln_registry::{Transfer, TransferEvent, TransferKind};
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

/// Output lines shown under a running step.
const LOG_LINES: usize = 4;

struct StepBars {
    bar: ProgressBar,
    logs: VecDeque<ProgressBar>,
}

pub struct Tty {
    multi: MultiProgress,
    state: Mutex<(HashMap<u32, StepBars>, Summary)>,
    /// The bar of each blob moving, by transfer and digest.
    blobs: Mutex<HashMap<(Transfer, Digest), ProgressBar>>,
}

impl Tty {
    pub fn new() -> Tty {
        Tty::with_target(ProgressDrawTarget::stderr_with_hz(10))
    }

    fn with_target(target: ProgressDrawTarget) -> Tty {
        Tty {
            multi: MultiProgress::with_draw_target(target),
            state: Mutex::new((HashMap::new(), Summary::default())),
            blobs: Mutex::new(HashMap::new()),
        }
    }
}

fn blob_style() -> ProgressStyle {
    ProgressStyle::with_template(
        " {prefix:.bold} [{bar:30.cyan/blue}] {bytes}/{total_bytes} {bytes_per_sec} {wide_msg}",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar())
}

/// `pull sha256:0123456789ab`: a blob's bar prefix.
fn blob_prefix(transfer: Transfer, digest: &Digest) -> String {
    let hex = digest.to_string();
    let short = hex.get(..19).unwrap_or(&hex).to_string();
    format!("{} {short}", transfer.as_str())
}

fn running_style() -> ProgressStyle {
    ProgressStyle::with_template(" {spinner:.cyan} {prefix:.bold} {wide_msg} {elapsed:>4}")
        .unwrap_or_else(|_| ProgressStyle::default_spinner())
}

fn finished_style() -> ProgressStyle {
    ProgressStyle::with_template(" => {prefix} {wide_msg}")
        .unwrap_or_else(|_| ProgressStyle::default_spinner())
}

fn log_style() -> ProgressStyle {
    ProgressStyle::with_template("      {wide_msg:.dim}")
        .unwrap_or_else(|_| ProgressStyle::default_spinner())
}

impl Reporter for Tty {
    fn report(&self, e: &Event) {
        let mut guard = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let (steps, summary) = &mut *guard;
        summary.record(e);
        match &e.kind {
            EventKind::Start => {
                let bar = self.multi.add(ProgressBar::new_spinner());
                bar.set_style(running_style());
                bar.set_prefix(e.name.to_string());
                bar.enable_steady_tick(Duration::from_millis(100));
                steps.insert(
                    e.step,
                    StepBars {
                        bar,
                        logs: VecDeque::new(),
                    },
                );
            }
            EventKind::Log(line) => {
                let Some(s) = steps.get_mut(&e.step) else {
                    return;
                };
                if s.logs.len() == LOG_LINES {
                    // Scroll: each bar takes the next one's text.
                    let texts: Vec<String> = s.logs.iter().skip(1).map(|b| b.message()).collect();
                    for (b, t) in s.logs.iter().zip(texts) {
                        b.set_message(t);
                    }
                    if let Some(last) = s.logs.back() {
                        last.set_message(line.clone());
                    }
                } else {
                    let after = s.logs.back().unwrap_or(&s.bar).clone();
                    let b = self.multi.insert_after(&after, ProgressBar::new_spinner());
                    b.set_style(log_style());
                    b.set_message(line.clone());
                    s.logs.push_back(b);
                }
            }
            EventKind::Cached | EventKind::Done | EventKind::Error(_) => {
                let Some(s) = steps.remove(&e.step) else {
                    return;
                };
                for b in s.logs {
                    b.finish_and_clear();
                    self.multi.remove(&b);
                }
                let end = match &e.kind {
                    EventKind::Cached => "CACHED".to_string(),
                    EventKind::Done => format!("{:.1}s", e.elapsed.as_secs_f64()),
                    _ => format!("ERROR {:.1}s", e.elapsed.as_secs_f64()),
                };
                s.bar.set_style(finished_style());
                s.bar.finish_with_message(end);
            }
        }
    }

    fn transfer(&self, e: &TransferEvent) {
        self.blob(e);
    }
}

impl Tty {
    fn blob(&self, e: &TransferEvent) {
        let mut blobs = self.blobs.lock().unwrap_or_else(|p| p.into_inner());
        match &e.kind {
            TransferKind::Begin | TransferKind::Note(_) => {
                if let Some(line) = e.line() {
                    let _ = self.multi.println(line);
                }
            }
            TransferKind::BlobStarted { digest, size } => {
                let bar = self.multi.add(ProgressBar::new(*size));
                bar.set_style(blob_style());
                bar.set_prefix(blob_prefix(e.transfer, digest));
                blobs.insert((e.transfer, *digest), bar);
            }
            TransferKind::BlobAdvanced { digest, done, .. } => {
                if let Some(bar) = blobs.get(&(e.transfer, *digest)) {
                    bar.set_position(*done);
                }
            }
            TransferKind::BlobDone { digest, end } => {
                let bar = blobs.remove(&(e.transfer, *digest)).unwrap_or_else(|| {
                    // A blob that never moved (it existed): one finished line.
                    let bar = self.multi.add(ProgressBar::new(0));
                    bar.set_style(finished_style());
                    bar.set_prefix(blob_prefix(e.transfer, digest));
                    bar
                });
                if let Some(len) = bar.length() {
                    bar.set_position(len);
                }
                bar.finish_with_message(end.as_str());
            }
        }
    }
}

impl Display for Tty {
    fn message(&self, text: &str) {
        let _ = self.multi.println(text.trim_end());
    }

    fn finish(&self) {
        let guard = self.state.lock().unwrap_or_else(|p| p.into_inner());
        // The display leaves the cursor at the end of its last line.
        eprint!("\n{}", guard.1.render());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kiln_registry::BlobEnd;

    fn event(kind: TransferKind) -> TransferEvent {
        TransferEvent {
            transfer: Transfer::Pull,
            reference: "example.com/app:1".into(),
            kind,
        }
    }

    #[test]
    fn a_blob_gets_a_bar_that_follows_its_bytes_until_it_is_done() {
        let tty = Tty::with_target(ProgressDrawTarget::hidden());
        let d = Digest::of_bytes(b"layer");
        tty.transfer(&event(TransferKind::BlobStarted {
            digest: d,
            size: 100,
        }));
        tty.transfer(&event(TransferKind::BlobAdvanced {
            digest: d,
            done: 40,
            size: 100,
        }));
        let bar = tty
            .blobs
            .lock()
            .expect("blobs")
            .get(&(Transfer::Pull, d))
            .cloned()
            .expect("a bar for the blob");
        assert_eq!((bar.position(), bar.length()), (40, Some(100)));
        assert!(bar.prefix().starts_with("pull sha256:"), "{}", bar.prefix());
        tty.transfer(&event(TransferKind::BlobDone {
            digest: d,
            end: BlobEnd::Transferred,
        }));
        assert!(bar.is_finished());
        assert_eq!(bar.position(), 100);
        assert_eq!(bar.message(), "transferred");
        assert!(tty.blobs.lock().expect("blobs").is_empty());
    }
}
