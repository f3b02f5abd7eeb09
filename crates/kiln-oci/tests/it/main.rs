//! Integration tests for kiln-oci: each test uses its own temporary store.

mod common;
mod concurrency;
mod extension_headers;
mod gc;
mod hostile;
mod kinds;
mod layers;
mod roundtrip;
mod skopeo;
mod store;
