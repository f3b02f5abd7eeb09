//! `kiln store verify`: re-hashes every blob and checks every reference.
//!
//! Checked: each blob's content against its name; `images.json` → manifest →
//! config and layers (present, intact, as many layers as diff-ids); unpacked
//! layers (complete marker naming the directory's diff-id, a `root/`);
//! step-cache records (readable, their blobs present and intact); temp
//! directories of ended processes (harmless). The checks take no lock, so
//! builds go on meanwhile; a missing blob is re-checked at the end and only
//! reported if what refers to it still exists. `repair` removes what is
//! damaged (under the locks), so the store is consistent again.

use std::collections::HashSet;
use std::fs::File;
use std::io;
use std::path::PathBuf;

use serde::Serialize;

use super::gc::{self, Trash};
use super::lease;
use super::lock::Mode;
use super::{io_err, Store, StoreError, LAYER_COMPLETE};
use crate::digest::{Digest, DigestWriter};
use crate::image::{ImageConfiguration, MAX_CONFIG_BYTES};

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Damage: something the store promises is not true.
    Corrupt,
    /// Leftovers that kiln never uses; `kiln prune` removes them.
    Harmless,
}

/// What `repair` does about a finding.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Fix {
    Blob(Digest),
    Image(Digest),
    StepFile(PathBuf),
    Layer(PathBuf),
    Temp,
    Nothing,
}

/// One problem.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    /// How bad it is.
    pub severity: Severity,
    /// The path or digest it is about.
    pub subject: String,
    /// What is wrong.
    pub problem: String,
    /// What to do.
    pub fix: String,
    #[serde(skip)]
    repair: Fix,
}

/// The result of a check.
#[derive(Debug, Clone, Default, Serialize)]
pub struct VerifyReport {
    /// Blobs re-hashed.
    pub blobs: u64,
    /// Bytes re-hashed.
    pub bytes: u64,
    /// Image records checked.
    pub images: u64,
    /// Unpacked layers checked.
    pub layers: u64,
    /// Step-cache records checked.
    pub step_records: u64,
    /// Problems found.
    pub findings: Vec<Finding>,
    /// What `repair` removed.
    pub repaired: Vec<String>,
    /// True if a repair ran.
    pub repair_ran: bool,
}

impl VerifyReport {
    /// True if damage was found and not repaired.
    pub fn corrupt(&self) -> bool {
        self.findings.iter().any(|f| {
            f.severity == Severity::Corrupt && (!self.repair_ran || f.repair == Fix::Nothing)
        })
    }

    fn add(
        &mut self,
        severity: Severity,
        subject: String,
        problem: String,
        fix: &str,
        repair: Fix,
    ) {
        self.findings.push(Finding {
            severity,
            subject,
            problem,
            fix: fix.to_owned(),
            repair,
        });
    }
}

const FIX_BLOB: &str = "`kiln store verify --repair` removes the blob and the images and step-cache records that use it; then load, pull or build those images again";
const FIX_IMAGE: &str = "`kiln store verify --repair` removes the image record; then load, pull or build the image again";
const FIX_STEP: &str = "`kiln store verify --repair` or `kiln prune` removes the step-cache record (the step runs again next time)";
const FIX_LAYER: &str =
    "`kiln store verify --repair` removes it; it is unpacked again from its blob when needed";

/// Hashes a file; `Ok(None)` if it does not exist.
fn hash_file(path: &std::path::Path) -> Result<Option<(Digest, u64)>, StoreError> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_err("open", path, e)),
    };
    let len = file.metadata().map_err(|e| io_err("stat", path, e))?.len();
    // Holes of sparse blobs are hashed as the zeros they are, without reading them.
    let mut file = crate::holes::HoleReader::new(file, len);
    let mut w = DigestWriter::new(io::sink());
    io::copy(&mut file, &mut w).map_err(|e| io_err("read", path, e))?;
    let (_, digest, size) = w.finish();
    Ok(Some((digest, size)))
}

