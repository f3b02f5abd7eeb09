//! Sparse files: a layer written from a file with holes is byte-identical to one written
//! from the same content without holes, and extracting it leaves the zeros as holes.

use std::fs::File;
use std::io::{Seek, SeekFrom, Write};
use std::os::unix::fs::MetadataExt;

use kiln_layer::{extract, write_paths, ExtractOptions, LayerWriter, Root, TarOptions};

use crate::common::sha;

const LEN: u64 = 256 << 20;

/// A root with `/f`: `LEN` bytes, data at 0, in the middle and at the end; sparse or not.
fn root_with(dir: &std::path::Path, sparse: bool) -> Root {
    let mut f = File::create(dir.join("f")).expect("create");
    if sparse {
        f.set_len(LEN).expect("set_len");
    } else {
        let zeros = vec![0u8; 1 << 20];
        for _ in 0..(LEN >> 20) {
            f.write_all(&zeros).expect("write zeros");
        }
    }
    for (at, what) in [
        (0, &b"start"[..]),
        (LEN / 2 + 3, b"middle"),
        (LEN - 3, b"end"),
    ] {
        f.seek(SeekFrom::Start(at)).expect("seek");
        f.write_all(what).expect("write");
    }
    drop(f);
    // Same mtime for both roots: only the content may differ.
    let root = Root::open(dir).expect("open root");
    root.set_times("f", (1_000_000, 0)).expect("set mtime");
    root
}

fn layer_of(root: &Root) -> Vec<u8> {
    let mut w = LayerWriter::new(Vec::new(), TarOptions::default());
    write_paths(root, &["f".to_string()], &mut w).expect("write layer");
    w.finish().expect("finish")
}

#[test]
fn holes_change_neither_the_layer_nor_the_content_and_stay_holes() {
    let (a, b) = (
        tempfile::tempdir().expect("tmp"),
        tempfile::tempdir().expect("tmp"),
    );
    let sparse = layer_of(&root_with(a.path(), true));
    let dense = layer_of(&root_with(b.path(), false));
    // Control: the dense file really takes its size on disk, the sparse one does not.
    let used = |d: &std::path::Path| std::fs::metadata(d.join("f")).expect("stat").blocks() * 512;
    assert!(used(b.path()) >= LEN && used(a.path()) < 1 << 20);
    assert_eq!(sha(&sparse), sha(&dense), "holes changed the layer");
    // A plain member: no GNU sparse type, no PAX sparse keys.
    assert_eq!(sparse[156], b'0');
    assert!(!String::from_utf8_lossy(&sparse[..1024]).contains("GNU.sparse"));

    let out = tempfile::tempdir().expect("tmp");
    let root = Root::open(out.path()).expect("open");
    let stats = extract(&sparse[..], &root, &ExtractOptions::default()).expect("extract");
    assert_eq!(stats.bytes, LEN);
    let back = std::fs::read(out.path().join("f")).expect("read back");
    let want = std::fs::read(b.path().join("f")).expect("read dense");
    assert!(back == want, "extracted content differs");
    assert!(
        used(out.path()) < 1 << 20,
        "extraction wrote {} bytes",
        used(out.path())
    );
}
