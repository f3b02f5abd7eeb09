//! The build context: a directory (or an unpacked tarball) filtered by `.dockerignore`.

pub mod dockerignore;
