//! The build context: a directory (or a tarball unpacked into the store's scratch space)
//! filtered by `.dockerignore`, read only through an in-root handle so that symlinks in
//! the context never lead outside it.

pub use kiln_dockerfile::dockerignore;

use dockerignore::{Ignore, IgnoreError};
use kiln_layer::Root;
use std::io::Read;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum ContextError {
    #[error("cannot open the build context {path}: {message}")]
    Open { path: PathBuf, message: String },
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Ignore { path: PathBuf, source: IgnoreError },
    #[error("cannot unpack the build context from standard input: {message}")]
    Tar { message: String },
    #[error("no Dockerfile found: looked for {tried}")]
    NoDockerfile { tried: String },
}

/// Where the build context comes from.
#[derive(Debug)]
pub enum ContextSource {
    Dir(PathBuf),
    /// A tarball (plain or compressed), e.g. standard input.
    Tar(Box<dyn ReadDebug>),
}

/// `Read` that can be printed in `Debug` output.
pub trait ReadDebug: Read + Send {}
impl<T: Read + Send> ReadDebug for T {}
impl std::fmt::Debug for dyn ReadDebug {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<reader>")
    }
}

/// An opened build context.
#[derive(Debug)]
pub struct Context {
    pub root: Root,
    pub ignore: Ignore,
    /// Host directory of the context (for messages).
    pub dir: PathBuf,
    /// Keeps an unpacked tarball alive.
    _temp: Option<tempfile::TempDir>,
}

impl Context {
    /// Open a context. `scratch` is where a tarball gets unpacked.
    pub fn open(source: ContextSource, scratch: &Path) -> Result<Context, ContextError> {
        match source {
            ContextSource::Dir(dir) => {
                let root = Root::open(&dir).map_err(|e| ContextError::Open {
                    path: dir.clone(),
                    message: e.to_string(),
                })?;
                Ok(Context {
                    root,
                    ignore: Ignore::default(),
                    dir,
                    _temp: None,
                })
            }
            ContextSource::Tar(reader) => {
                let temp = tempfile::Builder::new()
                    .prefix("context-")
                    .tempdir_in(scratch)
                    .map_err(|e| ContextError::Tar {
                        message: e.to_string(),
                    })?;
                let root = Root::open(temp.path()).map_err(|e| ContextError::Tar {
                    message: e.to_string(),
                })?;
                let (_, reader) =
                    kiln_layer::decompress(reader).map_err(|e| ContextError::Tar {
                        message: e.to_string(),
                    })?;
                let opts = kiln_layer::ExtractOptions {
                    whiteouts: kiln_layer::WhiteoutMode::Keep,
                    same_owner: false,
                    devices: false,
                    record_paths: false,
                };
                kiln_layer::extract(reader, &root, &opts).map_err(|e| ContextError::Tar {
                    message: e.to_string(),
                })?;
                Ok(Context {
                    root,
                    ignore: Ignore::default(),
                    dir: temp.path().to_path_buf(),
                    _temp: Some(temp),
                })
            }
        }
    }

    /// Use `.dockerignore` rules (from `<Dockerfile>.dockerignore` or the context's own
    /// `.dockerignore`).
    pub fn load_ignore(&mut self, dockerfile: Option<&Path>) -> Result<(), ContextError> {
        if let Some(df) = dockerfile {
            let mut name = df.as_os_str().to_owned();
            name.push(".dockerignore");
            let specific = PathBuf::from(name);
            if specific.is_file() {
                let text =
                    std::fs::read_to_string(&specific).map_err(|source| ContextError::Read {
                        path: specific.clone(),
                        source,
                    })?;
                self.ignore = Ignore::parse(&text).map_err(|source| ContextError::Ignore {
                    path: specific,
                    source,
                })?;
                return Ok(());
            }
        }
        let path = self.dir.join(".dockerignore");
        if let Ok(mut f) = self.root.open_file(".dockerignore") {
            let mut text = String::new();
            f.read_to_string(&mut text)
                .map_err(|source| ContextError::Read {
                    path: path.clone(),
                    source,
                })?;
            self.ignore =
                Ignore::parse(&text).map_err(|source| ContextError::Ignore { path, source })?;
        }
        Ok(())
    }

    /// Read the Dockerfile from inside the context (`Dockerfile`, else `Containerfile`).
    pub fn read_default_dockerfile(&self) -> Result<(String, Vec<u8>), ContextError> {
        for name in ["Dockerfile", "Containerfile", "dockerfile", "containerfile"] {
            if let Ok(mut f) = self.root.open_file(name) {
                let mut bytes = Vec::new();
                f.read_to_end(&mut bytes)
                    .map_err(|source| ContextError::Read {
                        path: self.dir.join(name),
                        source,
                    })?;
                return Ok((name.to_string(), bytes));
            }
        }
        Err(ContextError::NoDockerfile {
            tried: format!("{0}/Dockerfile, {0}/Containerfile", self.dir.display()),
        })
    }
}
