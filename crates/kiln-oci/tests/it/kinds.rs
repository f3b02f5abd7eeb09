//! Each error's class (`kind()`), which decides kiln's exit code: hostile or corrupt
//! content is rejected input, the store's own files failing is I/O, a non-empty output
//! directory is a usage error.

use kiln_oci::archive;
use kiln_oci::layout::write_layout;
use kiln_oci::{ErrorKind, StoreError};

use crate::common::{self, tiny_tagged, Env, RawTar};

#[test]
fn hostile_archives_are_rejected_missing_files_are_io() {
    let env = Env::new();
    let path = env.path("evil.tar");
    common::write_file(&path, &RawTar::new().file("../x", b"evil").finish());
    let e = archive::load(&env.store, &path).expect_err("escape");
    assert_eq!(e.kind(), ErrorKind::Rejected, "{e}");
    common::write_file(&path, b"not a tar at all, not even close");
    let e = archive::load(&env.store, &path).expect_err("garbage");
    assert_eq!(e.kind(), ErrorKind::Rejected, "{e}");
    let e = archive::load(&env.store, &env.path("absent.tar")).expect_err("absent");
    assert_eq!(e.kind(), ErrorKind::Io, "{e}");
}

#[test]
fn unknown_names_are_rejected_and_a_broken_store_is_io() {
    let env = Env::new();
    let e = env.store.lookup("nope:1").expect_err("unknown");
    assert!(matches!(e, StoreError::ImageNotFound(_)), "{e}");
    assert_eq!(e.kind(), ErrorKind::Rejected, "{e}");
    let e = env.store.lookup("Bad Name::x").expect_err("bad name");
    assert_eq!(e.kind(), ErrorKind::Rejected, "{e}");
    common::write_file(&env.store.root().join("images.json"), b"[{\"manifest\": 1}");
    let e = env.store.images().expect_err("corrupt");
    assert_eq!(e.kind(), ErrorKind::Io, "{e}");
    assert!(
        std::error::Error::source(&e).is_some(),
        "keeps its source: {e:?}"
    );
}

#[test]
fn a_non_empty_output_directory_is_a_usage_error() {
    let env = Env::new();
    tiny_tagged(&env.store, "a", "a:1");
    let images = env.store.images().expect("images");
    let dir = env.path("out");
    std::fs::create_dir(&dir).expect("mkdir");
    common::write_file(&dir.join("keep"), b"x");
    let e = write_layout(&env.store, &images, &dir).expect_err("not empty");
    assert_eq!(e.kind(), ErrorKind::Usage, "{e}");
}
