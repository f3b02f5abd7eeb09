//! The image resolver of one build: each image name a FROM, `COPY --from` or
//! `RUN --mount from=` gives is resolved once (see [`base::resolve`]), and an image's root
//! filesystem is unpacked at most once.

use super::base::{self, BaseImage, Resolve, Rootfs};
use super::error::BuildError;
use kiln_dockerfile::Span;
use kiln_oci::Platform;
use kiln_oci::{Store, StoredImage};
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

pub(crate) struct Images<'a> {
    store: &'a Store,
    scratch: &'a Path,
    /// How to reach registries (images not in the store are pulled); `None`: never.
    registry: Option<kiln_registry::RegistryOptions>,
    /// The platform every image must be for.
    platform: Platform,
    /// `--pull` or not.
    mode: Resolve,
    /// Image names as this build resolved them.
    resolved: Mutex<HashMap<String, StoredImage>>,
    /// Root filesystems of images used with `COPY --from=IMAGE` and `RUN --mount from=`.
    rootfs: Mutex<HashMap<String, Arc<Rootfs>>>,
}

impl<'a> Images<'a> {
    pub fn new(
        store: &'a Store,
        scratch: &'a Path,
        registry: Option<kiln_registry::RegistryOptions>,
        platform: Platform,
        mode: Resolve,
    ) -> Images<'a> {
        Images {
            store,
            scratch,
            registry,
            platform,
            mode,
            resolved: Mutex::new(HashMap::new()),
            rootfs: Mutex::new(HashMap::new()),
        }
    }

    /// How registries are reached (their HTTP settings also serve ADD's downloads).
    pub fn registry(&self) -> Option<&kiln_registry::RegistryOptions> {
        self.registry.as_ref()
    }

    /// `name` resolved to an image in the store ([`base::resolve`]), once per build: the
    /// cache key and the content of every step that names it come from the same image, and
    /// `--pull` asks the registry once. Stages running at the same time may both resolve
    /// a name; the first answer recorded is the one every step uses.
    pub fn resolve(&self, name: &str, span: Span) -> Result<StoredImage, BuildError> {
        if let Some(s) = self.resolved.lock().ok().and_then(|m| m.get(name).cloned()) {
            return Ok(s);
        }
        let stored = base::resolve(
            self.store,
            self.registry.as_ref(),
            name,
            span,
            &self.platform,
            self.mode,
        )?;
        Ok(match self.resolved.lock() {
            Ok(mut m) => m.entry(name.to_string()).or_insert(stored).clone(),
            Err(_) => stored,
        })
    }

    /// Load `name` as the build resolved it: its config and layers, checked to be for the
    /// build's platform.
    pub fn image(&self, name: &str, span: Span) -> Result<BaseImage, BuildError> {
        let stored = self.resolve(name, span)?;
        base::load_for(self.store, &stored, name, span, &self.platform)
    }

    /// An image's root filesystem (unpacked once per build).
    pub fn rootfs(&self, name: &str, span: Span) -> Result<Arc<Rootfs>, BuildError> {
        let mut images = self.rootfs.lock().map_err(|_| BuildError::Internal {
            message: format!(
                "image {name} could not be prepared: another stage failed while unpacking it"
            ),
        })?;
        if let Some(fs) = images.get(name) {
            return Ok(fs.clone());
        }
        let img = self.image(name, span)?;
        let fs = Rootfs::new(self.scratch)?;
        fs.unpack(self.store, &img.layers)?;
        let fs = Arc::new(fs);
        images.insert(name.to_string(), fs.clone());
        Ok(fs)
    }
}
