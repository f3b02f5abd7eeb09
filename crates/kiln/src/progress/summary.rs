//! The summary of step times printed at the end of a build (plain and tty).

use kiln_engine::build::progress::{Event, EventKind, Phases};
use std::collections::BTreeMap;
use std::time::Duration;

/// Steps shown in the summary, slowest first.
const SHOWN: usize = 10;

/// A step as the summary knows it: its name, how long it took (once it ended) and where
/// that time went, and whether it came from the cache.
#[derive(Debug, Default)]
struct StepTime {
    name: String,
    took: Option<(Duration, Phases)>,
    cached: bool,
}

#[derive(Debug, Default)]
pub struct Summary {
    steps: BTreeMap<u32, StepTime>,
    end: Duration,
}

/// ` (prepare 0.1s, run 2.0s, commit 0.3s)`, or nothing for a step without phases.
pub fn phases_text(phases: &Phases) -> String {
    if phases.is_empty() {
        return String::new();
    }
    let parts: Vec<String> = phases
        .iter()
        .map(|(p, d)| format!("{} {:.1}s", p.name(), d.as_secs_f64()))
        .collect();
    format!(" ({})", parts.join(", "))
}

impl Summary {
    pub fn record(&mut self, e: &Event) {
        self.end = self.end.max(e.at);
        let entry = self.steps.entry(e.step).or_insert_with(|| StepTime {
            name: e.name.to_string(),
            ..StepTime::default()
        });
        match e.kind {
            EventKind::Cached => entry.cached = true,
            EventKind::Done | EventKind::Error(_) => {
                entry.took = Some((e.elapsed, e.phases.clone()))
            }
            _ => {}
        }
    }

    /// The summary text (empty when no step ran).
    pub fn render(&self) -> String {
        let cached = self.steps.values().filter(|s| s.cached).count();
        let mut ran: Vec<(u32, &String, Duration, &Phases)> = self
            .steps
            .iter()
            .filter_map(|(id, s)| s.took.as_ref().map(|(d, p)| (*id, &s.name, *d, p)))
            .collect();
        if self.steps.is_empty() {
            return String::new();
        }
        ran.sort_by(|a, b| b.2.cmp(&a.2).then(a.0.cmp(&b.0)));
        let mut out = format!(
            "Build finished in {:.1}s: {} steps, {} cached, {} run\n",
            self.end.as_secs_f64(),
            self.steps.len(),
            cached,
            ran.len()
        );
        for (id, name, d, phases) in ran.iter().take(SHOWN) {
            out.push_str(&format!(
                "  {:>7.2}s  #{id} {name}{}\n",
                d.as_secs_f64(),
                phases_text(phases)
            ));
        }
        if ran.len() > SHOWN {
            out.push_str(&format!("  ... and {} faster steps\n", ran.len() - SHOWN));
        }
        out
    }
}
