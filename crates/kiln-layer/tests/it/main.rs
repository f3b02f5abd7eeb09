//! Integration tests for kiln-layer, on the real filesystem. One binary for
//! all of them (faster to build). Parts that need root print `SKIPPED (not
//! root)` and check the non-root behaviour instead where there is one.

mod common;
mod compress;
mod extract;
mod interop;
mod root;
mod snapshot;
mod snapshot_random;
mod sparse;
mod writer;
