//! Ending RUN steps early: `--timeout` and SIGINT/SIGTERM to `kiln build`. Each test watches
//! the running step first (its processes, cgroup, temp dirs and slirp4netns are there: the
//! probes work), then ends it and checks that all of it is gone and the store is valid.

mod support;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;
use support::{s, show, TestEnv};

/// A step that prints `started-MARK` (written so that the instruction itself, which progress
/// shows, does not contain it), then waits forever with background children that
/// ignore SIGTERM (`sleep MARK` is what the leftover check looks for).
fn stubborn_step(mark: u32) -> String {
    format!(
        "FROM busybox:test\n\
         RUN trap '' TERM; sleep {mark} & sleep {mark} & echo started-$(({mark})); sleep {mark}\n"
    )
}

/// A kiln build running in the background, its progress lines arriving on a channel.
struct Running {
    child: Child,
    lines: mpsc::Receiver<String>,
    stderr: std::thread::JoinHandle<String>,
    tmp: PathBuf,
}

fn start(env: &TestEnv, ctx: &Path, extra: &[&str]) -> Running {
    let tmp = env.path().join("tmpdir");
    std::fs::create_dir_all(&tmp).expect("TMPDIR");
    let mut cmd = env.kiln();
    cmd.env("TMPDIR", &tmp)
        .args(["build", "--progress", "plain"])
        .args(extra)
        .arg(ctx)
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("start kiln");
    let (tx, lines) = mpsc::channel();
    let pipe = child.stderr.take().expect("stderr");
    let stderr = std::thread::spawn(move || {
        let mut all = String::new();
        for line in BufReader::new(pipe).lines().map_while(Result::ok) {
            all.push_str(&line);
            all.push('\n');
            let _ = tx.send(line);
        }
        all
    });
    Running {
        child,
        lines,
        stderr,
        tmp,
    }
}

impl Running {
    /// Wait for a progress line containing `needle` (panics if kiln ends first).
    fn wait_for(&self, needle: &str) {
        loop {
            // A bound so a broken build fails the test instead of hanging it.
            match self.lines.recv_timeout(Duration::from_secs(300)) {
                Ok(l) if l.contains(needle) => return,
                Ok(_) => {}
                Err(e) => panic!("kiln ended or stalled before printing {needle:?}: {e}"),
            }
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn finish(mut self) -> Output {
        let status = self.child.wait().expect("wait for kiln");
        let stderr = self.stderr.join().expect("stderr reader");
        Output {
            status,
            stdout: Vec::new(),
            stderr: stderr.into_bytes(),
        }
    }
}

/// pids of processes whose command line contains `needle` (this test's own aside).
fn processes_with(needle: &str) -> Vec<u32> {
    let me = std::process::id();
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if pid != me && cmdline.contains(needle) {
            out.push(pid);
        }
    }
    out
}

/// The processes of [`processes_with`] once there are at least `min` of them: a step prints
/// its start mark before its last command has been exec'd.
fn wait_for_processes(needle: &str, min: usize) -> Vec<u32> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let found = processes_with(needle);
        if found.len() >= min || std::time::Instant::now() > deadline {
            return found;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// slirp4netns processes whose parent is `kiln`.
fn slirps_of(kiln: u32) -> Vec<u32> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
        // pid (comm) state ppid ...
        let Some((comm, rest)) = stat.split_once(") ") else {
            continue;
        };
        let ppid = rest.split(' ').nth(1).and_then(|p| p.parse::<u32>().ok());
        if comm.ends_with("(slirp4netns") && ppid == Some(kiln) {
            out.push(pid);
        }
    }
    out
}

/// cgroup directories of this kiln's steps (`…/kiln/<pid>-N`, or `kiln-<pid>-N` made by
/// an OCI runtime) and of its network policy (`kiln-net-<pid>-N` at a hierarchy's top), in
/// every hierarchy.
fn cgroups_of(kiln: u32) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(hierarchies) = std::fs::read_dir("/sys/fs/cgroup") else {
        return out;
    };
    let step = [format!("{kiln}-"), format!("kiln-{kiln}-")];
    let policy = format!("kiln-net-{kiln}-");
    let named = |dir: &Path, prefixes: &[String], out: &mut Vec<PathBuf>| {
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if prefixes.iter().any(|p| name.starts_with(p.as_str())) {
                out.push(e.path());
            }
        }
    };
    for h in hierarchies.flatten() {
        named(&h.path().join("kiln"), &step, &mut out);
        named(&h.path(), std::slice::from_ref(&policy), &mut out);
    }
    out
}

