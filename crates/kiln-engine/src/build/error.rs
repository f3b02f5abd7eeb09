//! Build errors: what failed, at which Dockerfile instruction, and what to do. Each variant
//! keeps the error it came from as its `source`; [`BuildError::kind`] is the one place that
//! decides the class of a failure (and so the exit code).

use kiln_dockerfile::Span;
use kiln_oci::ErrorKind;
use std::path::PathBuf;

/// An error of any type, kept as the source of a [`BuildError`].
pub type Source = Box<dyn std::error::Error + Send + Sync>;

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The Dockerfile was rejected (parse, plan, expansion).
    #[error("{0}")]
    Dockerfile(#[from] kiln_dockerfile::Error),
    /// A step refused its input; `span` is the instruction.
    #[error("{message}")]
    Step {
        message: String,
        span: Span,
        hint: Option<String>,
    },
    /// A step refused its input for the reason `source` gives (`what`: the instruction
    /// or flag and the path).
    #[error("{what}: {source}")]
    Refused {
        what: Box<str>,
        span: Span,
        hint: Option<&'static str>,
        #[source]
        source: Source,
    },
    /// A RUN step ran and failed: it exited non-zero, was killed by a signal, or ran past
    /// `--timeout`.
    #[error("{message}")]
    StepFailed {
        message: String,
        span: Span,
        hint: Option<String>,
    },
    /// A RUN step could not be started by the isolation (no namespaces, no runtime, ...).
    #[error("{what}: {source}")]
    Sandbox {
        what: String,
        span: Span,
        hint: &'static str,
        #[source]
        source: Box<kiln_sandbox::SandboxError>,
    },
    /// A RUN step could not run in its guest (`--isolation vm`): QEMU, the guest kernel
    /// or the agent failed.
    #[error("{what}: {source}")]
    Vm {
        what: String,
        span: Span,
        hint: &'static str,
        #[source]
        source: Box<kiln_vm::VmError>,
    },
    /// Preparing or reading a step's files failed (the store or scratch space, not the
    /// step itself); `what` says what was being done.
    #[error("{what}: {source}")]
    StepIo {
        what: String,
        span: Span,
        #[source]
        source: Source,
    },
    /// COPY or ADD (`what`) failed.
    #[error("{what} failed: {source}")]
    Copy {
        what: String,
        span: Span,
        #[source]
        source: Box<crate::copy::CopyError>,
    },
    #[error("{0}")]
    Context(#[from] crate::context::ContextError),
    /// `--squash` / `--squash-all` failed.
    #[error("cannot squash the image: {0}")]
    Squash(#[source] Box<crate::squash::SquashError>),
    /// The store at `root` could not be read or written; `what` (may be empty) says what
    /// was being done.
    #[error("store {root}: {what}{}{source}", if what.is_empty() { "" } else { ": " })]
    Store {
        root: String,
        what: String,
        #[source]
        source: Source,
    },
    /// A local file or directory could not be read or written.
    #[error("{what} {}: {source}", path.display())]
    Io {
        what: String,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// An output (a directory, an archive) could not be written.
    #[error("{message}")]
    Output { message: String },
    /// Writing an output at `path` failed.
    #[error("cannot write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: Source,
    },
    /// A registry could not be reached or refused while kiln did `op`.
    #[error("{op}: {source}")]
    Registry {
        op: RegistryOp,
        #[source]
        source: Box<kiln_registry::RegistryError>,
    },
    /// The command line asked for what this build cannot do (`--platform` of another
    /// machine).
    #[error("{message}")]
    Unsupported { message: String, hint: String },
    /// A build option was refused (`--secret`, `--ssh`, `--runtime`, `-t`).
    #[error("{message}")]
    Option { message: String },
    /// An input other than the Dockerfile (a tarball, an archive) was refused for what it
    /// holds: an entry that climbs out, a corrupt header, an unsupported member.
    #[error("{message}")]
    Rejected { message: String, hint: String },
    /// A step reads from a stage (`COPY --from`, `RUN --mount from=`) that failed; that
    /// stage's own error is the one the build reports.
    #[error("stage {stage}, which this step reads from, failed")]
    SourceFailed { stage: String, span: Span },
    /// kiln itself failed: a panicked stage, a poisoned lock, a broken invariant.
    #[error("{message}")]
    Internal { message: String },
    /// The build was cancelled (`why`: the signal kiln received, e.g. SIGINT = 2): running
    /// steps were killed and what they made removed.
    #[error("the build was cancelled: its running steps were stopped and their files removed")]
    Cancelled { why: i32 },
}

/// What kiln was doing with a registry.
#[derive(Debug)]
pub enum RegistryOp {
    /// Pulling the base image `name` (named at `span`).
    Pull { name: String, span: Span },
    /// Pushing the built image (`image`: its manifest digest) to `dest`.
    Push { image: String, dest: String },
    /// Exporting the build cache to `dest` (`--cache-to`).
    CacheExport { dest: String },
}

impl std::fmt::Display for RegistryOp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RegistryOp::Pull { name, .. } => write!(f, "cannot pull base image {name}"),
            RegistryOp::Push { image, dest } => write!(f, "cannot push {image} to {dest}"),
            RegistryOp::CacheExport { dest } => {
                write!(f, "cannot export the build cache to {dest}")
            }
        }
    }
}

