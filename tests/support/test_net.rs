//! Test networks for the network policy: a network namespace joined to the host by a veth
//! pair (as a cloud metadata service or a neighbour on the LAN would be), and a tiny TCP
//! server that answers every connection with `pong` (as HTTP/1.0, so ADD can fetch it too).
//! Everything is removed on drop, also when the test panics.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// What every server sends back (the HTTP body).
pub const PONG: &str = "pong\n";

static SEQ: AtomicU32 = AtomicU32::new(0);

fn ip(args: &[&str]) -> std::process::Output {
    Command::new("ip").args(args).output().expect("run ip")
}

fn ip_ok(args: &[&str]) {
    let out = ip(args);
    assert!(
        out.status.success(),
        "ip {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A network namespace with a veth pair: `host_addr`/24 on the host's end, `ns_addr`/24
/// inside.
pub struct TestNetns {
    pub name: String,
    host_if: String,
    pub host_addr: IpAddr,
    pub ns_addr: IpAddr,
}

impl TestNetns {
    /// `prefix` is the first two octets (`"169.254"`, `"10.213"`); the third is picked
    /// from this process's id so parallel tests and test processes do not collide.
    pub fn new(prefix: &str) -> TestNetns {
        let n = SEQ.fetch_add(1, Ordering::SeqCst);
        let pid = std::process::id();
        let third = (pid.wrapping_mul(7).wrapping_add(n * 13)) % 250 + 2;
        let name = format!("kiln-test-{pid}-{n}");
        let host_if = format!("kt{}h{n}", pid % 100_000);
        let peer = format!("kt{}n{n}", pid % 100_000);
        let host_addr: IpAddr = format!("{prefix}.{third}.1").parse().expect("address");
        let ns_addr: IpAddr = format!("{prefix}.{third}.2").parse().expect("address");
        let made = TestNetns {
            name: name.clone(),
            host_if: host_if.clone(),
            host_addr,
            ns_addr,
        };
        ip_ok(&["netns", "add", &name]);
        ip_ok(&[
            "link", "add", &host_if, "type", "veth", "peer", "name", &peer, "netns", &name,
        ]);
        ip_ok(&["addr", "add", &format!("{host_addr}/24"), "dev", &host_if]);
        ip_ok(&["link", "set", &host_if, "up"]);
        ip_ok(&[
            "-n",
            &name,
            "addr",
            "add",
            &format!("{ns_addr}/24"),
            "dev",
            &peer,
        ]);
        ip_ok(&["-n", &name, "link", "set", &peer, "up"]);
        ip_ok(&["-n", &name, "link", "set", "lo", "up"]);
        made
    }

    /// A server on `ns_addr` inside the namespace.
    pub fn serve(&self) -> Server {
        Server::start(self.listen())
    }

    /// A TCP listener on `ns_addr` (any port) inside the namespace.
    pub fn listen(&self) -> TcpListener {
        let path = format!("/run/netns/{}", self.name);
        let addr = SocketAddr::new(self.ns_addr, 0);
        let listener = std::thread::spawn(move || {
            let ns = std::fs::File::open(&path).expect("open the namespace");
            rustix::thread::move_into_link_name_space(
                std::os::fd::AsFd::as_fd(&ns),
                Some(rustix::thread::LinkNameSpaceType::Network),
            )
            .expect("setns");
            // The socket stays in the namespace it was made in.
            TcpListener::bind(addr).expect("bind in the namespace")
        })
        .join()
        .expect("listener thread");
        listener
    }
}

impl Drop for TestNetns {
    fn drop(&mut self) {
        let _ = ip(&["netns", "del", &self.name]);
        let _ = ip(&["link", "del", &self.host_if]);
    }
}

/// A TCP server answering every connection with an HTTP/1.0 `pong`; `GET /redirect/HOST:PORT`
/// gets a 302 to `http://HOST:PORT/file`. Stopped on drop.
pub struct Server {
    pub addr: SocketAddr,
    /// Connections accepted so far.
    pub accepted: Arc<AtomicU32>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

fn answer(mut c: TcpStream) {
    let _ = c.set_read_timeout(Some(Duration::from_secs(5)));
    let mut buf = [0u8; 2048];
    let n = c.read(&mut buf).unwrap_or(0);
    let req = String::from_utf8_lossy(&buf[..n]);
    let path = req.split_whitespace().nth(1).unwrap_or("/");
    let reply = match path.strip_prefix("/redirect/") {
        Some(to) => {
            format!("HTTP/1.0 302 Found\r\nLocation: http://{to}/file\r\nContent-Length: 0\r\n\r\n")
        }
        None => format!(
            "HTTP/1.0 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{PONG}",
            PONG.len()
        ),
    };
    let _ = c.write_all(reply.as_bytes());
}

impl Server {
    pub fn start(listener: TcpListener) -> Server {
        let addr = listener.local_addr().expect("address");
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let accepted = Arc::new(AtomicU32::new(0));
        let counted = accepted.clone();
        let thread = std::thread::spawn(move || {
            for c in listener.incoming() {
                if stopped.load(Ordering::SeqCst) {
                    return;
                }
                if let Ok(c) = c {
                    counted.fetch_add(1, Ordering::SeqCst);
                    answer(c);
                }
            }
        });
        Server {
            addr,
            accepted,
            stop,
            thread: Some(thread),
        }
    }

    /// A server on the host, on `addr` (e.g. `0.0.0.0:0`).
    pub fn on_host(addr: &str) -> Server {
        Server::start(TcpListener::bind(addr).expect("bind"))
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    pub fn accepted(&self) -> u32 {
        self.accepted.load(Ordering::SeqCst)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let mut wake = self.addr;
        if wake.ip().is_unspecified() {
            wake.set_ip(if wake.is_ipv4() {
                IpAddr::from([127, 0, 0, 1])
            } else {
                IpAddr::from([0u16, 0, 0, 0, 0, 0, 0, 1])
            });
        }
        if TcpStream::connect_timeout(&wake, Duration::from_secs(2)).is_ok() {
            if let Some(t) = self.thread.take() {
                let _ = t.join();
            }
        }
    }
}

/// What the host gets from `addr` (the positive control: the server is reachable).
pub fn fetch_from_host(addr: SocketAddr) -> String {
    let mut c = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
        .unwrap_or_else(|e| panic!("the host cannot reach {addr}: {e}"));
    c.write_all(b"GET / HTTP/1.0\r\n\r\n").expect("send");
    let mut out = String::new();
    let _ = c.read_to_string(&mut out);
    out
}

/// The host's global addresses (`ip -o addr show scope global`): the first IPv4 and the
/// first IPv6 one, if any.
pub fn host_addresses() -> (Option<IpAddr>, Option<IpAddr>) {
    let out = ip(&["-o", "addr", "show", "scope", "global"]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let addrs: Vec<IpAddr> = text
        .lines()
        .filter(|l| !l.contains(" kt"))
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            w.find(|x| *x == "inet" || *x == "inet6")?;
            w.next()?.split('/').next()?.parse().ok()
        })
        .filter(|a: &IpAddr| !a.is_loopback())
        .collect();
    (
        addrs.iter().copied().find(IpAddr::is_ipv4),
        addrs.iter().copied().find(IpAddr::is_ipv6),
    )
}

/// A shell fragment probing `addr:port` with busybox nc; writes the reply (or nc's error)
/// and the exit status to `out`.
pub fn probe(addr: IpAddr, port: u16, out: &str) -> String {
    format!(
        "(printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 5 {addr} {port}; echo rc=$?) > {out} 2>&1"
    )
}
