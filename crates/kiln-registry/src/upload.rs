//! Uploading one blob: `HEAD` to skip blobs the registry has, a cross-repository mount
//! when another repository on the same registry has it, then a monolithic `PUT` (small
//! blobs) or chunked `PATCH`es that resume after an interruption from the offset the
//! registry reports (`GET` on the upload URL, `Range: 0-N`).

use crate::client::{drain, header, status_error, Client, Req, ReqBody};
use crate::error::{RegistryError, Result};
use crate::progress::{BlobEnd, Reporter};
use kiln_oci::Digest;
use std::path::Path;

/// What happened to a blob.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlobOutcome {
    /// The registry had it.
    Existed,
    /// Mounted from another repository on the same registry.
    Mounted,
    /// Uploaded.
    Uploaded,
}

impl BlobOutcome {
    /// The outcome as a progress event's end.
    pub(crate) fn end(self) -> BlobEnd {
        match self {
            BlobOutcome::Existed => BlobEnd::Existed,
            BlobOutcome::Mounted => BlobEnd::Mounted,
            BlobOutcome::Uploaded => BlobEnd::Transferred,
        }
    }
}

/// One blob to push.
#[derive(Debug, Clone)]
pub(crate) struct BlobJob<'a> {
    pub digest: Digest,
    pub size: u64,
    pub path: &'a Path,
    /// Repositories on this registry that have the blob (mount sources).
    pub mount_from: Vec<String>,
}

/// Pushes one blob to `repo` unless it is there already.
pub(crate) fn push_blob(
    client: &Client,
    repo: &str,
    job: &BlobJob,
    chunk_size: u64,
    progress: &Reporter,
) -> Result<BlobOutcome> {
    let scope = format!("repository:{repo}:pull,push");
    if exists(client, repo, &job.digest, &scope)? {
        return Ok(BlobOutcome::Existed);
    }
    let mut session = None;
    for from in job.mount_from.iter().filter(|f| *f != repo).take(3) {
        let mount_scope = format!("{scope} repository:{from}:pull");
        let url = client.url(
            repo,
            &format!(
                "blobs/uploads/?mount={}&from={}",
                job.digest,
                crate::auth::token::encode(from)
            ),
        );
        let mut resp = client.send(&Req::new("POST", url.clone(), &mount_scope))?;
        match resp.status().as_u16() {
            201 => {
                drain(&mut resp);
                return Ok(BlobOutcome::Mounted);
            }
            202 => {
                // Not mountable; the registry opened an upload session instead.
                session = location(client, &resp, &url).ok();
                drain(&mut resp);
                break;
            }
            _ => drain(&mut resp),
        }
    }
    progress.started(&job.digest, job.size);
    let mut restarts = 0;
    loop {
        let start = match session.take() {
            Some(s) => s,
            None => open_session(client, repo, &scope)?,
        };
        let result = if job.size <= chunk_size {
            monolithic(client, &scope, job, &start)
                .map(|()| progress.advanced(&job.digest, job.size, job.size))
        } else {
            chunked(client, &scope, job, start, chunk_size, progress)
        };
        match result {
            Ok(()) => return Ok(BlobOutcome::Uploaded),
            Err(e) if e.is_transient() && restarts + 1 < client.retry.attempts => {
                restarts += 1;
                std::thread::sleep(client.retry.delay(restarts, None));
                // The blob may have landed even though the answer was lost.
                if exists(client, repo, &job.digest, &scope)? {
                    return Ok(BlobOutcome::Uploaded);
                }
            }
            Err(e) => return Err(e),
        }
    }
}

/// `HEAD /v2/REPO/blobs/DIGEST`.
pub(crate) fn exists(client: &Client, repo: &str, digest: &Digest, scope: &str) -> Result<bool> {
    let url = client.url(repo, &format!("blobs/{digest}"));
    let mut resp = client.send(&Req::new("HEAD", url.clone(), scope))?;
    match resp.status().as_u16() {
        200 => Ok(true),
        404 => Ok(false),
        _ => Err(status_error("HEAD", &url, &mut resp, &client.host)),
    }
}

/// `POST /v2/REPO/blobs/uploads/` → the upload URL.
fn open_session(client: &Client, repo: &str, scope: &str) -> Result<String> {
    let url = client.url(repo, "blobs/uploads/");
    let mut resp = client.send(&Req::new("POST", url.clone(), scope))?;
    if resp.status().as_u16() != 202 {
        return Err(status_error("POST", &url, &mut resp, &client.host));
    }
    let loc = location(client, &resp, &url)?;
    drain(&mut resp);
    Ok(loc)
}

fn location(client: &Client, resp: &ureq::http::Response<ureq::Body>, url: &str) -> Result<String> {
    header(resp, "location")
        .map(|l| client.resolve(&l))
        .ok_or_else(|| RegistryError::BadContent {
            what: "the upload response".into(),
            url: url.to_owned(),
            reason: "it has no Location header".into(),
        })
}

