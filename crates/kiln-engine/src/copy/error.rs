//! COPY/ADD errors: each names the source or destination path and the tree it was about.

#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    #[error("{path:?} not found in {tree}")]
    NotFound { path: String, tree: String },
    #[error("{path:?} is excluded from {tree} by .dockerignore")]
    Excluded { path: String, tree: String },
    #[error("{path:?} in {tree}: {message}")]
    Fs {
        tree: String,
        path: String,
        message: String,
    },
    #[error("cannot copy to {dest:?}: {message}")]
    Dest { dest: String, message: String },
    #[error("{0}")]
    Url(#[from] super::url::UrlError),
    #[error("cannot unpack {path:?}: {message}")]
    Unpack { path: String, message: String },
    #[error("{message}")]
    Invalid { message: String },
}

impl CopyError {
    pub(crate) fn layer(tree: &str, path: &str, e: impl std::fmt::Display) -> CopyError {
        CopyError::Fs {
            tree: tree.to_string(),
            path: path.to_string(),
            message: e.to_string(),
        }
    }

    pub(crate) fn dest(dest: &str, e: impl std::fmt::Display) -> CopyError {
        CopyError::Dest {
            dest: dest.to_string(),
            message: e.to_string(),
        }
    }

    /// A hint for the user, where one helps.
    pub fn hint(&self) -> Option<&'static str> {
        match self {
            CopyError::NotFound { .. } => Some("paths are relative to the build context (or to the stage's root with --from); check the spelling and the context directory"),
            CopyError::Excluded { .. } => Some("remove the matching pattern from .dockerignore or add an exception (!path)"),
            CopyError::Url(_) => Some("check the URL and --checksum; the download happens on the build host"),
            _ => None,
        }
    }
}
