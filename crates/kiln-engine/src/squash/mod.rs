//! Squashing an image's top layers into one: `kiln build --squash` / `--squash-all` and
//! `kiln squash`.
//!
//! How: every layer is extracted in order, through kiln-layer's hardened reader, into one
//! scratch root under the store's temp directory. Before the first squashed layer, the
//! paths of the tree so far (the kept layers) are listed; the squashed layers are then
//! extracted with their members recorded. The new layer holds every recorded path that
//! still exists (with its parents, hard links and xattrs, written by the deterministic
//! tree writer) and one whiteout for each topmost kept path that is gone (a directory made
//! opaque gives one whiteout per hidden child). Chosen over an in-memory merged index of
//! the tar streams because the extractor already resolves whiteouts, opaque directories,
//! hard links, owners, modes, xattrs and devices on a real filesystem, and the tree writer
//! already writes canonical layers from one; an index would repeat both and still have to
//! spool file contents somewhere. The cost is scratch space the size of the image, as
//! `kiln export` needs.
//!
//! Every layer passes the extractor, so each one's uncompressed size is counted on the way;
//! for the sizes report, an uncompressed blob's compressed size is what gzip (level 6) makes
//! of it.
//!
//! Layout: this file holds the API (selections, the squash itself, the report line);
//! `error` the errors, `tree` unpacking layers into the scratch tree and writing the new
//! layer from it, `history` the new config history, `sizes` the sizes and the byte and
//! gzip counters.

mod error;
mod history;
mod sizes;
mod tree;

use kiln_layer::Root;
use kiln_oci::{LayerRef, Reference, Store};

use crate::config::ImageConfig;

pub use error::SquashError;
pub use sizes::Sizes;

use error::store_err;
use history::squash_history;
use tree::{extract_layer, list_paths, make_root_dir, write_layer};

/// Which layers of an image to squash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    /// Keep this many bottom layers, squash the rest (`--squash`: the base's layers).
    Keep(usize),
    /// Squash the top N layers (`--last N`).
    Last(usize),
    /// Squash from this layer up: a layer digest (blob or diff ID, or a unique prefix of
    /// at least 12 hex digits), or a history index (0 = the config history's oldest entry;
    /// the first layer made at or after that step).
    From(String),
}

/// An image with its top layers squashed.
#[derive(Debug, Clone)]
pub struct Squashed {
    pub config: ImageConfig,
    pub layers: Vec<LayerRef>,
    pub before: Sizes,
    pub after: Sizes,
    /// How many layers became the new one.
    pub squashed: usize,
}

/// `kiln squash`: squash `sel` of the stored image `name` and store the result as `tag`.
/// `epoch` (SOURCE_DATE_EPOCH) clamps the new layer's timestamps and dates its history
/// entry; without it the entry takes the image's creation time, so the same image squashed
/// twice gives the same digest.
pub fn squash_stored(
    store: &Store,
    name: &str,
    sel: &Selection,
    tag: &str,
    epoch: Option<i64>,
) -> Result<(Squashed, kiln_oci::StoredImage), SquashError> {
    let reference = Reference::parse_normalized(tag).map_err(|source| SquashError::Name {
        name: tag.to_owned(),
        source: Box::new(source),
    })?;
    let stored = store.lookup(name).map_err(|source| SquashError::Lookup {
        source: Box::new(source),
    })?;
    let image_err = |e: Box<dyn std::error::Error + Send + Sync>| SquashError::Image {
        image: name.to_owned(),
        source: e,
    };
    let config: ImageConfig = store
        .read_blob_json(&stored.config, 8 << 20)
        .map_err(|e| image_err(e.into()))?;
    let layers = store
        .load_image(&stored.manifest)
        .map_err(|e| image_err(e.into()))?
        .layers()
        .map_err(|e| image_err(e.into()))?;
    let keep = keep_count(name, &config, &layers, sel)?;
    let created = epoch
        .map(|e| kiln_oci::time::rfc3339(e.max(0) as u64))
        .or_else(|| config.created.clone());
    let what = format!("kiln squash {sel}");
    let squashed = squash(store, &config, &layers, keep, created, epoch, &what)?;
    let image = crate::build::output::store_image(store, &squashed.config, &squashed.layers)
        .map_err(|e| store_err(store, "cannot store the squashed image", e))?;
    store
        .tag(&reference, &image.manifest)
        .map_err(|e| store_err(store, "cannot tag the squashed image", e))?;
    let stored = store
        .lookup(&image.manifest.to_string())
        .map_err(|source| SquashError::Lookup {
            source: Box::new(source),
        })?;
    Ok((squashed, stored))
}

