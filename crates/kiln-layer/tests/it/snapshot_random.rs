//! Random layer stacks and random changes: the overlay and vfs snapshotters must give
//! byte-identical layers for every one.

#![allow(clippy::unwrap_used)] // test code: a panic is the failure report
use super::snapshot::*;
use std::collections::BTreeMap;
use std::fs;
use std::io::Write;

use kiln_layer::snapshot::{diff_overlay_upper, OverlaySnapshot, VfsSnapshot};
use kiln_layer::{EntryKind, Kind, LayerWriter, Root, TarOptions, WhiteoutMode};

use crate::common::sha;

/// xorshift64*: deterministic, dependency-free.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a, T>(&mut self, v: &'a [T]) -> Option<&'a T> {
        if v.is_empty() {
            None
        } else {
            Some(&v[self.below(v.len())])
        }
    }
}

const NAMES: [&str; 4] = ["a", "b", "c", "d"];

fn rand_path(rng: &mut Rng) -> String {
    let depth = 1 + rng.below(3);
    (0..depth)
        .map(|_| NAMES[rng.below(NAMES.len())])
        .collect::<Vec<_>>()
        .join("/")
}

#[derive(Clone)]
enum Gen {
    Dir,
    File(String),
    Link(String),
    Whiteout,
    Opaque,
}

/// A random layer over the merged state `seen` (path → is dir), with
/// explicit parent dirs, whiteouts and opaque markers above the bottom.
fn rand_layer(rng: &mut Rng, idx: usize, seen: &mut BTreeMap<String, bool>) -> Vec<u8> {
    let mut ents: BTreeMap<String, Gen> = BTreeMap::new();
    for _ in 0..10 {
        let p = rand_path(rng);
        let parts: Vec<&str> = p.split('/').collect();
        for i in 1..parts.len() {
            ents.insert(parts[..i].join("/"), Gen::Dir);
        }
        let g = match rng.below(4) {
            0 => Gen::Dir,
            1 => Gen::Link(format!("../{}", NAMES[rng.below(4)])),
            _ => Gen::File(format!("layer {idx} {p}")),
        };
        ents.entry(p).or_insert(g);
    }
    if idx > 0 {
        let old: Vec<(String, bool)> = seen.iter().map(|(k, v)| (k.clone(), *v)).collect();
        for _ in 0..3 {
            if let Some((p, is_dir)) = rng.pick(&old).cloned() {
                let clash = ents.iter().any(|(k, g)| {
                    *k == p
                        || k.starts_with(&format!("{p}/"))
                        || (p.starts_with(&format!("{k}/")) && !matches!(g, Gen::Dir))
                });
                if !clash {
                    // Real layers carry the directory of each whiteout.
                    let parts: Vec<&str> = p.split('/').collect();
                    for i in 1..parts.len() {
                        ents.insert(parts[..i].join("/"), Gen::Dir);
                    }
                    ents.insert(format!("{p}\u{0}wh"), Gen::Whiteout);
                } else if is_dir && matches!(ents.get(&p), Some(Gen::Dir)) && rng.below(2) == 0 {
                    ents.insert(format!("{p}\u{0}opq"), Gen::Opaque);
                }
            }
        }
    }
    let mut l = L::new();
    for (p, g) in &ents {
        let m = meta(0o755, 1_000_000 + idx as i64);
        match g {
            Gen::Dir => {
                l.0.add_entry(p, &m, EntryKind::Dir, None).unwrap();
            }
            Gen::File(c) => {
                l.file_m(p, c, meta(0o644, 1_000_000 + idx as i64));
            }
            Gen::Link(t) => {
                l.0.add_entry(p, &m, EntryKind::Symlink { target: t.into() }, None)
                    .unwrap();
            }
            Gen::Whiteout => {
                let p = p.trim_end_matches("\u{0}wh");
                l.0.add_entry(p, &m, EntryKind::Whiteout, None).unwrap();
            }
            Gen::Opaque => {
                let p = p.trim_end_matches("\u{0}opq");
                l.0.add_entry(p, &m, EntryKind::Opaque, None).unwrap();
            }
        }
    }
    let tar = l.done();
    // Track the merged state for the next layer's whiteouts.
    for (p, g) in &ents {
        match g {
            Gen::Whiteout => {
                let p = p.trim_end_matches("\u{0}wh").to_string();
                seen.retain(|k, _| *k != p && !k.starts_with(&format!("{p}/")));
            }
            Gen::Opaque => {
                let p = p.trim_end_matches("\u{0}opq").to_string();
                seen.retain(|k, _| !k.starts_with(&format!("{p}/")));
            }
            Gen::Dir => {
                seen.insert(p.clone(), true);
            }
            _ => {
                seen.retain(|k, _| !k.starts_with(&format!("{p}/")));
                seen.insert(p.clone(), false);
            }
        }
    }
    tar
}

