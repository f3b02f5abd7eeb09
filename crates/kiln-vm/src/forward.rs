//! `RUN --mount=type=ssh` under `--isolation vm`: a step's connections to its agent socket
//! in the guest are carried over the channel as numbered frames to the ssh-agent socket
//! on the host. Both ends share what is here: a connection's pump (its bytes out as
//! frames) and the table of open connections (frames in, bytes to them). The host's end
//! is [`Relay`]; the guest agent's end is in kiln's engine.
//!
//! While a step with an agent runs, the guest may send [`Kind::AgentOpen`],
//! [`Kind::AgentData`] and [`Kind::AgentClose`] among its output; the host answers with
//! data and close frames. After the step's end ([`Kind::Exit`] or [`Kind::Failed`]) the
//! host closes every connection and sends [`Kind::End`]: nothing of the relay follows it.

use crate::frame::{self, Kind};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::Shutdown;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

/// The writing side of the channel, shared by the pumps.
pub type Tx<W> = Arc<Mutex<W>>;

/// A step connected to the agent socket of its mount `mount`; the guest numbers it `conn`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AgentOpen {
    pub mount: usize,
    pub conn: u32,
}

/// The most connections of one step open at once; more are closed at once.
pub const MAX_OPEN: usize = 32;

/// How long a write into a connection may wait for its reader: a side that stops reading
/// (an agent backed up by a guest that no longer drains the channel, a step that never
/// reads its socket) loses the connection instead of stalling the channel's reader,
/// which has the watchdog's deadline to keep.
pub const WRITE_WAIT: std::time::Duration = std::time::Duration::from_secs(1);

const CHUNK: usize = 64 * 1024;

/// Send one frame on a shared channel.
pub fn send<W: Write>(tx: &Tx<W>, kind: Kind, payload: &[u8]) -> io::Result<()> {
    let mut w = tx.lock().unwrap_or_else(|e| e.into_inner());
    frame::write_frame(&mut *w, kind, payload)
}

/// The payload of a data or close frame: the connection's number, then its bytes.
pub fn numbered(conn: u32, data: &[u8]) -> Vec<u8> {
    let mut p = Vec::with_capacity(4 + data.len());
    p.extend_from_slice(&conn.to_be_bytes());
    p.extend_from_slice(data);
    p
}

fn split(payload: &[u8]) -> io::Result<(u32, &[u8])> {
    match payload {
        [a, b, c, d, rest @ ..] => Ok((u32::from_be_bytes([*a, *b, *c, *d]), rest)),
        _ => Err(frame::invalid(
            "a forwarded connection's frame without its number".into(),
        )),
    }
}

/// Send what `stream` yields as data frames of `conn`, then its close frame.
fn pump<W: Write + Send + 'static>(
    conn: u32,
    mut stream: UnixStream,
    tx: Tx<W>,
) -> io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name("kiln-vm-agent".into())
        .spawn(move || {
            let mut buf = vec![0u8; CHUNK];
            while let Ok(n @ 1..) = stream.read(&mut buf) {
                if send(&tx, Kind::AgentData, &numbered(conn, &buf[..n])).is_err() {
                    return;
                }
            }
            let _ = send(&tx, Kind::AgentClose, &numbered(conn, &[]));
        })
}

/// The open connections of one step, by number, each with the pump of its other
/// direction. Dropping it closes them all.
#[derive(Debug, Default)]
pub struct Connections {
    open: HashMap<u32, (UnixStream, JoinHandle<()>)>,
}

impl Connections {
    /// Take `stream` as connection `conn`; its bytes go out on `tx`.
    pub fn add<W: Write + Send + 'static>(
        &mut self,
        conn: u32,
        stream: UnixStream,
        tx: Tx<W>,
    ) -> io::Result<()> {
        stream.set_write_timeout(Some(WRITE_WAIT))?;
        let thread = pump(conn, stream.try_clone()?, tx)?;
        if let Some((old, pump)) = self.open.insert(conn, (stream, thread)) {
            let _ = old.shutdown(Shutdown::Both);
            let _ = pump.join();
        }
        Ok(())
    }

    /// How many are open, after forgetting those whose other end is done.
    pub fn live(&mut self) -> usize {
        self.open.retain(|_, (_, t)| !t.is_finished());
        self.open.len()
    }

    pub fn contains(&self, conn: u32) -> bool {
        self.open.contains_key(&conn)
    }

    /// A data or close frame from the other end; one for a connection that is gone is
    /// dropped (it may have closed meanwhile).
    pub fn deliver(&mut self, kind: Kind, payload: &[u8]) -> io::Result<()> {
        let (conn, data) = split(payload)?;
        let Some((stream, _)) = self.open.get_mut(&conn) else {
            return Ok(());
        };
        match kind {
            // A write that fails or waits past WRITE_WAIT ends the connection.
            Kind::AgentData => {
                if stream.write_all(data).is_err() {
                    let _ = stream.shutdown(Shutdown::Both);
                }
            }
            Kind::AgentClose => {
                let _ = stream.shutdown(Shutdown::Write);
            }
            other => return Err(frame::invalid(format!("an unexpected {other:?} frame"))),
        }
        Ok(())
    }

    /// Shut every connection and wait for their pumps.
    pub fn close_all(&mut self) {
        for (_, (stream, thread)) in self.open.drain() {
            let _ = stream.shutdown(Shutdown::Both);
            let _ = thread.join();
        }
    }
}

