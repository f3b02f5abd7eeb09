//! Showing build progress on standard error: plain lines (`#5 [stage-0 2/4] RUN make`,
//! `#5 0.512 output`, `#5 DONE 1.2s`), a terminal display with a timer per step, the
//! last lines of running steps and a bar per blob of a pull or push, or one JSON object
//! per event. Each event is written whole under a lock, so parallel stages never
//! interleave within a line. Everything a build says on standard error goes through here
//! (steps, registry transfers, warnings), so `--progress json` writes only JSON lines.

mod json;
mod plain;
mod summary;
mod tty;

use crate::cli_image::ProgressMode;
use kiln_engine::build::progress::{Event, OutputEvent, Reporter, TransferEvents};
use kiln_registry::{TransferEvent, TransferProgress};
use std::io::IsTerminal;
use std::sync::Arc;

pub use summary::Summary;

/// A reporter and what to print when the build ends.
pub trait Display: Reporter {
    /// A message for the user that is not a step's: a warning, a note (`warning: ...`).
    fn message(&self, text: &str);

    /// Called once the build is over (successful or not).
    fn finish(&self);
}

/// The reporter for `--progress` (`None` for quiet).
pub fn for_mode(mode: ProgressMode) -> Option<Arc<dyn Display>> {
    let mode = match mode {
        ProgressMode::Auto if std::io::stderr().is_terminal() => ProgressMode::Tty,
        ProgressMode::Auto => ProgressMode::Plain,
        m => m,
    };
    match mode {
        ProgressMode::Quiet => None,
        ProgressMode::Json => Some(Arc::new(json::Json::new())),
        ProgressMode::Tty if std::io::stderr().is_terminal() => Some(Arc::new(tty::Tty::new())),
        _ => Some(Arc::new(plain::Plain::default())),
    }
}

/// Adapts a [`Display`] to the engine's reporter trait object.
#[derive(Clone)]
pub struct Shared(pub Arc<dyn Display>);

impl Reporter for Shared {
    fn report(&self, event: &Event) {
        self.0.report(event);
    }

    fn transfer(&self, event: &TransferEvent) {
        self.0.transfer(event);
    }

    fn output(&self, event: &OutputEvent) {
        self.0.output(event);
    }
}

/// Where the registry client's transfer events go: `display`, through the build's
/// reporter (`None`: nowhere).
pub fn transfers(display: &Option<Arc<dyn Display>>) -> Option<Arc<dyn TransferProgress>> {
    display.as_ref().map(|d| {
        let reporter: Arc<dyn Reporter> = Arc::new(Shared(d.clone()));
        Arc::new(TransferEvents(reporter)) as Arc<dyn TransferProgress>
    })
}

/// The display of `kiln pull` / `kiln push` (`None` with `--quiet`): bars per blob on a
/// terminal, plain lines otherwise.
pub fn for_transfers(quiet: bool) -> Option<Arc<dyn Display>> {
    for_mode(if quiet {
        ProgressMode::Quiet
    } else {
        ProgressMode::Auto
    })
}
