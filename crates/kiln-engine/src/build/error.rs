//! Build errors: what failed, at which Dockerfile instruction, and what to do.

use kiln_dockerfile::Span;
use kiln_oci::ErrorKind;

/// What `base::pull` tells a user whose base image cannot be pulled.
const PULL_HINT: &str = "check the name and the registry, log in with `kiln login`, or make the image locally with `kiln load` / `kiln import`";

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The Dockerfile was rejected (parse, plan, expansion).
    #[error("{0}")]
    Dockerfile(#[from] kiln_dockerfile::Error),
    /// A step could not be done with its input; `span` is the instruction.
    #[error("{message}")]
    Step {
        message: String,
        span: Span,
        hint: Option<String>,
    },
    /// A RUN step ran and failed: it exited non-zero, was killed, or ran past `--timeout`.
    #[error("{message}")]
    StepFailed {
        message: String,
        span: Span,
        hint: Option<String>,
    },
    /// The base image of `FROM` (at `span`) could not be pulled.
    #[error("cannot pull base image {name}: {source}")]
    Pull {
        name: String,
        span: Span,
        #[source]
        source: Box<kiln_registry::RegistryError>,
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
        source: Box<kiln_registry::RegistryError>,
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
        }
    }

    /// A RUN step that ran and failed.
    pub fn step_failed(span: Span, message: impl Into<String>) -> Self {
        BuildError::StepFailed {
            message: message.into(),
            span,
            hint: None,
        }
    }

    pub fn with_hint(self, hint: impl Into<String>) -> Self {
        match self {
            BuildError::Step { message, span, .. } => BuildError::Step {
                message,
                span,
                hint: Some(hint.into()),
            },
            BuildError::StepFailed { message, span, .. } => BuildError::StepFailed {
                message,
                span,
                hint: Some(hint.into()),
            },
            other => other,
        }
    }

    /// The class of the failure, which decides kiln's exit code. (A minimal version over
    /// today's variants: `Store`, `Output` and `Context` other than a refused entry are
    /// I/O; a pull or push is what the registry error says.)
    pub fn kind(&self) -> ErrorKind {
        match self {
            BuildError::Dockerfile(_)
            | BuildError::Step { .. }
            | BuildError::Unsupported { .. }
            | BuildError::Rejected { .. }
            | BuildError::Context(crate::context::ContextError::Refused { .. }) => {
                ErrorKind::Rejected
            }
            BuildError::StepFailed { .. } => ErrorKind::StepFailed,
            BuildError::Option { .. } => ErrorKind::Usage,
            BuildError::Pull { source, .. } | BuildError::Registry { source, .. } => source.kind(),
            BuildError::Context(_) | BuildError::Store { .. } | BuildError::Output { .. } => {
                ErrorKind::Io
            }
            BuildError::Cancelled { why } => ErrorKind::Cancelled(*why),
        }
    }

    /// The place in the Dockerfile, if the error has one.
    pub fn span(&self) -> Option<Span> {
        match self {
            BuildError::Dockerfile(e) => Some(e.span),
            BuildError::Step { span, .. }
            | BuildError::StepFailed { span, .. }
            | BuildError::Pull { span, .. } => Some(*span),
            _ => None,
        }
    }

    pub fn hint(&self) -> Option<String> {
        match self {
            BuildError::Dockerfile(e) => e.hint.clone(),
            BuildError::Step { hint, .. } | BuildError::StepFailed { hint, .. } => hint.clone(),
            BuildError::Pull { .. } => Some(PULL_HINT.into()),
            BuildError::Unsupported { hint, .. } | BuildError::Rejected { hint, .. } => {
                Some(hint.clone())
            }
            _ => None,
        }
    }
}
