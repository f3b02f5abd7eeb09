//! Table tests for shell-word expansion.
