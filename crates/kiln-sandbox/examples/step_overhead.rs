//! Per-run cost of the embedded runtime: `true` in a busybox root filesystem, N times
//! (default 200); prints the median and the fastest run. Needs root and a static busybox.
//!
//!     cargo run --release -p kiln-sandbox --example step_overhead -- [N]

use std::time::{Duration, Instant};

use kiln_sandbox::{Confinement, Embedded, ProcessSpec, RunRequest, Sandbox};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n: usize = std::env::args()
        .nth(1)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(200);
    let root = tempfile::Builder::new()
        .prefix("kiln-overhead-")
        .tempdir()?;
    std::fs::create_dir_all(root.path().join("bin"))?;
    std::fs::create_dir_all(root.path().join("etc"))?;
    std::fs::copy("/bin/busybox", root.path().join("bin/busybox"))?;
    std::os::unix::fs::symlink("busybox", root.path().join("bin/true"))?;
    let mut times = Vec::with_capacity(n);
    for _ in 0..n {
        let started = Instant::now();
        let exit = Embedded.run(RunRequest {
            rootfs: root.path(),
            process: ProcessSpec {
                args: vec!["/bin/true".into()],
                env: vec!["PATH=/bin".into()],
                cwd: "/".into(),
                uid: 0,
                gid: 0,
                additional_gids: Vec::new(),
                hostname: "kiln".into(),
            },
            confinement: Confinement::default(),
            hosts: String::new(),
            resolv_conf: String::new(),
            mounts: Vec::new(),
            inline_script: None,
            shared_network: None,
            stdout: Box::new(std::io::sink()),
            stderr: Box::new(std::io::sink()),
        })?;
        times.push(started.elapsed());
        if !exit.success() {
            return Err(format!("`true` failed: {exit:?}").into());
        }
    }
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "{n} runs: median {:.2} ms, fastest {:.2} ms, p90 {:.2} ms",
        ms(times[n / 2]),
        ms(times[0]),
        ms(times[n * 9 / 10])
    );
    Ok(())
}
