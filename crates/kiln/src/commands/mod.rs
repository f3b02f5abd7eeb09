//! One module per subcommand.

mod audit;
mod build;
mod debug;
mod images;
mod info;
pub mod lint;
mod parse;
mod registry;
mod squash;
mod store;

use crate::cli::{Cli, Command};
use crate::exit::Failure;

pub fn run(cli: Cli) -> Result<(), Failure> {
    let root = cli.root;
    match cli.command {
        Command::Build(args) => build::run(&root, *args),
        Command::Import(args) => images::import(&root, args),
        Command::Load(args) => images::load(&root, args),
        Command::Save(args) => images::save(&root, args),
        Command::Export(args) => images::export(&root, args),
        Command::Images(args) => images::images(&root, args),
        Command::Inspect(args) => images::inspect(&root, args),
        Command::History(args) => images::history(&root, args),
        Command::Squash(args) => squash::run(&root, args),
        Command::Audit(args) => audit::run(&root, args),
        Command::Tag(args) => images::tag(&root, args),
        Command::Rmi(args) => images::rmi(&root, args),
        Command::Prune(args) => store::prune(&root, args),
        Command::Df(args) => store::df(&root, args),
        Command::Store(crate::cli_store::StoreCommand::Verify(args)) => store::verify(&root, args),
        Command::Pull(args) => registry::pull(&root, args),
        Command::Push(args) => registry::push(&root, args),
        Command::Login(args) => registry::login(args),
        Command::Logout(args) => registry::logout(args),
        Command::Parse(args) => parse::run(args),
        Command::Debug(cmd) => debug::run(cmd),
        Command::Info => info::info(&root),
        Command::Lint(args) => lint::run(args),
    }
}
