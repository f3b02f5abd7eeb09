//! The build context: a directory (or a tarball unpacked into the store's scratch space)
//! filtered by `.dockerignore`, read only through an in-root handle so that symlinks in
//! the context never lead outside it.

pub use kiln_dockerfile::dockerignore;
pub mod stat_cache;

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
    /// The context tarball was refused for what it holds (an entry that climbs out, a
    /// corrupt header).
    #[error("cannot unpack the build context from standard input: {message}")]
    Refused { message: String },
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
    /// Standard input held a Dockerfile rather than a tarball (`docker build - <
    /// Dockerfile`): its bytes; the context is then empty.
    pub stdin_dockerfile: Option<Vec<u8>>,
    /// Keeps an unpacked tarball alive.
    _temp: Option<tempfile::TempDir>,
}

/// Where the Dockerfile was read from, for finding `<Dockerfile>.dockerignore`.
#[derive(Debug, Clone, Copy)]
pub enum DockerfileAt<'a> {
    /// A path inside the context.
    Context(&'a str),
    /// A path on the host (`-f`); it may still be inside a context directory.
    Host(&'a Path),
}

/// Largest Dockerfile accepted on standard input.
const MAX_STDIN_DOCKERFILE: u64 = 16 << 20;

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
                    stdin_dockerfile: None,
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
                let (compression, mut reader) =
                    kiln_oci::compression::decompress(reader).map_err(|e| ContextError::Tar {
                        message: e.to_string(),
                    })?;
                // Not a tarball: a Dockerfile alone, with an empty context (as docker build).
                let mut head = Vec::with_capacity(512);
                (&mut reader)
                    .take(512)
                    .read_to_end(&mut head)
                    .map_err(|e| ContextError::Refused {
                        message: e.to_string(),
                    })?;
                let is_tar = kiln_layer::is_tar_header(&head)
                    || (head.len() == 512 && head.iter().all(|b| *b == 0));
                let mut stdin_dockerfile = None;
                if !is_tar && compression == kiln_oci::Compression::None {
                    let mut bytes = head;
                    reader
                        .take(MAX_STDIN_DOCKERFILE)
                        .read_to_end(&mut bytes)
                        .map_err(|e| ContextError::Read {
                            path: "<stdin>".into(),
                            source: e,
                        })?;
                    stdin_dockerfile = Some(bytes);
                } else {
                    let reader = std::io::Cursor::new(head).chain(reader);
                    let opts = kiln_layer::ExtractOptions {
                        whiteouts: kiln_layer::WhiteoutMode::Keep,
                        same_owner: false,
                        devices: false,
                        record_paths: false,
                    };
                    kiln_layer::extract(reader, &root, &opts).map_err(|e| match e {
                        // Writing into the store's scratch space failed.
                        kiln_layer::ExtractError::Write { .. }
                        | kiln_layer::ExtractError::Fs { .. } => ContextError::Tar {
                            message: e.to_string(),
                        },
                        e => ContextError::Refused {
                            message: e.to_string(),
                        },
                    })?;
                }
                Ok(Context {
                    root,
                    ignore: Ignore::default(),
                    dir: temp.path().to_path_buf(),
                    stdin_dockerfile,
                    _temp: Some(temp),
                })
            }
        }
    }

    /// Is this a directory on the host (not an unpacked tarball)?
    pub fn is_dir(&self) -> bool {
        self._temp.is_none()
    }

    /// Use `.dockerignore` rules: `<Dockerfile>.dockerignore` next to the Dockerfile when
    /// there is one, else the context's own `.dockerignore`. Files inside the context are
    /// read through its root, so a link there never leads out of the context.
    pub fn load_ignore(
        &mut self,
        dockerfile: Option<DockerfileAt<'_>>,
    ) -> Result<(), ContextError> {
        let in_context = match dockerfile {
            Some(DockerfileAt::Context(rel)) => Some(rel.to_string()),
            Some(DockerfileAt::Host(df)) => self.relative_to_context(df),
            None => None,
        };
        match (in_context, dockerfile) {
            (Some(rel), _) if self.read_ignore_in_context(&format!("{rel}.dockerignore"))? => {
                return Ok(());
            }
            (Some(_), _) => {}
            (None, Some(DockerfileAt::Host(df))) => {
                let mut name = df.as_os_str().to_owned();
                name.push(".dockerignore");
                let specific = PathBuf::from(name);
                if specific.is_file() {
                    let text = std::fs::read_to_string(&specific).map_err(|source| {
                        ContextError::Read {
                            path: specific.clone(),
                            source,
                        }
                    })?;
                    self.ignore = Ignore::parse(&text).map_err(|source| ContextError::Ignore {
                        path: specific,
                        source,
                    })?;
                    return Ok(());
                }
            }
            _ => {}
        }
        self.read_ignore_in_context(".dockerignore")?;
        Ok(())
    }

    /// Read ignore rules from `rel` inside the context; false when there is no such file.
    fn read_ignore_in_context(&mut self, rel: &str) -> Result<bool, ContextError> {
        let path = self.dir.join(rel);
        let Ok(mut f) = self.root.open_file(rel) else {
            return Ok(false);
        };
        let mut text = String::new();
        f.read_to_string(&mut text)
            .map_err(|source| ContextError::Read {
                path: path.clone(),
                source,
            })?;
        self.ignore =
            Ignore::parse(&text).map_err(|source| ContextError::Ignore { path, source })?;
        Ok(true)
    }

    /// `df` (a host path) relative to the context directory, if it is inside it.
    fn relative_to_context(&self, df: &Path) -> Option<String> {
        let dir = std::fs::canonicalize(&self.dir).ok()?;
        let parent = match df.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        let parent = std::fs::canonicalize(parent).ok()?;
        let rel = parent.strip_prefix(&dir).ok()?.join(df.file_name()?);
        rel.to_str().map(str::to_string)
    }

    /// Read a Dockerfile named by its path inside the context (`-f` with a context tarball).
    pub fn read_dockerfile(&self, rel: &str) -> Result<(String, Vec<u8>), ContextError> {
        let mut f = self
            .root
            .open_file(rel)
            .map_err(|_| ContextError::NoDockerfile {
                tried: format!("{rel} in the build context"),
            })?;
        let mut bytes = Vec::new();
        f.read_to_end(&mut bytes)
            .map_err(|source| ContextError::Read {
                path: self.dir.join(rel),
                source,
            })?;
        Ok((rel.to_string(), bytes))
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
