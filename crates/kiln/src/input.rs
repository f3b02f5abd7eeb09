//! Reading a Dockerfile from a path or standard input.

use crate::exit::Failure;
use kiln_oci::ErrorKind;
use std::io::Read;
use std::path::Path;

/// A Dockerfile's name (for messages) and bytes.
pub struct Source {
    pub name: String,
    pub bytes: Vec<u8>,
}

impl Source {
    /// Read `path`, or standard input for `-`.
    pub fn read(path: &Path) -> Result<Source, Failure> {
        if path.as_os_str() == "-" {
            let mut bytes = Vec::new();
            std::io::stdin().read_to_end(&mut bytes).map_err(|e| {
                Failure::new(
                    ErrorKind::Io,
                    format!("error: cannot read the Dockerfile from standard input: {e}"),
                )
            })?;
            return Ok(Source {
                name: "<stdin>".into(),
                bytes,
            });
        }
        let bytes = std::fs::read(path).map_err(|e| {
            let hint = if e.kind() == std::io::ErrorKind::NotFound {
                "\n = hint: give the Dockerfile's path, or - to read it from standard input"
            } else {
                ""
            };
            Failure::new(
                ErrorKind::Io,
                format!("error: cannot read {}: {e}{hint}", path.display()),
            )
        })?;
        Ok(Source {
            name: path.display().to_string(),
            bytes,
        })
    }

    /// The text for showing source lines in diagnostics.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes).into_owned()
    }

    /// Render a front-end error against this source.
    pub fn render(&self, err: &kiln_dockerfile::Error) -> Failure {
        Failure::new(ErrorKind::Rejected, err.render(&self.name, &self.text()))
    }
}
