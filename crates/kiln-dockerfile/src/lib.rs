//! kiln's Dockerfile front end.
//!
//! bytes -> syntax tree with spans ([`syntax`]) -> typed instructions
//! ([`instructions`]) -> stage plan ([`plan`]); shell-word expansion ([`shell`]).
//! Pure: no I/O, no processes.

pub mod dockerignore;
pub mod error;
pub mod instructions;
pub mod shell;
pub mod span;
pub mod suggest;
pub mod syntax;

pub use error::{Error, ErrorKind};
pub use span::{Pos, Span};
pub mod plan;
pub mod report;