fn entries(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// What a step of a kiln (its command containing `sleep MARK`) has on the host.
#[derive(Debug, Default)]
struct Traces {
    processes: Vec<u32>,
    cgroups: Vec<PathBuf>,
    slirps: Vec<u32>,
    temp_dirs: Vec<String>,
    store_tmp: Vec<String>,
}

impl Traces {
    /// What kiln `pid` (its TMPDIR `run_tmp`) has on the host besides `processes`, the
    /// step's processes found by the caller; `slirps` are looked for again.
    fn of(env: &TestEnv, pid: u32, run_tmp: &Path, processes: Vec<u32>, slirps: &[u32]) -> Traces {
        Traces {
            processes,
            cgroups: cgroups_of(pid),
            slirps: slirps
                .iter()
                .copied()
                .filter(|p| Path::new(&format!("/proc/{p}")).exists())
                .collect(),
            temp_dirs: entries(run_tmp),
            store_tmp: entries(&env.store().join("tmp")),
        }
    }

    fn none(&self) -> bool {
        self.processes.is_empty()
            && self.cgroups.is_empty()
            && self.slirps.is_empty()
            && self.temp_dirs.is_empty()
            && self.store_tmp.is_empty()
    }
}

fn env_with_base() -> TestEnv {
    let env = TestEnv::new();
    env.import_busybox("busybox:test");
    env
}

/// Start a build of the stubborn step; once it runs, check the probes see it.
fn start_stubborn(env: &TestEnv, mark: u32, extra: &[&str]) -> (Running, Vec<u32>) {
    let ctx = env.context("ctx", &[("Dockerfile", &stubborn_step(mark))]);
    let run = start(env, &ctx, extra);
    run.wait_for(&format!("started-{mark}"));
    // Counted once there are 3: a shell in the middle of exec'ing its last command has
    // no command line for a moment, so a single later look may see one fewer.
    let processes = wait_for_processes(&format!("sleep {mark}"), 3);
    let slirps = slirps_of(run.pid());
    let seen = Traces::of(env, run.pid(), &run.tmp, processes, &slirps);
    // Positive control: the probes find the running step (3 sleeps at least).
    assert!(seen.processes.len() >= 3, "the step's processes: {seen:?}");
    assert!(!seen.temp_dirs.is_empty(), "the step's temp dir: {seen:?}");
    assert!(!seen.store_tmp.is_empty(), "the build's work dir: {seen:?}");
    assert!(
        !seen.slirps.is_empty(),
        "the step's user-mode network: {seen:?}"
    );
    (run, slirps)
}

fn assert_clean(env: &TestEnv, run_tmp: &Path, pid: u32, mark: u32, slirps: &[u32]) {
    let processes = processes_with(&format!("sleep {mark}"));
    let left = Traces::of(env, pid, run_tmp, processes, slirps);
    assert!(left.none(), "left behind: {left:?}");
    env.ok(&["store", "verify"]);
}

fn timeout_case(env: &TestEnv, mark: u32, extra: &[&str]) {
    let mut args = vec!["--timeout", "10s"];
    args.extend_from_slice(extra);
    let (run, slirps) = start_stubborn(env, mark, &args);
    let (pid, tmp) = (run.pid(), run.tmp.clone());
    let out = run.finish();
    // A step past its timeout failed: exit 4 (1 before exit codes were split by kind).
    support::assert_fails(
        &out,
        4,
        &[
            "did not finish within --timeout 10s: it and every process it started were killed",
            "Dockerfile:2",
        ],
    );
    assert_clean(env, &tmp, pid, mark, &slirps);
}

#[test]
fn a_step_past_its_timeout_is_killed_with_its_children_that_ignore_sigterm() {
    let env = env_with_base();
    timeout_case(&env, 86411, &[]);
    // A step within the limit is not affected.
    let ctx = env.context(
        "quick",
        &[("Dockerfile", "FROM busybox:test\nRUN sleep 0.1\n")],
    );
    env.ok(&["build", "-q", "--timeout", "10m", s(&ctx)]);
}

#[test]
fn a_step_that_sleeps_forever_is_killed_at_its_timeout() {
    let env = env_with_base();
    let ctx = env.context(
        "ctx",
        &[(
            "Dockerfile",
            "FROM busybox:test\nRUN echo started-$((86412)); sleep 86412\n",
        )],
    );
    let run = start(&env, &ctx, &["--timeout", "10s", "--network", "none"]);
    run.wait_for("started-86412");
    assert_eq!(
        wait_for_processes("sleep 86412", 1).len(),
        1,
        "the step runs"
    );
    let (pid, tmp) = (run.pid(), run.tmp.clone());
    let out = run.finish();
    support::assert_fails(&out, 4, &["did not finish within --timeout 10s"]);
    assert_clean(&env, &tmp, pid, 86412, &[]);
}

#[test]
fn oci_runtimes_kill_a_step_past_its_timeout() {
    let env = env_with_base();
    for (i, rt) in ["runc", "crun"].into_iter().enumerate() {
        support::tool(rt, rt);
        timeout_case(&env, 86420 + i as u32, &["--runtime", rt]);
    }
}

fn signal_case(env: &TestEnv, mark: u32, signal: rustix::process::Signal, extra: &[&str]) {
    let (run, slirps) = start_stubborn(env, mark, extra);
    let (pid, tmp) = (run.pid(), run.tmp.clone());
    let kiln = rustix::process::Pid::from_raw(pid as i32).expect("pid");
    rustix::process::kill_process(kiln, signal).expect("signal kiln");
    let out = run.finish();
    let (code, name) = if signal == rustix::process::Signal::INT {
        (130, "SIGINT")
    } else {
        (143, "SIGTERM")
    };
    assert_eq!(out.status.code(), Some(code), "{}", show(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let last = stderr.trim_end().lines().last().unwrap_or_default();
    assert_eq!(
        last,
        format!(
            "error: the build was interrupted by {name}: its running steps were killed and their files removed"
        ),
        "{}",
        show(&out)
    );
    assert_clean(env, &tmp, pid, mark, &slirps);
}

#[test]
fn sigterm_ends_the_build_cleanly() {
    let env = env_with_base();
    signal_case(&env, 86431, rustix::process::Signal::TERM, &[]);
}

#[test]
fn sigint_ends_the_build_cleanly() {
    let env = env_with_base();
    signal_case(&env, 86432, rustix::process::Signal::INT, &[]);
}

#[test]
fn sigterm_ends_a_build_run_by_runc_cleanly() {
    let env = env_with_base();
    support::tool("runc", "runc");
    signal_case(
        &env,
        86433,
        rustix::process::Signal::TERM,
        &["--runtime", "runc"],
    );
}

/// A step that starts 2,100 processes at once, then lists the processes it sees into
/// /count (without forking again: `exec`).
const MANY_PROCESSES: &str = "FROM busybox:test\n\
    RUN i=0; while [ $i -lt 2100 ]; do sleep 86460 2>/dev/null & i=$((i+1)); done 2>/dev/null; \
        exec >/count; exec busybox find /proc -maxdepth 1 -name '[0-9]*'\n";

#[test]
fn steps_have_a_default_pids_limit_and_minus_one_lifts_it() {
    let env = env_with_base();
    let ctx = env.context("ctx", &[("Dockerfile", MANY_PROCESSES)]);
    // Positive control: without a limit the step has its 2,100 processes.
    env.ok(&[
        "build",
        "-q",
        "--network",
        "none",
        "--pids-limit",
        "-1",
        "-t",
        "many:1",
        s(&ctx),
    ]);
    let root = env.path().join("many");
    env.ok(&["export", "many:1", "-o", s(&root)]);
    let count = std::fs::read_to_string(root.join("count")).expect("count");
    assert!(
        count.lines().count() > 2100,
        "{} processes",
        count.lines().count()
    );
    assert!(
        processes_with("sleep 86460").is_empty(),
        "the step's processes are gone"
    );
    // Default: the shell cannot fork past 2048 processes, and the step fails.
    let out = env.run(&["build", "-q", "--no-cache", "--network", "none", s(&ctx)]);
    support::assert_fails(&out, 4, &["failed with exit code 2", "Dockerfile:2"]);
    assert!(
        processes_with("sleep 86460").is_empty(),
        "the step's processes are gone"
    );
}

#[test]
fn limits_and_the_timeout_leave_step_cache_keys_unchanged() {
    let env = env_with_base();
    let ctx = env.context(
        "ctx",
        &[(
            "Dockerfile",
            "FROM busybox:test\nRUN echo one > /one\nRUN echo two > /two\n",
        )],
    );
    let build = |extra: &[&str]| {
        let mut args = vec!["build", "--progress", "plain", "--network", "none"];
        args.extend_from_slice(extra);
        args.push(s(&ctx));
        let out = env.run(&args);
        assert!(out.status.success(), "{}", show(&out));
        // The two RUN steps (FROM is listed first).
        support::statuses(&String::from_utf8_lossy(&out.stderr))
            .into_iter()
            .filter(|(name, _)| name.contains("RUN echo"))
            .map(|(_, status)| status)
            .collect::<Vec<_>>()
    };
    // Positive control: the first build (default limit) runs its steps.
    assert_eq!(build(&[]), ["DONE", "DONE"]);
    for extra in [
        &["--pids-limit", "-1"][..],
        &["--pids-limit", "100", "--timeout", "10m"][..],
    ] {
        assert_eq!(build(extra), ["CACHED", "CACHED"], "{extra:?}");
    }
}
