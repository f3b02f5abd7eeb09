//! OCI image layouts: write a directory (`oci-layout`, `index.json`,
//! `blobs/sha256/…`) for a set of stored images, and import one into the
//! store, verifying every blob's digest and size while copying.
//!
//! Names: `index.json` descriptors carry both
//! `org.opencontainers.image.ref.name` and `io.containerd.image.name` set to
//! the full name (`docker.io/library/x:latest`). When reading, the containerd
//! annotation wins; otherwise `ref.name` is used if it looks like a full name
//! (contains `/` or `:`). A bare `ref.name` such as `latest` is only a tag and
//! the image is imported without a name.
//!
//! An index nested in `index.json` (multi-platform image) is resolved to the
//! manifest for `linux/<host arch>`, or its only manifest.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use crate::digest::{Digest, DigestError};
use crate::image::{
    self, descriptor_digest, Descriptor, ImageConfiguration, ImageError, ImageIndex,
    ImageIndexBuilder, ImageManifest, MediaType, ANNOTATION_CONTAINERD_NAME, ANNOTATION_REF_NAME,
    MAX_CONFIG_BYTES, MAX_MANIFEST_BYTES, MAX_METADATA_BYTES,
};
use crate::media;
use crate::reference::{Reference, ReferenceError};
use crate::store::{Store, StoreError, StoredImage};

/// Deepest nesting of indexes followed when importing.
const MAX_INDEX_DEPTH: usize = 4;
/// Most descriptors accepted in one index.
const MAX_DESCRIPTORS: usize = 10_000;

/// The `oci-layout` file content kiln writes.
pub const OCI_LAYOUT_FILE: &[u8] = br#"{"imageLayoutVersion":"1.0.0"}"#;

/// Errors reading or writing OCI image layouts.
#[derive(Debug, thiserror::Error)]
pub enum LayoutError {
    /// A file system operation failed.
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        /// What was attempted.
        action: &'static str,
        /// The path involved.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// The output directory exists and is not empty.
    #[error("output directory {} is not empty; choose a new or empty directory", .0.display())]
    NotEmpty(PathBuf),
    /// A required file or blob is missing.
    #[error("{location}: {what} is missing; this is not a complete OCI image layout")]
    Missing {
        /// What is missing.
        what: String,
        /// The layout or archive.
        location: String,
    },
    /// A path in the layout is a symlink, device, FIFO or directory instead of a regular file.
    #[error("{location}: {what} is not a regular file (symlinks and special files are refused)")]
    NotRegularFile {
        /// The file.
        what: String,
        /// The layout or archive.
        location: String,
    },
    /// A file or blob exceeds its size cap.
    #[error("{location}: {what} is {size} bytes, more than the limit of {max} bytes")]
    TooLarge {
        /// What is too large.
        what: String,
        /// The layout or archive.
        location: String,
        /// Its size.
        size: u64,
        /// The limit.
        max: u64,
    },
    /// Invalid JSON.
    #[error("{location}: {what} is not valid: {source}")]
    Json {
        /// The file or blob.
        what: String,
        /// The layout or archive.
        location: String,
        /// The parse error.
        source: serde_json::Error,
    },
    /// Unsupported `imageLayoutVersion`.
    #[error(
        "{location}: unsupported imageLayoutVersion {version:?}; only 1.x layouts are supported"
    )]
    Version {
        /// The layout or archive.
        location: String,
        /// The version found.
        version: String,
    },
    /// Content does not match its descriptor's digest.
    #[error("{location}: {what} has digest {actual} but its descriptor says {expected}; the layout is corrupt or was tampered with")]
    DigestMismatch {
        /// The blob.
        what: String,
        /// The layout or archive.
        location: String,
        /// From the descriptor.
        expected: Digest,
        /// Of the content.
        actual: Digest,
    },
    /// Content does not match its descriptor's size.
    #[error("{location}: {what} is {actual} bytes but its descriptor says {expected}; the layout is corrupt or was tampered with")]
    SizeMismatch {
        /// The blob.
        what: String,
        /// The layout or archive.
        location: String,
        /// From the descriptor.
        expected: u64,
        /// Of the content.
        actual: u64,
    },
    /// A descriptor's digest is not sha256.
    #[error("{location}: descriptor of {what} has an unsupported digest: {source}")]
    BadDigest {
        /// The descriptor.
        what: String,
        /// The layout or archive.
        location: String,
        /// The parse error.
        source: DigestError,
    },
    /// An image name annotation is not a valid reference.
    #[error("{location}: image name {value:?} in index.json is invalid: {source}")]
    BadName {
        /// The annotation value.
        value: String,
        /// The layout or archive.
        location: String,
        /// The parse error.
        source: Box<ReferenceError>,
    },
    /// Nothing importable was found.
    #[error("{location}: index.json lists no image manifests ({skipped} descriptors of other types skipped)")]
    NoImages {
        /// The layout or archive.
        location: String,
        /// Descriptors skipped.
        skipped: usize,
    },
    /// A multi-platform index has no manifest for this host.
    #[error(
        "{location}: index {index} has no manifest for linux/{wanted}; available: {available}"
    )]
    NoMatchingPlatform {
        /// The layout or archive.
        location: String,
        /// The index digest.
        index: Digest,
        /// The host architecture.
        wanted: String,
        /// Platforms present.
        available: String,
    },
    /// Indexes nest too deeply or are too large.
    #[error("{location}: {what}; refusing to import")]
    Limits {
        /// The layout or archive.
        location: String,
        /// Which limit was hit.
        what: String,
    },
    /// The underlying archive could not be read.
    #[error("{detail}")]
    Read {
        /// The archive.
        location: String,
        /// What went wrong.
        detail: String,
    },
    /// The image store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Image metadata is inconsistent.
    #[error(transparent)]
    Image(#[from] ImageError),
}

