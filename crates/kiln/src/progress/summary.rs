//! The summary of step times printed at the end of a build (plain and tty).

use kiln_engine::build::progress::{Event, EventKind};
use std::collections::BTreeMap;
use std::time::Duration;

/// Steps shown in the summary, slowest first.
const SHOWN: usize = 10;

#[derive(Debug, Default)]
pub struct Summary {
    steps: BTreeMap<u32, (String, Option<Duration>, bool)>,
    end: Duration,
}

impl Summary {
    pub fn record(&mut self, e: &Event) {
        self.end = self.end.max(e.at);
        let entry = self
            .steps
            .entry(e.step)
            .or_insert_with(|| (e.name.to_string(), None, false));
        match e.kind {
            EventKind::Cached => entry.2 = true,
            EventKind::Done | EventKind::Error(_) => entry.1 = Some(e.elapsed),
            _ => {}
        }
    }

    /// The summary text (empty when no step ran).
    pub fn render(&self) -> String {
        let cached = self.steps.values().filter(|s| s.2).count();
        let mut ran: Vec<(u32, &String, Duration)> = self
            .steps
            .iter()
            .filter_map(|(id, (name, d, _))| d.map(|d| (*id, name, d)))
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
        for (id, name, d) in ran.iter().take(SHOWN) {
            out.push_str(&format!("  {:>7.2}s  #{id} {name}\n", d.as_secs_f64()));
        }
        if ran.len() > SHOWN {
            out.push_str(&format!("  ... and {} faster steps\n", ran.len() - SHOWN));
        }
        out
    }
}
