//! Build errors: what failed, at which Dockerfile instruction, and what to do.

use kiln_dockerfile::Span;
use kiln_oci::ErrorKind;

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The Dockerfile was rejected (parse, plan, expansion).
    #[error("{0}")]
    Dockerfile(#[from] kiln_dockerfile::Error),
    /// A step failed; `span` is the instruction, `kind` the class of the failure
    /// (`Rejected` unless the step said otherwise: a RUN that exits non-zero is `StepFailed`,
    /// a base image pull that fails is what the registry error says).
    #[error("{message}")]
    Step {
        message: String,
        span: Span,
        hint: Option<String>,
        kind: ErrorKind,
    },
    #[error("{0}")]
    Context(#[from] crate::context::ContextError),
    #[error("store {root}: {message}")]
    Store { root: String, message: String },
    #[error("{message}")]
    Output { message: String },
    /// A registry operation of the build failed (a push, a cache export).
    #[error("{doing}: {source}")]
    Registry {
        /// What the build was doing, with the reference: "cannot push sha256:.. to ..".
        doing: String,
        #[source]
        source: kiln_registry::RegistryError,
    },
    #[error("{message}")]
    Unsupported { message: String, hint: String },
    /// A build option was refused (`--secret`, `--ssh`, `--runtime`).
    #[error("{message}")]
    Option { message: String },
    /// An input other than the Dockerfile (a tarball, an archive) was refused for what it
    /// holds: an entry that climbs out, a corrupt header, an unsupported member.
    #[error("{message}")]
    Rejected { message: String, hint: String },
    /// The build was cancelled (`why`: the signal kiln received, e.g. SIGINT = 2): running
    /// steps were killed and what they made removed.
    #[error("the build was cancelled: its running steps were stopped and their files removed")]
    Cancelled { why: i32 },
}

impl BuildError {
    pub fn step(span: Span, message: impl Into<String>) -> Self {
        BuildError::Step {
            message: message.into(),
            span,
            hint: None,
            kind: ErrorKind::Rejected,
        }
    }

    /// The same step error with another class (see `Step`'s `kind`).
    pub fn with_kind(self, kind: ErrorKind) -> Self {
        match self {
            BuildError::Step {
                message,
                span,
                hint,
                ..
            } => BuildError::Step {
                message,
                span,
                hint,
                kind,
            },
            other => other,
        }
    }

    /// The class of the failure, which decides kiln's exit code. (A minimal version over
    /// today's variants: `Store`, `Output` and `Context` other than a refused entry are I/O.)
    pub fn kind(&self) -> ErrorKind {
        match self {
            BuildError::Dockerfile(_)
            | BuildError::Unsupported { .. }
            | BuildError::Rejected { .. }
            | BuildError::Context(crate::context::ContextError::Refused { .. }) => {
                ErrorKind::Rejected
            }
            BuildError::Step { kind, .. } => *kind,
            BuildError::Option { .. } => ErrorKind::Usage,
            BuildError::Registry { source, .. } => source.kind(),
            BuildError::Context(_) | BuildError::Store { .. } | BuildError::Output { .. } => {
                ErrorKind::Io
            }
            BuildError::Cancelled { why } => ErrorKind::Cancelled(*why),
        }
    }

    pub fn with_hint(self, hint: impl Into<String>) -> Self {
        match self {
            BuildError::Step {
                message,
                span,
                kind,
                ..
            } => BuildError::Step {
                message,
                span,
                hint: Some(hint.into()),
                kind,
            },
            other => other,
        }
    }

    /// The place in the Dockerfile, if the error has one.
    pub fn span(&self) -> Option<Span> {
        match self {
            BuildError::Dockerfile(e) => Some(e.span),
            BuildError::Step { span, .. } => Some(*span),
            _ => None,
        }
    }

    pub fn hint(&self) -> Option<String> {
        match self {
            BuildError::Dockerfile(e) => e.hint.clone(),
            BuildError::Step { hint, .. } => hint.clone(),
            BuildError::Unsupported { hint, .. } | BuildError::Rejected { hint, .. } => {
                Some(hint.clone())
            }
            _ => None,
        }
    }
}
