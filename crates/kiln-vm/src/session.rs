//! The host's side of one guest: which layers it holds, sending a step with its layers and
//! mounts, passing its output on, and reading its changes back. A run that passes its
//! `--timeout` or is cancelled kills QEMU (the guest and every process in it at once).

use crate::forward::Relay;
use crate::frame::{self, DataReader, DataWriter, Kind};
use crate::machine::Machine;
use crate::message::{GuestStep, LayerHeader, MountHeader};
use crate::VmError;
use kiln_sandbox::{Exit, RunControl};
use rustix::process::{Pid, Signal};
use std::collections::HashSet;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How often a [`Watchdog`] checks for cancellation and the time limit.
const POLL: Duration = Duration::from_millis(20);

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

    /// Run `step`, passing its output on, until it ends (a [`Watchdog`] from
    /// [`Session::watch`] ends it early). `agents`: the step's ssh-agent mounts (index,
    /// the host socket their connections reach).
    pub fn run(
        &mut self,
        step: &GuestStep,
        agents: &[(usize, PathBuf)],
        out: &mut dyn Write,
        err: &mut dyn Write,
    ) -> Result<Exit, VmError> {
        if let Err(e) = frame::send_json(self.machine.channel(), Kind::Step, step) {
            return Err(self
                .machine
                .failure(&format!("sending the step to the guest: {e}")));
        }
        let ended = match agents.is_empty() {
            true => read_until_exit(self.machine.channel(), None, out, err),
            false => Relay::new(self.machine.channel(), agents).and_then(|mut relay| {
                let end = read_until_exit(self.machine.channel(), Some(&mut relay), out, err)?;
                relay.finish().map(|()| end)
            }),
        };
        match ended {
            Ok(Ok(end)) => Ok(end),
            Ok(Err((kind, why))) => Err(VmError::Agent {
                message: crate::machine::clean(&why.chars().take(4096).collect::<String>()),
                root_content: kind == Kind::Rejected,
            }),
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                Err(self.machine.failure("the guest went away during the step"))
            }
            Err(e) => Err(self
                .machine
                .failure(&format!("the guest broke the channel during the step: {e}"))),
        }
    }

    /// A watchdog that kills this guest when `control` says so (its time limit passes or
    /// the build is cancelled), for as long as it is held.
    pub fn watch(&self, control: &RunControl) -> Result<Watchdog, VmError> {
        Watchdog::start(self.machine.pid(), control)
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

/// The step's end, or why the agent could not run it (its `Failed` or `Rejected` frame).
fn read_until_exit(
    ch: &mut UnixStream,
    mut relay: Option<&mut Relay>,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> std::io::Result<Result<Exit, (Kind, String)>> {
    loop {
        match frame::read_frame(ch)? {
            (Kind::Stdout, data) => out.write_all(&data)?,
            (Kind::Stderr, data) => err.write_all(&data)?,
            (kind @ (Kind::AgentOpen | Kind::AgentData | Kind::AgentClose), payload)
                if relay.is_some() =>
            {
                relay
                    .as_deref_mut()
                    .map_or(Ok(()), |r| r.handle(kind, &payload))?
            }
            (Kind::Exit, payload) => return frame::parse_json(&payload).map(Ok),
            (kind @ (Kind::Failed | Kind::Rejected), why) => {
                return Ok(Err((kind, String::from_utf8_lossy(&why).into_owned())))
            }
            (kind, _) => return Err(frame::invalid(format!("an unexpected {kind:?} frame"))),
        }
    }
}

/// The process a [`Watchdog`] kills: by pidfd, or by pid where the kernel has no pidfds.
#[derive(Debug)]
enum Target {
    Pidfd(std::os::fd::OwnedFd),
    Pid(Pid),
}

/// Why a [`Watchdog`] killed its guest.
#[derive(Debug, Clone, Copy)]
enum Fired {
    TimedOut(Duration),
    Cancelled(i32),
}

/// Kills QEMU when a step passes its time limit or the build is cancelled, from a thread
/// of its own, so that no read or write on the channel can outlast it. Stops on drop, at
/// once: the thread waits on a channel that the drop closes, not in a sleep (a 20 ms
/// sleep cost every step 10 ms on average).
#[derive(Debug)]
pub struct Watchdog {
    done: Option<mpsc::Sender<()>>,
    fired: Arc<Mutex<Option<Fired>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Watchdog {
    pub(crate) fn start(pid: Option<u32>, control: &RunControl) -> Result<Watchdog, VmError> {
        let (done, stop) = mpsc::channel::<()>();
        let fired = Arc::new(Mutex::new(None));
        let (slot, control) = (fired.clone(), control.clone());
        // QEMU by a pidfd taken while it is alive: once it is reaped, the signal goes
        // nowhere instead of to a process that got its pid.
        let target =
            pid.and_then(|p| Pid::from_raw(p as i32))
                .map(|pid| {
                    match rustix::process::pidfd_open(pid, rustix::process::PidfdFlags::empty()) {
                        Ok(fd) => Target::Pidfd(fd),
                        Err(_) => Target::Pid(pid),
                    }
                });
        let started = Instant::now();
        let thread = std::thread::Builder::new()
            .name("kiln-vm-watchdog".into())
            .spawn(move || {
                while let Err(RecvTimeoutError::Timeout) = stop.recv_timeout(POLL) {
                    let why = match control.cancel.as_ref().and_then(|c| c.cancelled()) {
                        Some(why) => Some(Fired::Cancelled(why)),
                        None => control
                            .timeout
                            .filter(|t| started.elapsed() > *t)
                            .map(Fired::TimedOut),
                    };
                    if let Some(why) = why {
                        *slot.lock().unwrap_or_else(|e| e.into_inner()) = Some(why);
                        match &target {
                            Some(Target::Pidfd(fd)) => {
                                let _ = rustix::process::pidfd_send_signal(fd, Signal::KILL);
                            }
                            Some(Target::Pid(pid)) => {
                                let _ = rustix::process::kill_process(*pid, Signal::KILL);
                            }
                            None => {}
                        }
                        return;
                    }
                }
            })
            .map_err(|e| VmError::Qemu {
                what: format!("cannot start the thread that enforces --timeout: {e}"),
                console: String::new(),
            })?;
        Ok(Watchdog {
            done: Some(done),
            fired,
            thread: Some(thread),
        })
    }

    /// Stop watching (the thread is gone when this returns), then say why it killed the
    /// guest, if it did: nothing can fire after the answer.
    pub fn stop(mut self) -> Option<VmError> {
        self.halt();
        self.fired()
    }

    fn halt(&mut self) {
        drop(self.done.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }

    /// Why it killed the guest, if it did.
    pub fn fired(&self) -> Option<VmError> {
        let fired = *self.fired.lock().unwrap_or_else(|e| e.into_inner());
        fired.map(|f| match f {
            Fired::TimedOut(limit) => VmError::TimedOut { limit },
            Fired::Cancelled(why) => VmError::Cancelled { why },
        })
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.halt();
    }
}
