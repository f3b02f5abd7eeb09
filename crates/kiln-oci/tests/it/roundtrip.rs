//! Layout, oci-archive and docker-archive: write, then load into a fresh store.

use std::io::Write;

use kiln_oci::archive::{self, write_docker_archive, write_oci_archive};
use kiln_oci::layout::{read_layout, write_layout, LayoutError};
use kiln_oci::media;
use kiln_oci::{Digest, StoredImage};

use crate::common::{self, docker_parts, image_with, put_layer, reference, tiny_tagged, Env};

/// Two tagged images sharing a base layer, plus an untagged one.
fn sample(env: &Env) -> Vec<StoredImage> {
    let base = put_layer(&env.store, &[("bin/sh", b"#!shell")]);
    let a_top = put_layer(&env.store, &[("app/a", b"a")]);
    let a = image_with(&env.store, "a", &[base.clone(), a_top]);
    let b = image_with(&env.store, "b", &[base]);
    env.store
        .tag(&reference("app:1"), &a.manifest_digest)
        .expect("tag");
    env.store
        .tag(&reference("localhost:5000/team/app:1"), &a.manifest_digest)
        .expect("tag");
    env.store
        .tag(&reference("base"), &b.manifest_digest)
        .expect("tag");
    let c = tiny_tagged(&env.store, "c", "c:1");
    env.store.untag(&reference("c:1")).expect("untag");
    let _ = c;
    env.store.images().expect("images")
}

fn key(images: &[StoredImage]) -> Vec<(Digest, Digest, Vec<String>)> {
    let mut v: Vec<_> = images
        .iter()
        .map(|i| {
            let mut names: Vec<String> = i.names.iter().map(ToString::to_string).collect();
            names.sort();
            (i.manifest, i.config, names)
        })
        .collect();
    v.sort();
    v
}

#[test]
fn layout_round_trip_keeps_digests_and_names() {
    let src = Env::new();
    let images = sample(&src);
    let dir = src.path("layout");
    write_layout(&src.store, &images, &dir).expect("write layout");
    assert!(dir.join("oci-layout").is_file());
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("index.json")).expect("index"))
            .expect("json");
    assert_eq!(index["mediaType"], media::OCI_INDEX);
    assert_eq!(index["manifests"].as_array().expect("manifests").len(), 4);

    let dst = Env::new();
    let loaded = read_layout(&dst.store, &dir).expect("read layout");
    assert_eq!(key(&loaded), key(&images));
    assert_eq!(key(&dst.store.images().expect("images")), key(&images));
    for image in &images {
        let a = src.store.load_image(&image.manifest).expect("src");
        let b = dst.store.load_image(&image.manifest).expect("dst");
        assert_eq!(a, b);
        for layer in b.layers().expect("layers") {
            assert!(dst.store.has_blob(&layer.digest));
        }
    }
    // Loading again changes nothing.
    read_layout(&dst.store, &dir).expect("read again");
    assert_eq!(key(&dst.store.images().expect("images")), key(&images));
    dst.assert_contained(&[]);

    let err = write_layout(&src.store, &images, &dir).expect_err("not empty");
    assert!(matches!(err, LayoutError::NotEmpty(_)), "{err}");
}

#[test]
fn oci_archive_is_deterministic_and_round_trips() {
    let src = Env::new();
    let images = sample(&src);
    let one = write_oci_archive(&src.store, &images, Vec::new()).expect("write");
    let two = write_oci_archive(&src.store, &images, Vec::new()).expect("write");
    assert_eq!(one, two, "oci-archive output must be deterministic");
    let mut names = Vec::new();
    let mut ar = tar::Archive::new(&one[..]);
    for e in ar.entries().expect("entries") {
        let e = e.expect("entry");
        assert_eq!(e.header().mtime().expect("mtime"), 0);
        names.push(e.path().expect("path").display().to_string());
    }
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted);
    assert!(names.contains(&"oci-layout".to_owned()) && names.contains(&"index.json".to_owned()));

    let path = src.path("image.oci.tar");
    common::write_file(&path, &one);
    let dst = Env::new();
    let loaded = archive::load(&dst.store, &path).expect("load");
    assert_eq!(key(&loaded), key(&images));
    dst.assert_contained(&[]);
}

#[test]
fn docker_archive_is_deterministic_and_round_trips() {
    let src = Env::new();
    let images = sample(&src);
    let one = write_docker_archive(&src.store, &images, Vec::new()).expect("write");
    let two = write_docker_archive(&src.store, &images, Vec::new()).expect("write");
    assert_eq!(one, two, "docker-archive output must be deterministic");

    let mut ar = tar::Archive::new(&one[..]);
    let mut manifest = None;
    let mut names = Vec::new();
    for e in ar.entries().expect("entries") {
        let mut e = e.expect("entry");
        let name = e.path().expect("path").display().to_string();
        if name == "manifest.json" {
            let mut s = String::new();
            std::io::Read::read_to_string(&mut e, &mut s).expect("read");
            manifest = Some(s);
        }
        names.push(name);
    }
    let manifest: serde_json::Value =
        serde_json::from_str(&manifest.expect("manifest.json")).expect("json");
    let tags: Vec<&str> = manifest
        .as_array()
        .expect("array")
        .iter()
        .flat_map(|m| m["RepoTags"].as_array().expect("tags").iter())
        .map(|t| t.as_str().expect("str"))
        .collect();
    assert!(
        tags.contains(&"app:1") && tags.contains(&"localhost:5000/team/app:1"),
        "{tags:?}"
    );
    assert!(names.contains(&"repositories".to_owned()));
    assert!(names.iter().any(|n| n.ends_with("/layer.tar")));

    let path = src.path("image.docker.tar");
    common::write_file(&path, &one);
    let dst = Env::new();
    let loaded = archive::load(&dst.store, &path).expect("load");
    // Same image IDs, names and (since kiln stores uncompressed OCI layers) manifests.
    assert_eq!(key(&loaded), key(&images));
    dst.assert_contained(&[]);
}

