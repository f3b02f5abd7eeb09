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

/// mimalloc instead of the C library's allocator: parsing and linting allocate many small
/// strings and vectors, and with glibc's malloc a 10,000-instruction Dockerfile spent
/// about half of `kiln parse`/`kiln lint` in malloc, free and first-touch page faults
/// (bench/parse.sh: 1.5-2x faster with mimalloc on the same machine). The sandbox's
/// children do not allocate between clone and exec, whichever allocator is used.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    // In a guest VM's initramfs, kiln is the agent that runs the steps (`--isolation vm`).
    if kiln_engine::guest::is_agent() {
        kiln_engine::guest::main();
    }
    let cli = cli::Cli::parse();
    let code = match commands::run(cli) {
        Ok(()) => exit::SUCCESS,
        Err(failure) => failure.report(),
    };
    std::process::exit(code);
}