impl RegistryOp {
    /// What to do about the failure.
    pub fn hint(&self) -> &'static str {
        match self {
            RegistryOp::Pull { .. } => "check the name and the registry, log in with `kiln login`, or make the image locally with `kiln load` / `kiln import`",
            RegistryOp::Push { .. } => "check the name and the registry, and log in with `kiln login`; the image was built and stored",
            RegistryOp::CacheExport { .. } => "the image was built and stored; fix this and build again, every step will be cached",
        }
    }
}

impl BuildError {
    pub fn step(span: Span, message: impl Into<String>) -> Self {
        BuildError::Step {
            message: message.into(),
            span,
            hint: None,
        }
    }

    /// A step refusing its input at `span` because of `source` (kind
    /// [`ErrorKind::Rejected`]).
    pub fn refused(
        span: Span,
        what: impl Into<String>,
        hint: Option<&'static str>,
        source: impl Into<Source>,
    ) -> Self {
        BuildError::Refused {
            what: what.into().into_boxed_str(),
            span,
            hint,
            source: source.into(),
        }
    }

    /// A failure of the step's own filesystem work at `span` (kind [`ErrorKind::Io`]).
    pub fn step_io(span: Span, what: impl Into<String>, source: impl Into<Source>) -> Self {
        BuildError::StepIo {
            what: what.into(),
            span,
            source: source.into(),
        }
    }

    pub fn with_hint(self, hint: impl Into<String>) -> Self {
        let hint = Some(hint.into());
        match self {
            BuildError::Step { message, span, .. } => BuildError::Step {
                message,
                span,
                hint,
            },
            BuildError::StepFailed { message, span, .. } => BuildError::StepFailed {
                message,
                span,
                hint,
            },
            other => other,
        }
    }

    /// The class of this failure, which decides kiln's exit code: the one place that
    /// decides it. Usage (bad options), Rejected (the Dockerfile or an input), StepFailed
    /// (a RUN step exited non-zero, was killed or timed out), Io (the store, a local file,
    /// a step's filesystem, an isolation that could not start), Registry (pull, push,
    /// cache import/export), Internal (a kiln bug), Cancelled (a signal).
    pub fn kind(&self) -> ErrorKind {
        match self {
            BuildError::Dockerfile(_)
            | BuildError::Step { .. }
            | BuildError::Refused { .. }
            | BuildError::Rejected { .. } => ErrorKind::Rejected,
            BuildError::Context(crate::context::ContextError::Refused { .. }) => {
                ErrorKind::Rejected
            }
            BuildError::StepFailed { .. } | BuildError::SourceFailed { .. } => {
                ErrorKind::StepFailed
            }
            BuildError::Copy { source, .. } => match source.as_ref() {
                crate::copy::CopyError::Fs { .. } => ErrorKind::Io,
                _ => ErrorKind::Rejected,
            },
            BuildError::Sandbox { source, .. } => sandbox_kind(source),
            BuildError::Vm { .. } => ErrorKind::Io,
            BuildError::StepIo { .. }
            | BuildError::Context(_)
            | BuildError::Store { .. }
            | BuildError::Io { .. }
            | BuildError::Output { .. }
            | BuildError::Write { .. } => ErrorKind::Io,
            // The registry error's own kind: unreachable or refusing is Registry, content
            // it sent that is refused (a wrong digest, a hostile manifest) is Rejected.
            BuildError::Registry { source, .. } => source.kind(),
            BuildError::Squash(e) => e.kind(),
            BuildError::Unsupported { .. } | BuildError::Option { .. } => ErrorKind::Usage,
            BuildError::Internal { .. } => ErrorKind::Internal,
            BuildError::Cancelled { why } => ErrorKind::Cancelled(*why),
        }
    }

