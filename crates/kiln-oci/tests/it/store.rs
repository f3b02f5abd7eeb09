//! Store: blobs, images, tags, lookup, rmi.

use std::io::Write;

use kiln_oci::image::MAX_MANIFEST_BYTES;
use kiln_oci::{Digest, Store, StoreError};

use crate::common::{self, image_with, put_layer, reference, tiny, tiny_tagged, Env};

#[test]
fn store_layout_is_created_private() {
    use std::os::unix::fs::PermissionsExt;
    let env = Env::new();
    let root = env.store.root();
    for dir in ["blobs/sha256", "layers/sha256", "tmp"] {
        assert!(root.join(dir).is_dir(), "{dir}");
    }
    assert!(root.join("lock").is_file());
    let mode = std::fs::metadata(root).expect("stat").permissions().mode();
    assert_eq!(mode & 0o777, 0o700);
    assert!(env.store.images().expect("images").is_empty());
    let again = Store::open(root).expect("reopen");
    assert_eq!(again.root(), root);
    let d = Digest::of_bytes(b"x");
    assert_eq!(
        env.store.layer_dir(&d),
        root.join("layers/sha256").join(d.hex())
    );
    let t = env.store.temp_dir().expect("temp dir");
    assert!(t.path().starts_with(root.join("tmp")));
}

#[test]
fn default_root_is_absolute() {
    assert!(Store::default_root().is_absolute());
    assert!(Store::default_root().ends_with("kiln"));
}

#[test]
fn blob_commit_verifies_and_is_atomic() {
    let env = Env::new();
    let mut w = env.store.blob_writer().expect("writer");
    w.write_all(b"hello ").expect("write");
    w.write_all(b"blob").expect("write");
    assert_eq!(w.written(), 10);
    let expected = Digest::of_bytes(b"hello blob");
    let (d, n) = w.commit(Some(&expected)).expect("commit");
    assert_eq!((d, n), (expected, 10));
    assert!(env.store.has_blob(&d));
    assert_eq!(
        std::fs::read(env.store.blob_path(&d)).expect("read"),
        b"hello blob"
    );
    assert_eq!(env.store.read_blob(&d, 100).expect("read"), b"hello blob");
    assert_eq!(env.store.blob_size(&d).expect("size"), 10);
    // Committing the same content again is fine.
    assert_eq!(env.store.put_blob(b"hello blob").expect("put"), (d, 10));
    env.assert_contained(&[]);
}

#[test]
fn blob_commit_rejects_wrong_digest() {
    let env = Env::new();
    let mut w = env.store.blob_writer().expect("writer");
    w.write_all(b"actual").expect("write");
    let claimed = Digest::of_bytes(b"claimed");
    let err = w.commit(Some(&claimed)).expect_err("mismatch");
    assert!(matches!(err, StoreError::DigestMismatch { .. }), "{err}");
    assert!(err.to_string().contains(&claimed.to_string()), "{err}");
    assert!(!env.store.has_blob(&claimed));
    assert!(!env.store.has_blob(&Digest::of_bytes(b"actual")));
    env.assert_contained(&[]);
}

#[test]
fn blob_writer_dropped_leaves_nothing() {
    let env = Env::new();
    {
        let mut w = env.store.blob_writer().expect("writer");
        w.write_all(b"abandoned").expect("write");
    }
    assert!(!env.store.has_blob(&Digest::of_bytes(b"abandoned")));
    env.assert_contained(&[]);
}

#[test]
fn read_blob_json_is_capped_and_verified() {
    let env = Env::new();
    let big = vec![b' '; 1000];
    let (d, _) = env.store.put_blob(&big).expect("put");
    let err = env
        .store
        .read_blob_json::<serde_json::Value>(&d, 999)
        .expect_err("too large");
    assert!(matches!(err, StoreError::TooLarge { .. }), "{err}");
    let (j, _) = env.store.put_blob(b"{\"a\":1}").expect("put");
    let v: serde_json::Value = env
        .store
        .read_blob_json(&j, MAX_MANIFEST_BYTES)
        .expect("json");
    assert_eq!(v["a"], 1);
    // Corrupt the stored blob: reading it must notice.
    common::write_file(&env.store.blob_path(&j), b"{\"a\":2}");
    let err = env
        .store
        .read_blob_json::<serde_json::Value>(&j, 100)
        .expect_err("corrupt");
    assert!(matches!(err, StoreError::DigestMismatch { .. }), "{err}");
    let missing = Digest::of_bytes(b"missing");
    assert!(matches!(
        env.store.open_blob(&missing),
        Err(StoreError::BlobNotFound { .. })
    ));
}

