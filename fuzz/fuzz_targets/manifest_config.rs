//! Manifests, indexes and configs come from registries and archives: deserialising them
//! and reading their digests, diff-ids and layers never panics. Input: a manifest, then
//! optionally a NUL byte and a config.
#![no_main]

use kiln_oci::image::{self, Image, ImageConfiguration, ImageIndex, ImageManifest};
use kiln_oci::Digest;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (first, second) = match data.iter().position(|b| *b == 0) {
        Some(p) => (&data[..p], &data[p + 1..]),
        None => (data, data),
    };
    if let Ok(ix) = serde_json::from_slice::<ImageIndex>(first) {
        for d in ix.manifests() {
            let _ = image::descriptor_digest(d, "manifest");
        }
    }
    let manifest = serde_json::from_slice::<ImageManifest>(first).ok();
    if let Some(m) = &manifest {
        let _ = image::manifest_media_type(m);
        let _ = image::descriptor_digest(m.config(), "config");
    }
    let config = serde_json::from_slice::<ImageConfiguration>(second).ok();
    if let Some(c) = &config {
        let _ = image::diff_ids(c);
    }
    if let (Some(manifest), Some(config)) = (manifest, config) {
        let img = Image {
            manifest_digest: Digest::of_bytes(first),
            manifest,
            config_digest: Digest::of_bytes(second),
            config,
        };
        let _ = img.layers();
    }
});
