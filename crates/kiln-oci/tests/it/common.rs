//! Test helpers: temp stores, tiny images, raw tar writing.

#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};

use kiln_oci::image::{self, ImageConfiguration};
use kiln_oci::{Digest, Image, LayerRef, Reference, Store};
use tempfile::TempDir;

/// A temp dir holding a store at `<dir>/store` and a sentinel dir at `<dir>/sentinel`.
pub struct Env {
    pub dir: TempDir,
    pub store: Store,
}

impl Env {
    pub fn new() -> Env {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(dir.path().join("sentinel")).expect("sentinel");
        let store = Store::open(&dir.path().join("store")).expect("open store");
        Env { dir, store }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Asserts nothing was written outside the store: the temp dir holds only
    /// `store`, `sentinel` (empty) and the files the test made itself.
    pub fn assert_contained(&self, allowed: &[&str]) {
        let sentinel = self.path("sentinel");
        let inside: Vec<_> = std::fs::read_dir(&sentinel).expect("sentinel").collect();
        assert!(inside.is_empty(), "files appeared in the sentinel dir");
        for entry in std::fs::read_dir(self.dir.path()).expect("list") {
            let name = entry.expect("entry").file_name();
            let name = name.to_string_lossy();
            assert!(
                name == "store" || name == "sentinel" || allowed.contains(&name.as_ref()),
                "unexpected file {name} outside the store"
            );
        }
        // Each running process has its own (lease) temp directory, empty when idle.
        for lease_dir in std::fs::read_dir(self.store.root().join("tmp")).expect("tmp") {
            let lease_dir = lease_dir.expect("entry").path();
            let left: Vec<_> = std::fs::read_dir(&lease_dir)
                .unwrap_or_else(|e| panic!("{} is not a directory: {e}", lease_dir.display()))
                .collect();
            assert!(left.is_empty(), "temp files left in the store: {left:?}");
        }
    }
}

pub fn reference(s: &str) -> Reference {
    Reference::parse_normalized(s).expect("valid reference")
}

/// An uncompressed layer tar holding `files`.
pub fn layer_tar(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in files {
        let mut h = tar::Header::new_ustar();
        h.set_mode(0o644);
        h.set_size(data.len() as u64);
        h.set_mtime(0);
        b.append_data(&mut h, name, *data).expect("append");
    }
    b.into_inner().expect("finish")
}

/// A minimal linux/amd64 config.
pub fn config(label: &str) -> ImageConfiguration {
    serde_json::from_value(serde_json::json!({
        "architecture": "amd64",
        "os": "linux",
        "config": {
            "Cmd": ["/bin/sh"],
            "Env": ["PATH=/usr/bin:/bin"],
            "Labels": {"test": label, "z": "1", "a": "2", "m": "3"}
        },
        "rootfs": {"type": "layers", "diff_ids": []},
        "history": [{"created_by": "kiln test"}]
    }))
    .expect("config")
}

/// Puts an uncompressed layer blob.
pub fn put_layer(store: &Store, files: &[(&str, &[u8])]) -> LayerRef {
    let tar = layer_tar(files);
    let (digest, size) = store.put_blob(&tar).expect("put layer");
    LayerRef::uncompressed(digest, size)
}

/// An image with a shared base layer and one layer of its own.
pub fn image_with(store: &Store, label: &str, layers: &[LayerRef]) -> Image {
    store.put_image(&config(label), layers).expect("put image")
}

/// A tiny image with one layer holding `label`.
pub fn tiny(store: &Store, label: &str) -> Image {
    let layer = put_layer(store, &[("etc/label", label.as_bytes())]);
    image_with(store, label, &[layer])
}

pub fn tiny_tagged(store: &Store, label: &str, name: &str) -> Image {
    let image = tiny(store, label);
    store
        .tag(&reference(name), &image.manifest_digest)
        .expect("tag");
    image
}

/// Raw tar building for hostile archives: names are written byte for byte.
pub struct RawTar {
    pub builder: tar::Builder<Vec<u8>>,
}

impl RawTar {
    pub fn new() -> RawTar {
        RawTar {
            builder: tar::Builder::new(Vec::new()),
        }
    }

    fn header(name: &str, kind: tar::EntryType, size: u64) -> tar::Header {
        let mut h = tar::Header::new_gnu();
        let bytes = name.as_bytes();
        assert!(bytes.len() < 100, "raw names must be short");
        {
            let old = h.as_old_mut();
            old.name[..bytes.len()].copy_from_slice(bytes);
        }
        h.set_entry_type(kind);
        h.set_mode(0o644);
        h.set_size(size);
        h.set_mtime(0);
        h
    }

    pub fn file(mut self, name: &str, data: &[u8]) -> RawTar {
        let mut h = Self::header(name, tar::EntryType::Regular, data.len() as u64);
        h.set_cksum();
        self.builder.append(&h, data).expect("append");
        self
    }

    pub fn link(mut self, name: &str, kind: tar::EntryType, target: &str) -> RawTar {
        let mut h = Self::header(name, kind, 0);
        h.set_link_name_literal(target.as_bytes())
            .expect("link name");
        h.set_cksum();
        self.builder.append(&h, &[][..]).expect("append");
        self
    }

    pub fn special(mut self, name: &str, kind: tar::EntryType) -> RawTar {
        let mut h = Self::header(name, kind, 0);
        h.set_cksum();
        self.builder.append(&h, &[][..]).expect("append");
        self
    }

    pub fn finish(self) -> Vec<u8> {
        self.builder.into_inner().expect("finish")
    }
}

/// A valid docker-archive for one image (config + one layer) built by hand.
pub struct DockerParts {
    pub layer: Vec<u8>,
    pub config: Vec<u8>,
    pub config_digest: Digest,
    pub manifest: Vec<u8>,
}

pub fn docker_parts(layer: Vec<u8>, diff_id: Digest) -> DockerParts {
    let mut cfg = config("docker");
    image::set_diff_ids(&mut cfg, &[diff_id]);
    let config = serde_json::to_vec(&cfg).expect("config json");
    let config_digest = Digest::of_bytes(&config);
    let manifest = serde_json::to_vec(&serde_json::json!([{
        "Config": format!("{}.json", config_digest.hex()),
        "RepoTags": ["handmade:1"],
        "Layers": ["l1/layer.tar"]
    }]))
    .expect("manifest");
    DockerParts {
        layer,
        config,
        config_digest,
        manifest,
    }
}

pub fn write_file(path: &Path, bytes: &[u8]) {
    let mut f = std::fs::File::create(path).expect("create");
    f.write_all(bytes).expect("write");
}