#[test]
fn put_image_is_deterministic() {
    let a = Env::new();
    let b = Env::new();
    let ia = tiny(&a.store, "same");
    let ib = tiny(&b.store, "same");
    assert_eq!(ia.manifest_digest, ib.manifest_digest);
    assert_eq!(ia.config_digest, ib.config_digest);
    let again = tiny(&a.store, "same");
    assert_eq!(again.manifest_digest, ia.manifest_digest);
    assert_eq!(a.store.images().expect("images").len(), 1);
    let other = tiny(&a.store, "different");
    assert_ne!(other.config_digest, ia.config_digest);
    // The config's rootfs comes from the layers.
    let layers = ia.layers().expect("layers");
    assert_eq!(layers.len(), 1);
    assert_eq!(ia.diff_ids().expect("diff ids"), vec![layers[0].diff_id]);
    let loaded = a.store.load_image(&ia.manifest_digest).expect("load");
    assert_eq!(loaded, ia);
    // Canonical JSON: sorted keys, so the label order is fixed.
    let raw = a
        .store
        .read_blob(&ia.config_digest, 1 << 20)
        .expect("config");
    let text = String::from_utf8(raw).expect("utf8");
    assert!(
        text.contains(r#""Labels":{"a":"2","m":"3","test":"same","z":"1"}"#),
        "{text}"
    );
}

#[test]
fn put_image_requires_layer_blobs() {
    let env = Env::new();
    let ghost = kiln_oci::LayerRef::uncompressed(Digest::of_bytes(b"ghost"), 5);
    let err = env
        .store
        .put_image(&common::config("x"), &[ghost])
        .expect_err("missing layer");
    assert!(matches!(err, StoreError::BlobMissing { .. }), "{err}");
}

#[test]
fn tags_move_between_images() {
    let env = Env::new();
    let a = tiny_tagged(&env.store, "a", "app:1");
    env.store
        .tag(&reference("app:stable"), &a.manifest_digest)
        .expect("tag");
    let b = tiny_tagged(&env.store, "b", "app:1");
    let found = env.store.lookup("app:1").expect("lookup");
    assert_eq!(found.manifest, b.manifest_digest);
    let old = env.store.lookup("app:stable").expect("lookup");
    assert_eq!(old.manifest, a.manifest_digest);
    assert_eq!(old.names, vec![reference("app:stable")]);
    env.store.untag(&reference("app:stable")).expect("untag");
    let images = env.store.images().expect("images");
    assert_eq!(images.len(), 2);
    let dangling = images
        .iter()
        .find(|i| i.manifest == a.manifest_digest)
        .expect("a still stored");
    assert!(dangling.names.is_empty());
    assert!(matches!(
        env.store.untag(&reference("app:stable")),
        Err(StoreError::ImageNotFound(_))
    ));
    // Tagging needs a tag and an existing image.
    let digest_only = reference(&format!("app@{}", a.manifest_digest));
    assert!(matches!(
        env.store.tag(&digest_only, &a.manifest_digest),
        Err(StoreError::TagRequired(_))
    ));
    assert!(matches!(
        env.store.tag(&reference("x:1"), &Digest::of_bytes(b"nope")),
        Err(StoreError::ImageNotFound(_))
    ));
}

#[test]
fn lookup_by_name_digest_and_id() {
    let env = Env::new();
    let img = tiny_tagged(&env.store, "lookup", "debian");
    let m = img.manifest_digest;
    let c = img.config_digest;
    for query in [
        "debian".to_owned(),
        "debian:latest".to_owned(),
        "docker.io/library/debian:latest".to_owned(),
        format!("debian@{m}"),
        m.to_string(),
        c.to_string(),
        c.hex(),
        c.hex()[..12].to_owned(),
        format!("sha256:{}", &c.hex()[..20]),
    ] {
        let found = env
            .store
            .lookup(&query)
            .unwrap_or_else(|e| panic!("{query}: {e}"));
        assert_eq!(found.manifest, m, "{query}");
        assert_eq!(found.config, c);
        assert_eq!(found.short_id(), c.hex()[..12]);
    }
    for query in ["debian:12", "other", &c.hex()[..11]] {
        let err = env.store.lookup(query).expect_err(query);
        assert!(
            matches!(err, StoreError::ImageNotFound(_)),
            "{query}: {err}"
        );
        assert!(err.to_string().contains("no such image"), "{err}");
    }
    let err = env.store.lookup("Bad Name").expect_err("bad");
    assert!(matches!(err, StoreError::BadName { .. }), "{err}");
}

#[test]
fn lookup_rejects_ambiguous_prefix() {
    let env = Env::new();
    // Two records whose config digests share a 12-digit prefix cannot be
    // produced by hashing, so write images.json directly.
    let c1 = format!("sha256:abcdef123456{}", "0".repeat(52));
    let c2 = format!("sha256:abcdef123456{}", "1".repeat(52));
    let m1 = Digest::of_bytes(b"m1");
    let m2 = Digest::of_bytes(b"m2");
    let json = serde_json::json!([
        {"manifest": m1, "config": c1, "names": [], "created": "2024-01-01T00:00:00Z"},
        {"manifest": m2, "config": c2, "names": ["docker.io/library/abcdef123456:latest"], "created": "2024-01-01T00:00:00Z"}
    ]);
    common::write_file(
        &env.store.root().join("images.json"),
        &serde_json::to_vec(&json).expect("json"),
    );
    let err = env
        .store
        .lookup("sha256:abcdef123456")
        .expect_err("ambiguous");
    assert!(
        matches!(err, StoreError::AmbiguousId { count: 2, .. }),
        "{err}"
    );
    // A name wins over an ID prefix, like Docker.
    assert_eq!(env.store.lookup("abcdef123456").expect("name").manifest, m2);
    assert_eq!(
        env.store
            .lookup(&format!("abcdef123456{}", "0".repeat(5)))
            .expect("unique")
            .manifest,
        m1
    );
}

#[test]
fn corrupt_index_is_reported() {
    let env = Env::new();
    common::write_file(&env.store.root().join("images.json"), b"[{\"manifest\": 1}");
    let err = env.store.images().expect_err("corrupt");
    assert!(matches!(err, StoreError::CorruptIndex { .. }), "{err}");
    assert!(err.to_string().contains("images.json"), "{err}");
}

#[test]
fn rmi_keeps_shared_blobs() {
    let env = Env::new();
    let base = put_layer(&env.store, &[("bin/sh", b"shell")]);
    let own_a = put_layer(&env.store, &[("a", b"a")]);
    let own_b = put_layer(&env.store, &[("b", b"b")]);
    let a = image_with(&env.store, "a", &[base.clone(), own_a.clone()]);
    let b = image_with(&env.store, "b", &[base.clone(), own_b.clone()]);
    env.store
        .tag(&reference("a:1"), &a.manifest_digest)
        .expect("tag");
    env.store
        .tag(&reference("a:2"), &a.manifest_digest)
        .expect("tag");
    env.store
        .tag(&reference("b:1"), &b.manifest_digest)
        .expect("tag");

    // Removing one of two names only untags.
    let r = env.store.remove("a:1").expect("rmi a:1");
    assert_eq!(r.untagged, vec![reference("a:1")]);
    assert!(r.deleted.is_none());
    assert!(env.store.has_blob(&own_a.digest));

    // Removing the last name deletes the image and its own blobs only.
    let r = env.store.remove("a:2").expect("rmi a:2");
    let deleted = r.deleted.expect("deleted");
    assert_eq!(deleted.manifest, a.manifest_digest);
    assert!(!env.store.has_blob(&own_a.digest));
    assert!(!env.store.has_blob(&a.manifest_digest));
    assert!(!env.store.has_blob(&a.config_digest));
    assert!(env.store.has_blob(&base.digest), "shared layer must stay");
    assert!(r.blobs_deleted.contains(&own_a.digest));
    assert!(!r.blobs_deleted.contains(&base.digest));
    assert!(env.store.load_image(&b.manifest_digest).is_ok());

    // Removing by ID removes the image with its names; now the base goes too.
    let r = env
        .store
        .remove(&b.config_digest.hex()[..12])
        .expect("rmi by id");
    assert_eq!(r.untagged, vec![reference("b:1")]);
    assert!(r.deleted.is_some());
    assert!(!env.store.has_blob(&base.digest));
    assert!(env.store.images().expect("images").is_empty());
    assert!(matches!(
        env.store.remove("b:1"),
        Err(StoreError::ImageNotFound(_))
    ));
}

#[test]
fn images_json_is_valid_after_every_update() {
    let env = Env::new();
    let img = tiny(&env.store, "atomic");
    let path = env.store.root().join("images.json");
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let stop = stop.clone();
        let path = path.clone();
        std::thread::spawn(move || {
            let mut reads = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let bytes = std::fs::read(&path).expect("images.json always exists");
                let v: serde_json::Value =
                    serde_json::from_slice(&bytes).expect("images.json is never partial");
                assert!(v.is_array());
                reads += 1;
            }
            reads
        })
    };
    for i in 0..100 {
        env.store
            .tag(&reference(&format!("atomic:{i}")), &img.manifest_digest)
            .expect("tag");
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let reads = reader.join().expect("reader");
    assert!(reads > 0);
    assert_eq!(
        env.store
            .lookup(&img.manifest_digest.to_string())
            .expect("lookup")
            .names
            .len(),
        100
    );
    env.assert_contained(&[]);
}