#[test]
fn gzip_compressed_archive_and_gzip_layers_load() {
    let env = Env::new();
    let layer = common::layer_tar(&[("hello", b"world")]);
    let diff_id = Digest::of_bytes(&layer);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&layer).expect("gzip");
    let gz_layer = gz.finish().expect("gzip");
    let parts = docker_parts(gz_layer, diff_id);
    let tar = common::RawTar::new()
        .file("manifest.json", &parts.manifest)
        .file(
            &format!("{}.json", parts.config_digest.hex()),
            &parts.config,
        )
        .file("l1/layer.tar", &parts.layer)
        .finish();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&tar).expect("gzip");
    let path = env.path("image.tar.gz");
    common::write_file(&path, &gz.finish().expect("gzip"));
    let loaded = archive::load(&env.store, &path).expect("load");
    assert_eq!(loaded.len(), 1);
    assert_eq!(
        loaded[0].config, parts.config_digest,
        "the image ID is kept"
    );
    assert_eq!(loaded[0].names, vec![reference("handmade:1")]);
    let image = env.store.load_image(&loaded[0].manifest).expect("image");
    let layers = image.layers().expect("layers");
    assert_eq!(
        layers[0].digest, diff_id,
        "gzip layers are stored uncompressed"
    );
    assert_eq!(layers[0].media_type, media::OCI_LAYER_TAR);
    assert_eq!(
        env.store.read_blob(&diff_id, 1 << 20).expect("layer"),
        layer
    );
    env.assert_contained(&["image.tar.gz"]);
}

#[test]
fn docker_archive_symlinked_layers_load() {
    // Docker and containers/image write shared layers as in-archive symlinks.
    let env = Env::new();
    let layer = common::layer_tar(&[("f", b"1")]);
    let diff_id = Digest::of_bytes(&layer);
    let parts = docker_parts(layer, diff_id);
    let tar = common::RawTar::new()
        .file("manifest.json", &parts.manifest)
        .file(
            &format!("{}.json", parts.config_digest.hex()),
            &parts.config,
        )
        .file(&format!("{}.tar", diff_id.hex()), &parts.layer)
        .link(
            "l1/layer.tar",
            tar::EntryType::Symlink,
            &format!("../{}.tar", diff_id.hex()),
        )
        .finish();
    let loaded = archive::load_reader(&env.store, &tar[..], "stdin").expect("load");
    assert_eq!(loaded[0].config, parts.config_digest);
    assert!(env.store.has_blob(&diff_id));
    env.assert_contained(&[]);
}

/// Rewrites a one-image layout so index.json points at a nested
/// multi-platform index; returns the manifest digest.
fn nest_in_platform_index(dir: &std::path::Path, platforms: &[(&str, bool)]) -> Digest {
    let index_path = dir.join("index.json");
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&index_path).expect("index")).expect("json");
    let desc = index["manifests"][0].clone();
    let manifests: Vec<serde_json::Value> = platforms
        .iter()
        .map(|(arch, real)| {
            let mut d = desc.clone();
            d.as_object_mut().expect("object").remove("annotations");
            if !real {
                d["digest"] = serde_json::json!(Digest::of_bytes(arch.as_bytes()));
            }
            d["platform"] = serde_json::json!({"os": "linux", "architecture": arch});
            d
        })
        .collect();
    let nested = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": media::OCI_INDEX,
        "manifests": manifests
    }))
    .expect("json");
    let nested_digest = Digest::of_bytes(&nested);
    common::write_file(&dir.join("blobs/sha256").join(nested_digest.hex()), &nested);
    let top = serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{
            "mediaType": media::OCI_INDEX,
            "digest": nested_digest,
            "size": nested.len(),
            "annotations": desc["annotations"].clone()
        }]
    });
    common::write_file(&index_path, &serde_json::to_vec(&top).expect("json"));
    Digest::parse(desc["digest"].as_str().expect("digest")).expect("digest")
}

#[test]
fn nested_index_resolves_to_host_platform() {
    let src = Env::new();
    tiny_tagged(&src.store, "multi", "multi:1");
    let stored = src.store.lookup("multi:1").expect("lookup");
    let host = kiln_oci::image::host_arch();
    let other = if host == "arm64" { "s390x" } else { "arm64" };

    let dir = src.path("multi");
    write_layout(&src.store, std::slice::from_ref(&stored), &dir).expect("write");
    let manifest = nest_in_platform_index(&dir, &[(other, false), (host, true)]);
    let dst = Env::new();
    // archive::load autodetects a layout directory.
    let loaded = archive::load(&dst.store, &dir).expect("load nested index");
    assert_eq!(loaded[0].manifest, manifest);
    assert_eq!(loaded[0].names, vec![reference("multi:1")]);

    let dir2 = src.path("multi-other");
    write_layout(&src.store, std::slice::from_ref(&stored), &dir2).expect("write");
    nest_in_platform_index(&dir2, &[(other, false), ("mips64le", false)]);
    let err = read_layout(&dst.store, &dir2).expect_err("no platform");
    assert!(
        matches!(err, LayoutError::NoMatchingPlatform { .. }),
        "{err}"
    );
    assert!(err.to_string().contains(other), "{err}");
}
