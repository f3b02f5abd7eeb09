//! `kiln load`: an oci-archive or docker-archive tar is hostile. Indexing it into a store
//! (tar reading, index.json, manifest.json, manifests, configs, blob digests) never
//! panics, whatever the bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(dir) = tempfile::tempdir() else {
        return;
    };
    let Ok(store) = kiln_oci::Store::open(dir.path()) else {
        return;
    };
    let _ = kiln_oci::archive::load_reader(&store, data, "fuzz input");
});
