//! kiln's Dockerfile front end.
//!
//! bytes -> syntax tree with spans ([`syntax`]) -> typed instructions
//! ([`instructions`]) -> stage plan ([`plan`]); shell-word expansion ([`shell`]).
//! Pure: no I/O, no processes.

pub mod shell;
