//! COPY and ADD: sources from the context, another stage or an image, written into the
//! stage's root with Docker's rules.

pub mod chmod;
pub mod url;
pub mod owner;
