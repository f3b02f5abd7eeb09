//! Bytes -> syntax tree: line continuations, comments, parser directives, heredocs, and the
//! per-instruction argument splitting of BuildKit's parser, with spans for everything.

mod args;
mod directives;
pub mod dump;
pub mod heredoc;
mod logical_line;
mod node;
mod parser;
mod split;
pub mod text;

pub use node::{Ast, Directive, Heredoc, Node, Token, Warning};
pub use parser::{parse, parse_bytes};
