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

use std::collections::BTreeSet;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use kiln_layer::{EntryKind, EntryMeta, ExtractOptions, LayerWriter, Root, TarOptions};
use kiln_oci::{Compression, Digest, ErrorKind, LayerRef, Reference, Store, StoreError};

use crate::config::{History, ImageConfig};

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

/// Layer count and bytes of an image.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sizes {
    pub layers: usize,
    /// Compressed bytes (gzip level 6 for layers stored uncompressed).
    pub compressed: u64,
    /// Bytes of the layer tars.
    pub uncompressed: u64,
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

/// Errors of squashing.
#[derive(Debug, thiserror::Error)]
pub enum SquashError {
    #[error("{source}")]
    Lookup {
        #[source]
        source: Box<StoreError>,
    },
    #[error("cannot read image {image} from the store: {source}")]
    Image {
        image: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("{image} has {layers} layer(s); --last {asked} asks for more (give --last {layers} or less, or see the layers with `kiln inspect {image}`)")]
    TooMany {
        image: String,
        asked: usize,
        layers: usize,
    },
    #[error("--last 0 squashes nothing; give --last N with N of at least 1")]
    Nothing,
    #[error("{image} has no layer or history step {given:?}; give a layer digest from `kiln inspect {image}` (or a prefix of 12+ hex digits of one), or a history index below {steps} (0 = the oldest entry; `kiln history {image}` lists them newest first)")]
    UnknownLayer {
        image: String,
        given: String,
        steps: usize,
    },
    #[error("{image}: history step {index} made no layer and none follows it; give an earlier step or a layer digest")]
    NoLayerAfter { image: String, index: usize },
    #[error("layer {digest}: {source}")]
    Decompress {
        digest: Digest,
        #[source]
        source: Box<kiln_oci::CompressionError>,
    },
    #[error("layer {digest}: {source}")]
    Extract {
        digest: Digest,
        #[source]
        source: Box<kiln_layer::ExtractError>,
    },
    #[error("cannot write the squashed layer: {source}")]
    Write {
        #[source]
        source: Box<kiln_layer::WriteError>,
    },
    #[error("a squashed layer has a path that is not UTF-8 ({path:?}); squashing above kept layers cannot carry it, squash the whole image instead (--squash-all, or kiln squash --from 0)")]
    NotUtf8 { path: String },
    #[error("store {root}: {what}: {source}")]
    Store {
        root: PathBuf,
        what: &'static str,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error(
        "invalid image name {name:?}: {source} (name the image NAME[:TAG], e.g. app:squashed)"
    )]
    Name {
        name: String,
        #[source]
        source: Box<kiln_oci::ReferenceError>,
    },
}

impl SquashError {
    /// The class of the failure (decides the exit code).
    pub fn kind(&self) -> ErrorKind {
        match self {
            SquashError::Lookup { source } => source.kind(),
            SquashError::TooMany { .. }
            | SquashError::Nothing
            | SquashError::UnknownLayer { .. }
            | SquashError::NoLayerAfter { .. }
            | SquashError::Name { .. } => ErrorKind::Usage,
            SquashError::NotUtf8 { .. } => ErrorKind::Rejected,
            SquashError::Decompress { source, .. } => source.kind(),
            SquashError::Extract { source, .. } => source.kind(),
            SquashError::Write { source } => source.kind(),
            SquashError::Image { .. } | SquashError::Store { .. } => ErrorKind::Io,
        }
    }
}

