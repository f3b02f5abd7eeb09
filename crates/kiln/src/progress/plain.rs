//! `--progress plain`: BuildKit's plain output.

use super::{Display, Summary};
use kiln_engine::build::progress::{Event, EventKind, Reporter};
use std::io::Write;
use std::sync::Mutex;

#[derive(Debug, Default)]
pub struct Plain {
    summary: Mutex<Summary>,
}

/// The plain text of one event (without the trailing newline).
pub fn line(e: &Event) -> String {
    let n = e.step;
    match &e.kind {
        EventKind::Start => format!("#{n} {}", e.name),
        EventKind::Log(l) => format!("#{n} {:.3} {l}", e.elapsed.as_secs_f64()),
        EventKind::Cached => format!("#{n} CACHED"),
        EventKind::Done => format!("#{n} DONE {:.1}s", e.elapsed.as_secs_f64()),
        EventKind::Error(m) => {
            let first = m.lines().next().unwrap_or_default();
            format!("#{n} ERROR: {first}")
        }
    }
}

impl Reporter for Plain {
    fn report(&self, e: &Event) {
        // The summary lock also orders whole lines between threads.
        let mut summary = self.summary.lock().unwrap_or_else(|p| p.into_inner());
        summary.record(e);
        let mut text = line(e);
        text.push('\n');
        if matches!(
            e.kind,
            EventKind::Cached | EventKind::Done | EventKind::Error(_)
        ) {
            text.push('\n');
        }
        let _ = std::io::stderr().lock().write_all(text.as_bytes());
    }
}

impl Display for Plain {
    fn finish(&self) {
        let summary = self.summary.lock().unwrap_or_else(|p| p.into_inner());
        let _ = std::io::stderr()
            .lock()
            .write_all(summary.render().as_bytes());
    }
}
