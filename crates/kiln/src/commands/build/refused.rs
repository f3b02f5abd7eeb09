//! `docker build` flags whose feature kiln does not have yet: refused, never ignored, each
//! with what to do instead.

use crate::cli_image::BuildArgs;
use crate::exit::Failure;

/// An attestation flag that asks for something (`--sbom=false` asks for nothing).
fn asks(v: &Option<String>) -> bool {
    v.as_deref().is_some_and(|v| v != "false" && v != "0")
}

/// Refuses the flags of features that come later (exit 2), naming each.
pub fn refuse_later(args: &BuildArgs) -> Result<(), Failure> {
    let l = &args.later;
    let refused: Vec<(&str, &str)> = [
        (
            !l.add_host.is_empty(),
            "--add-host",
            "host entries are for RUN, which comes later",
        ),
        (
            !l.build_context.is_empty(),
            "--build-context",
            "named build contexts come later; use COPY --from=STAGE or an image in the store",
        ),
        (asks(&l.sbom), "--sbom", "attestations come later"),
        (
            asks(&l.provenance),
            "--provenance",
            "attestations come later",
        ),
    ]
    .into_iter()
    .filter_map(|(set, name, why)| set.then_some((name, why)))
    .collect();
    if refused.is_empty() {
        return Ok(());
    }
    let mut message = format!(
        "{} not supported yet (refused rather than ignored)",
        refused
            .iter()
            .map(|(n, _)| *n)
            .collect::<Vec<_>>()
            .join(", ")
    );
    for (name, why) in refused {
        message.push_str(&format!("\n = hint: {name}: {why}"));
    }
    Err(Failure::usage(message))
}