impl Store {
    /// Checks the whole store (see the module docs); with `repair`, removes
    /// what is damaged.
    pub fn verify(&self, repair: bool) -> Result<VerifyReport, StoreError> {
        let mut r = VerifyReport::default();
        let bad = self.verify_blobs(&mut r)?;
        self.verify_images(&mut r, &bad)?;
        self.verify_layers(&mut r)?;
        self.verify_steps(&mut r, &bad)?;
        for t in lease::stale_temps(self.root())? {
            r.add(
                Severity::Harmless,
                t.path.display().to_string(),
                format!("temp files of an ended kiln process ({} bytes)", t.bytes),
                "harmless: `kiln prune` removes them",
                Fix::Temp,
            );
        }
        self.recheck(&mut r)?;
        if repair {
            self.repair(&mut r)?;
        }
        Ok(r)
    }

    /// Re-hashes every blob; returns the damaged ones.
    fn verify_blobs(&self, r: &mut VerifyReport) -> Result<HashSet<Digest>, StoreError> {
        let mut bad = HashSet::new();
        for (name, path) in super::list_dir(&self.blobs_dir())? {
            let Some(expected) = Digest::from_hex(&name) else {
                r.add(
                    Severity::Harmless,
                    path.display().to_string(),
                    "not a blob: its name is not a sha256 digest".into(),
                    "kiln never reads it; remove it",
                    Fix::Nothing,
                );
                continue;
            };
            if !path.is_file() {
                r.add(
                    Severity::Corrupt,
                    path.display().to_string(),
                    format!("blob {expected} is not a regular file"),
                    FIX_BLOB,
                    Fix::Blob(expected),
                );
                bad.insert(expected);
                continue;
            }
            let Some((actual, size)) = hash_file(&path)? else {
                continue;
            };
            r.blobs += 1;
            r.bytes += size;
            if actual != expected {
                r.add(
                    Severity::Corrupt,
                    path.display().to_string(),
                    format!("blob {expected} has content with digest {actual} ({size} bytes): it was damaged or edited"),
                    FIX_BLOB,
                    Fix::Blob(expected),
                );
                bad.insert(expected);
            }
        }
        Ok(bad)
    }

    /// Checks each image record's manifest, config and layers.
    fn verify_images(&self, r: &mut VerifyReport, bad: &HashSet<Digest>) -> Result<(), StoreError> {
        let records = match self.records() {
            Ok(recs) => recs,
            Err(e) => {
                r.add(
                    Severity::Corrupt,
                    self.index_path().display().to_string(),
                    e.to_string(),
                    "restore images.json from a backup, or delete it to start over (blobs stay; `kiln prune` then removes them)",
                    Fix::Nothing,
                );
                return Ok(());
            }
        };
        for rec in records {
            r.images += 1;
            let who = if rec.names.is_empty() {
                format!("image {} (untagged)", rec.config)
            } else {
                format!("image {}", rec.names.join(", "))
            };
            if let Some(problem) = self.image_problem(&rec.manifest, &rec.config, bad) {
                r.add(
                    Severity::Corrupt,
                    format!("{who}, manifest {}", rec.manifest),
                    problem,
                    FIX_IMAGE,
                    Fix::Image(rec.manifest),
                );
            }
        }
        Ok(())
    }

