//! Ending runs early ([`RunControl`]): a time limit and a cancellation flag kill every
//! process of the run (background ones that ignore SIGTERM too) and leave no cgroup.
//! Needs root and busybox-static.

mod common;

use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kiln_sandbox::{
    Cancel, Confinement, Embedded, Exit, Limits, RunControl, RunRequest, Sandbox, SandboxError,
};

use common::*;

/// The tests run one at a time, so a cgroup of this process is attributable.
static SERIAL: Mutex<()> = Mutex::new(());

fn limited() -> Confinement {
    Confinement {
        limits: Limits {
            pids: Some(64),
            ..Limits::default()
        },
        ..Confinement::default()
    }
}

/// Processes whose command line contains `needle`.
fn processes_with(needle: &str) -> usize {
    std::fs::read_dir("/proc")
        .expect("/proc")
        .flatten()
        .filter(|e| {
            e.file_name().to_string_lossy().parse::<u32>().is_ok()
                && std::fs::read(e.path().join("cmdline")).is_ok_and(|c| {
                    String::from_utf8_lossy(&c)
                        .replace('\0', " ")
                        .contains(needle)
                })
        })
        .count()
}

/// [`processes_with`] once it finds `min`, or after 10 s: a process in the middle of an
/// exec has no command line for a moment, so a single look may miss one.
fn wait_for_processes(needle: &str, min: usize) -> usize {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let found = processes_with(needle);
        if found >= min || std::time::Instant::now() > deadline {
            return found;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// cgroup directories this test process made (`…/kiln/<pid>-N`).
fn own_cgroups() -> usize {
    let prefix = format!("{}-", std::process::id());
    ["memory", "pids", "cpu"]
        .iter()
        .filter_map(|c| std::fs::read_dir(Path::new("/sys/fs/cgroup").join(c).join("kiln")).ok())
        .flatten()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
        .count()
}

/// Standard output that cancels `flag` once the process prints `started`, counting the
/// run's processes then (they are live: the run is being watched).
struct CancelOnStart {
    flag: Cancel,
    seen: Vec<u8>,
    running: Arc<Mutex<Option<usize>>>,
}

impl Write for CancelOnStart {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.seen.extend_from_slice(b);
        if self.flag.cancelled().is_none()
            && String::from_utf8_lossy(&self.seen).contains("started")
        {
            if let Ok(mut r) = self.running.lock() {
                *r = Some(wait_for_processes("sleep 86482", 3));
            }
            self.flag.cancel(15);
        }
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn run(
    rootfs: &Rootfs,
    script: &str,
    stdout: Box<dyn Write + Send>,
    control: &RunControl,
) -> Result<Exit, SandboxError> {
    Embedded.run_controlled(
        RunRequest {
            rootfs: rootfs.path(),
            process: spec(script),
            confinement: limited(),
            hosts: "127.0.0.1\tlocalhost\n".into(),
            resolv_conf: String::new(),
            mounts: Vec::new(),
            inline_script: None,
            shared_network: None,
            stdout,
            stderr: Box::new(std::io::sink()),
        },
        control,
    )
}

#[test]
fn a_run_past_its_time_limit_is_killed_with_every_process_it_started() {
    require_root();
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let rootfs = Rootfs::new();
    // Positive control: within its limit the same kind of run ends by itself.
    let roomy = RunControl {
        timeout: Some(Duration::from_secs(600)),
        cancel: None,
    };
    let exit = run(
        &rootfs,
        "sleep 0.2; echo done",
        Box::new(std::io::sink()),
        &roomy,
    )
    .expect("a run within its limit");
    assert!(exit.success());
    let tight = RunControl {
        timeout: Some(Duration::from_millis(500)),
        cancel: None,
    };
    let err = run(
        &rootfs,
        "trap '' TERM; sleep 86481 & sleep 86481 & sleep 86481",
        Box::new(std::io::sink()),
        &tight,
    )
    .expect_err("killed at its limit");
    assert!(
        matches!(err, SandboxError::TimedOut { limit } if limit == Duration::from_millis(500)),
        "{err}"
    );
    assert_eq!(processes_with("sleep 86481"), 0, "every process is gone");
    assert_eq!(own_cgroups(), 0, "no cgroup is left");
}

#[test]
fn a_cancelled_run_is_killed_and_a_set_flag_ends_the_next_run_at_once() {
    require_root();
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let rootfs = Rootfs::new();
    let flag = Cancel::new().expect("eventfd");
    let control = RunControl {
        timeout: None,
        cancel: Some(flag.clone()),
    };
    let running = Arc::new(Mutex::new(None));
    let out = CancelOnStart {
        flag: flag.clone(),
        seen: Vec::new(),
        running: running.clone(),
    };
    let err = run(
        &rootfs,
        "trap '' TERM INT; sleep 86482 & sleep 86482 & echo started; sleep 86482",
        Box::new(out),
        &control,
    )
    .expect_err("cancelled");
    assert!(matches!(err, SandboxError::Cancelled { why: 15 }), "{err}");
    // Positive control: the probe saw the run's processes while it ran.
    let running = *running.lock().expect("lock");
    assert!(running >= Some(3), "the run's processes: {running:?}");
    assert_eq!(processes_with("sleep 86482"), 0, "every process is gone");
    assert_eq!(own_cgroups(), 0, "no cgroup is left");
    // Once set, the flag ends the next run at once.
    let err = run(&rootfs, "echo never", Box::new(std::io::sink()), &control)
        .expect_err("still cancelled");
    assert!(matches!(err, SandboxError::Cancelled { .. }), "{err}");
}
