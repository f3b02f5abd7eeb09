//! Progress events of a build: each step (FROM, COPY, ADD, RUN, WORKDIR) starts, logs
//! lines, and ends CACHED, DONE or in an error. The engine only emits events; how they
//! are shown (plain lines, a terminal display, JSON) is the caller's [`Reporter`].

use kiln_registry::TransferEvent;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What happened to a step.
#[derive(Debug, Clone, PartialEq)]
pub enum EventKind {
    Start,
    /// A line of the step's output (RUN) or a note from kiln.
    Log(String),
    /// The step's result came from the step cache.
    Cached,
    Done,
    Error(String),
}

/// One progress event.
#[derive(Debug, Clone)]
pub struct Event {
    /// Step number in the build (`#5`), in the order steps started.
    pub step: u32,
    /// `[stage 2/4] RUN make`.
    pub name: Arc<str>,
    /// The stage's name or index.
    pub stage: Arc<str>,
    /// Time since the build started.
    pub at: Duration,
    /// Time since the step started.
    pub elapsed: Duration,
    pub kind: EventKind,
}

/// Receives progress events; called from several threads when stages run in parallel,
/// each event whole (an implementation must not interleave two events' output).
pub trait Reporter: Send + Sync {
    fn report(&self, event: &Event);

    /// A registry transfer's event (a base image pull, a push, a cache export), per blob.
    fn transfer(&self, _event: &TransferEvent) {}

    /// An output of the built image (`--output`, `--push`) begins or is written.
    fn output(&self, _event: &OutputEvent) {}
}

/// Where an output is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputPhase {
    Begin,
    Done,
}

/// An output of the built image being written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputEvent {
    /// The output in `--output` syntax: `type=oci,dest=DIR`, `type=registry,name=REF`.
    pub output: String,
    pub phase: OutputPhase,
}

/// Hands the registry client's transfer events to a [`Reporter`]: give it to
/// `RegistryOptions::progress` and pulls, pushes and cache exports report through the
/// build's one output channel.
pub struct TransferEvents(pub Arc<dyn Reporter>);

impl std::fmt::Debug for TransferEvents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TransferEvents")
    }
}

impl kiln_registry::TransferProgress for TransferEvents {
    fn event(&self, event: &TransferEvent) {
        self.0.transfer(event);
    }
}

/// Hands out step numbers and sends events to the reporter (none: quiet).
#[derive(Clone)]
pub struct Progress {
    reporter: Option<Arc<dyn Reporter>>,
    next: Arc<AtomicU32>,
    start: Instant,
}

impl std::fmt::Debug for Progress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Progress")
            .field("quiet", &self.reporter.is_none())
            .finish_non_exhaustive()
    }
}

impl Progress {
    pub fn new(reporter: Option<Arc<dyn Reporter>>) -> Progress {
        Progress {
            reporter,
            next: Arc::new(AtomicU32::new(1)),
            start: Instant::now(),
        }
    }

    pub fn is_quiet(&self) -> bool {
        self.reporter.is_none()
    }

    /// Report an output of the built image.
    pub fn output(&self, output: &super::Output, phase: OutputPhase) {
        if let Some(r) = &self.reporter {
            r.output(&OutputEvent {
                output: output.to_string(),
                phase,
            });
        }
    }

    /// Start a step.
    pub fn step(&self, stage: &str, name: String) -> Step {
        let s = Step {
            progress: self.clone(),
            id: self.next.fetch_add(1, Ordering::Relaxed),
            name: name.into(),
            stage: stage.into(),
            started: Instant::now(),
        };
        s.emit(EventKind::Start);
        s
    }
}

/// A running step.
#[derive(Debug, Clone)]
pub struct Step {
    progress: Progress,
    id: u32,
    name: Arc<str>,
    stage: Arc<str>,
    started: Instant,
}

impl Step {
    fn emit(&self, kind: EventKind) {
        if let Some(r) = &self.progress.reporter {
            r.report(&Event {
                step: self.id,
                name: self.name.clone(),
                stage: self.stage.clone(),
                at: self.progress.start.elapsed(),
                elapsed: self.started.elapsed(),
                kind,
            });
        }
    }

    pub fn is_quiet(&self) -> bool {
        self.progress.is_quiet()
    }

    pub fn log(&self, line: &str) {
        self.emit(EventKind::Log(line.to_string()));
    }

    pub fn cached(self) {
        self.emit(EventKind::Cached);
    }

    pub fn done(self) {
        self.emit(EventKind::Done);
    }

    pub fn error(self, message: &str) {
        self.emit(EventKind::Error(message.to_string()));
    }
}