    /// What is wrong with the image with this manifest, if anything.
    fn image_problem(
        &self,
        manifest: &Digest,
        config: &Digest,
        bad: &HashSet<Digest>,
    ) -> Option<String> {
        let state = |d: &Digest| {
            if bad.contains(d) {
                Some("is damaged")
            } else if !self.has_blob(d) {
                Some("is missing")
            } else {
                None
            }
        };
        if let Some(s) = state(manifest) {
            return Some(format!("its manifest blob {manifest} {s}"));
        }
        let blobs = match self.manifest_blobs(manifest) {
            Ok(b) => b,
            Err(e) => return Some(format!("its manifest cannot be read: {e}")),
        };
        if blobs.first() != Some(config) {
            return Some(format!(
                "images.json says its config is {config}, but the manifest names {}",
                blobs.first().map_or("none".to_owned(), |d| d.to_string())
            ));
        }
        for (i, b) in blobs.iter().enumerate() {
            if let Some(s) = state(b) {
                let what = if i == 0 {
                    "config".to_owned()
                } else {
                    format!("layer {}", i - 1)
                };
                return Some(format!("its {what} blob {b} {s}"));
            }
        }
        let cfg: ImageConfiguration = match self.read_blob_json(config, MAX_CONFIG_BYTES) {
            Ok(c) => c,
            Err(e) => return Some(format!("its config cannot be read: {e}")),
        };
        match crate::image::diff_ids_of(&cfg, &config.to_string()) {
            Ok(ids) if ids.len() + 1 == blobs.len() => None,
            Ok(ids) => Some(format!(
                "the manifest lists {} layers but the config has {} diff-ids",
                blobs.len() - 1,
                ids.len()
            )),
            Err(e) => Some(e.to_string()),
        }
    }

    /// Checks the unpacked layer directories.
    fn verify_layers(&self, r: &mut VerifyReport) -> Result<(), StoreError> {
        for (diff_id, path) in gc::list_layers(self)? {
            r.layers += 1;
            let subject = path.display().to_string();
            let Some(diff_id) = diff_id else {
                r.add(
                    Severity::Harmless,
                    subject,
                    "not an unpacked layer: its name is not a sha256 digest".into(),
                    "kiln never reads it; `kiln prune` removes it",
                    Fix::Layer(path),
                );
                continue;
            };
            let marker = path.join(LAYER_COMPLETE);
            let Ok(text) = std::fs::read_to_string(&marker) else {
                r.add(
                    Severity::Harmless,
                    subject,
                    format!("unpacked layer {diff_id} is incomplete (no `{LAYER_COMPLETE}` marker): left by an interrupted unpack; kiln never uses it"),
                    "harmless: `kiln prune` removes it",
                    Fix::Layer(path),
                );
                continue;
            };
            if text.trim() != diff_id.to_string() {
                r.add(
                    Severity::Corrupt,
                    subject,
                    format!(
                        "unpacked layer {diff_id} has a marker naming {:?}",
                        text.trim()
                    ),
                    FIX_LAYER,
                    Fix::Layer(path),
                );
            } else if !super::paths::layer_root_in(&path).is_dir() {
                r.add(
                    Severity::Corrupt,
                    subject,
                    format!("unpacked layer {diff_id} has no root/ directory"),
                    FIX_LAYER,
                    Fix::Layer(path),
                );
            }
        }
        Ok(())
    }

    /// Checks step-cache records and that their blobs are present and intact.
    fn verify_steps(&self, r: &mut VerifyReport, bad: &HashSet<Digest>) -> Result<(), StoreError> {
        for p in super::gc_roots::stale_temps(self.root())? {
            r.add(
                Severity::Harmless,
                p.display().to_string(),
                "temp file of a step-cache writer that ended before renaming it".into(),
                "harmless: `kiln prune` removes it",
                Fix::StepFile(p),
            );
        }
        let (steps, unreadable) = self.step_records()?;
        for b in unreadable {
            r.step_records += 1;
            r.add(
                Severity::Corrupt,
                b.path.display().to_string(),
                format!("step-cache record cannot be read: {}", b.reason),
                FIX_STEP,
                Fix::StepFile(b.path),
            );
        }
        for s in steps {
            r.step_records += 1;
            let broken = s.blobs.iter().find_map(|b| {
                if bad.contains(b) {
                    Some(format!("its blob {b} is damaged"))
                } else if !self.has_blob(b) {
                    Some(format!("its blob {b} is missing"))
                } else {
                    None
                }
            });
            if let Some(problem) = broken {
                r.add(
                    Severity::Corrupt,
                    s.path.display().to_string(),
                    format!("step-cache record: {problem}"),
                    FIX_STEP,
                    Fix::StepFile(s.path),
                );
            }
        }
        Ok(())
    }

