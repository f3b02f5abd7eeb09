//! Image references and digests from the command line, Dockerfiles and registries: parsing
//! never panics, and what a parsed reference prints parses again to the same reference.
#![no_main]

use kiln_oci::{Digest, Reference};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(d) = Digest::parse(s) {
        assert_eq!(Digest::parse(&d.to_string()).ok(), Some(d));
    }
    let _ = Reference::parse_normalized_untagged(s);
    let _ = s.parse::<Reference>();
    if let Ok(r) = Reference::parse_normalized(s) {
        let shown = r.to_string();
        match Reference::parse_normalized(&shown) {
            Ok(again) => assert_eq!(again.to_string(), shown, "{s:?}"),
            Err(e) => panic!("{s:?} parsed as {shown:?}, which does not parse: {e}"),
        }
    }
});
