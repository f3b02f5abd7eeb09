//! `kiln squash`: an image's top layers as one, stored under a new name.

use crate::cli_image::SquashArgs;
use crate::exit::Failure;
use crate::output::stdout;
use crate::sizes::human;
use crate::store::open;
use kiln_engine::squash::{squash_stored, Selection, Sizes, SquashError};
use std::path::PathBuf;

pub fn run(root: &Option<PathBuf>, args: SquashArgs) -> Result<(), Failure> {
    let store = open(root)?;
    let sel = match (args.last, args.from) {
        (Some(n), _) => Selection::Last(n),
        (None, Some(from)) => Selection::From(from),
        (None, None) => return Err(Failure::usage("give --last N or --from LAYER_OR_STEP")),
    };
    let epoch = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|v| v.parse().ok());
    let (squashed, stored) =
        squash_stored(&store, &args.image, &sel, &args.tag, epoch).map_err(failure)?;
    let mut text = format!(
        "Squashed {} layer(s) of {} into 1\n",
        squashed.squashed, args.image
    );
    text.push_str(&line("before", &squashed.before));
    text.push_str(&line("after", &squashed.after));
    text.push_str(&format!("{}\n", stored.config));
    stdout(&text)
}

fn line(when: &str, s: &Sizes) -> String {
    format!(
        "{when:<7} {} layer(s), {} ({} bytes) compressed, {} ({} bytes) uncompressed\n",
        s.layers,
        human(s.compressed),
        s.compressed,
        human(s.uncompressed),
        s.uncompressed
    )
}

fn failure(e: SquashError) -> Failure {
    Failure::new(e.kind(), format!("error: {e}"))
}