fn io_err(action: &'static str, path: &Path, source: io::Error) -> LayoutError {
    LayoutError::Io {
        action,
        path: path.to_owned(),
        source,
    }
}

/// Where an imported layout's files and blobs come from: a directory or an indexed archive.
pub(crate) trait Source {
    /// Human-readable location for error messages.
    fn location(&self) -> String;
    /// Reads a top-level metadata file (`oci-layout`, `index.json`); `None` if absent.
    fn read_file(&mut self, name: &str, max: u64) -> Result<Option<Vec<u8>>, LayoutError>;
    /// Reads a blob fully (it must be at most `max` bytes), verifying digest and size.
    fn read_blob(&mut self, digest: &Digest, size: u64, max: u64) -> Result<Vec<u8>, LayoutError>;
    /// Checks that a blob exists with this size (and digest, when already known).
    fn check_blob(&mut self, digest: &Digest, size: u64) -> Result<(), LayoutError>;
    /// Copies a blob into the store, verifying digest and size.
    fn commit_blob(&mut self, store: &Store, digest: &Digest, size: u64)
        -> Result<(), LayoutError>;
}

/// Blob path inside a layout or archive.
pub(crate) fn blob_name(digest: &Digest) -> String {
    format!("blobs/sha256/{}", digest.hex())
}

/// Describes a size/digest check failure.
pub(crate) fn verify(
    location: &str,
    digest: &Digest,
    size: u64,
    actual_digest: &Digest,
    actual_size: u64,
) -> Result<(), LayoutError> {
    if actual_size != size {
        return Err(LayoutError::SizeMismatch {
            what: format!("blob {digest}"),
            location: location.to_owned(),
            expected: size,
            actual: actual_size,
        });
    }
    if actual_digest != digest {
        return Err(LayoutError::DigestMismatch {
            what: blob_name(digest),
            location: location.to_owned(),
            expected: *digest,
            actual: *actual_digest,
        });
    }
    Ok(())
}

/// An OCI layout directory on disk, read without following symlinks.
struct DirSource {
    dir: PathBuf,
}

/// Opens a regular file without following a symlink in its last component
/// and without blocking on FIFOs; refuses anything but a regular file.
fn open_regular(path: &Path) -> io::Result<Option<File>> {
    use rustix::fs::{Mode, OFlags};
    let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
    match rustix::fs::open(path, flags, Mode::empty()) {
        Ok(fd) => {
            let file = File::from(fd);
            if file.metadata()?.is_file() {
                Ok(Some(file))
            } else {
                Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "not a regular file",
                ))
            }
        }
        Err(rustix::io::Errno::NOENT) => Ok(None),
        Err(rustix::io::Errno::LOOP) => {
            Err(io::Error::new(io::ErrorKind::InvalidInput, "is a symlink"))
        }
        Err(e) => Err(e.into()),
    }
}

