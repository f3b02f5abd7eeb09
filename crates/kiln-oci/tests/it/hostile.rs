//! Hostile archives and layouts: refused with clear errors, nothing written
//! outside the store, no temp files left, no image recorded.

use kiln_oci::archive::{self, write_oci_archive, ArchiveError};
use kiln_oci::image::MAX_METADATA_BYTES;
use kiln_oci::layout::{read_layout, write_layout, LayoutError};
use kiln_oci::Digest;

use crate::common::{self, docker_parts, tiny_tagged, Env, RawTar};

/// Loads `tar` from a file next to the store and returns the error.
fn load_err(env: &Env, tar: &[u8]) -> ArchiveError {
    let path = env.path("hostile.tar");
    common::write_file(&path, tar);
    let err = archive::load(&env.store, &path).expect_err("hostile archive must be refused");
    env.assert_contained(&["hostile.tar"]);
    assert!(
        env.store.images().expect("images").is_empty(),
        "no image may be recorded"
    );
    err
}

fn valid_docker_entries(tar: RawTar) -> RawTar {
    let layer = common::layer_tar(&[("f", b"x")]);
    let parts = docker_parts(layer.clone(), Digest::of_bytes(&layer));
    tar.file("manifest.json", &parts.manifest)
        .file(
            &format!("{}.json", parts.config_digest.hex()),
            &parts.config,
        )
        .file("l1/layer.tar", &parts.layer)
}

#[test]
fn parent_dir_entries_are_refused() {
    let env = Env::new();
    for name in ["../sentinel/x", "a/../../sentinel/x", "..", "./../x"] {
        let tar = valid_docker_entries(RawTar::new())
            .file(name, b"evil")
            .finish();
        let err = load_err(&env, &tar);
        assert!(
            matches!(err, ArchiveError::EntryPath { .. }),
            "{name}: {err}"
        );
        assert!(err.to_string().contains("'..'"), "{err}");
    }
}

#[test]
fn absolute_entries_are_refused() {
    let env = Env::new();
    let target = format!("{}/x", env.path("sentinel").display());
    for name in ["/etc/x", target.as_str()] {
        let tar = RawTar::new().file(name, b"evil").finish();
        let err = load_err(&env, &tar);
        assert!(err.to_string().contains("absolute path"), "{name}: {err}");
    }
}

#[test]
fn escaping_links_are_refused() {
    let env = Env::new();
    let cases = [
        ("m.json", tar::EntryType::Symlink, "/etc/passwd"),
        ("x", tar::EntryType::Symlink, "../../sentinel/x"),
        ("a/b", tar::EntryType::Symlink, "../../etc/shadow"),
        ("x", tar::EntryType::Link, "../etc/passwd"),
        ("x", tar::EntryType::Link, "/etc/passwd"),
    ];
    for (name, kind, target) in cases {
        let tar = valid_docker_entries(RawTar::new())
            .link(name, kind, target)
            .finish();
        let err = load_err(&env, &tar);
        assert!(
            matches!(err, ArchiveError::Link { .. }),
            "{name} -> {target}: {err}"
        );
        assert!(err.to_string().contains("refusing"), "{err}");
    }
}

#[test]
fn special_entries_are_refused() {
    let env = Env::new();
    for kind in [
        tar::EntryType::Fifo,
        tar::EntryType::Char,
        tar::EntryType::Block,
    ] {
        let tar = valid_docker_entries(RawTar::new())
            .special("dev", kind)
            .finish();
        let err = load_err(&env, &tar);
        assert!(
            matches!(err, ArchiveError::UnsupportedEntry { .. }),
            "{err}"
        );
    }
}

#[test]
fn duplicate_entries_are_refused() {
    let env = Env::new();
    let tar = valid_docker_entries(RawTar::new())
        .file("manifest.json", b"[]")
        .finish();
    let err = load_err(&env, &tar);
    assert!(matches!(err, ArchiveError::Duplicate { .. }), "{err}");
}

