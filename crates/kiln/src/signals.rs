//! SIGINT and SIGTERM during `kiln build`: the handler only wakes a signal-handling
//! thread (signal-hook's self-pipe), which sets the build's cancellation flag; the RUN steps
//! running then are killed, their cgroups, temp dirs, mounts and user-mode networks are
//! removed as after any failed step, and kiln exits 130 (SIGINT) or 143 (SIGTERM) with one
//! line. A second signal exits at once.

use crate::exit::Failure;
use crate::progress::Display;
use kiln_oci::ErrorKind;
use kiln_sandbox::Cancel;
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;
use std::sync::Arc;

/// A cancellation flag set by the first SIGINT or SIGTERM from now on. A second signal
/// exits at once, saying so through `display` (the build's one output channel) when there
/// is one.
pub fn cancel_on_signals(display: Option<Arc<dyn Display>>) -> Result<Cancel, Failure> {
    let cancel = Cancel::new().map_err(|e| {
        Failure::new(
            ErrorKind::Io,
            format!("error: cannot prepare for signals: {e}"),
        )
    })?;
    let mut signals = Signals::new([SIGINT, SIGTERM]).map_err(|e| {
        Failure::new(
            ErrorKind::Io,
            format!("error: cannot handle SIGINT and SIGTERM (sigaction): {e}"),
        )
    })?;
    let flag = cancel.clone();
    std::thread::Builder::new()
        .name("kiln-signals".into())
        .spawn(move || {
            for signal in signals.forever() {
                if flag.cancelled().is_none() {
                    flag.cancel(signal);
                    continue;
                }
                let message = format!(
                    "error: {} again: exiting at once (files of running steps may be left; `kiln prune` removes them)",
                    name(signal)
                );
                match &display {
                    Some(d) => d.message(&message),
                    None => eprintln!("{message}"),
                }
                std::process::exit(crate::exit::code(ErrorKind::Cancelled(signal)));
            }
        })
        .map_err(|e| Failure::new(ErrorKind::Io, format!("error: cannot start the signal thread: {e}")))?;
    Ok(cancel)
}

/// The failure of a build stopped by `signal`: exit code 128 + signal, one line.
pub fn interrupted(signal: i32) -> Failure {
    Failure::new(
        ErrorKind::Cancelled(signal),
        format!(
            "error: the build was interrupted by {}: its running steps were killed and their files removed",
            name(signal)
        ),
    )
}

fn name(signal: i32) -> String {
    match signal {
        SIGINT => "SIGINT".into(),
        SIGTERM => "SIGTERM".into(),
        n => format!("signal {n}"),
    }
}
