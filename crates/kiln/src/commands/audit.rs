//! `kiln audit`: findings about an image of the store, for people or as JSON; with
//! `--fail-on`, exit 1 when one is at or above that severity.

use crate::cli_image::{AuditArgs, AuditFormat};
use crate::exit::Failure;
use crate::output::stdout;
use crate::store::open;
use kiln_audit::{report, Severity};
use kiln_oci::ErrorKind;
use std::path::PathBuf;

pub fn run(root: &Option<PathBuf>, args: AuditArgs) -> Result<(), Failure> {
    let fail_on = match &args.fail_on {
        None => None,
        Some(s) => Some(Severity::parse(s).ok_or_else(|| {
            Failure::usage(format!("--fail-on {s}: give low, medium, high or critical"))
        })?),
    };
    let store = open(root)?;
    let audit = kiln_audit::audit(&store, &args.image)
        .map_err(|e| Failure::new(e.kind(), format!("error: {e}")))?;
    stdout(&match args.format {
        AuditFormat::Human => report::human(&audit),
        AuditFormat::Json => report::json(&audit),
    })?;
    match fail_on {
        Some(s) if audit.at_or_above(s) > 0 => Err(Failure::new(
            ErrorKind::Rejected,
            format!(
                "error: {} finding(s) at or above {} (--fail-on {})",
                audit.at_or_above(s),
                s.as_str(),
                s.as_str()
            ),
        )),
        _ => Ok(()),
    }
}
