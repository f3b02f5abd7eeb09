//! The image commands: import, load, save, export, images, inspect, history, tag, rmi.

use crate::cli_image::{
    ExportArgs, ImagesArgs, ImportArgs, InspectArgs, LoadArgs, NameArg, RmiArgs, SaveArgs,
    SaveFormat, TagArgs,
};
use crate::exit::Failure;
use crate::output::stdout;
use crate::store::{failure, open};
use kiln_oci::ErrorKind;
use kiln_oci::{archive, layout, Reference, Store, StoredImage};
use std::io::Read;
use std::path::PathBuf;

type Root = Option<PathBuf>;

fn engine_failure(e: kiln_engine::build::BuildError) -> Failure {
    let mut msg = format!("error: {e}");
    if let Some(h) = e.hint() {
        msg.push_str(&format!("\n = hint: {h}"));
    }
    Failure::new(e.kind(), msg)
}

fn lookup(store: &Store, name: &str) -> Result<StoredImage, Failure> {
    // The store's message says what to do (list images with `kiln images`).
    store
        .lookup(name)
        .map_err(|e| Failure::new(e.kind(), format!("error: {e}")))
}

fn epoch() -> Option<i64> {
    std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|v| v.parse().ok())
}

pub fn import(root: &Root, args: ImportArgs) -> Result<(), Failure> {
    let store = open(root)?;
    let reader: Box<dyn Read> = if args.tarball.as_os_str() == "-" {
        Box::new(std::io::stdin())
    } else {
        Box::new(std::fs::File::open(&args.tarball).map_err(|e| {
            Failure::new(
                ErrorKind::Io,
                format!("error: cannot open {}: {e}", args.tarball.display()),
            )
        })?)
    };
    let img = kiln_engine::image_ops::import(&store, reader, &args.name, epoch())
        .map_err(engine_failure)?;
    stdout(&format!("{}\n", img.config))
}

pub fn load(root: &Root, args: LoadArgs) -> Result<(), Failure> {
    let store = open(root)?;
    let loaded = if args.input.as_os_str() == "-" {
        archive::load_reader(&store, std::io::stdin().lock(), "standard input")
    } else {
        archive::load(&store, &args.input)
    };
    let images = loaded.map_err(|e| {
        // Most errors name the archive already.
        let message = if e.location().is_empty() {
            format!("error: cannot load {}: {e}", args.input.display())
        } else {
            format!("error: cannot load {e}")
        };
        Failure::new(e.kind(), message)
    })?;
    let mut text = String::new();
    for img in images {
        let names: Vec<String> = img.names.iter().map(|n| n.to_string()).collect();
        text.push_str(&format!(
            "Loaded image: {}\n",
            if names.is_empty() {
                img.config.to_string()
            } else {
                names.join(", ")
            }
        ));
    }
    stdout(&text)
}

pub fn save(root: &Root, args: SaveArgs) -> Result<(), Failure> {
    let store = open(root)?;
    let mut images: Vec<StoredImage> = Vec::new();
    for n in &args.names {
        let img = lookup(&store, n)?;
        // An image named twice (or by two of its names) is saved once, with all its names.
        if !images.iter().any(|i| i.manifest == img.manifest) {
            images.push(img);
        }
    }
    let out = &args.output;
    let fail = |e: &dyn std::fmt::Display| failure(&format!("cannot write {}", out.display()), e);
    match args.format {
        SaveFormat::OciDir => layout::write_layout(&store, &images, out).map_err(|e| fail(&e)),
        SaveFormat::OciArchive | SaveFormat::DockerArchive => {
            let f = std::fs::File::create(out).map_err(|e| fail(&e))?;
            let f = if args.format == SaveFormat::OciArchive {
                archive::write_oci_archive(&store, &images, f).map_err(|e| fail(&e))?
            } else {
                archive::write_docker_archive(&store, &images, f).map_err(|e| fail(&e))?
            };
            f.sync_all().map_err(|e| fail(&e))
        }
    }
}

pub fn export(root: &Root, args: ExportArgs) -> Result<(), Failure> {
    let store = open(root)?;
    lookup(&store, &args.name)?;
    kiln_engine::image_ops::export(&store, &args.name, &args.output).map_err(engine_failure)
}

