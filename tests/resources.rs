//! Bounded resources: a sparse file costs the store what its data costs, a step's layer
//! stops at `--max-layer-size`, and `--cache-mount-scope project` keeps one project's
//! cache mounts (and the steps that read them) away from another's. Each test has its
//! control in the same test.

mod support;

use std::fs::File;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::Path;
use support::{assert_fails, s, show, TestEnv};

const GIB: u64 = 1 << 30;

/// Bytes `dir` uses on disk (allocated blocks, as `du`; hard links once).
fn disk_usage(dir: &Path) -> u64 {
    let mut seen = std::collections::HashSet::new();
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(p) = stack.pop() {
        let Ok(m) = std::fs::symlink_metadata(&p) else {
            continue;
        };
        if seen.insert((m.dev(), m.ino())) {
            total += m.blocks() * 512;
        }
        if m.is_dir() {
            if let Ok(rd) = std::fs::read_dir(&p) {
                stack.extend(rd.flatten().map(|e| e.path()));
            }
        }
    }
    total
}

/// The byte ranges of `f` holding data (SEEK_DATA/SEEK_HOLE), up to `len`.
fn data_ranges(f: &File, len: u64) -> Vec<(u64, u64)> {
    use rustix::fs::{seek, SeekFrom};
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < len {
        let Ok(start) = seek(f, SeekFrom::Data(pos)) else {
            break; // ENXIO: only a hole is left
        };
        let end = seek(f, SeekFrom::Hole(start)).expect("SEEK_HOLE");
        out.push((start, end));
        pos = end;
    }
    out
}

const SPARSE: &str = "FROM bb
RUN busybox truncate -s 4G /f && echo marker | busybox dd of=/f bs=1 seek=2147483648 conv=notrunc 2>/dev/null
RUN busybox stat -c %s /f > /size
";