/// One random operation, applied to both roots in lockstep; they must
/// agree on success. Records directories whose entries changed.
fn rand_op(rng: &mut Rng, k: i64, sides: [&Root; 2], touched: &mut Vec<String>) {
    let list: Vec<(String, Kind)> = sides[1]
        .walk("/")
        .unwrap()
        .into_iter()
        .skip(1)
        .map(|(p, m)| {
            (
                p.to_string_lossy().trim_start_matches('/').to_string(),
                m.kind,
            )
        })
        .collect();
    let dirs: Vec<String> = std::iter::once(String::new())
        .chain(
            list.iter()
                .filter(|(_, k)| *k == Kind::Dir)
                .map(|(p, _)| p.clone()),
        )
        .collect();
    let parent_of = |p: &str| {
        p.rsplit_once('/')
            .map_or(String::new(), |x| x.0.to_string())
    };
    let newp = |rng: &mut Rng| {
        let d = rng.pick(&dirs).cloned().unwrap_or_default();
        let n = format!("{}{}", NAMES[rng.below(4)], rng.below(3));
        if d.is_empty() {
            n
        } else {
            format!("{d}/{n}")
        }
    };
    let Some((p, kind)) = rng.pick(&list).cloned() else {
        return;
    };
    let t = (1_800_000_000 + k, (k as u32) * 7);
    let op = rng.below(13);
    let np = newp(rng);
    let mode = [0o755, 0o700, 0o4755, 0o644, 0o600, 0o2755, 0o1777][rng.below(7)];
    let owner = [0, 1000, 65534][rng.below(3)];
    let content = format!("content {k} {}", "x".repeat(rng.below(3) * 700));
    let mut results = Vec::new();
    for r in sides {
        let host = |q: &str| r.path().join(q);
        let res: Result<(), String> = (|| {
            let e = |x: kiln_layer::RootError| x.to_string();
            match op {
                0 | 1 => {
                    let target = if op == 0 { &np } else { &p };
                    if op == 1 && kind != Kind::File {
                        return Ok(());
                    }
                    let mut f = r.create_file(target, 0o644).map_err(e)?;
                    f.write_all(content.as_bytes()).map_err(|x| x.to_string())?;
                    drop(f);
                    r.set_times(target, t).map_err(e)
                }
                2 => r.remove_all(&p).map_err(e),
                3 => {
                    r.mkdir(&np, 0o755).map_err(e)?;
                    r.set_times(&np, t).map_err(e)
                }
                4 if kind != Kind::Symlink => r.chmod(&p, mode).map_err(e),
                5 => r.lchown(&p, owner, owner).map_err(e),
                6 if matches!(kind, Kind::File | Kind::Dir) => r
                    .set_xattr(&p, &format!("user.k{}", k % 3), content.as_bytes())
                    .map_err(e),
                7 if matches!(kind, Kind::File | Kind::Dir) => {
                    r.remove_xattr(&p, &format!("user.k{}", k % 3)).map_err(e)
                }
                8 => {
                    r.symlink(format!("../t{k}"), &np).map_err(e)?;
                    r.set_times(&np, t).map_err(e)
                }
                9 if kind == Kind::File => r.hardlink(&p, &np).map_err(e),
                10 if kind != Kind::Dir => {
                    fs::rename(host(&p), host(&np)).map_err(|x| x.to_string())
                }
                11 => r.set_times(&p, t).map_err(e),
                12 if kind == Kind::File => fs::OpenOptions::new()
                    .write(true)
                    .open(host(&p))
                    .map(drop)
                    .map_err(|x| x.to_string()),
                _ => Ok(()),
            }
        })();
        results.push(res);
    }
    assert_eq!(
        results[0].is_ok(),
        results[1].is_ok(),
        "op {op} on {p:?} / {np:?}: overlay {:?}, vfs {:?}",
        results[0],
        results[1]
    );
    if results[0].is_ok() && matches!(op, 0 | 2 | 3 | 8 | 9 | 10) {
        touched.push(parent_of(&p));
        touched.push(parent_of(&np));
    }
}

