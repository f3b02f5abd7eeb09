//! `--progress plain`: BuildKit's plain output.

use super::{Display, Summary};
use kiln_engine::build::progress::{Event, EventKind, OutputEvent, OutputPhase, Reporter};
use kiln_registry::TransferEvent;
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
        EventKind::Done => format!(
            "#{n} DONE {:.1}s{}",
            e.elapsed.as_secs_f64(),
            super::summary::phases_text(&e.phases)
        ),
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

    /// `output type=registry,name=REF DONE 1.2s` once an output is written.
    fn output(&self, e: &OutputEvent) {
        if let OutputPhase::Done(took) = e.phase {
            self.message(&format!(
                "output {} DONE {:.1}s",
                e.output,
                took.as_secs_f64()
            ));
        }
    }

    /// The registry's lines as they always were (`Pulling ..`, `Copying blob ..`).
    fn transfer(&self, e: &TransferEvent) {
        if let Some(line) = e.line() {
            self.message(&line);
        }
    }
}

impl Display for Plain {
    fn message(&self, text: &str) {
        let _summary = self.summary.lock().unwrap_or_else(|p| p.into_inner());
        let _ = writeln!(std::io::stderr().lock(), "{}", text.trim_end());
    }

    fn finish(&self) {
        let summary = self.summary.lock().unwrap_or_else(|p| p.into_inner());
        let _ = std::io::stderr()
            .lock()
            .write_all(summary.render().as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Duration;

    fn event(step: u32, kind: EventKind, elapsed_ms: u64) -> Event {
        Event {
            step,
            name: Arc::from("[build 2/4] RUN make"),
            stage: Arc::from("build"),
            at: Duration::from_millis(1000 + elapsed_ms),
            elapsed: Duration::from_millis(elapsed_ms),
            kind,
            phases: Vec::new(),
        }
    }

    #[test]
    fn lines_are_buildkits_plain_lines() {
        assert_eq!(
            line(&event(5, EventKind::Start, 0)),
            "#5 [build 2/4] RUN make"
        );
        assert_eq!(
            line(&event(5, EventKind::Log("cc -c a.c".into()), 512)),
            "#5 0.512 cc -c a.c"
        );
        assert_eq!(line(&event(5, EventKind::Cached, 0)), "#5 CACHED");
        assert_eq!(line(&event(5, EventKind::Done, 1234)), "#5 DONE 1.2s");
        assert_eq!(
            line(&event(5, EventKind::Error("RUN failed\nmore".into()), 10)),
            "#5 ERROR: RUN failed"
        );
    }

    #[test]
    fn summary_lists_steps_that_ran_slowest_first() {
        let mut s = Summary::default();
        for e in [
            event(1, EventKind::Start, 0),
            event(1, EventKind::Cached, 0),
            event(2, EventKind::Start, 0),
            event(2, EventKind::Done, 300),
            event(3, EventKind::Start, 0),
            event(3, EventKind::Done, 2000),
        ] {
            s.record(&e);
        }
        let text = s.render();
        assert!(
            text.starts_with("Build finished in 3.0s: 3 steps, 1 cached, 2 run\n"),
            "{text}"
        );
        let three = text.find("#3").expect("#3 listed");
        let two = text.find("#2").expect("#2 listed");
        assert!(three < two, "slowest first: {text}");
        assert!(!text.contains("#1 "), "cached steps are not timed: {text}");
    }

    #[test]
    fn done_lines_and_the_summary_say_where_a_steps_time_went() {
        use kiln_engine::build::progress::Phase;
        let mut e = event(4, EventKind::Done, 2300);
        e.phases = vec![
            (Phase::Prepare, Duration::from_millis(120)),
            (Phase::Run, Duration::from_millis(2000)),
            (Phase::Commit, Duration::from_millis(180)),
        ];
        assert_eq!(
            line(&e),
            "#4 DONE 2.3s (prepare 0.1s, run 2.0s, commit 0.2s)"
        );
        let mut s = Summary::default();
        s.record(&e);
        let text = s.render();
        assert!(
            text.contains("#4 [build 2/4] RUN make (prepare 0.1s, run 2.0s, commit 0.2s)\n"),
            "{text}"
        );
    }
}