#[test]
fn sparse_4g_file_in_a_step_costs_no_store_space() {
    let env = TestEnv::new();
    env.import_busybox("bb");
    let ctx = env.context("ctx", &[("Dockerfile", SPARSE)]);
    let before = disk_usage(&env.store());
    // The second RUN unpacks the first step's layer into the store (an overlay lower).
    env.ok(&["build", "-q", "-t", "sparse", s(&ctx)]);
    let growth = disk_usage(&env.store()).saturating_sub(before);

    // Control: the file is there, 4 GiB long, as the next step saw it and as an export
    // reads it: zeros everywhere but the marker at 2 GiB.
    let out = env.export("sparse", "rootfs");
    assert_eq!(
        std::fs::read_to_string(out.join("size")).expect("read /size"),
        "4294967296\n"
    );
    let f = File::open(out.join("f")).expect("open exported /f");
    let len = f.metadata().expect("stat").len();
    assert_eq!(len, 4 * GIB, "logical size of the exported file");
    let mut marker = [0u8; 7];
    f.read_exact_at(&mut marker, 2 * GIB)
        .expect("read at 2 GiB");
    assert_eq!(&marker, b"marker\n");
    for (start, end) in data_ranges(&f, len) {
        let mut data = vec![0u8; (end - start) as usize];
        f.read_exact_at(&mut data, start).expect("read data range");
        for (i, b) in data.iter().enumerate() {
            let at = start + i as u64;
            let want = if (2 * GIB..2 * GIB + 7).contains(&at) {
                marker[(at - 2 * GIB) as usize]
            } else {
                0
            };
            assert_eq!(*b, want, "byte at {at} of the exported file");
        }
    }
    let exported = disk_usage(&out.join("f"));
    assert!(
        exported < 64 << 20,
        "the export wrote {exported} bytes of /f"
    );

    // The layer is a plain tar (no GNU/PAX sparse members) with the whole 4 GiB member.
    let image = env.inspect("sparse");
    let diff_ids = image["RootFS"]["Layers"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let layer = diff_ids
        .iter()
        .filter_map(|d| d.as_str()?.strip_prefix("sha256:"))
        .map(|hex| env.store().join("blobs/sha256").join(hex))
        .find(|p| p.metadata().is_ok_and(|m| m.len() > 4 * GIB))
        .unwrap_or_else(|| panic!("no 4 GiB layer blob among {diff_ids:?}"));
    let listing = support::run_ok(std::process::Command::new("tar").arg("-tvf").arg(&layer));
    assert!(
        listing
            .lines()
            .any(|l| l.starts_with('-') && l.contains(" 4294967296 ") && l.ends_with(" f")),
        "layer listing:\n{listing}"
    );

    // The store: ~nothing for a 4 GiB file (blob and unpacked layer are sparse), and valid.
    assert!(
        growth < 64 << 20,
        "the build grew the store by {growth} bytes for a 4 GiB sparse file"
    );
    let verify = env.run(&["store", "verify"]);
    assert!(verify.status.success(), "{}", show(&verify));
}

const BIG_RUN: &str = "FROM bb
RUN busybox head -c 3145728 /dev/urandom > /big
";

/// The store's blob files.
fn blobs(env: &TestEnv) -> std::collections::BTreeSet<String> {
    std::fs::read_dir(env.store().join("blobs/sha256"))
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// Files left in the store's temp directories (each process's own dir is removed or empty).
fn temp_leftovers(env: &TestEnv) -> Vec<std::path::PathBuf> {
    let mut left = Vec::new();
    if let Ok(rd) = std::fs::read_dir(env.store().join("tmp")) {
        for lease in rd.flatten() {
            if let Ok(inner) = std::fs::read_dir(lease.path()) {
                left.extend(inner.flatten().map(|e| e.path()));
            }
        }
    }
    left
}

#[test]
fn step_layer_over_max_layer_size_fails_and_store_stays_valid() {
    let env = TestEnv::new();
    env.import_busybox("bb");
    let ctx = env.context("ctx", &[("Dockerfile", BIG_RUN)]);
    let base = blobs(&env);

    // Refused before anything is built: a limit that is not a size.
    let bad = env.run(&["build", "--max-layer-size", "lots", s(&ctx)]);
    assert_fails(&bad, 2, &["--max-layer-size \"lots\"", "0 for no limit"]);

    // A RUN writing 3 MiB under a 1 MiB limit: stopped, located, nothing kept.
    let out = env.run(&["build", "--max-layer-size", "1m", "-t", "big", s(&ctx)]);
    assert_fails(
        &out,
        1,
        &[
            "Dockerfile:2",
            "over the --max-layer-size limit of 1 MiB (1048576 bytes)",
            "partial layer removed",
        ],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    let reached: u64 = err
        .split("layer reached at least ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no size reached in:\n{err}"));
    assert!(reached > 1 << 20, "reached {reached}");
    assert_eq!(blobs(&env), base, "the failed build kept a blob");
    assert!(
        temp_leftovers(&env).is_empty(),
        "{:?}",
        temp_leftovers(&env)
    );
    assert!(env.run(&["inspect", "big"]).status.code() != Some(0));
    let verify = env.run(&["store", "verify"]);
    assert!(verify.status.success(), "{}", show(&verify));

    // A COPY over the limit: the same.
    let copy_ctx = env.context(
        "copy",
        &[
            ("Dockerfile", "FROM bb\nCOPY big /big\n"),
            ("big", &"x".repeat(2 << 20)),
        ],
    );
    let out = env.run(&["build", "--max-layer-size", "1m", s(&copy_ctx)]);
    assert_fails(
        &out,
        1,
        &["Dockerfile:2", "COPY", "--max-layer-size limit of 1 MiB"],
    );
    assert_eq!(blobs(&env), base, "the failed COPY kept a blob");

    // An ADD of an archive that unpacks past the limit: stopped while unpacking.
    let tar = env.path().join("add/bomb.tar");
    std::fs::create_dir_all(env.path().join("add")).expect("mkdir add");
    support::write_tar(
        &tar,
        &[support::TarEntry::file("zeros", &"\0".repeat(3 << 20))],
    );
    support::run_ok(std::process::Command::new("gzip").arg("-n").arg(&tar));
    std::fs::write(
        env.path().join("add/Dockerfile"),
        "FROM bb\nADD bomb.tar.gz /x/\n",
    )
    .expect("write Dockerfile");
    let out = env.run(&[
        "build",
        "--max-layer-size",
        "1m",
        s(&env.path().join("add")),
    ]);
    assert_fails(
        &out,
        1,
        &[
            "Dockerfile:2",
            "ADD",
            "more than the --max-layer-size limit of 1048576 bytes",
        ],
    );
    assert_eq!(blobs(&env), base, "the failed ADD kept a blob");

    // Control: the same builds under a limit they fit in, and with no limit.
    env.ok(&[
        "build",
        "-q",
        "--max-layer-size",
        "8m",
        "-t",
        "big",
        s(&ctx),
    ]);
    env.ok(&["build", "-q", "--max-layer-size", "0", s(&copy_ctx)]);
    let big_layers = blobs(&env)
        .difference(&base)
        .filter(|b| {
            let p = env.store().join("blobs/sha256").join(b);
            p.metadata().is_ok_and(|m| m.len() > 2 << 20)
        })
        .count();
    assert_eq!(big_layers, 2, "the RUN and COPY layers");
    let verify = env.run(&["store", "verify"]);
    assert!(verify.status.success(), "{}", show(&verify));
}

/// Writes a poison file into cache `x`.
const POISON: &str = "FROM bb
RUN --mount=type=cache,id=x,target=/c sh -c 'echo poison > /c/poison'
";

/// Reads cache `x`: the victim's build (the attacker may run the very same text).
const READ_CACHE: &str = "FROM bb
RUN --mount=type=cache,id=x,target=/c sh -c 'cat /c/poison > /got 2>/dev/null || echo clean > /got'
";

#[test]
fn cache_mount_scope_project_keeps_caches_apart() {
    let env = TestEnv::new();
    env.import_busybox("bb");
    let attacker = env.context(
        "attacker",
        &[("Dockerfile", READ_CACHE), ("poison.Dockerfile", POISON)],
    );
    let victim = env.context("victim", &[("Dockerfile", READ_CACHE)]);
    let got = |name: &str| {
        let dir = env.export(name, &format!("out-{name}"));
        std::fs::read_to_string(dir.join("got")).expect("read /got")
    };
    let poison_file = attacker.join("poison.Dockerfile");

    // --cache-mount-scope project: the attacker poisons its cache, then runs the victim's
    // very step (so a step-cache record of it exists with poisoned output).
    let project = ["--cache-mount-scope", "project"];
    let build = |args: &[&str], extra: &[&str]| {
        let mut all = vec!["build", "-q"];
        all.extend_from_slice(extra);
        all.extend_from_slice(args);
        env.ok(&all);
    };
    build(&["-f", s(&poison_file), s(&attacker)], &project);
    build(&["-t", "attacker-view", s(&attacker)], &project);
    // Control within the scope: the attacker's own project does see its cache.
    assert_eq!(got("attacker-view"), "poison\n");
    build(&["-t", "victim-project", s(&victim)], &project);
    assert_eq!(
        got("victim-project"),
        "clean\n",
        "the cache crossed projects"
    );
    // project=NAME: the name is the identity, whatever the directory.
    build(
        &["-t", "victim-named", s(&victim)],
        &["--cache-mount-scope", "project=victim"],
    );
    assert_eq!(got("victim-named"), "clean\n");

    // Positive control: with the default (shared) scope the poison reaches the victim.
    build(&["-f", s(&poison_file), s(&attacker)], &[]);
    build(&["-t", "victim-shared", s(&victim)], &[]);
    assert_eq!(got("victim-shared"), "poison\n", "control: shared caches");

    // A context from standard input has no directory to name the project.
    let tar = env
        .kiln()
        .args(["build", "--cache-mount-scope", "project", "-"])
        .output();
    let tar = tar.expect("run kiln");
    assert_fails(&tar, 2, &["project=NAME"]);
}
