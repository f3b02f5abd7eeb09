//! `--progress json`: one JSON object per event, a line each, and nothing else on
//! standard error: step events (`start`, `log`, `cached`, `done`, `error`), registry
//! transfers (`transfer`, with `transfer` pull/push/cache-export and `phase` begin, note,
//! blob-start, blob-progress, blob-done), outputs of the image (`output`, `phase` begin or
//! done) and messages (`message`, e.g. warnings).

use super::Display;
use kiln_engine::build::progress::{Event, EventKind, OutputEvent, OutputPhase, Reporter};
use kiln_oci::Digest;
use kiln_registry::{TransferEvent, TransferKind};
use serde_json::json;
use std::collections::HashMap;
use std::io::Write;
use std::sync::Mutex;
use std::time::Instant;

/// A blob's bytes are reported again after this many more have moved (and at its end).
const PROGRESS_STEP: u64 = 4 << 20;

pub struct Json {
    start: Instant,
    /// Bytes last reported per blob (serialises the output too).
    reported: Mutex<HashMap<Digest, u64>>,
}

impl Json {
    pub fn new() -> Json {
        Json {
            start: Instant::now(),
            reported: Mutex::new(HashMap::new()),
        }
    }

    fn write(&self, value: &serde_json::Value) {
        let mut text = value.to_string();
        text.push('\n');
        let _ = std::io::stderr().lock().write_all(text.as_bytes());
    }
}

fn now() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    format!(
        "{}.{:03}Z",
        kiln_oci::time::rfc3339(now.as_secs()).trim_end_matches('Z'),
        now.subsec_millis()
    )
}

/// The JSON object of one transfer event.
pub fn transfer_object(e: &TransferEvent, elapsed_ms: u64) -> serde_json::Value {
    let mut v = json!({
        "time": now(),
        "elapsed_ms": elapsed_ms,
        "event": "transfer",
        "transfer": e.transfer.as_str(),
        "reference": &*e.reference,
    });
    let fields = match &e.kind {
        TransferKind::Begin => json!({"phase": "begin"}),
        TransferKind::Note(m) => json!({"phase": "note", "message": m}),
        TransferKind::BlobStarted { digest, size } => {
            json!({"phase": "blob-start", "digest": digest.to_string(), "size": size})
        }
        TransferKind::BlobAdvanced { digest, done, size } => json!({
            "phase": "blob-progress", "digest": digest.to_string(), "done": done, "size": size
        }),
        TransferKind::BlobDone { digest, end } => {
            json!({"phase": "blob-done", "digest": digest.to_string(), "end": end.as_str()})
        }
    };
    if let (Some(obj), serde_json::Value::Object(extra)) = (v.as_object_mut(), fields) {
        obj.extend(extra);
    }
    v
}

/// The JSON object of one event.
pub fn object(e: &Event) -> serde_json::Value {
    let mut v = serde_json::json!({
        "time": now(),
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
    if !e.phases.is_empty() {
        let phases: serde_json::Map<String, serde_json::Value> = e
            .phases
            .iter()
            .map(|(p, d)| (p.name().to_string(), json!(d.as_millis() as u64)))
            .collect();
        v["phases_ms"] = serde_json::Value::Object(phases);
    }
    v
}

impl Reporter for Json {
    fn report(&self, e: &Event) {
        let _g = self.reported.lock().unwrap_or_else(|p| p.into_inner());
        self.write(&object(e));
    }

    /// `{"event":"output","phase":"begin"|"done","output":"type=oci,dest=DIR"}`, with
    /// `duration_ms` when done.
    fn output(&self, e: &OutputEvent) {
        let _g = self.reported.lock().unwrap_or_else(|p| p.into_inner());
        let mut v = json!({
            "time": now(),
            "elapsed_ms": self.start.elapsed().as_millis() as u64,
            "event": "output",
            "phase": match e.phase {
                OutputPhase::Begin => "begin",
                OutputPhase::Done(_) => "done",
            },
            "output": e.output,
        });
        if let OutputPhase::Done(took) = e.phase {
            v["duration_ms"] = json!(took.as_millis() as u64);
        }
        self.write(&v);
    }

    fn transfer(&self, e: &TransferEvent) {
        let mut reported = self.reported.lock().unwrap_or_else(|p| p.into_inner());
        if let TransferKind::BlobAdvanced { digest, done, size } = &e.kind {
            let last = reported.entry(*digest).or_insert(0);
            if done < size && *done < last.saturating_add(PROGRESS_STEP) {
                return;
            }
            *last = *done;
        }
        self.write(&transfer_object(e, self.start.elapsed().as_millis() as u64));
    }
}

impl Display for Json {
    fn message(&self, text: &str) {
        let _g = self.reported.lock().unwrap_or_else(|p| p.into_inner());
        let text = text.trim_end();
        let level = ["error", "warning"]
            .into_iter()
            .find(|l| text.strip_prefix(l).is_some_and(|r| r.starts_with(':')))
            .unwrap_or("info");
        self.write(&json!({
            "time": now(),
            "elapsed_ms": self.start.elapsed().as_millis() as u64,
            "event": "message",
            "level": level,
            "message": text,
        }));
    }

    fn finish(&self) {}
}
