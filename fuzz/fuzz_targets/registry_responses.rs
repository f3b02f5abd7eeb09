//! Registry responses are hostile input: index platform selection, WWW-Authenticate
//! challenges and error bodies must never panic, whatever the bytes.
#![no_main]

use kiln_registry::auth::challenge;
use kiln_registry::manifest::{select, Fetched};
use kiln_registry::{error, Platform};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let fetched = Fetched {
        bytes: data.to_vec(),
        digest: kiln_oci::Digest::of_bytes(data),
        media_type: kiln_oci::media::OCI_INDEX.to_owned(),
    };
    for p in ["linux/amd64", "linux/arm64/v8", "linux/arm"] {
        if let Ok(p) = Platform::parse(p) {
            let _ = select(&fetched, &p, "fuzz");
        }
    }
    let _ = error::detail_from_body(data);
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = challenge::parse(s);
        let _ = Platform::parse(s);
    }
});
