//! Showing build progress on standard error: plain lines (`#5 [stage-0 2/4] RUN make`,
//! `#5 0.512 output`, `#5 DONE 1.2s`), a terminal display with a timer per step and the
//! last lines of running steps, or one JSON object per event. Each event is written whole
//! under a lock, so parallel stages never interleave within a line.

mod json;
mod plain;
mod summary;
mod tty;

use crate::cli_image::ProgressMode;
use kiln_engine::build::progress::{Event, Reporter};
use std::io::IsTerminal;
use std::sync::Arc;

pub use summary::Summary;

/// A reporter and what to print when the build ends.
pub trait Display: Reporter {
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
        ProgressMode::Json => Some(Arc::new(json::Json::default())),
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
}
