//! The guest's end of `RUN --mount=type=ssh` (the protocol is `kiln_vm::forward`): a
//! socket per agent mount, bound into the step; each connection the step makes is
//! announced to the host and carried over the channel. While the step runs a thread
//! reads the host's frames, up to the [`Kind::End`] the host sends once it has seen the
//! step's end.

use super::Sender;
use kiln_vm::forward::{self, AgentOpen, Connections, MAX_OPEN};
use kiln_vm::frame::{self, Kind};
use std::fs::File;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

type Result<T> = std::result::Result<T, String>;

/// One agent mount's socket in the guest: (mount index, path, (uid, gid, mode)).
pub(super) type AgentSocket = (usize, PathBuf, (u32, u32, u32));

/// A step's forwarded agents, from its start to the host's end of the relay.
pub(super) struct Forwarder {
    tx: Sender,
    conns: Arc<Mutex<Connections>>,
    stop: Arc<AtomicBool>,
    /// The last connection number given (shared by the listeners: numbers are unique).
    next: Arc<AtomicU32>,
    listeners: Vec<(PathBuf, JoinHandle<()>)>,
    reader: JoinHandle<()>,
}

fn spawn(f: impl FnOnce() + Send + 'static) -> Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name("kiln-agent-ssh".into())
        .spawn(f)
        .map_err(|e| format!("cannot start a thread for an ssh agent: {e}"))
}

impl Forwarder {
    /// Start reading the host's frames of the relay from `rx`.
    pub(super) fn start(tx: &Sender, rx: &File) -> Result<Forwarder> {
        let mut rx = rx.try_clone().map_err(|e| format!("the channel: {e}"))?;
        let conns = Arc::new(Mutex::new(Connections::default()));
        let table = conns.clone();
        let reader = spawn(move || loop {
            match frame::read_frame(&mut rx) {
                Ok((kind @ (Kind::AgentData | Kind::AgentClose), payload)) => {
                    let mut conns = table.lock().unwrap_or_else(|e| e.into_inner());
                    if conns.deliver(kind, &payload).is_err() {
                        return;
                    }
                }
                _ => return,
            }
        })?;
        Ok(Forwarder {
            tx: tx.clone(),
            conns,
            stop: Arc::new(AtomicBool::new(false)),
            next: Arc::new(AtomicU32::new(0)),
            listeners: Vec::new(),
            reader,
        })
    }

    /// Listen on each socket, with its owner and mode.
    pub(super) fn listen(&mut self, sockets: &[AgentSocket]) -> Result<()> {
        for (mount, at, (uid, gid, mode)) in sockets {
            let fail = |e: std::io::Error| format!("the ssh agent socket {}: {e}", at.display());
            if let Some(dir) = at.parent() {
                std::fs::create_dir_all(dir).map_err(fail)?;
            }
            let listener = UnixListener::bind(at).map_err(fail)?;
            let perms = std::os::unix::fs::PermissionsExt::from_mode(mode & 0o777);
            std::fs::set_permissions(at, perms).map_err(fail)?;
            std::os::unix::fs::chown(at, Some(*uid), Some(*gid)).map_err(fail)?;
            let (mount, tx, conns, stop) = (
                *mount,
                self.tx.clone(),
                self.conns.clone(),
                self.stop.clone(),
            );
            let next = self.next.clone();
            let thread = spawn(move || accept(listener, mount, &tx, &conns, &stop, &next))?;
            self.listeners.push((at.clone(), thread));
        }
        Ok(())
    }

    /// The step is over: take no more connections, close those open, `report` the step's
    /// end to the host, and wait for the host's end of the relay.
    pub(super) fn finish(self, report: impl FnOnce() -> Result<()>) -> Result<()> {
        self.stop.store(true, Ordering::SeqCst);
        for (at, thread) in self.listeners {
            // A last connection wakes the blocked accept; the thread sees the flag.
            let _ = UnixStream::connect(&at);
            let _ = thread.join();
        }
        self.conns
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .close_all();
        report()?;
        let _ = self.reader.join();
        Ok(())
    }
}

/// Announce each connection to the host and carry it, numbered in order.
fn accept(
    listener: UnixListener,
    mount: usize,
    tx: &Sender,
    conns: &Mutex<Connections>,
    stop: &AtomicBool,
    next: &AtomicU32,
) {
    for stream in listener.incoming() {
        if stop.load(Ordering::SeqCst) {
            return;
        }
        let Ok(stream) = stream else { return };
        // Held until the connection is in the table, so that the host's first bytes for
        // it find it there.
        let mut conns = conns.lock().unwrap_or_else(|e| e.into_inner());
        if conns.live() >= MAX_OPEN {
            continue;
        }
        let conn = next.fetch_add(1, Ordering::SeqCst).wrapping_add(1);
        let open = AgentOpen { mount, conn };
        let announced = serde_json::to_vec(&open)
            .map_err(std::io::Error::other)
            .and_then(|p| forward::send(tx, Kind::AgentOpen, &p))
            .and_then(|()| conns.add(conn, stream, tx.clone()));
        if announced.is_err() {
            return;
        }
    }
}

/// Where the socket of agent mount `index` is made.
pub(super) fn socket_path(mounts: &Path, index: usize) -> PathBuf {
    mounts.join(index.to_string()).join("agent.sock")
}
