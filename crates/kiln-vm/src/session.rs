//! The host's side of one guest: which layers it holds, sending a step with its layers and
//! mounts, passing its output on, and reading its changes back. A run that passes its
//! `--timeout` or is cancelled kills QEMU (the guest and every process in it at once).

use crate::frame::{self, DataReader, DataWriter, Kind};
use crate::machine::Machine;
use crate::message::{GuestStep, LayerHeader, MountHeader, StepEnd};
use crate::VmError;
use kiln_sandbox::RunControl;
use std::collections::HashSet;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A booted guest ready for steps.
#[derive(Debug)]
pub struct Session {
    machine: Machine,
    layers: HashSet<String>,
}

impl Session {
    pub fn new(machine: Machine) -> Session {
        Session {
            machine,
            layers: HashSet::new(),
        }
    }

    /// The guest kernel's release.
    pub fn kernel(&self) -> &str {
        &self.machine.hello.kernel
    }

    /// Whether the guest holds the layer `digest` already.
    pub fn has_layer(&self, digest: &str) -> bool {
        self.layers.contains(digest)
    }

    /// Send a layer blob (as stored: compressed or not).
    pub fn send_layer(&mut self, digest: &str, blob: &mut dyn Read) -> Result<(), VmError> {
        let header = LayerHeader {
            digest: digest.to_string(),
        };
        let sent = (|| {
            let ch = self.machine.channel();
            frame::send_json(ch, Kind::Layer, &header)?;
            let mut w = DataWriter::new(ch);
            std::io::copy(blob, &mut w)?;
            w.end().map(|_| ())
        })();
        sent.map_err(|e| {
            self.machine
                .failure(&format!("sending layer {digest} to the guest: {e}"))
        })?;
        self.layers.insert(digest.to_string());
        Ok(())
    }

    /// Send the files of mount `index` as a tar written by `write`.
    pub fn send_mount(
        &mut self,
        index: usize,
        write: &mut dyn FnMut(&mut dyn Write) -> std::io::Result<()>,
    ) -> Result<(), VmError> {
        let sent = (|| {
            let ch = self.machine.channel();
            frame::send_json(ch, Kind::Mount, &MountHeader { index })?;
            let mut w = DataWriter::new(ch);
            write(&mut w)?;
            w.end().map(|_| ())
        })();
        sent.map_err(|e| {
            self.machine
                .failure(&format!("sending the files of a mount to the guest: {e}"))
        })
    }

    /// Run `step`, passing its output on, until it ends or `control` ends it.
    pub fn run(
        &mut self,
        step: &GuestStep,
        out: &mut dyn Write,
        err: &mut dyn Write,
        control: &RunControl,
    ) -> Result<StepEnd, VmError> {
        if let Err(e) = frame::send_json(self.machine.channel(), Kind::Step, step) {
            return Err(self
                .machine
                .failure(&format!("sending the step to the guest: {e}")));
        }
        let watchdog = Watchdog::start(self.machine.pid(), control);
        let got = read_until_exit(self.machine.channel(), out, err);
        let fired = watchdog.stop();
        if let Some(why) = fired {
            self.machine.stop();
            return Err(why);
        }
        match got {
            Ok(end) => Ok(end),
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                Err(self.machine.failure("the guest went away during the step"))
            }
            Err(e) => Err(self
                .machine
                .failure(&format!("the guest broke the channel during the step: {e}"))),
        }
    }

    /// The stream that follows a successful step run with `want_changes`: its changes (a
    /// tar), then one stream per mount whose files come back.
    pub fn stream(&mut self) -> DataReader<&mut UnixStream> {
        DataReader::new(self.machine.channel())
    }

    /// The guest as failed (stopped), with what it printed, for an error message.
    pub fn failure(&mut self, what: &str) -> VmError {
        self.machine.failure(what)
    }
}

fn read_until_exit(
    ch: &mut UnixStream,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> std::io::Result<StepEnd> {
    loop {
        match frame::read_frame(ch)? {
            (Kind::Stdout, data) => out.write_all(&data)?,
            (Kind::Stderr, data) => err.write_all(&data)?,
            (Kind::Exit, payload) => return frame::parse_json(&payload),
            (Kind::Failed, why) => {
                return Err(std::io::Error::other(format!(
                    "the agent failed: {}",
                    String::from_utf8_lossy(&why)
                )))
            }
            (kind, _) => return Err(frame::invalid(format!("an unexpected {kind:?} frame"))),
        }
    }
}

/// Kills QEMU when the run passes its time limit or the build is cancelled.
struct Watchdog {
    done: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<Option<VmError>>>,
}

impl Watchdog {
    fn start(pid: Option<u32>, control: &RunControl) -> Watchdog {
        let done = Arc::new(AtomicBool::new(false));
        let (flag, control) = (done.clone(), control.clone());
        let started = Instant::now();
        let thread = std::thread::Builder::new()
            .name("kiln-vm-watchdog".into())
            .spawn(move || loop {
                if flag.load(Ordering::SeqCst) {
                    return None;
                }
                let why = if let Some(why) = control.cancel.as_ref().and_then(|c| c.cancelled()) {
                    Some(VmError::Cancelled { why })
                } else {
                    control
                        .timeout
                        .filter(|t| started.elapsed() > *t)
                        .map(|limit| VmError::TimedOut { limit })
                };
                if let Some(why) = why {
                    if let Some(pid) = pid.and_then(|p| rustix::process::Pid::from_raw(p as i32)) {
                        let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
                    }
                    return Some(why);
                }
                std::thread::sleep(Duration::from_millis(20));
            })
            .ok();
        Watchdog { done, thread }
    }

    fn stop(mut self) -> Option<VmError> {
        self.done.store(true, Ordering::SeqCst);
        self.thread.take().and_then(|t| t.join().ok()).flatten()
    }
}
