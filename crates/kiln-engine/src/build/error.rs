//! Build errors: what failed, at which Dockerfile instruction, and what to do.

use kiln_dockerfile::Span;

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The Dockerfile was rejected (parse, plan, expansion).
    #[error("{0}")]
    Dockerfile(#[from] kiln_dockerfile::Error),
    /// A step failed; `span` is the instruction.
    #[error("{message}")]
    Step {
        message: String,
        span: Span,
        hint: Option<String>,
    },
    #[error("{0}")]
    Context(#[from] crate::context::ContextError),
    #[error("store {root}: {message}")]
    Store { root: String, message: String },
    #[error("{message}")]
    Output { message: String },
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

    pub fn with_hint(self, hint: impl Into<String>) -> Self {
        match self {
            BuildError::Step { message, span, .. } => BuildError::Step {
                message,
                span,
                hint: Some(hint.into()),
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
