//! Compression detection and decoding for every supported format.

use std::io::{Read, Write};

use kiln_oci::compression::{decompress, gzip_writer, zstd_writer, Compression};

fn payload() -> Vec<u8> {
    let mut t = crate::common::RawTar::new();
    t.file(b"hello", &b"hello world ".repeat(500));
    t.finish()
}

fn roundtrip(data: Vec<u8>, want: Compression) -> Vec<u8> {
    let (c, mut r) = decompress(std::io::Cursor::new(data)).expect("decompress");
    assert_eq!(c, want);
    let mut out = Vec::new();
    r.read_to_end(&mut out).expect("read");
    out
}

#[test]
fn gzip_detected_decoded_and_deterministic() {
    let p = payload();
    let enc = |p: &[u8]| {
        let mut w = gzip_writer(Vec::new(), 6);
        w.write_all(p).expect("write");
        w.finish().expect("finish")
    };
    let a = enc(&p);
    assert_eq!(a, enc(&p), "same input, same gzip bytes");
    assert_eq!(&a[4..8], &[0, 0, 0, 0], "mtime 0 in the gzip header");
    assert_eq!(roundtrip(a.clone(), Compression::Gzip), p);
    // Multi-member gzip is read to the end.
    let mut two = a.clone();
    two.extend_from_slice(&a);
    let mut pp = p.clone();
    pp.extend_from_slice(&p);
    assert_eq!(roundtrip(two, Compression::Gzip), pp);
    assert_eq!(Compression::Gzip.media_type_suffix(), "+gzip");
}

#[test]
fn zstd_detected_and_decoded() {
    let p = payload();
    let mut w = zstd_writer(Vec::new(), 3).expect("zstd");
    w.write_all(&p).expect("write");
    let z = w.finish().expect("finish");
    let mut w = zstd_writer(Vec::new(), 3).expect("zstd");
    w.write_all(&p).expect("write");
    assert_eq!(z, w.finish().expect("finish"), "deterministic");
    assert_eq!(roundtrip(z, Compression::Zstd), p);
    assert_eq!(Compression::Zstd.media_type_suffix(), "+zstd");
}

#[test]
fn xz_detected_and_decoded() {
    let p = payload();
    let mut w = liblzma::write::XzEncoder::new(Vec::new(), 6);
    w.write_all(&p).expect("write");
    let z = w.finish().expect("finish");
    assert_eq!(roundtrip(z, Compression::Xz), p);
}

#[test]
fn bzip2_detected_and_decoded() {
    let p = payload();
    let mut w = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::best());
    w.write_all(&p).expect("write");
    let z = w.finish().expect("finish");
    assert_eq!(roundtrip(z, Compression::Bzip2), p);
}

#[test]
fn plain_and_short_inputs() {
    let p = payload();
    assert_eq!(roundtrip(p.clone(), Compression::None), p);
    assert_eq!(roundtrip(b"ab".to_vec(), Compression::None), b"ab");
    assert_eq!(roundtrip(Vec::new(), Compression::None), b"");
    assert_eq!(Compression::None.media_type_suffix(), "");
    // A gzip magic with garbage after it is detected, then fails to decode
    // with an error rather than a panic.
    let (c, mut r) =
        decompress(std::io::Cursor::new(vec![0x1f, 0x8b, 0, 0, 0, 0, 1, 2])).expect("probe");
    assert_eq!(c, Compression::Gzip);
    let mut out = Vec::new();
    assert!(r.read_to_end(&mut out).is_err());
}

/// A reader that hands out one byte at a time (pipes do that).
struct Trickle(std::io::Cursor<Vec<u8>>);
impl Read for Trickle {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = buf.len().min(1);
        self.0.read(&mut buf[..n])
    }
}

#[test]
fn detection_survives_short_reads_and_feeds_extract() {
    let p = payload();
    let mut w = zstd_writer(Vec::new(), 1).expect("zstd");
    w.write_all(&p).expect("write");
    let z = w.finish().expect("finish");
    let (c, r) = decompress(Trickle(std::io::Cursor::new(z))).expect("decompress");
    assert_eq!(c, Compression::Zstd);
    let env = crate::common::Env::new();
    let stats =
        kiln_layer::extract(r, &env.root, &kiln_layer::ExtractOptions::default()).expect("extract");
    assert_eq!(stats.files, 1);
    assert_eq!(
        std::fs::read(env.host("hello")).expect("read"),
        b"hello world ".repeat(500)
    );
}
