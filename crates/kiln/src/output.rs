//! Writing results to standard output. A closed pipe (`kiln parse | head`) is not an error.

use crate::exit::Failure;
use kiln_oci::ErrorKind;
use std::io::Write;

pub fn stdout(text: &str) -> Result<(), Failure> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(Failure::new(
            ErrorKind::Io,
            format!("error: cannot write to standard output: {e}"),
        )),
    }
}
