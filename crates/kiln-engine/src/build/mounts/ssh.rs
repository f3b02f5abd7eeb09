//! `RUN --mount=type=ssh`: the step gets a socket of its own (on the step's
//! private tmpfs, with the mount's mode and owner) and kiln forwards each
//! connection to the host's ssh-agent socket given with `--ssh`. The step
//! never sees the host path; the proxy stops when the step ends.

use std::io;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

/// A running forwarder; stopped on drop.
#[derive(Debug)]
pub(crate) struct AgentProxy {
    at: PathBuf,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

fn copy(mut from: UnixStream, mut to: UnixStream) {
    let _ = io::copy(&mut from, &mut to);
    let _ = to.shutdown(std::net::Shutdown::Write);
}

impl AgentProxy {
    /// Listen on `at` (mode and owner set) and forward to `agent`.
    pub(crate) fn start(
        at: &Path,
        agent: PathBuf,
        mode: u32,
        owner: (u32, u32),
    ) -> Result<AgentProxy, String> {
        let listener = UnixListener::bind(at)
            .map_err(|e| format!("cannot listen on {}: {e}", at.display()))?;
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(at, std::fs::Permissions::from_mode(mode & 0o777))
            .and_then(|()| std::os::unix::fs::chown(at, Some(owner.0), Some(owner.1)))
            .map_err(|e| format!("cannot set the mode and owner of {}: {e}", at.display()))?;
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let thread = std::thread::spawn(move || {
            for conn in listener.incoming() {
                if stopped.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { break };
                let Ok(upstream) = UnixStream::connect(&agent) else {
                    continue;
                };
                let (Ok(c2), Ok(u2)) = (conn.try_clone(), upstream.try_clone()) else {
                    continue;
                };
                std::thread::spawn(move || copy(conn, upstream));
                std::thread::spawn(move || copy(u2, c2));
            }
        });
        Ok(AgentProxy {
            at: at.to_path_buf(),
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for AgentProxy {
    fn drop(&mut self) {
        // A last connection wakes the blocked accept; the thread sees the flag.
        self.stop.store(true, Ordering::SeqCst);
        let _ = UnixStream::connect(&self.at);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