impl std::fmt::Display for Selection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Selection::Keep(n) => write!(f, "--keep {n}"),
            Selection::Last(n) => write!(f, "--last {n}"),
            Selection::From(s) => write!(f, "--from {s}"),
        }
    }
}

/// How many bottom layers of `layers` stay as they are under `sel`.
pub fn keep_count(
    image: &str,
    config: &ImageConfig,
    layers: &[LayerRef],
    sel: &Selection,
) -> Result<usize, SquashError> {
    match sel {
        Selection::Keep(n) => Ok((*n).min(layers.len())),
        Selection::Last(0) => Err(SquashError::Nothing),
        Selection::Last(n) if *n > layers.len() => Err(SquashError::TooMany {
            image: image.to_owned(),
            asked: *n,
            layers: layers.len(),
        }),
        Selection::Last(n) => Ok(layers.len() - n),
        Selection::From(given) => from_layer(image, config, layers, given),
    }
}

/// The index of the layer `given` names (a digest or a history index).
fn from_layer(
    image: &str,
    config: &ImageConfig,
    layers: &[LayerRef],
    given: &str,
) -> Result<usize, SquashError> {
    let unknown = || SquashError::UnknownLayer {
        image: image.to_owned(),
        given: given.to_owned(),
        steps: config.history.len(),
    };
    if !given.is_empty() && given.bytes().all(|b| b.is_ascii_digit()) {
        let index: usize = given.parse().map_err(|_| unknown())?;
        if index >= config.history.len() {
            return Err(unknown());
        }
        // Layers made before step `index`.
        let before = config.history[..index]
            .iter()
            .filter(|h| !h.empty_layer)
            .count();
        if before >= layers.len() {
            return Err(SquashError::NoLayerAfter {
                image: image.to_owned(),
                index,
            });
        }
        return Ok(before);
    }
    let hex = given.strip_prefix("sha256:").unwrap_or(given);
    if hex.len() < 12 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(unknown());
    }
    let matches: Vec<usize> = (0..layers.len())
        .filter(|&i| {
            let l = &layers[i];
            l.digest.hex_starts_with(hex) || l.diff_id.hex_starts_with(hex)
        })
        .collect();
    match matches.as_slice() {
        [i] => Ok(*i),
        _ => Err(unknown()),
    }
}

/// Squash `layers[keep..]` into one layer; the config's history marks their entries as
/// empty and gains one entry (dated `created`, saying `what`) for the new layer.
pub fn squash(
    store: &Store,
    config: &ImageConfig,
    layers: &[LayerRef],
    keep: usize,
    created: Option<String>,
    epoch: Option<i64>,
    what: &str,
) -> Result<Squashed, SquashError> {
    let scratch = store
        .temp_dir()
        .map_err(|e| store_err(store, "cannot make a scratch directory", e))?;
    let dir = scratch.path().join("squash");
    make_root_dir(&dir).map_err(|e| store_err(store, "cannot make a scratch directory", e))?;
    let root =
        Root::open(&dir).map_err(|e| store_err(store, "cannot open the scratch directory", e))?;
    let mut before = Sizes {
        layers: layers.len(),
        ..Sizes::default()
    };
    let mut kept_paths = Vec::new();
    let mut written = Vec::new();
    let mut kept_sizes = Sizes::default();
    for (i, layer) in layers.iter().enumerate() {
        if i == keep {
            kept_sizes = before;
            kept_paths = list_paths(store, &root)?;
        }
        let record = keep > 0 && i >= keep;
        let (compressed, uncompressed, paths) = extract_layer(store, layer, &root, record)?;
        before.compressed += compressed;
        before.uncompressed += uncompressed;
        written.extend(paths);
    }
    if keep >= layers.len() {
        return Ok(Squashed {
            config: config.clone(),
            layers: layers.to_vec(),
            before,
            after: before,
            squashed: 0,
        });
    }
    let written = (keep > 0).then_some(written.as_slice());
    let (new_layer, gz) = write_layer(store, &root, written, &kept_paths, epoch)?;
    let mut out = layers[..keep].to_vec();
    out.push(new_layer.clone());
    let mut config = config.clone();
    config.history = squash_history(&config.history, keep, created, what);
    config.rootfs.diff_ids = out.iter().map(|l| l.diff_id.to_string()).collect();
    Ok(Squashed {
        config,
        layers: out,
        before,
        after: Sizes {
            layers: keep + 1,
            compressed: kept_sizes.compressed + gz,
            uncompressed: kept_sizes.uncompressed + new_layer.size,
        },
        squashed: layers.len() - keep,
    })
}

