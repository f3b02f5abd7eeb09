//! Tar extension headers in image archives: GNU long names and PAX headers are read,
//! but one larger than the reader's cap is refused from its declared size, before its
//! body is read, so a hostile archive cannot make `kiln load` allocate what it declares.

use std::io::{self, Read};

use kiln_oci::archive::{self, ArchiveError};
use kiln_oci::tar::{MAX_LONGNAME, MAX_PAX};
use kiln_oci::{Digest, ErrorKind};

use crate::common::{self, docker_parts, Env};

/// A raw header block for an extension member of `kind` declaring `size` bytes.
fn extension_header(kind: tar::EntryType, size: u64) -> Vec<u8> {
    let mut h = tar::Header::new_ustar();
    h.set_path("././@Header").expect("path");
    h.set_entry_type(kind);
    h.set_mode(0o644);
    h.set_size(size);
    h.set_mtime(0);
    h.set_cksum();
    h.as_bytes().to_vec()
}

/// Serves `head`, then zeros, and fails once more than `limit` bytes were asked for:
/// a reader that tried to read a declared multi-GB body would hit that error.
struct Bounded {
    head: io::Cursor<Vec<u8>>,
    served: u64,
    limit: u64,
}

impl Read for Bounded {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.head.read(buf)?;
        let n = if n > 0 {
            n
        } else {
            buf.fill(0);
            buf.len()
        };
        self.served += n as u64;
        if self.served > self.limit {
            return Err(io::Error::other(
                "test reader: the body of the header was read",
            ));
        }
        Ok(n)
    }
}

fn load_stream(env: &Env, reader: impl Read) -> ArchiveError {
    let err = archive::load_reader(&env.store, reader, "hostile.tar")
        .expect_err("the archive must be refused");
    assert!(
        env.store.images().expect("images").is_empty(),
        "no image may be recorded"
    );
    env.assert_contained(&[]);
    err
}

fn assert_capped(err: &ArchiveError, what: &str, size: u64, cap: u64) {
    assert!(matches!(err, ArchiveError::Tar { .. }), "{err:?}");
    assert_eq!(err.kind(), ErrorKind::Rejected, "{err}");
    let msg = err.to_string();
    let expected = format!("{what} is {size} bytes, more than the limit of {cap}");
    assert!(msg.contains(&expected), "{msg}");
    assert!(msg.starts_with("hostile.tar: "), "{msg}");
    assert!(msg.contains("refusing to load"), "{msg}");
}

#[test]
fn a_pax_header_declaring_4_gib_is_refused_before_its_body() {
    let env = Env::new();
    let size = 4 << 30;
    let head = extension_header(tar::EntryType::XHeader, size);
    // Generous for read-ahead buffers, far below what the header declares.
    let limit = 4 << 20;
    let reader = Bounded {
        head: io::Cursor::new(head),
        served: 0,
        limit,
    };
    let err = load_stream(&env, reader);
    assert_capped(&err, "PAX header", size, MAX_PAX);
}

#[test]
fn a_2_mib_pax_record_is_refused() {
    let env = Env::new();
    let value = "a".repeat(2 << 20);
    let body = format!(" path={value}\n");
    // The record's length prefix counts its own digits.
    let mut len = body.len();
    while len != body.len() + len.to_string().len() {
        len = body.len() + len.to_string().len();
    }
    let record = format!("{len}{body}");
    assert_eq!(record.len(), len);
    let mut tar = extension_header(tar::EntryType::XHeader, record.len() as u64);
    tar.extend_from_slice(record.as_bytes());
    tar.resize(tar.len().next_multiple_of(512) + 1024, 0);
    let err = load_stream(&env, &tar[..]);
    assert_capped(&err, "PAX header", record.len() as u64, MAX_PAX);
}

#[test]
fn a_100_kib_gnu_long_name_is_refused() {
    let env = Env::new();
    let size = 100 << 10;
    let mut tar = extension_header(tar::EntryType::GNULongName, size);
    tar.resize(tar.len() + usize::try_from(size).expect("fits"), b'a');
    tar.resize(tar.len() + 1024, 0);
    let err = load_stream(&env, &tar[..]);
    assert_capped(&err, "GNU long name", size, MAX_LONGNAME);
}

#[test]
fn long_names_within_the_caps_still_load() {
    let env = Env::new();
    let layer = common::layer_tar(&[("f", b"x")]);
    let mut parts = docker_parts(layer.clone(), Digest::of_bytes(&layer));
    let dir = "d".repeat(150);
    let layer_path = format!("{dir}/layer.tar");
    parts.manifest = serde_json::to_vec(&serde_json::json!([{
        "Config": format!("{}.json", parts.config_digest.hex()),
        "RepoTags": ["handmade:1"],
        "Layers": [layer_path]
    }]))
    .expect("manifest");
    let mut b = tar::Builder::new(Vec::new());
    let append = |b: &mut tar::Builder<Vec<u8>>, name: &str, data: &[u8]| {
        let mut h = tar::Header::new_gnu();
        h.set_mode(0o644);
        h.set_size(data.len() as u64);
        b.append_data(&mut h, name, data).expect("append");
    };
    append(&mut b, "manifest.json", &parts.manifest);
    let config_name = format!("{}.json", parts.config_digest.hex());
    append(&mut b, &config_name, &parts.config);
    // The layer's name through a PAX `path` record, the rest through GNU long names.
    b.append_pax_extensions([("path", layer_path.as_bytes())])
        .expect("pax");
    let mut h = tar::Header::new_ustar();
    h.set_path("layer.tar").expect("short name");
    h.set_mode(0o644);
    h.set_size(parts.layer.len() as u64);
    h.set_cksum();
    b.append(&h, &parts.layer[..]).expect("append");
    let tar = b.into_inner().expect("finish");
    let images = archive::load_reader(&env.store, &tar[..], "long.tar").expect("load");
    assert_eq!(images.len(), 1);
}