    /// The place in the Dockerfile, if the error has one.
    pub fn span(&self) -> Option<Span> {
        match self {
            BuildError::Dockerfile(e) => Some(e.span),
            BuildError::Step { span, .. }
            | BuildError::StepFailed { span, .. }
            | BuildError::StepIo { span, .. }
            | BuildError::Sandbox { span, .. }
            | BuildError::Vm { span, .. }
            | BuildError::Copy { span, .. }
            | BuildError::SourceFailed { span, .. }
            | BuildError::Refused { span, .. } => Some(*span),
            BuildError::Registry {
                op: RegistryOp::Pull { span, .. },
                ..
            } => Some(*span),
            _ => None,
        }
    }

    pub fn hint(&self) -> Option<String> {
        match self {
            BuildError::Dockerfile(e) => e.hint.clone(),
            BuildError::Copy { source, .. } => source.hint().map(str::to_string),
            BuildError::Step { hint, .. } | BuildError::StepFailed { hint, .. } => hint.clone(),
            BuildError::Registry { op, .. } => Some(op.hint().to_string()),
            BuildError::Refused { hint, .. } => hint.map(str::to_string),
            BuildError::Sandbox { hint, .. } | BuildError::Vm { hint, .. } => {
                Some(hint.to_string())
            }
            BuildError::Unsupported { hint, .. } | BuildError::Rejected { hint, .. } => {
                Some(hint.clone())
            }
            _ => None,
        }
    }
}

/// The class of an isolation's failure to run a step: the step's program missing from its
/// root filesystem is the step's failure, a request kiln built wrong is kiln's, a refused
/// seccomp profile is the command line's, a mount point the root's content makes unusable
/// (a dangling symlink) is the input's; the rest is the host (no root, no namespaces, no
/// network helper).
fn sandbox_kind(e: &kiln_sandbox::SandboxError) -> ErrorKind {
    use kiln_sandbox::SandboxError as S;
    match e {
        S::Exec { .. } => ErrorKind::StepFailed,
        S::Invalid(_) => ErrorKind::Internal,
        S::Seccomp(_) => ErrorKind::Usage,
        S::RootContent { .. } => ErrorKind::Rejected,
        S::Cancelled { why } => ErrorKind::Cancelled(*why),
        S::TimedOut { .. } => ErrorKind::StepFailed,
        _ => ErrorKind::Io,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn io(msg: &str) -> std::io::Error {
        std::io::Error::other(msg.to_string())
    }

    #[test]
    fn kind_classes_each_failure_once() {
        let at = Span::default();
        let cases: Vec<(BuildError, ErrorKind)> = vec![
            (
                BuildError::step_io(at, "RUN: cannot make a working directory", io("disk full")),
                ErrorKind::Io,
            ),
            (
                BuildError::Store {
                    root: "/s".into(),
                    what: String::new(),
                    source: io("read-only file system").into(),
                },
                ErrorKind::Io,
            ),
            (
                BuildError::step(at, "COPY: bad --chmod"),
                ErrorKind::Rejected,
            ),
            (
                BuildError::StepFailed {
                    message: "RUN failed with exit code 1".into(),
                    span: at,
                    hint: None,
                },
                ErrorKind::StepFailed,
            ),
            (
                BuildError::Sandbox {
                    what: "RUN could not start".into(),
                    span: at,
                    hint: "",
                    source: Box::new(kiln_sandbox::SandboxError::Exec {
                        program: "/bin/sh".into(),
                        source: io("not found"),
                    }),
                },
                ErrorKind::StepFailed,
            ),
            (
                BuildError::Sandbox {
                    what: "RUN could not start".into(),
                    span: at,
                    hint: "",
                    source: Box::new(kiln_sandbox::SandboxError::RootContent {
                        op: "mount point is a dangling symlink",
                        path: "/root/evil".into(),
                        source: io("no such file"),
                        hint: "",
                    }),
                },
                ErrorKind::Rejected,
            ),
            (
                BuildError::Sandbox {
                    what: "RUN could not start".into(),
                    span: at,
                    hint: "",
                    source: Box::new(kiln_sandbox::SandboxError::NotRoot),
                },
                ErrorKind::Io,
            ),
            (
                BuildError::Internal {
                    message: "a poisoned lock".into(),
                },
                ErrorKind::Internal,
            ),
            (
                BuildError::Option {
                    message: "--secret".into(),
                },
                ErrorKind::Usage,
            ),
            (BuildError::Cancelled { why: 2 }, ErrorKind::Cancelled(2)),
        ];
        for (e, kind) in cases {
            assert_eq!(e.kind(), kind, "{e:?}");
        }
    }

    #[test]
    fn an_io_failure_in_a_step_says_what_and_keeps_its_source() {
        let e = BuildError::step_io(Span::default(), "RUN: cannot copy", io("disk full"));
        assert_eq!(e.to_string(), "RUN: cannot copy: disk full");
        let source = std::error::Error::source(&e).expect("a source");
        assert_eq!(source.to_string(), "disk full");
    }
}
