//! A fault-injecting HTTP proxy between kiln and a registry (std threads, one request per
//! connection): on a fixed schedule it answers 500/502/503 or 429 with `Retry-After`
//! instead of forwarding, cuts connections in the middle of a request body or of a
//! response body, or (in the hostile modes) corrupts blobs and inflates manifests. It
//! counts the PATCH body bytes it forwards per upload, so a test can prove that a resumed
//! chunked upload did not send completed chunks again.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// What the proxy does to traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Transient faults on a schedule; content is never changed.
    Faults,
    /// Flip a byte in every blob body.
    CorruptBlobs,
    /// Answer manifest requests with 5 MiB of JSON.
    HugeManifest,
}

#[derive(Default)]
pub struct Stats {
    /// Requests seen per kind (`GET /v2/`, `PATCH`, ...).
    pub seen: HashMap<String, usize>,
    /// Faults injected, in order (`"PATCH #2: cut"`).
    pub injected: Vec<String>,
    /// PATCH body bytes forwarded to the registry, per upload id.
    pub patch_forwarded: HashMap<String, u64>,
    /// PATCH body bytes kiln tried to send (forwarded or not).
    pub patch_attempted: u64,
}

pub struct Proxy {
    pub host: String,
    pub stats: Arc<Mutex<Stats>>,
    stop: Arc<AtomicBool>,
}

enum Action {
    Forward,
    Status(u16, Option<u32>),
    /// Read part of the request body, then close without answering.
    CutRequest,
    /// Forward, then relay only half the response body and close.
    CutResponse,
}

impl Proxy {
    pub fn start(upstream: &str, mode: Mode) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let host = format!("127.0.0.1:{}", listener.local_addr().expect("addr").port());
        let stats = Arc::new(Mutex::new(Stats::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let (s2, stop2, up) = (stats.clone(), stop.clone(), upstream.to_owned());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if stop2.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(conn) = conn else { continue };
                let (s3, up2) = (s2.clone(), up.clone());
                std::thread::spawn(move || handle(conn, &up2, &s3, mode));
            }
        });
        Proxy { host, stats, stop }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(&self.host);
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn kind(method: &str, path: &str, body_len: usize) -> String {
    let p = path.split('?').next().unwrap_or(path);
    let what = if p == "/v2/" {
        "ping"
    } else if p.contains("/blobs/uploads/") {
        match method {
            "PUT" if body_len > 0 => "upload-put-body",
            "PUT" => "upload-put-final",
            _ => "upload",
        }
    } else if p.contains("/blobs/") {
        "blob"
    } else if p.contains("/manifests/") {
        "manifest"
    } else {
        "other"
    };
    format!("{method} {what}")
}

/// The fault schedule: (request kind, occurrence) → action.
fn schedule(kind: &str, n: usize) -> Action {
    match (kind, n) {
        ("GET ping", 1) => Action::Status(500, None),
        ("HEAD blob", 1) => Action::Status(429, Some(1)),
        ("POST upload", 2) => Action::Status(503, None),
        ("PATCH upload", 2) => Action::CutRequest,
        ("PATCH upload", 4) => Action::Status(500, None),
        ("PATCH upload", 6) => Action::Status(429, Some(1)),
        ("PUT upload-put-body", 1) => Action::CutRequest,
        ("PUT manifest", 1) => Action::Status(502, None),
        ("GET manifest", 1) => Action::Status(429, Some(1)),
        ("GET blob", 1) | ("GET blob", 3) => Action::CutResponse,
        ("GET blob", 2) => Action::Status(500, None),
        _ => Action::Forward,
    }
}

