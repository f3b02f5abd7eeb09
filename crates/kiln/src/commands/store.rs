//! The store maintenance commands: prune, df, store verify.

use crate::cli_store::{DfArgs, PruneArgs, ReportFormat, VerifyArgs};
use crate::exit::Failure;
use crate::output::stdout;
use crate::sizes::{human, parse_bytes, parse_duration};
use crate::store::{failure, open};
use kiln_oci::store::{PruneOptions, Severity, UsageRow};
use kiln_oci::ErrorKind;
use std::path::PathBuf;

type Root = Option<PathBuf>;

fn json(value: &impl serde::Serialize) -> Result<(), Failure> {
    let text = serde_json::to_string_pretty(value)
        .map_err(|e| failure("cannot write the report as JSON", e))?;
    stdout(&format!("{text}\n"))
}

fn prune_options(args: &PruneArgs) -> Result<PruneOptions, Failure> {
    let keep_storage = match &args.keep_storage {
        None => None,
        Some(s) => Some(parse_bytes(s).ok_or_else(|| {
            Failure::usage(format!(
                "--keep-storage {s:?} is not a size: write e.g. 10GB, 512m or a number of bytes"
            ))
        })?),
    };
    let mut until = None;
    for f in &args.filters {
        let Some(value) = f.strip_prefix("until=") else {
            return Err(Failure::usage(format!(
                "unknown prune filter {f:?}: kiln knows until=DURATION (e.g. until=24h)"
            )));
        };
        until = Some(parse_duration(value).ok_or_else(|| {
            Failure::usage(format!(
                "--filter {f:?}: {value:?} is not a duration: write e.g. 24h, 90m or 1h30m"
            ))
        })?);
    }
    Ok(PruneOptions {
        all: args.all,
        keep_storage,
        until,
    })
}

pub fn prune(root: &Root, args: PruneArgs) -> Result<(), Failure> {
    if args.cache_mounts {
        return super::info::prune_cache_mounts(root);
    }
    let opts = prune_options(&args)?;
    let store = open(root)?;
    let report = store
        .prune(&opts)
        .map_err(|e| failure(&format!("cannot prune {}", store.root().display()), e))?;
    if args.format == ReportFormat::Json {
        // The problems are in the report: the JSON on standard output is the one channel.
        let value = serde_json::json!({
            "images": report.images.iter().map(|i| serde_json::json!({
                "id": i.config.to_string(),
                "manifest": i.manifest.to_string(),
            })).collect::<Vec<_>>(),
            "step_records": report.step_records.iter().map(|(p, _)| p.display().to_string()).collect::<Vec<_>>(),
            "blobs": report.blobs.iter().map(|(d, _)| d.to_string()).collect::<Vec<_>>(),
            "unpacked_layers": report.layers.iter().map(|(d, _)| d.clone()).collect::<Vec<_>>(),
            "temp": report.temps.iter().map(|t| t.path.display().to_string()).collect::<Vec<_>>(),
            "cache_files": report.cache_files.iter().map(|(p, _)| p.display().to_string()).collect::<Vec<_>>(),
            "problems": report.problems,
            "reclaimed_bytes": report.reclaimed(),
        });
        return json(&value);
    }
    for p in &report.problems {
        eprintln!("warning: {p}");
    }
    let mut out = String::new();
    if !report.images.is_empty() {
        out.push_str("Deleted images:\n");
        for i in &report.images {
            out.push_str(&format!("deleted: {}\n", i.config));
        }
    }
    let counts = [
        ("step-cache records", report.step_records.len()),
        ("blobs", report.blobs.len()),
        ("unpacked layers", report.layers.len()),
        (
            "temp directories of ended kiln processes",
            report.temps.len(),
        ),
        ("cache files", report.cache_files.len()),
    ];
    for (what, n) in counts {
        if n > 0 {
            out.push_str(&format!("Deleted {what}: {n}\n"));
        }
    }
    out.push_str(&format!(
        "Total reclaimed space: {}\n",
        human(report.reclaimed())
    ));
    stdout(&out)
}

pub fn df(root: &Root, args: DfArgs) -> Result<(), Failure> {
    let store = open(root)?;
    let usage = store
        .usage()
        .map_err(|e| failure(&format!("cannot measure {}", store.root().display()), e))?;
    if args.format == ReportFormat::Json {
        return json(&usage);
    }
    let rows: [(&str, &UsageRow); 6] = [
        ("Images", &usage.images),
        ("Step cache", &usage.step_cache),
        ("Unused blobs", &usage.unused_blobs),
        ("Unpacked layers", &usage.unpacked_layers),
        ("Cache mounts", &usage.cache_mounts),
        ("Temporary files", &usage.temp),
    ];
    let mut out = format!(
        "{:<18}{:<8}{:<8}{:<12}{}\n",
        "TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"
    );
    for (name, row) in rows {
        let pct = row
            .reclaimable
            .saturating_mul(100)
            .checked_div(row.bytes)
            .unwrap_or(0);
        out.push_str(&format!(
            "{name:<18}{:<8}{:<8}{:<12}{} ({pct}%)\n",
            row.count,
            row.active,
            human(row.bytes),
            human(row.reclaimable)
        ));
    }
    out.push_str(&format!(
        "\nStore {}: {} in all\n",
        store.root().display(),
        human(usage.total_bytes)
    ));
    stdout(&out)
}

pub fn verify(root: &Root, args: VerifyArgs) -> Result<(), Failure> {
    let store = open(root)?;
    let report = store
        .verify(args.repair)
        .map_err(|e| failure(&format!("cannot check {}", store.root().display()), e))?;
    if args.format == ReportFormat::Json {
        json(&report)?;
    } else {
        let mut out = String::new();
        for f in &report.findings {
            let label = match f.severity {
                Severity::Corrupt => "damaged",
                Severity::Harmless => "harmless",
            };
            out.push_str(&format!(
                "{label}: {}: {}\n = fix: {}\n",
                f.subject, f.problem, f.fix
            ));
        }
        for r in &report.repaired {
            out.push_str(&format!("repaired: {r}\n"));
        }
        let damaged = report
            .findings
            .iter()
            .filter(|f| f.severity == Severity::Corrupt)
            .count();
        out.push_str(&format!(
            "checked {} blobs ({}), {} images, {} unpacked layers, {} step-cache records: {} damaged, {} harmless\n",
            report.blobs,
            human(report.bytes),
            report.images,
            report.layers,
            report.step_records,
            damaged,
            report.findings.len() - damaged
        ));
        stdout(&out)?;
    }
    if report.corrupt() {
        return Err(Failure::new(
            ErrorKind::Rejected,
            format!(
                "error: the store at {} is damaged (see above)\n = hint: `kiln --root {} store verify --repair` removes the damaged entries; then load, pull or build the images it names again",
                store.root().display(),
                store.root().display()
            ),
        ));
    }
    Ok(())
}
