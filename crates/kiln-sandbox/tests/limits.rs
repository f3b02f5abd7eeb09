//! cgroup limits of sandboxed runs: pids (a fork bomb), memory, CPU; no cgroup is left
//! behind. Needs root and busybox-static.

mod common;

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use kiln_sandbox::{Confinement, Limits};

use common::*;

/// Tests that create cgroups run one at a time, so leftovers are attributable.
static CGROUP_TESTS: Mutex<()> = Mutex::new(());

fn cgroup_dirs() -> Vec<PathBuf> {
    ["memory", "pids", "cpu"]
        .iter()
        .filter_map(|c| std::fs::read_dir(Path::new("/sys/fs/cgroup").join(c).join("kiln")).ok())
        .flatten()
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(&format!("{}-", std::process::id())))
        })
        .collect()
}

#[test]
fn fork_bomb_is_contained_by_pids_limit() {
    let _serial = CGROUP_TESTS.lock().unwrap_or_else(|e| e.into_inner());
    let rootfs = Rootfs::new();
    let c = Confinement {
        limits: Limits {
            pids: Some(32),
            ..Limits::default()
        },
        ..Confinement::default()
    };
    let start = Instant::now();
    // The bomb runs in the background; the shell counts processes with
    // builtins only (it may not be able to fork anything else).
    // First, bounded: fork 100 long-lived sleepers; the limit must stop
    // them (the subshell dies on the failed fork, the sleepers stay). Only if
    // that count proves the limit works, kill them and let a classic fork
    // bomb loose for a moment, then count again. Counting uses builtins only.
    let script = "( i=0; while [ $i -lt 100 ]; do sleep 30 & i=$((i+1)); done ); \
                  set -- /proc/[0-9]*; echo $#; [ $# -le 32 ] || exit 99; \
                  kill $(cd /proc && echo [3-9] [1-9][0-9]) 2>/dev/null; \
                  f(){ f | f & }; (f); i=0; while [ $i -lt 30000 ]; do i=$((i+1)); done; \
                  set -- /proc/[0-9]*; echo $#";
    let o = run_with(&rootfs, spec(script), c);
    let counts: Vec<usize> = o
        .stdout
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    assert_eq!(
        counts.len(),
        2,
        "stdout {:?} stderr {:?}",
        o.stdout,
        o.stderr
    );
    assert!(
        counts[0] <= 32,
        "{} sleepers despite pids limit 32",
        counts[0]
    );
    assert!(
        counts[0] >= 20,
        "the sleepers did not fill the limit ({})",
        counts[0]
    );
    assert!(
        counts[1] <= 32,
        "{} processes during the fork bomb",
        counts[1]
    );
    assert!(
        o.stderr.contains("can't fork"),
        "the limit was never hit: {}",
        o.stderr
    );
    assert!(start.elapsed() < Duration::from_secs(60));
    assert!(
        cgroup_dirs().is_empty(),
        "cgroup left behind: {:?}",
        cgroup_dirs()
    );
}

#[test]
fn memory_pids_cpu_limits_are_applied() {
    let _serial = CGROUP_TESTS.lock().unwrap_or_else(|e| e.into_inner());
    let rootfs = Rootfs::new();
    let c = Confinement {
        limits: Limits {
            memory: Some(64 << 20),
            pids: Some(100),
            cpus: Some(0.5),
        },
        ..Confinement::default()
    };
    let o = run_with(&rootfs, spec("cat /proc/self/cgroup"), c.clone());
    assert!(o.exit.success(), "{}", o.stderr);
    // In its own cgroup namespace the process sees itself at the root.
    for controller in ["memory", "pids", "cpu"] {
        let suffix = format!(":{controller}:/");
        assert!(
            o.stdout.lines().any(|l| l.ends_with(&suffix)),
            "{controller}: {}",
            o.stdout
        );
    }
    // Going over the memory limit gets the process OOM-killed.
    let script = "x=$(head -c 134217728 /dev/zero | tr '\\0' a); echo survived ${#x}";
    let unlimited = run_with(&rootfs, spec(script), Confinement::default());
    assert_eq!(
        unlimited.stdout, "survived 134217728\n",
        "{}",
        unlimited.stderr
    );
    let o = run_with(&rootfs, spec(script), c);
    assert!(
        !o.stdout.contains("survived"),
        "allocated past the limit: {}",
        o.stdout
    );
    assert!(
        o.exit.signal == Some(9) || o.exit.code != Some(0),
        "{:?}",
        o.exit
    );
    assert!(
        cgroup_dirs().is_empty(),
        "cgroup left behind: {:?}",
        cgroup_dirs()
    );
}
