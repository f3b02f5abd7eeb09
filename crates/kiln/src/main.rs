//! kiln: build OCI images from Dockerfiles, daemonless and sandboxed.
//!
//! The binary only turns arguments into options, calls one library function per command,
//! and maps failures to the documented exit codes (see `exit.rs`).

mod build_args;
mod build_cache;
mod cli;
mod cli_image;
mod cli_registry;
mod cli_store;
mod commands;
mod exit;
mod input;
mod output;
mod progress;
mod signals;
mod sizes;
mod store;

use clap::Parser;

fn main() {
    let cli = cli::Cli::parse();
    let code = match commands::run(cli) {
        Ok(()) => exit::SUCCESS,
        Err(failure) => failure.report(),
    };
    std::process::exit(code);
}