fn handle(mut client: TcpStream, upstream: &str, stats: &Mutex<Stats>, mode: Mode) {
    let mut first = [0u8; 1];
    // A TLS ClientHello (kiln tries HTTPS first on loopback): not HTTP, close.
    if client.peek(&mut first).map_or(true, |n| n == 0) || first[0] == 0x16 {
        return;
    }
    let mut buf = Vec::new();
    let mut chunk = [0u8; 64 << 10];
    let head_end = loop {
        if let Some(i) = find(&buf, b"\r\n\r\n") {
            break i + 4;
        }
        match client.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let first_line = lines.next().unwrap_or("");
    let mut parts = first_line.split(' ');
    let method = parts.next().unwrap_or("").to_owned();
    let path = parts.next().unwrap_or("").to_owned();
    let content_length: usize = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())?
        })
        .unwrap_or(0);
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        stats
            .lock()
            .expect("stats")
            .injected
            .push(format!("refused a chunked request body: {first_line}"));
        return;
    }
    let k = kind(&method, &path, content_length);
    let n = {
        let mut s = stats.lock().expect("stats");
        let c = s.seen.entry(k.clone()).or_insert(0);
        *c += 1;
        *c
    };
    let action = if mode == Mode::Faults {
        schedule(&k, n)
    } else {
        Action::Forward
    };
    if let Action::CutRequest = action {
        // Take about half the body, then hang up.
        let want = head_end + content_length / 2;
        while buf.len() < want {
            match client.read(&mut chunk) {
                Ok(0) | Err(_) => break,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        let mut s = stats.lock().expect("stats");
        if method == "PATCH" {
            s.patch_attempted += content_length as u64;
        }
        s.injected.push(format!("{k} #{n}: cut the request"));
        drop(s);
        let _ = client.shutdown(Shutdown::Both);
        return;
    }
    while buf.len() < head_end + content_length {
        match client.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    if method == "PATCH" {
        stats.lock().expect("stats").patch_attempted += content_length as u64;
    }
    if let Action::Status(code, retry_after) = action {
        stats
            .lock()
            .expect("stats")
            .injected
            .push(format!("{k} #{n}: {code}"));
        let reason = match code {
            429 => "Too Many Requests",
            502 => "Bad Gateway",
            503 => "Service Unavailable",
            _ => "Internal Server Error",
        };
        let extra = retry_after
            .map(|s| format!("Retry-After: {s}\r\n"))
            .unwrap_or_default();
        let _ = client.write_all(
            format!(
                "HTTP/1.1 {code} {reason}\r\n{extra}Content-Length: 0\r\nConnection: close\r\n\r\n"
            )
            .as_bytes(),
        );
        return;
    }
    // Forward with Connection: close, relay the whole answer.
    let mut new_head = String::new();
    for (i, line) in head[..head_end - 4].split("\r\n").enumerate() {
        if i > 0 && line.to_ascii_lowercase().starts_with("connection:") {
            continue;
        }
        new_head.push_str(line);
        new_head.push_str("\r\n");
    }
    new_head.push_str("Connection: close\r\n\r\n");
    let Ok(mut up) = TcpStream::connect(upstream) else {
        return;
    };
    if up.write_all(new_head.as_bytes()).is_err()
        || up
            .write_all(&buf[head_end..head_end + content_length])
            .is_err()
    {
        return;
    }
    if method == "PATCH" {
        let id = path
            .split("/uploads/")
            .nth(1)
            .and_then(|r| r.split('?').next())
            .unwrap_or("")
            .to_owned();
        *stats
            .lock()
            .expect("stats")
            .patch_forwarded
            .entry(id)
            .or_insert(0) += content_length as u64;
    }
    let mut resp = Vec::new();
    if up.read_to_end(&mut resp).is_err() {
        return;
    }
    let body_at = find(&resp, b"\r\n\r\n").map_or(resp.len(), |i| i + 4);
    match (mode, &action) {
        (Mode::CorruptBlobs, _) if k == "GET blob" && resp.len() > body_at => {
            let last = resp.len() - 1;
            resp[last] ^= 0xff;
        }
        (Mode::HugeManifest, _) if k == "GET manifest" => {
            let body = format!(
                "{{\"schemaVersion\":2,\"pad\":\"{}\"}}",
                "x".repeat(5 << 20)
            );
            resp = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/vnd.oci.image.manifest.v1+json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            )
            .into_bytes();
        }
        (_, Action::CutResponse) => {
            stats
                .lock()
                .expect("stats")
                .injected
                .push(format!("{k} #{n}: cut the response"));
            let half = body_at + (resp.len() - body_at) / 2;
            let _ = client.write_all(&resp[..half]);
            let _ = client.shutdown(Shutdown::Both);
            return;
        }
        _ => {}
    }
    let _ = client.write_all(&resp);
}