#[test]
fn random_changes_give_identical_overlay_and_vfs_layers() {
    let tmp = tempfile::tempdir().unwrap();
    if !overlay_ok(tmp.path()) {
        return;
    }
    let seeds: u64 = std::env::var("KILN_SNAPSHOT_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(30);
    let mut seen_kinds: BTreeMap<&str, usize> = BTreeMap::new();
    for seed in 1..=seeds {
        let t = tmp.path().join(format!("s{seed}"));
        fs::create_dir(&t).unwrap();
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ seed.wrapping_mul(0x1234_5678_9ABC_DEF1));
        let nlayers = 1 + rng.below(3);
        let mut seen = BTreeMap::new();
        let mut tars = Vec::new();
        let mut lowers = Vec::new();
        for i in 0..nlayers {
            let tar = rand_layer(&mut rng, i, &mut seen);
            let d = t.join(format!("l{i}"));
            unpack(&tar, &d, WhiteoutMode::Overlay);
            lowers.push(d);
            tars.push(tar);
        }
        let d = mkdirs(&t, &["upper", "work", "merged", "before"]);
        let before_view = OverlaySnapshot::mount_readonly(&lowers, &d[3]).unwrap();
        let ov = OverlaySnapshot::mount(&lowers, &d[0], &d[1], &d[2]).unwrap();
        fs::create_dir(t.join("vfs")).unwrap();
        let vfs = VfsSnapshot::prepare(&lowers, &t.join("vfs")).unwrap();
        let merged = Root::open(&d[2]).unwrap();
        assert_eq!(
            signature(vfs.rootfs()),
            signature(&merged),
            "seed {seed}: merged lowers differ"
        );
        let mut touched = Vec::new();
        for k in 0..40 {
            rand_op(&mut rng, k, [&merged, vfs.rootfs()], &mut touched);
        }
        for dir in &touched {
            for r in [&merged, vfs.rootfs()] {
                if r.lstat(dir).unwrap().is_some_and(|m| m.kind == Kind::Dir) && !dir.is_empty() {
                    r.set_times(dir, (1_900_000_000, 5)).unwrap();
                }
            }
        }
        let after = signature(vfs.rootfs());
        assert_eq!(signature(&merged), after, "seed {seed}: trees diverged");
        drop(merged);
        ov.unmount().unwrap();
        let mut w = LayerWriter::new(Vec::new(), TarOptions::default());
        diff_overlay_upper(
            &Root::open(&d[0]).unwrap(),
            &Root::open(&d[3]).unwrap(),
            &mut w,
        )
        .unwrap();
        let otar = w.finish().unwrap();
        before_view.unmount().unwrap();
        let mut w = LayerWriter::new(Vec::new(), TarOptions::default());
        vfs.diff(&mut w).unwrap();
        let vtar = w.finish().unwrap();
        assert_eq!(
            tar_names(&vtar),
            tar_names(&otar),
            "seed {seed}: entry lists differ (vfs left, overlay right)"
        );
        assert_eq!(
            sha(&vtar),
            sha(&otar),
            "seed {seed}: same names, other bytes"
        );
        let mut a = tar::Archive::new(otar.as_slice());
        for e in a.entries().unwrap() {
            let e = e.unwrap();
            let name = e.path().unwrap().to_string_lossy().into_owned();
            let key = if name.ends_with(".wh..wh..opq") {
                "opaque"
            } else if name.contains(".wh.") {
                "whiteout"
            } else if e.header().entry_type().is_hard_link() {
                "hardlink"
            } else if e.header().entry_type().is_dir() {
                "dir"
            } else {
                "other"
            };
            *seen_kinds.entry(key).or_insert(0usize) += 1;
        }
        let out = t.join("replay");
        for tar in tars.iter().chain(std::iter::once(&otar)) {
            unpack(tar, &out, WhiteoutMode::Apply);
        }
        assert_eq!(
            signature(&Root::open(&out).unwrap()),
            after,
            "seed {seed}: replay differs"
        );
    }
    eprintln!("diff entries over {seeds} seeds: {seen_kinds:?}");
    for k in ["opaque", "whiteout", "hardlink", "dir", "other"] {
        assert!(
            seen_kinds.get(k).is_some_and(|n| *n > 0),
            "no {k} entries: {seen_kinds:?}"
        );
    }
}