fn store_err(
    store: &Store,
    what: &'static str,
    e: impl Into<Box<dyn std::error::Error + Send + Sync>>,
) -> SquashError {
    SquashError::Store {
        root: store.root().to_owned(),
        what,
        source: e.into(),
    }
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

/// The image's root directory: 0755, as images have it.
fn make_root_dir(dir: &Path) -> io::Result<()> {
    std::fs::create_dir(dir)?;
    std::fs::set_permissions(dir, std::os::unix::fs::PermissionsExt::from_mode(0o755))
}

/// Every path of `root` (relative), sorted.
fn list_paths(store: &Store, root: &Root) -> Result<Vec<PathBuf>, SquashError> {
    let mut paths: Vec<PathBuf> = root
        .walk("/")
        .map_err(|e| store_err(store, "cannot list the scratch tree", e))?
        .into_iter()
        .map(|(p, _)| p)
        .filter(|p| p != Path::new("/"))
        .collect();
    paths.sort();
    Ok(paths)
}

/// Extract one layer into `root`: its compressed and uncompressed sizes, and (if
/// `record`) the paths it wrote.
fn extract_layer(
    store: &Store,
    layer: &LayerRef,
    root: &Root,
    record: bool,
) -> Result<(u64, u64, Vec<String>), SquashError> {
    let blob = store
        .blob_reader(&layer.digest)
        .map_err(|e| store_err(store, "cannot read a layer", e))?;
    let mut head = [0u8; 8];
    let head_len = store
        .open_blob(&layer.digest)
        .map_err(|e| store_err(store, "cannot read a layer", e))?
        .read(&mut head)
        .map_err(|e| store_err(store, "cannot read a layer", e))?;
    let plain = Compression::detect(&head[..head_len]) == Compression::None;
    let (_, reader) =
        kiln_oci::compression::decompress(blob).map_err(|source| SquashError::Decompress {
            digest: layer.digest,
            source: Box::new(source),
        })?;
    let mut counted = Counted::new(reader, plain);
    let opts = ExtractOptions {
        record_paths: record,
        ..ExtractOptions::default()
    };
    let stats =
        kiln_layer::extract(&mut counted, root, &opts).map_err(|source| SquashError::Extract {
            digest: layer.digest,
            source: Box::new(source),
        })?;
    // What follows the tar's end still counts as the layer's bytes.
    io::copy(&mut counted, &mut io::sink())
        .map_err(|e| store_err(store, "cannot read a layer", e))?;
    let (uncompressed, gz) = counted.finish();
    let compressed = if plain { gz } else { layer.size };
    Ok((compressed, uncompressed, stats.paths))
}

/// Write the new layer into the store: the paths the squashed layers wrote that still
/// exist, then a whiteout for each topmost kept path that is gone. Gives the layer and its
/// gzip size.
fn write_layer(
    store: &Store,
    root: &Root,
    written: Option<&[String]>,
    kept: &[PathBuf],
    epoch: Option<i64>,
) -> Result<(LayerRef, u64), SquashError> {
    let lstat = |p: &Path| {
        root.lstat(p)
            .map_err(|e| store_err(store, "cannot read the scratch tree", e))
    };
    let blob = store
        .blob_writer()
        .map_err(|e| store_err(store, "cannot write a blob", e))?;
    let mut lw = LayerWriter::new(GzCount::new(blob), TarOptions { epoch });
    let write_err = |source| SquashError::Write {
        source: Box::new(source),
    };
    match written {
        // Nothing kept: the whole tree.
        None => kiln_layer::write_tree(root, &mut lw).map_err(write_err)?,
        Some(written) => {
            let mut present = BTreeSet::new();
            for p in written {
                if lstat(&Path::new("/").join(p))?.is_some() {
                    present.insert(p.clone());
                } else if p.contains(char::REPLACEMENT_CHARACTER) {
                    // The extractor lists paths as UTF-8; a name that is not cannot be
                    // found again, and dropping it would lose a file.
                    return Err(SquashError::NotUtf8 { path: p.clone() });
                }
            }
            let present: Vec<String> = present.into_iter().collect();
            kiln_layer::write_paths(root, &present, &mut lw).map_err(write_err)?;
        }
    }
    let none = EntryMeta::default();
    for p in kept {
        let parent_is_dir = match p.parent() {
            Some(parent) => lstat(parent)?.is_some_and(|m| m.is_dir()),
            None => false,
        };
        if parent_is_dir && lstat(p)?.is_none() {
            let rel = p.strip_prefix("/").unwrap_or(p);
            lw.add_entry_path(rel, &none, EntryKind::Whiteout, None)
                .map_err(|source| SquashError::Write {
                    source: Box::new(source),
                })?;
        }
    }
    let out = lw.finish().map_err(|source| SquashError::Write {
        source: Box::new(source),
    })?;
    let (blob, gz) = out
        .finish()
        .map_err(|e| store_err(store, "cannot write a blob", e))?;
    let (digest, size) = blob
        .commit(None)
        .map_err(|e| store_err(store, "cannot write a blob", e))?;
    Ok((LayerRef::uncompressed(digest, size), gz))
}

/// The history with the entries of layers `keep..` marked empty and one entry for the new
/// layer appended.
fn squash_history(
    history: &[History],
    keep: usize,
    created: Option<String>,
    what: &str,
) -> Vec<History> {
    let mut layer = 0;
    let mut out: Vec<History> = history
        .iter()
        .map(|h| {
            let mut h = h.clone();
            if !h.empty_layer {
                if layer >= keep {
                    h.empty_layer = true;
                }
                layer += 1;
            }
            h
        })
        .collect();
    out.push(History {
        created,
        created_by: Some(what.to_owned()),
        comment: Some("kiln".into()),
        ..History::default()
    });
    out
}

/// A reader that counts the bytes through it and, for a plain tar, what gzip makes of them.
struct Counted<R> {
    inner: R,
    bytes: u64,
    gz: Option<GzCount<io::Sink>>,
}

impl<R: Read> Counted<R> {
    fn new(inner: R, gzip: bool) -> Self {
        Counted {
            inner,
            bytes: 0,
            gz: gzip.then(|| GzCount::new(io::sink())),
        }
    }

    /// Bytes read, and their gzip size (0 when not measured).
    fn finish(self) -> (u64, u64) {
        let gz = self.gz.and_then(|g| g.finish().ok()).map_or(0, |(_, n)| n);
        (self.bytes, gz)
    }
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.bytes += n as u64;
        if let Some(gz) = &mut self.gz {
            gz.measure(&buf[..n])?;
        }
        Ok(n)
    }
}