#[test]
fn huge_manifest_json_is_refused() {
    let env = Env::new();
    let mut huge = b"[".to_vec();
    huge.resize(
        usize::try_from(MAX_METADATA_BYTES).expect("fits") + 10,
        b' ',
    );
    huge.push(b']');
    let tar = RawTar::new().file("manifest.json", &huge).finish();
    let err = load_err(&env, &tar);
    assert!(matches!(err, ArchiveError::TooLarge { .. }), "{err}");
    assert!(err.to_string().contains("manifest.json"), "{err}");
}

#[test]
fn docker_manifest_paths_cannot_escape() {
    let env = Env::new();
    for path in ["../../etc/passwd", "/etc/passwd"] {
        let manifest = serde_json::to_vec(&serde_json::json!([
            {"Config": path, "RepoTags": [], "Layers": []}
        ]))
        .expect("json");
        let tar = RawTar::new().file("manifest.json", &manifest).finish();
        let err = load_err(&env, &tar);
        assert!(matches!(err, ArchiveError::EntryPath { .. }), "{err}");
        assert!(err.to_string().contains("manifest.json Config"), "{err}");
    }
}

#[test]
fn docker_layer_digest_mismatch_is_refused() {
    let env = Env::new();
    let layer = common::layer_tar(&[("f", b"x")]);
    let wrong = Digest::of_bytes(b"not the layer");
    let parts = docker_parts(layer, wrong);
    let tar = RawTar::new()
        .file("manifest.json", &parts.manifest)
        .file(
            &format!("{}.json", parts.config_digest.hex()),
            &parts.config,
        )
        .file("l1/layer.tar", &parts.layer)
        .finish();
    let err = load_err(&env, &tar);
    assert!(matches!(err, ArchiveError::DigestMismatch { .. }), "{err}");
    assert!(err.to_string().contains("tampered"), "{err}");
    assert!(!env.store.has_blob(&wrong));
}

#[test]
fn docker_config_name_mismatch_is_refused() {
    let env = Env::new();
    let layer = common::layer_tar(&[("f", b"x")]);
    let parts = docker_parts(layer.clone(), Digest::of_bytes(&layer));
    let lie = Digest::of_bytes(b"lie");
    let manifest = serde_json::to_vec(&serde_json::json!([
        {"Config": format!("{}.json", lie.hex()), "RepoTags": ["x:1"], "Layers": ["l1/layer.tar"]}
    ]))
    .expect("json");
    let tar = RawTar::new()
        .file("manifest.json", &manifest)
        .file(&format!("{}.json", lie.hex()), &parts.config)
        .file("l1/layer.tar", &parts.layer)
        .finish();
    let err = load_err(&env, &tar);
    assert!(matches!(err, ArchiveError::DigestMismatch { .. }), "{err}");
}

#[test]
fn bad_repo_tags_are_refused() {
    let env = Env::new();
    let layer = common::layer_tar(&[("f", b"x")]);
    let parts = docker_parts(layer.clone(), Digest::of_bytes(&layer));
    let manifest = serde_json::to_vec(&serde_json::json!([{
        "Config": format!("{}.json", parts.config_digest.hex()),
        "RepoTags": ["../../Evil:tag"],
        "Layers": ["l1/layer.tar"]
    }]))
    .expect("json");
    let tar = RawTar::new()
        .file("manifest.json", &manifest)
        .file(
            &format!("{}.json", parts.config_digest.hex()),
            &parts.config,
        )
        .file("l1/layer.tar", &parts.layer)
        .finish();
    let err = load_err(&env, &tar);
    assert!(matches!(err, ArchiveError::BadName { .. }), "{err}");
}