/// Appends `digest=…` to an upload URL.
fn with_digest(upload: &str, digest: &Digest) -> String {
    let sep = if upload.contains('?') { '&' } else { '?' };
    format!("{upload}{sep}digest={digest}")
}

/// One `PUT` with the whole blob. A failure abandons the session (the caller opens a new one).
fn monolithic(client: &Client, scope: &str, job: &BlobJob, upload: &str) -> Result<()> {
    let url = with_digest(upload, &job.digest);
    let req = Req::new("PUT", url.clone(), scope)
        .header("content-type", "application/octet-stream")
        .body(ReqBody::File {
            path: job.path,
            offset: 0,
            len: job.size,
        });
    let mut resp = client.send_once(&req)?;
    finish(client, &url, &mut resp, "PUT")
}

fn finish(
    client: &Client,
    url: &str,
    resp: &mut ureq::http::Response<ureq::Body>,
    method: &'static str,
) -> Result<()> {
    let status = resp.status().as_u16();
    if status == 201 || status == 204 || status == 200 {
        drain(resp);
        Ok(())
    } else {
        Err(status_error(method, url, resp, &client.host))
    }
}

/// `PATCH`es of `chunk_size` bytes, resuming from the registry's offset after a failure,
/// then the closing `PUT ?digest=`.
fn chunked(
    client: &Client,
    scope: &str,
    job: &BlobJob,
    mut upload: String,
    chunk_size: u64,
    progress: &Reporter,
) -> Result<()> {
    let mut offset = 0u64;
    let mut failures = 0u32;
    while offset < job.size {
        let len = chunk_size.min(job.size - offset);
        let req = Req::new("PATCH", upload.clone(), scope)
            .header("content-type", "application/octet-stream")
            .header("content-range", format!("{}-{}", offset, offset + len - 1))
            .body(ReqBody::File {
                path: job.path,
                offset,
                len,
            });
        let sent = client.send_once(&req);
        match sent {
            Ok(mut resp) if resp.status().as_u16() == 202 => {
                upload = location(client, &resp, &upload)?;
                let end = header(&resp, "range").and_then(|r| range_end(&r));
                drain(&mut resp);
                offset = match end {
                    Some(end) => end,
                    None => offset + len,
                };
                progress.advanced(&job.digest, offset.min(job.size), job.size);
                failures = 0;
            }
            Ok(mut resp) => {
                let e = status_error("PATCH", &upload, &mut resp, &client.host);
                if !e.is_transient() {
                    return Err(e);
                }
                failures += 1;
                (upload, offset) = resume(client, scope, &upload, failures, e)?;
            }
            Err(e) if e.is_transient() => {
                failures += 1;
                (upload, offset) = resume(client, scope, &upload, failures, e)?;
            }
            Err(e) => return Err(e),
        }
    }
    let url = with_digest(&upload, &job.digest);
    let req = Req::new("PUT", url.clone(), scope).body(ReqBody::Bytes(&[]));
    let mut resp = client.send(&req)?;
    finish(client, &url, &mut resp, "PUT")
}

/// After a failed chunk: wait, ask the registry how much it has (`GET` on the upload URL,
/// `204` with `Range: 0-N`) and continue from there. Gives up (so the caller restarts the
/// upload) when the session is gone or failures repeat.
fn resume(
    client: &Client,
    scope: &str,
    upload: &str,
    failures: u32,
    error: RegistryError,
) -> Result<(String, u64)> {
    if failures >= client.retry.attempts {
        return Err(error);
    }
    std::thread::sleep(client.retry.delay(failures, None));
    let mut resp = client.send(&Req::new("GET", upload.to_owned(), scope))?;
    let status = resp.status().as_u16();
    if status != 204 && status != 200 {
        drain(&mut resp);
        // The session is gone: the caller starts again (a transient error restarts).
        return Err(error);
    }
    let next = header(&resp, "location")
        .map(|l| client.resolve(&l))
        .unwrap_or_else(|| upload.to_owned());
    let offset = header(&resp, "range")
        .and_then(|r| range_end(&r))
        .unwrap_or(0);
    drain(&mut resp);
    Ok((next, offset))
}

/// `0-N` (or `bytes=0-N`) → N+1, the next offset. distribution sends `0-0` both for an
/// empty upload and for one byte; chunks are never one byte, so `0-0` means empty.
fn range_end(range: &str) -> Option<u64> {
    let r = range.trim().trim_start_matches("bytes=");
    let (start, end) = r.split_once('-')?;
    if start.trim() != "0" {
        return None;
    }
    if end.starts_with('-') || end.trim() == "0" {
        return Some(0);
    }
    end.trim().parse::<u64>().ok().map(|e| e + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(range_end("0-1023"), Some(1024));
        assert_eq!(range_end("bytes=0-9"), Some(10));
        assert_eq!(range_end("0--1"), Some(0));
        assert_eq!(range_end("0-0"), Some(0));
        assert_eq!(range_end("5-9"), None);
        assert_eq!(range_end("junk"), None);
    }
}