impl DirSource {
    fn open(&self, name: &str) -> Result<Option<File>, LayoutError> {
        // Intermediate directories must be real directories, not symlinks.
        let mut sub = self.dir.clone();
        let parts: Vec<&str> = name.split('/').collect();
        for part in parts.iter().take(parts.len().saturating_sub(1)) {
            sub.push(part);
            match fs::symlink_metadata(&sub) {
                Ok(m) if m.is_dir() => {}
                Ok(_) => {
                    return Err(LayoutError::NotRegularFile {
                        what: format!("{} (a parent of {name})", sub.display()),
                        location: self.location(),
                    })
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
                Err(e) => return Err(io_err("inspect", &sub, e)),
            }
        }
        let path = self.dir.join(name);
        open_regular(&path).map_err(|e| {
            if e.kind() == io::ErrorKind::InvalidInput {
                LayoutError::NotRegularFile {
                    what: name.to_owned(),
                    location: self.location(),
                }
            } else {
                io_err("open", &path, e)
            }
        })
    }

    fn open_blob(&self, digest: &Digest, size: u64) -> Result<File, LayoutError> {
        let name = blob_name(digest);
        let file = self.open(&name)?.ok_or_else(|| LayoutError::Missing {
            what: name.clone(),
            location: self.location(),
        })?;
        let actual = file
            .metadata()
            .map_err(|e| io_err("inspect", &self.dir.join(&name), e))?
            .len();
        if actual != size {
            return Err(LayoutError::SizeMismatch {
                what: name,
                location: self.location(),
                expected: size,
                actual,
            });
        }
        Ok(file)
    }
}

impl Source for DirSource {
    fn location(&self) -> String {
        format!("OCI layout {}", self.dir.display())
    }

    fn read_file(&mut self, name: &str, max: u64) -> Result<Option<Vec<u8>>, LayoutError> {
        let Some(file) = self.open(name)? else {
            return Ok(None);
        };
        let path = self.dir.join(name);
        let size = file
            .metadata()
            .map_err(|e| io_err("inspect", &path, e))?
            .len();
        let too_large = |size| LayoutError::TooLarge {
            what: name.to_owned(),
            location: self.location(),
            size,
            max,
        };
        if size > max {
            return Err(too_large(size));
        }
        crate::json::read_capped(file, max)
            .map_err(|e| io_err("read", &path, e))?
            .map(Some)
            .ok_or_else(|| too_large(max + 1))
    }

    fn read_blob(&mut self, digest: &Digest, size: u64, max: u64) -> Result<Vec<u8>, LayoutError> {
        check_cap(&self.location(), digest, size, max)?;
        let file = self.open_blob(digest, size)?;
        let mut bytes = Vec::new();
        file.take(size + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| io_err("read", &self.dir.join(blob_name(digest)), e))?;
        verify(
            &self.location(),
            digest,
            size,
            &Digest::of_bytes(&bytes),
            bytes.len() as u64,
        )?;
        Ok(bytes)
    }

    fn check_blob(&mut self, digest: &Digest, size: u64) -> Result<(), LayoutError> {
        self.open_blob(digest, size).map(drop)
    }

