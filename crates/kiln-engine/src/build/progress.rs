//! Progress events of a build: each step (FROM, COPY, ADD, RUN, WORKDIR) starts, logs
//! lines, and ends CACHED, DONE or in an error, with the time it spent in each
//! [`Phase`]. The engine only emits events; how they are shown (plain lines, a terminal
//! display, JSON) is the caller's [`Reporter`].

use kiln_registry::TransferEvent;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
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

/// Where a step's time goes. A step enters phases in turn ([`Step::enter`]); each lasts
/// until the next, and the time before the first is [`Phase::Prepare`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Getting the step's root filesystem and mounts ready (for a VM step, also booting
    /// its guest and sending it the layers).
    Prepare,
    /// The command (RUN), or the copying (COPY, ADD).
    Run,
    /// Turning the changes into a layer and storing it.
    Commit,
    /// Pulling an image from its registry (FROM).
    Transfer,
}

impl Phase {
    pub fn name(self) -> &'static str {
        match self {
            Phase::Prepare => "prepare",
            Phase::Run => "run",
            Phase::Commit => "commit",
            Phase::Transfer => "transfer",
        }
    }
}

/// The time a step spent in each phase it entered, in the order first entered (empty for
/// a step that entered none).
pub type Phases = Vec<(Phase, Duration)>;

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
    /// On `Done` and `Error`: where the step's time went.
    pub phases: Phases,
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
    /// Written, after this long (for a push: its transfer).
    Done(Duration),
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
            marks: Arc::default(),
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
    /// The phases entered, with when (shared by the step's clones).
    marks: Arc<Mutex<Vec<(Phase, Instant)>>>,
}

impl Step {
    fn emit(&self, kind: EventKind) {
        if let Some(r) = &self.progress.reporter {
            let phases = match kind {
                EventKind::Done | EventKind::Error(_) => self.phases(Instant::now()),
                _ => Vec::new(),
            };
            r.report(&Event {
                step: self.id,
                name: self.name.clone(),
                stage: self.stage.clone(),
                at: self.progress.start.elapsed(),
                elapsed: self.started.elapsed(),
                kind,
                phases,
            });
        }
    }

    /// From now on the step's time counts as `phase`'s.
    pub fn enter(&self, phase: Phase) {
        self.marks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((phase, Instant::now()));
    }

    /// Where the step's time went until `end`.
    fn phases(&self, end: Instant) -> Phases {
        let marks = self.marks.lock().unwrap_or_else(|e| e.into_inner());
        if marks.is_empty() {
            return Vec::new();
        }
        let mut phases: Phases = Vec::new();
        let mut add = |phase: Phase, d: Duration| match phases.iter_mut().find(|p| p.0 == phase) {
            Some(p) => p.1 += d,
            None => phases.push((phase, d)),
        };
        let mut current = (Phase::Prepare, self.started);
        for &(phase, at) in marks.iter() {
            add(current.0, at.saturating_duration_since(current.1));
            current = (phase, at);
        }
        add(current.0, end.saturating_duration_since(current.1));
        phases.retain(|p| !p.1.is_zero());
        phases
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

/// Enter `phase` on `step`, when the step is shown.
pub fn enter(step: Option<&Step>, phase: Phase) {
    if let Some(s) = step {
        s.enter(phase);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step() -> Step {
        Progress::new(None).step("s", "RUN x".into())
    }

    #[test]
    fn phases_last_until_the_next_and_the_time_before_the_first_is_preparing() {
        let s = step();
        let t0 = s.started;
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        s.marks.lock().expect("marks").extend([
            (Phase::Run, at(10)),
            (Phase::Commit, at(40)),
            (Phase::Run, at(45)),
            (Phase::Commit, at(50)),
        ]);
        let ms = |d: Duration| d.as_millis() as u64;
        let got: Vec<(&str, u64)> = s
            .phases(at(60))
            .iter()
            .map(|(p, d)| (p.name(), ms(*d)))
            .collect();
        assert_eq!(got, vec![("prepare", 10), ("run", 35), ("commit", 15)]);
    }

    #[test]
    fn a_step_that_entered_no_phase_has_none() {
        let s = step();
        assert!(s.phases(Instant::now()).is_empty());
    }

    #[test]
    fn a_phase_entered_at_the_start_leaves_no_preparing() {
        let s = step();
        s.marks
            .lock()
            .expect("marks")
            .push((Phase::Transfer, s.started));
        let got = s.phases(s.started + Duration::from_millis(5));
        assert_eq!(got, vec![(Phase::Transfer, Duration::from_millis(5))]);
    }
}