impl Drop for Connections {
    fn drop(&mut self) {
        self.close_all();
    }
}

/// The host's end for one step: each connection the guest opens is connected to the
/// ssh-agent socket of its mount.
#[derive(Debug)]
pub struct Relay {
    agents: HashMap<usize, PathBuf>,
    tx: Tx<UnixStream>,
    conns: Connections,
}

impl Relay {
    /// `agents`: the step's agent mounts (index, the host socket they reach).
    pub fn new(channel: &UnixStream, agents: &[(usize, PathBuf)]) -> io::Result<Relay> {
        Ok(Relay {
            agents: agents.iter().cloned().collect(),
            tx: Arc::new(Mutex::new(channel.try_clone()?)),
            conns: Connections::default(),
        })
    }

    /// A frame of the relay from the guest.
    pub fn handle(&mut self, kind: Kind, payload: &[u8]) -> io::Result<()> {
        if kind != Kind::AgentOpen {
            return self.conns.deliver(kind, payload);
        }
        let open: AgentOpen = frame::parse_json(payload)?;
        let Some(agent) = self.agents.get(&open.mount) else {
            return Err(frame::invalid(format!(
                "a connection to mount {}, which is no ssh agent",
                open.mount
            )));
        };
        if self.conns.contains(open.conn) {
            return Err(frame::invalid(format!(
                "connection {} opened twice",
                open.conn
            )));
        }
        let stream = match self.conns.live() < MAX_OPEN {
            true => UnixStream::connect(agent).ok(),
            false => None,
        };
        match stream {
            Some(s) => self.conns.add(open.conn, s, self.tx.clone()),
            None => send(&self.tx, Kind::AgentClose, &numbered(open.conn, &[])),
        }
    }

    /// After the step's end: close every connection, then tell the guest that nothing of
    /// the relay follows.
    pub fn finish(mut self) -> io::Result<()> {
        self.conns.close_all();
        send(&self.tx, Kind::End, &[])
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_connection_crosses_both_ways_and_closes() {
        let dir = tempfile::tempdir().unwrap();
        let agent_path = dir.path().join("agent.sock");
        let agent = std::os::unix::net::UnixListener::bind(&agent_path).unwrap();
        let echo = std::thread::spawn(move || {
            let (mut c, _) = agent.accept().unwrap();
            let mut got = Vec::new();
            c.read_to_end(&mut got).unwrap();
            c.write_all(&[b"re:", &got[..]].concat()).unwrap();
        });
        let (host, mut guest) = UnixStream::pair().unwrap();
        let mut relay = Relay::new(&host, &[(3, agent_path)]).unwrap();
        let open = serde_json::to_vec(&AgentOpen { mount: 3, conn: 7 }).unwrap();
        relay.handle(Kind::AgentOpen, &open).unwrap();
        relay.handle(Kind::AgentData, &numbered(7, b"hi")).unwrap();
        relay.handle(Kind::AgentClose, &numbered(7, &[])).unwrap();
        echo.join().unwrap();
        let e = relay.handle(Kind::AgentOpen, &open).unwrap_err();
        assert!(e.to_string().contains("opened twice"), "{e}");
        let other = serde_json::to_vec(&AgentOpen { mount: 0, conn: 8 }).unwrap();
        let e = relay.handle(Kind::AgentOpen, &other).unwrap_err();
        assert!(e.to_string().contains("no ssh agent"), "{e}");
        assert_eq!(
            frame::read_frame(&mut guest).unwrap(),
            (Kind::AgentData, numbered(7, b"re:hi"))
        );
        assert_eq!(
            frame::read_frame(&mut guest).unwrap(),
            (Kind::AgentClose, numbered(7, &[]))
        );
        relay.finish().unwrap();
        assert_eq!(frame::read_frame(&mut guest).unwrap().0, Kind::End);
    }

    #[test]
    fn an_agent_that_stops_reading_loses_its_connection_instead_of_stalling_the_relay() {
        let dir = tempfile::tempdir().unwrap();
        let agent_path = dir.path().join("agent.sock");
        let agent = std::os::unix::net::UnixListener::bind(&agent_path).unwrap();
        // Accepts, then never reads.
        let held = std::thread::spawn(move || agent.accept().unwrap().0);
        let (host, mut guest) = UnixStream::pair().unwrap();
        let mut relay = Relay::new(&host, &[(0, agent_path)]).unwrap();
        let open = serde_json::to_vec(&AgentOpen { mount: 0, conn: 1 }).unwrap();
        relay.handle(Kind::AgentOpen, &open).unwrap();
        let _kept = held.join().unwrap();
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            // Far more than the socket buffers hold.
            for _ in 0..64 {
                relay
                    .handle(Kind::AgentData, &numbered(1, &vec![0u8; 1 << 20]))
                    .unwrap();
            }
            done_tx.send(relay).unwrap();
        });
        let relay = done_rx
            .recv_timeout(std::time::Duration::from_secs(60))
            .expect("the relay's writes into a stalled agent did not give up");
        assert_eq!(
            frame::read_frame(&mut guest).unwrap(),
            (Kind::AgentClose, numbered(1, &[])),
            "the guest is told the connection is gone"
        );
        relay.finish().unwrap();
    }
}