/// One line on what a squash did: layers and sizes before and after.
pub fn describe(s: &Squashed) -> String {
    if s.squashed == 0 {
        return format!(
            "nothing to squash: {} layer(s), {} bytes compressed, {} bytes uncompressed",
            s.before.layers, s.before.compressed, s.before.uncompressed
        );
    }
    format!(
        "squashed {} layer(s) into 1: before {} layer(s), {} bytes compressed, {} bytes uncompressed; after {} layer(s), {} bytes compressed, {} bytes uncompressed",
        s.squashed,
        s.before.layers,
        s.before.compressed,
        s.before.uncompressed,
        s.after.layers,
        s.after.compressed,
        s.after.uncompressed
    )
}

#[cfg(test)]
mod tests {
    use kiln_oci::{Digest, ErrorKind};

    use super::*;
    use history::tests::h;

    fn image() -> (ImageConfig, Vec<LayerRef>) {
        let config = ImageConfig {
            history: vec![
                h("import", false),
                h("ENV", true),
                h("RUN a", false),
                h("RUN b", false),
            ],
            ..ImageConfig::default()
        };
        let layers = (0..3)
            .map(|i| LayerRef::uncompressed(Digest::of_bytes(&[i]), 10))
            .collect();
        (config, layers)
    }

    #[test]
    fn selections_name_the_layers_kept() {
        let (c, l) = image();
        let keep = |sel: Selection| keep_count("img", &c, &l, &sel);
        assert_eq!(keep(Selection::Last(2)).ok(), Some(1));
        assert_eq!(keep(Selection::Last(3)).ok(), Some(0));
        assert_eq!(keep(Selection::Keep(5)).ok(), Some(3));
        let e = keep(Selection::Last(4)).expect_err("too many");
        assert_eq!(e.kind(), ErrorKind::Usage);
        assert!(e.to_string().contains("give --last 3 or less"), "{e}");
        assert!(matches!(
            keep(Selection::Last(0)),
            Err(SquashError::Nothing)
        ));
        // History index: step 1 (ENV) made no layer, so squashing starts at layer 1.
        assert_eq!(keep(Selection::From("1".into())).ok(), Some(1));
        assert_eq!(keep(Selection::From("3".into())).ok(), Some(2));
        let e = keep(Selection::From("4".into())).expect_err("past the history");
        assert!(e.to_string().contains("history index below 4"), "{e}");
        // Digests, with or without the algorithm, or a 12-digit prefix.
        let d = l[2].digest;
        assert_eq!(keep(Selection::From(d.to_string())).ok(), Some(2));
        assert_eq!(
            keep(Selection::From(d.hex()[..12].to_string())).ok(),
            Some(2)
        );
        for bad in ["", "abc", "sha256:0000", "zzzzzzzzzzzzzzzz"] {
            let e = keep(Selection::From(bad.into())).expect_err("no such layer");
            assert_eq!(e.kind(), ErrorKind::Usage, "{bad}: {e}");
        }
    }
}