pub fn images(root: &Root, args: ImagesArgs) -> Result<(), Failure> {
    let store = open(root)?;
    let list = store
        .images()
        .map_err(|e| failure("cannot list images", e))?;
    let id = |img: &StoredImage| {
        if args.no_trunc {
            img.config.to_string()
        } else {
            img.short_id()
        }
    };
    let mut text = String::new();
    if args.quiet {
        for img in &list {
            text.push_str(&format!("{}\n", id(img)));
        }
        return stdout(&text);
    }
    let mut rows = vec![(
        "NAME".to_string(),
        "IMAGE ID".to_string(),
        "CREATED".to_string(),
    )];
    for img in &list {
        if img.names.is_empty() {
            rows.push(("<none>".into(), id(img), img.created.to_string()));
        }
        for n in &img.names {
            rows.push((n.to_string(), id(img), img.created.to_string()));
        }
    }
    let name_w = rows.iter().map(|r| r.0.len()).max().unwrap_or(0).max(30);
    let id_w = rows.iter().map(|r| r.1.len()).max().unwrap_or(0);
    for (name, id, created) in rows {
        text.push_str(&format!("{name:<name_w$}  {id:<id_w$}  {created}\n"));
    }
    stdout(&text)
}

/// The raw config of an image as JSON.
fn config_json(store: &Store, img: &StoredImage) -> Result<serde_json::Value, Failure> {
    store
        .read_blob_json::<serde_json::Value>(&img.config, 8 << 20)
        .map_err(|e| failure(&format!("cannot read the config of {}", img.config), e))
}

pub fn inspect(root: &Root, args: InspectArgs) -> Result<(), Failure> {
    let store = open(root)?;
    let mut out = Vec::new();
    for name in &args.names {
        let img = lookup(&store, name)?;
        let config = config_json(&store, &img)?;
        let image = store
            .load_image(&img.manifest)
            .map_err(|e| failure(&format!("cannot read image {}", img.manifest), e))?;
        let layers = image
            .layers()
            .map_err(|e| failure(&format!("cannot read image {}", img.manifest), e))?;
        out.push(serde_json::json!({
            "Id": img.config.to_string(),
            "Digest": img.manifest.to_string(),
            "RepoTags": img.names.iter().map(|n| n.to_string()).collect::<Vec<_>>(),
            "Created": config.get("created"),
            "Author": config.get("author"),
            "Architecture": config.get("architecture"),
            "Variant": config.get("variant"),
            "Os": config.get("os"),
            "Config": config.get("config"),
            "RootFS": {
                "Type": "layers",
                "Layers": layers.iter().map(|l| l.diff_id.to_string()).collect::<Vec<_>>(),
            },
            "Layers": layers.iter().map(|l| serde_json::json!({
                "Digest": l.digest.to_string(),
                "Size": l.size,
                "MediaType": l.media_type,
            })).collect::<Vec<_>>(),
            "Size": layers.iter().map(|l| l.size).sum::<u64>(),
        }));
    }
    let text = serde_json::to_string_pretty(&out).unwrap_or_default();
    stdout(&format!("{text}\n"))
}

pub fn history(root: &Root, args: NameArg) -> Result<(), Failure> {
    let store = open(root)?;
    let img = lookup(&store, &args.name)?;
    let config = config_json(&store, &img)?;
    let mut text = format!("{:<22} {:<8} {}\n", "CREATED", "LAYER", "CREATED BY");
    let empty = Vec::new();
    let history = config
        .get("history")
        .and_then(|h| h.as_array())
        .unwrap_or(&empty);
    for h in history.iter().rev() {
        let layer = if h
            .get("empty_layer")
            .and_then(|e| e.as_bool())
            .unwrap_or(false)
        {
            "-"
        } else {
            "yes"
        };
        text.push_str(&format!(
            "{:<22} {:<8} {}\n",
            h.get("created").and_then(|c| c.as_str()).unwrap_or(""),
            layer,
            h.get("created_by").and_then(|c| c.as_str()).unwrap_or("")
        ));
    }
    stdout(&text)
}

pub fn tag(root: &Root, args: TagArgs) -> Result<(), Failure> {
    let store = open(root)?;
    let img = lookup(&store, &args.source)?;
    for t in &args.targets {
        let r = Reference::parse_normalized(t).map_err(|e| {
            Failure::new(
                ErrorKind::Rejected,
                format!("error: invalid name {t:?}: {e}"),
            )
        })?;
        store
            .tag(&r, &img.manifest)
            .map_err(|e| failure(&format!("cannot tag {t}"), e))?;
    }
    Ok(())
}

pub fn rmi(root: &Root, args: RmiArgs) -> Result<(), Failure> {
    let store = open(root)?;
    let mut text = String::new();
    for n in &args.names {
        lookup(&store, n)?;
        let removed = store
            .remove(n)
            .map_err(|e| failure(&format!("cannot remove {n}"), e))?;
        for u in &removed.untagged {
            text.push_str(&format!("Untagged: {u}\n"));
        }
        if let Some(d) = &removed.deleted {
            text.push_str(&format!("Deleted: {}\n", d.config));
        }
    }
    stdout(&text)
}
