//! Command-line arguments. Help text comes from these definitions.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "kiln",
    version,
    about = "Build OCI container images from Dockerfiles: daemonless, sandboxed, fast",
    after_help = "Exit codes: 0 success, 1 input rejected (Dockerfile or expansion error, refused tarball or image archive; `kiln store verify` found damage), 2 bad command line, 3 file not readable or writable."
)]
pub struct Cli {
    /// The store directory (default: /var/lib/kiln as root, $XDG_DATA_HOME/kiln otherwise).
    #[arg(long, global = true, value_name = "DIR", env = "KILN_ROOT")]
    pub root: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Build an image from a Dockerfile.
    Build(Box<crate::cli_image::BuildArgs>),
    /// Make a base image from a tarball of a root filesystem.
    Import(crate::cli_image::ImportArgs),
    /// Load images from an oci-archive, a docker-archive or an OCI layout directory.
    Load(crate::cli_image::LoadArgs),
    /// Save images as an oci-archive, a docker-archive or an OCI layout directory.
    Save(crate::cli_image::SaveArgs),
    /// Write an image's root filesystem to a directory or a tarball.
    Export(crate::cli_image::ExportArgs),
    /// List the images in the store.
    Images(crate::cli_image::ImagesArgs),
    /// Show an image's config, layers and digests.
    Inspect(crate::cli_image::InspectArgs),
    /// Show an image's history.
    History(crate::cli_image::NameArg),
    /// Audit an image: root user, setuid and world-writable files, secrets and credentials
    /// (also in files later layers deleted), leftovers and wasted space (docs/audit/).
    Audit(crate::cli_image::AuditArgs),
    /// Squash an image's top layers into one (`--last N` or `--from LAYER_OR_STEP`) and
    /// store it as a new image; prints sizes before and after.
    Squash(crate::cli_image::SquashArgs),
    /// Give an image another name.
    Tag(crate::cli_image::TagArgs),
    /// Remove image names (and images no name refers to any more).
    Rmi(crate::cli_image::RmiArgs),
    /// Remove what nothing needs: untagged images, unreferenced blobs and unpacked layers,
    /// leftovers of killed builds (with --all also the step cache).
    Prune(crate::cli_store::PruneArgs),
    /// Show the store's disk usage: images, step cache, blobs, unpacked layers, cache mounts, temp.
    Df(crate::cli_store::DfArgs),
    /// Check the store.
    #[command(subcommand)]
    Store(crate::cli_store::StoreCommand),
    /// Pull an image from a registry into the store.
    Pull(crate::cli_registry::PullArgs),
    /// Push an image from the store to a registry.
    Push(crate::cli_registry::PushArgs),
    /// Save credentials for a registry (in containers' auth.json, as podman does).
    Login(crate::cli_registry::LoginArgs),
    /// Remove saved credentials for a registry.
    Logout(crate::cli_registry::LogoutArgs),
    /// Parse a Dockerfile and print its stages and instructions.
    Parse(ParseArgs),
    /// Check Dockerfiles for problems: size, security, correctness (rules: docs/rules/).
    Lint(crate::commands::lint::LintArgs),
    /// Show what this host offers kiln: the RUN runtimes found (embedded and OCI CLIs).
    Info,
    /// Tools for conformance testing of the front end.
    #[command(subcommand)]
    Debug(DebugCommand),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ParseFormat {
    /// Stages and steps, for people.
    Human,
    /// Typed instructions with spans (schema: docs/parse-json.md).
    Json,
    /// BuildKit's parser node dump, one instruction a line (for conformance testing).
    BuildkitDump,
}

#[derive(Debug, Args)]
pub struct ParseArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t = ParseFormat::Human)]
    pub format: ParseFormat,
    /// Plan for this target stage (default: the last stage).
    #[arg(long)]
    pub target: Option<String>,
    /// Set a build argument (KEY=VALUE, or KEY to take it from the environment).
    #[arg(long = "build-arg", value_name = "KEY=VALUE")]
    pub build_args: Vec<String>,
    /// The Dockerfile, or - for standard input.
    #[arg(default_value = "Dockerfile")]
    pub file: PathBuf,
}

#[derive(Debug, Subcommand)]
pub enum DebugCommand {
    /// Print WORD after variable expansion with Docker's rules (exit 1 on an expansion error).
    Expand(WordArgs),
    /// Print the words WORD splits into after expansion, one a line.
    Words(WordArgs),
}

#[derive(Debug, Args)]
pub struct WordArgs {
    /// Define a variable (KEY=VALUE); later definitions win.
    #[arg(long = "env", value_name = "KEY=VALUE")]
    pub env: Vec<String>,
    /// The escape character: \ (default) or `.
    #[arg(long, default_value = "\\")]
    pub escape: char,
    /// The word to expand.
    #[arg(allow_hyphen_values = true)]
    pub word: String,
}