    fn commit_blob(
        &mut self,
        store: &Store,
        digest: &Digest,
        size: u64,
    ) -> Result<(), LayoutError> {
        if store.has_blob(digest) {
            return Ok(());
        }
        let file = self.open_blob(digest, size)?;
        let mut writer = store.blob_writer()?;
        io::copy(&mut file.take(size + 1), &mut writer)
            .map_err(|e| io_err("copy", &self.dir.join(blob_name(digest)), e))?;
        let written = writer.written();
        if written != size {
            return Err(LayoutError::SizeMismatch {
                what: blob_name(digest),
                location: self.location(),
                expected: size,
                actual: written,
            });
        }
        match writer.commit(Some(digest)) {
            Ok(_) => Ok(()),
            Err(StoreError::DigestMismatch { actual, .. }) => Err(LayoutError::DigestMismatch {
                what: blob_name(digest),
                location: self.location(),
                expected: *digest,
                actual,
            }),
            Err(e) => Err(e.into()),
        }
    }
}

pub(crate) fn check_cap(
    location: &str,
    digest: &Digest,
    size: u64,
    max: u64,
) -> Result<(), LayoutError> {
    if size > max {
        return Err(LayoutError::TooLarge {
            what: format!("blob {digest}"),
            location: location.to_owned(),
            size,
            max,
        });
    }
    Ok(())
}

/// Imports the OCI layout directory `dir` into the store.
pub fn read_layout(store: &Store, dir: &Path) -> Result<Vec<StoredImage>, LayoutError> {
    let mut source = DirSource {
        dir: dir.to_owned(),
    };
    import(store, &mut source)
}

/// One image to import: its blobs (in commit order) and names.
struct Planned {
    manifest: Digest,
    blobs: Vec<(Digest, u64)>,
    names: Vec<Reference>,
}

fn parse_json<T: serde::de::DeserializeOwned>(
    bytes: &[u8],
    what: &str,
    location: &str,
) -> Result<T, LayoutError> {
    crate::json::parse(bytes).map_err(|source| LayoutError::Json {
        what: what.to_owned(),
        location: location.to_owned(),
        source,
    })
}

fn desc_digest(d: &Descriptor, what: &str, location: &str) -> Result<Digest, LayoutError> {
    Digest::try_from(d.digest()).map_err(|source| LayoutError::BadDigest {
        what: what.to_owned(),
        location: location.to_owned(),
        source,
    })
}

/// Imports a layout from any source: plans every image (reading and checking
/// manifests, configs and blob presence), then copies blobs and records images.
pub(crate) fn import(
    store: &Store,
    source: &mut dyn Source,
) -> Result<Vec<StoredImage>, LayoutError> {
    let location = source.location();
    let layout = source
        .read_file("oci-layout", MAX_METADATA_BYTES)?
        .ok_or_else(|| LayoutError::Missing {
            what: "oci-layout".to_owned(),
            location: location.clone(),
        })?;
    #[derive(serde::Deserialize)]
    struct LayoutFile {
        #[serde(rename = "imageLayoutVersion")]
        version: String,
    }
    let layout: LayoutFile = parse_json(&layout, "oci-layout", &location)?;
    if !layout.version.starts_with("1.") {
        return Err(LayoutError::Version {
            location,
            version: layout.version,
        });
    }
    let index = source
        .read_file("index.json", MAX_METADATA_BYTES)?
        .ok_or_else(|| LayoutError::Missing {
            what: "index.json".to_owned(),
            location: location.clone(),
        })?;
    let index: ImageIndex = parse_json(&index, "index.json", &location)?;
    if index.manifests().len() > MAX_DESCRIPTORS {
        return Err(LayoutError::Limits {
            location,
            what: format!("index.json has more than {MAX_DESCRIPTORS} descriptors"),
        });
    }
    let mut planned: Vec<Planned> = Vec::new();
    let mut skipped = 0;
    for (i, desc) in index.manifests().iter().enumerate() {
        let what = format!("index.json manifests[{i}]");
        let names = names_from(desc, &location)?;
        let Some(manifest_desc) = resolve(source, desc, &what, 0)? else {
            skipped += 1;
            continue;
        };
        let digest = desc_digest(&manifest_desc, &what, &location)?;
        if let Some(p) = planned.iter_mut().find(|p| p.manifest == digest) {
            for n in names {
                if !p.names.contains(&n) {
                    p.names.push(n);
                }
            }
            continue;
        }
        let blobs = plan_manifest(source, &manifest_desc, &what)?;
        planned.push(Planned {
            manifest: digest,
            blobs,
            names,
        });
    }
    if planned.is_empty() {
        return Err(LayoutError::NoImages { location, skipped });
    }
    let mut out = Vec::new();
    for p in planned {
        for (digest, size) in &p.blobs {
            source.commit_blob(store, digest, *size)?;
        }
        out.push(store.register_image(&p.manifest, &p.names)?);
    }
    Ok(out)
}

/// Image names from a descriptor's annotations (see the module docs).
fn names_from(desc: &Descriptor, location: &str) -> Result<Vec<Reference>, LayoutError> {
    let Some(annotations) = desc.annotations() else {
        return Ok(Vec::new());
    };
    let value = match (
        annotations.get(ANNOTATION_CONTAINERD_NAME),
        annotations.get(ANNOTATION_REF_NAME),
    ) {
        (Some(full), _) => full,
        (None, Some(r)) if r.contains(['/', ':']) => r,
        _ => return Ok(Vec::new()),
    };
    let r = Reference::parse_normalized(value).map_err(|source| LayoutError::BadName {
        value: value.chars().take(300).collect(),
        location: location.to_owned(),
        source: Box::new(source),
    })?;
    Ok(if r.tag.is_some() {
        vec![r.without_digest()]
    } else {
        Vec::new()
    })
}

/// Follows indexes down to one image manifest descriptor; `None` for other content.
fn resolve(
    source: &mut dyn Source,
    desc: &Descriptor,
    what: &str,
    depth: usize,
) -> Result<Option<Descriptor>, LayoutError> {
    let location = source.location();
    let media_type = desc.media_type().to_string();
    if media::is_manifest(&media_type) {
        return Ok(Some(desc.clone()));
    }
    if !media::is_index(&media_type) {
        return Ok(None);
    }
    if depth >= MAX_INDEX_DEPTH {
        return Err(LayoutError::Limits {
            location,
            what: format!("indexes nest more than {MAX_INDEX_DEPTH} levels deep"),
        });
    }
    let digest = desc_digest(desc, what, &location)?;
    let bytes = source.read_blob(&digest, desc.size(), MAX_MANIFEST_BYTES)?;
    let index: ImageIndex = parse_json(&bytes, &format!("index {digest}"), &location)?;
    let wanted = image::host_arch();
    let candidates: Vec<&Descriptor> = index
        .manifests()
        .iter()
        .filter(|d| {
            let mt = d.media_type().to_string();
            media::is_manifest(&mt) || media::is_index(&mt)
        })
        .collect();
    let matching = candidates.iter().find(|d| {
        d.platform().as_ref().is_some_and(|p| {
            p.os().to_string() == "linux" && p.architecture().to_string() == wanted
        })
    });
    let chosen = match (matching, candidates.as_slice()) {
        (Some(d), _) => *d,
        (None, [only]) => *only,
        (None, _) => {
            let available: Vec<String> = candidates
                .iter()
                .map(|d| match d.platform() {
                    Some(p) => format!("{}/{}", p.os(), p.architecture()),
                    None => "unknown".to_owned(),
                })
                .collect();
            return Err(LayoutError::NoMatchingPlatform {
                location,
                index: digest,
                wanted: wanted.to_owned(),
                available: if available.is_empty() {
                    "none".to_owned()
                } else {
                    available.join(", ")
                },
            });
        }
    };
    resolve(source, chosen, &format!("index {digest}"), depth + 1)
}

/// Reads and checks a manifest, its config and the presence of its layers;
/// returns the blobs to commit (layers, config, manifest).
fn plan_manifest(
    source: &mut dyn Source,
    desc: &Descriptor,
    what: &str,
) -> Result<Vec<(Digest, u64)>, LayoutError> {
    let location = source.location();
    let digest = desc_digest(desc, what, &location)?;
    let bytes = source.read_blob(&digest, desc.size(), MAX_MANIFEST_BYTES)?;
    let manifest: ImageManifest = parse_json(&bytes, &format!("manifest {digest}"), &location)?;
    let config_desc = manifest.config();
    let config_digest = desc_digest(config_desc, &format!("config of {digest}"), &location)?;
    let config_bytes = source.read_blob(&config_digest, config_desc.size(), MAX_CONFIG_BYTES)?;
    let config: ImageConfiguration =
        parse_json(&config_bytes, &format!("config {config_digest}"), &location)?;
    let diff_ids = image::diff_ids(&config)?;
    if diff_ids.len() != manifest.layers().len() {
        return Err(ImageError::LayerCount {
            manifest: digest,
            layers: manifest.layers().len(),
            diff_ids: diff_ids.len(),
        }
        .into());
    }
    let mut blobs = Vec::new();
    for (i, layer) in manifest.layers().iter().enumerate() {
        let layer_digest = desc_digest(layer, &format!("layer {i} of {digest}"), &location)?;
        source.check_blob(&layer_digest, layer.size())?;
        blobs.push((layer_digest, layer.size()));
    }
    blobs.push((config_digest, config_desc.size()));
    blobs.push((digest, desc.size()));
    Ok(blobs)
}

/// What a layout for some images consists of.
#[derive(Debug)]
pub(crate) struct LayoutPlan {
    /// Canonical `index.json`.
    pub(crate) index_json: Vec<u8>,
    /// Every blob, sorted and without duplicates.
    pub(crate) blobs: Vec<(Digest, u64)>,
}

/// Computes `index.json` and the blob list for `images`.
pub(crate) fn plan(store: &Store, images: &[StoredImage]) -> Result<LayoutPlan, LayoutError> {
    let mut descriptors = Vec::new();
    let mut blobs: Vec<(Digest, u64)> = Vec::new();
    for stored in images {
        let image = store.load_image(&stored.manifest)?;
        let manifest_size = store.blob_size(&stored.manifest)?;
        let media_type = image::manifest_media_type(&image.manifest);
        blobs.push((stored.manifest, manifest_size));
        let config = image.manifest.config();
        blobs.push((descriptor_digest(config, "config")?, config.size()));
        for layer in image.layers()? {
            blobs.push((layer.digest, layer.size));
        }
        let base = image::descriptor(&media_type, stored.manifest, manifest_size);
        if stored.names.is_empty() {
            descriptors.push(base.clone());
        }
        for name in &stored.names {
            let mut d = base.clone();
            let full = name.to_string();
            d.set_annotations(Some(HashMap::from([
                (ANNOTATION_REF_NAME.to_owned(), full.clone()),
                (ANNOTATION_CONTAINERD_NAME.to_owned(), full),
            ])));
            descriptors.push(d);
        }
    }
    blobs.sort();
    blobs.dedup();
    blobs.dedup_by_key(|(d, _)| *d);
    // Sizes from the store itself: the tar headers must match the files.
    for (digest, size) in &mut blobs {
        *size = store.blob_size(digest)?;
    }
    let index = ImageIndexBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageIndex)
        .manifests(descriptors)
        .build()
        .map_err(|source| ImageError::Build {
            what: "image index",
            source,
        })?;
    let index_json = crate::json::to_canonical_vec(&index).map_err(|source| LayoutError::Json {
        what: "index.json".to_owned(),
        location: "(new layout)".to_owned(),
        source,
    })?;
    Ok(LayoutPlan { index_json, blobs })
}

