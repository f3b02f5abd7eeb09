//! `--progress json`: one JSON object per event, a line each.

use super::Display;
use kiln_engine::build::progress::{Event, EventKind, Reporter};
use std::io::Write;
use std::sync::Mutex;

#[derive(Debug, Default)]
pub struct Json {
    lock: Mutex<()>,
}

/// The JSON object of one event.
pub fn object(e: &Event) -> serde_json::Value {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let mut v = serde_json::json!({
        "time": format!(
            "{}.{:03}Z",
            kiln_oci::time::rfc3339(now.as_secs()).trim_end_matches('Z'),
            now.subsec_millis()
        ),
        "elapsed_ms": e.at.as_millis() as u64,
        "step": e.step,
        "stage": &*e.stage,
        "name": &*e.name,
    });
    let (event, extra) = match &e.kind {
        EventKind::Start => ("start", None),
        EventKind::Log(l) => ("log", Some(("line", serde_json::json!(l)))),
        EventKind::Cached => ("cached", None),
        EventKind::Done => (
            "done",
            Some((
                "duration_ms",
                serde_json::json!(e.elapsed.as_millis() as u64),
            )),
        ),
        EventKind::Error(m) => ("error", Some(("error", serde_json::json!(m)))),
    };
    v["event"] = serde_json::json!(event);
    if let Some((k, val)) = extra {
        v[k] = val;
    }
    v
}

impl Reporter for Json {
    fn report(&self, e: &Event) {
        let _g = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        let mut text = object(e).to_string();
        text.push('\n');
        let _ = std::io::stderr().lock().write_all(text.as_bytes());
    }
}

impl Display for Json {
    fn finish(&self) {}
}