    /// Drops findings about things a concurrent `rmi` or prune removed while
    /// the check ran (their referrer is gone now).
    fn recheck(&self, r: &mut VerifyReport) -> Result<(), StoreError> {
        let manifests: HashSet<Digest> = match self.records() {
            Ok(recs) => recs.iter().map(|rec| rec.manifest).collect(),
            Err(_) => return Ok(()),
        };
        r.findings.retain(|f| match &f.repair {
            Fix::Image(m) => manifests.contains(m),
            Fix::StepFile(p) => p.exists(),
            Fix::Blob(d) => self.blob_path(d).exists(),
            Fix::Layer(p) => p.exists(),
            Fix::Temp | Fix::Nothing => true,
        });
        Ok(())
    }

    /// Removes what the findings name as damaged.
    fn repair(&self, r: &mut VerifyReport) -> Result<(), StoreError> {
        let fixes: Vec<Fix> = r.findings.iter().map(|f| f.repair.clone()).collect();
        let blobs: HashSet<Digest> = fixes
            .iter()
            .filter_map(|f| match f {
                Fix::Blob(d) => Some(*d),
                _ => None,
            })
            .collect();
        let mut repaired = Vec::new();
        {
            let _index = self.lock()?;
            let mut trash = Trash::new(self)?;
            let _gc = self.gc_lock(Mode::Exclusive)?;
            // Images that use a damaged blob go too.
            let mut records = self.records().unwrap_or_default();
            let before = records.len();
            records.retain(|rec| {
                let uses_bad = fixes.contains(&Fix::Image(rec.manifest))
                    || blobs.contains(&rec.manifest)
                    || blobs.contains(&rec.config)
                    || self
                        .manifest_blobs(&rec.manifest)
                        .is_ok_and(|b| b.iter().any(|d| blobs.contains(d)));
                if uses_bad {
                    let names = if rec.names.is_empty() {
                        rec.config.to_string()
                    } else {
                        rec.names.join(", ")
                    };
                    repaired.push(format!("removed image {names} (manifest {})", rec.manifest));
                }
                !uses_bad
            });
            if records.len() != before {
                self.save_records(&records)?;
            }
            let (steps, _) = self.step_records()?;
            for s in steps {
                if s.blobs.iter().any(|d| blobs.contains(d))
                    && std::fs::remove_file(&s.path).is_ok()
                {
                    repaired.push(format!("removed step-cache record {}", s.path.display()));
                }
            }
            for fix in &fixes {
                match fix {
                    Fix::Blob(d) => {
                        if trash.take(&self.blob_path(d))?.is_some() {
                            repaired.push(format!("removed damaged blob {d}"));
                        }
                    }
                    Fix::StepFile(p) => {
                        if std::fs::remove_file(p).is_ok() {
                            repaired.push(format!("removed step-cache record {}", p.display()));
                        }
                    }
                    Fix::Layer(p) => {
                        if trash.take(p)?.is_some() {
                            repaired.push(format!("removed unpacked layer {}", p.display()));
                        }
                    }
                    Fix::Image(_) | Fix::Temp | Fix::Nothing => {}
                }
            }
            drop(_gc);
            let (_, failed) = trash.empty();
            for e in failed {
                repaired.push(format!("could not finish removing: {e}"));
            }
        }
        if fixes.contains(&Fix::Temp) {
            let reaped = lease::reap(self.root())?;
            for t in reaped.removed {
                repaired.push(format!("removed leftover temp files {}", t.path.display()));
            }
        }
        r.repaired = repaired;
        r.repair_ran = true;
        Ok(())
    }
}