/// Writes an OCI image layout for `images` into `dir`, which must not exist or be empty.
pub fn write_layout(store: &Store, images: &[StoredImage], dir: &Path) -> Result<(), LayoutError> {
    let plan = plan(store, images)?;
    match fs::read_dir(dir) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(LayoutError::NotEmpty(dir.to_owned()));
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            fs::create_dir_all(dir).map_err(|e| io_err("create directory", dir, e))?;
        }
        Err(e) => return Err(io_err("list", dir, e)),
    }
    let blobs_dir = dir.join("blobs").join("sha256");
    fs::create_dir_all(&blobs_dir).map_err(|e| io_err("create directory", &blobs_dir, e))?;
    write_file(&dir.join("oci-layout"), OCI_LAYOUT_FILE)?;
    for (digest, _) in &plan.blobs {
        let dest = blobs_dir.join(digest.hex());
        let mut src = store.open_blob(digest)?;
        let mut out = File::create(&dest).map_err(|e| io_err("create", &dest, e))?;
        io::copy(&mut src, &mut out).map_err(|e| io_err("write", &dest, e))?;
    }
    write_file(&dir.join("index.json"), &plan.index_json)
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<(), LayoutError> {
    File::create(path)
        .and_then(|mut f| f.write_all(bytes))
        .map_err(|e| io_err("write", path, e))
}
