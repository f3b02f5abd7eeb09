//! A layer tar is hostile: extracting it into a fresh root must never panic or hang, and
//! nothing may appear outside the root, whatever the bytes.
#![no_main]

use kiln_layer::{extract, ExtractOptions, Root, WhiteoutMode};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = kiln_layer::is_tar_header(data);
    let Ok(dir) = tempfile::tempdir() else {
        return;
    };
    let root_dir = dir.path().join("root");
    if std::fs::create_dir(&root_dir).is_err() {
        return;
    }
    let Ok(root) = Root::open(&root_dir) else {
        return;
    };
    // The first byte picks the whiteout mode; devices and owners stay off (the harness
    // runs as root on a shared machine).
    let whiteouts = match data.first().map(|b| b % 3) {
        Some(0) => WhiteoutMode::Apply,
        Some(1) => WhiteoutMode::Overlay,
        _ => WhiteoutMode::Keep,
    };
    let opts = ExtractOptions {
        whiteouts,
        same_owner: false,
        devices: false,
        record_paths: true,
    };
    let _ = extract(data, &root, &opts);
    let beside: Vec<_> = std::fs::read_dir(dir.path())
        .map(|d| d.filter_map(Result::ok).map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert_eq!(beside, vec![std::ffi::OsString::from("root")], "extraction wrote outside the root");
});
