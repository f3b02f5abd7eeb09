//! One module per subcommand.

mod debug;
pub mod lint;
mod parse;

use crate::cli::{Cli, Command};
use crate::exit::Failure;

pub fn run(cli: Cli) -> Result<(), Failure> {
    match cli.command {
        Command::Parse(args) => parse::run(args),
        Command::Debug(cmd) => debug::run(cmd),
        Command::Lint(args) => lint::run(args),
    }
}