/// An oci-archive of a real image with one blob's content replaced.
fn tampered_oci_archive(env: &Env) -> Vec<u8> {
    let image = tiny_tagged(&env.store, "victim", "victim:1");
    let stored = env.store.lookup("victim:1").expect("lookup");
    let good = write_oci_archive(&env.store, &[stored], Vec::new()).expect("write");
    let layer = image.layers().expect("layers")[0].digest;
    let target = format!("blobs/sha256/{}", layer.hex());
    // Rebuild with the same names, but the layer blob's bytes changed.
    let mut out = RawTar::new();
    let mut ar = tar::Archive::new(&good[..]);
    for e in ar.entries().expect("entries") {
        let mut e = e.expect("entry");
        let name = e.path().expect("path").display().to_string();
        if e.header().entry_type().is_dir() {
            continue;
        }
        let mut data = Vec::new();
        std::io::Read::read_to_end(&mut e, &mut data).expect("read");
        if name == target {
            data[0] ^= 0xff;
        }
        out = out.file(&name, &data);
    }
    env.store.remove("victim:1").expect("rmi");
    out.finish()
}

#[test]
fn oci_blob_digest_mismatch_is_refused() {
    let env = Env::new();
    let tar = tampered_oci_archive(&env);
    let err = load_err(&env, &tar);
    let ArchiveError::Layout(inner) = &err else {
        panic!("expected a layout error, got {err}");
    };
    assert!(matches!(inner, LayoutError::DigestMismatch { .. }), "{err}");
    assert!(err.to_string().contains("tampered"), "{err}");
}

#[test]
fn oci_descriptor_size_caps_apply() {
    let env = Env::new();
    let d = Digest::of_bytes(b"x");
    let index = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": d, "size": 1u64 << 40
        }]
    }))
    .expect("json");
    let tar = RawTar::new()
        .file("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#)
        .file("index.json", &index)
        .file(&format!("blobs/sha256/{}", d.hex()), b"x")
        .finish();
    let err = load_err(&env, &tar);
    assert!(err.to_string().contains("more than the limit"), "{err}");
}

#[test]
fn garbage_input_is_refused() {
    let env = Env::new();
    let err = load_err(
        &env,
        b"this is not a tar archive at all, just text that goes on and on",
    );
    assert!(
        matches!(
            err,
            ArchiveError::Read { .. } | ArchiveError::UnknownFormat { .. }
        ),
        "{err}"
    );
    let err = load_err(&env, &RawTar::new().file("hello.txt", b"hi").finish());
    assert!(matches!(err, ArchiveError::UnknownFormat { .. }), "{err}");
    let err = load_err(&env, &[0x28, 0xb5, 0x2f, 0xfd, 0, 0, 0, 0]);
    assert!(matches!(err, ArchiveError::Compression { .. }), "{err}");
    // Truncated tar.
    let full = valid_docker_entries(RawTar::new()).finish();
    let err = load_err(&env, &full[..700]);
    assert!(
        matches!(
            err,
            ArchiveError::Read { .. } | ArchiveError::Missing { .. }
        ),
        "{err}"
    );
}

#[test]
fn layout_dir_symlinked_blobs_are_refused() {
    let env = Env::new();
    let image = tiny_tagged(&env.store, "link", "link:1");
    let stored = env.store.lookup("link:1").expect("lookup");
    let dir = env.path("layout");
    write_layout(&env.store, &[stored], &dir).expect("write");
    env.store.remove("link:1").expect("rmi");
    // Replace the config blob by a symlink to a file outside the layout.
    let config = dir.join("blobs/sha256").join(image.config_digest.hex());
    let outside = env.path("sentinel-target");
    std::fs::rename(&config, &outside).expect("move");
    std::os::unix::fs::symlink(&outside, &config).expect("symlink");
    let err = read_layout(&env.store, &dir).expect_err("symlink");
    assert!(matches!(err, LayoutError::NotRegularFile { .. }), "{err}");
    assert!(env.store.images().expect("images").is_empty());
    env.assert_contained(&["layout", "sentinel-target"]);
}