/// A writer that passes bytes on and measures their gzip size.
struct GzCount<W> {
    inner: W,
    gz: flate2::write::GzEncoder<ByteCount>,
}

impl<W: Write> GzCount<W> {
    fn new(inner: W) -> Self {
        GzCount {
            inner,
            gz: kiln_oci::compression::gzip_writer(ByteCount(0), 6),
        }
    }

    fn measure(&mut self, buf: &[u8]) -> io::Result<()> {
        self.gz.write_all(buf)
    }

    fn finish(self) -> io::Result<(W, u64)> {
        let count = self.gz.finish()?;
        Ok((self.inner, count.0))
    }
}

impl<W: Write> Write for GzCount<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.gz.write_all(&buf[..n])?;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Counts bytes written to nowhere.
struct ByteCount(u64);

impl Write for ByteCount {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0 += buf.len() as u64;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(by: &str, empty: bool) -> History {
        History {
            created_by: Some(by.into()),
            empty_layer: empty,
            ..History::default()
        }
    }

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

    #[test]
    fn history_marks_squashed_layers_empty_and_adds_one() {
        let hist = vec![
            h("base", false),
            h("ENV", true),
            h("RUN a", false),
            h("COPY", false),
        ];
        let out = squash_history(&hist, 1, Some("t".into()), "kiln build --squash");
        let empties: Vec<bool> = out.iter().map(|h| h.empty_layer).collect();
        assert_eq!(empties, [false, true, true, true, false]);
        assert_eq!(out[4].created_by.as_deref(), Some("kiln build --squash"));
    }
}
