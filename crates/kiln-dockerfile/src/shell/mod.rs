//! Shell-word expansion with Docker's rules (not a real shell).
