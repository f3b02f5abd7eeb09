//! lint() gives findings, never a panic, for truncated and spliced Dockerfiles.

use kiln_lint::{lint, Config, LintInput};
use std::fs;
use std::path::Path;

#[test]
fn truncated_and_spliced_inputs_do_not_panic() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/lint-corpus");
    let cfg = Config::default();
    let mut n = 0;
    for e in fs::read_dir(dir).expect("corpus").flatten() {
        let text = fs::read_to_string(e.path()).unwrap_or_default();
        let bounds: Vec<usize> = text.char_indices().map(|(i, _)| i).step_by(7).collect();
        for &i in &bounds {
            let _ = lint(&LintInput::new(&text.as_bytes()[..i], &cfg));
            let spliced = format!("{}\\\n'\"$({}`", &text[..i], &text[i..]);
            let _ = lint(&LintInput::new(spliced.as_bytes(), &cfg));
            n += 2;
        }
    }
    let _ = lint(&LintInput::new(&[0xff, 0xfe, b'F'], &cfg));
    assert!(n > 1000);
}
