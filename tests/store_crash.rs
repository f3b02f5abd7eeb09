//! Crash safety: builds killed with SIGKILL at random moments (RUN, COPY of a few
//! megabytes, layer writing, image recording) never damage the store; `kiln store
//! verify` finds nothing wrong after each kill, `kiln prune` (every fifth kill)
//! removes what the killed builds left, and the next build succeeds.
//!
//! The kill delays come from a seeded generator; the seed is printed, and
//! `KILN_CRASH_SEED=N` reruns the same delays. A build that finishes before its
//! kill runs again with half the delay, so all 30 builds are really killed.

mod store_common;
mod support;

use std::fs;
use std::process::Stdio;
use std::time::{Duration, Instant};
use store_common::{
    assert_intact, context_with_data, exported, findings, mounts_below, text, verify_json,
};
use support::TestEnv;

const KILLS: usize = 30;

/// RUN writes random data and many small files; COPY brings ~2.5 MB of context.
const DOCKERFILE: &str = "FROM bb
ARG N
RUN echo $N > /n && dd if=/dev/urandom of=/rand bs=64k count=24 2>/dev/null && i=0 && while [ $i -lt 150 ]; do echo $N $i > /f$i; i=$((i+1)); done
COPY data /data
RUN cat /n /data/f00000 > /summary
";

/// xorshift64*: small, seeded, reproducible.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

#[test]
fn builds_killed_at_random_moments_leave_the_store_intact() {
    let seed: u64 = std::env::var("KILN_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64)
        })
        | 1;
    eprintln!("crash test seed: {seed} (rerun with KILN_CRASH_SEED={seed})");
    let mut rng = Rng(seed);
    let env = TestEnv::new();
    let store = env.store();
    env.import_busybox("bb");
    let ctx = env.path().join("ctx");
    context_with_data(&ctx, DOCKERFILE, 300, 8192, "crash");
    let ctx_arg = ctx.to_str().expect("utf-8").to_owned();

    // One undisturbed build gives the time scale for the kills.
    let started = Instant::now();
    env.ok(&[
        "build",
        "-q",
        "-t",
        "first",
        "--build-arg",
        "N=first",
        &ctx_arg,
    ]);
    let full = started.elapsed();
    eprintln!("an undisturbed build takes {full:?}");

    let mut phases = std::collections::BTreeMap::<String, usize>::new();
    for i in 0..KILLS {
        let mut delay =
            Duration::from_micros(rng.next() % (full.as_micros() as u64 * 19 / 20).max(1));
        // A build that finished before its kill is run again with half the delay, so
        // each of the KILLS builds is really killed.
        let phase = loop {
            let log = env.path().join(format!("build-{i}.log"));
            let mut child = env
                .kiln()
                .args([
                    "build",
                    "-t",
                    &format!("killed-{i}"),
                    "--build-arg",
                    &format!("N={i}"),
                    &ctx_arg,
                ])
                .stdout(Stdio::null())
                .stderr(fs::File::create(&log).expect("log"))
                .spawn()
                .expect("spawn kiln build");
            std::thread::sleep(delay);
            let finished = child.try_wait().expect("try_wait").is_some();
            child.kill().ok(); // SIGKILL
            child.wait().expect("wait");
            if finished {
                eprintln!("build {i}: finished within {delay:?}; again with half the delay");
                delay /= 2;
                continue;
            }
            let progress = fs::read_to_string(&log).unwrap_or_default();
            // The last step started, from plain progress lines (`#3 [stage-0 2/4] RUN ...`).
            break progress
                .lines()
                .rev()
                .find_map(|l| {
                    let (n, rest) = l.strip_prefix('#')?.split_once(' ')?;
                    (n.parse::<u32>().is_ok() && rest.starts_with('[')).then_some(rest)
                })
                .map_or("before the first step".to_owned(), |l| {
                    l.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
                });
        };
        eprintln!("build {i}: killed after {delay:?}: {phase}");
        *phases.entry(phase).or_default() += 1;
        // No damage, and no mount left behind, after every kill.
        let (code, report, out) = verify_json(&store);
        assert!(
            findings(&report, "corrupt").is_empty() && code == Some(0),
            "after kill {i} (seed {seed}, delay {delay:?}) the store is damaged:\n{}",
            support::show(&out)
        );
        assert_eq!(
            mounts_below(&store),
            Vec::<String>::new(),
            "kill {i} left a mount"
        );
        // Now and then a prune collects what the killed builds left (and must not
        // trip over it).
        if i % 5 == 4 {
            env.ok(&["prune"]);
            assert_intact(&store);
        }
    }
    eprintln!("phases reached: {phases:?}");
    assert!(
        phases.len() >= 3,
        "the kills hit too few phases: {phases:?} (seed {seed})"
    );

    // The next build succeeds and has the right content.
    env.ok(&[
        "build",
        "-q",
        "-t",
        "after",
        "--build-arg",
        "N=after",
        &ctx_arg,
    ]);
    let rootfs = exported(&store, "after", &env.path().join("rootfs"));
    let expected = format!("after\n{}", text(&ctx.join("data/f00000")));
    assert_eq!(text(&rootfs.join("summary")), expected);
    assert_eq!(
        fs::metadata(rootfs.join("rand")).expect("rand").len(),
        24 * 65536
    );
    // Prune removes the leftovers; then verify has nothing at all to say.
    env.ok(&["prune"]);
    let (code, report, out) = verify_json(&store);
    assert_eq!(code, Some(0));
    assert_eq!(
        report["findings"],
        serde_json::json!([]),
        "leftovers after prune:\n{}",
        support::show(&out)
    );
    assert_eq!(fs::read_dir(store.join("tmp")).expect("tmp").count(), 0);
    assert_intact(&store);
}
