//! Arguments of the store maintenance commands: prune, df, store verify.

use clap::{Args, Subcommand, ValueEnum};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    /// For people.
    Table,
    /// One JSON document.
    Json,
}

#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Also remove the whole step cache, every unpacked layer and the cache files (context
    /// stat cache, compressed-layer cache): they are made again when needed; tagged images
    /// always stay.
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Then drop least recently used step-cache records and unpacked layers until the store
    /// uses at most SIZE (e.g. 10GB, 512m).
    #[arg(long, value_name = "SIZE")]
    pub keep_storage: Option<String>,
    /// Only what was created or last used longer ago than DURATION: until=24h, until=90m, until=168h.
    #[arg(long = "filter", value_name = "until=DURATION")]
    pub filters: Vec<String>,
    /// Accepted for docker compatibility; kiln never asks for confirmation.
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Only remove the RUN --mount=type=cache directories no running build uses (nothing
    /// else).
    #[arg(long)]
    pub cache_mounts: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = ReportFormat::Table)]
    pub format: ReportFormat,
}

#[derive(Debug, Args)]
pub struct DfArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t = ReportFormat::Table)]
    pub format: ReportFormat,
}

#[derive(Debug, Subcommand)]
pub enum StoreCommand {
    /// Re-hash every blob and check every reference; exit 1 if the store is damaged.
    Verify(VerifyArgs),
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Remove what is damaged (broken blobs, the images and step-cache records using them,
    /// broken unpacked layers, leftover temp files), so the store is consistent again.
    #[arg(long)]
    pub repair: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = ReportFormat::Table)]
    pub format: ReportFormat,
}
