//! Integration tests for kiln-oci: each test uses its own temporary store.

mod common;
mod concurrency;
mod hostile;
mod roundtrip;
mod skopeo;
mod store;
