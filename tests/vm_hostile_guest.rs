//! A hostile guest: the agent's side of the channel is replaced (an initramfs whose /init
//! is a script that answers with prepared frames, given with `--vm-initrd`). The host
//! refuses a changes tar that climbs out of the layer and a frame over the channel's limit,
//! fails the step saying so, and the store stays valid; a guest that reports success and
//! then stalls is still ended by `--timeout`. Control: the fake agent's own
//! output frame reaches the build's output, so its frames are read.

mod support;

use kiln_vm::cpio::Cpio;
use std::path::{Path, PathBuf};
use support::{assert_fails, s, TestEnv};

const SCRIPT: &str = r#"#!/kiln/busybox sh
B=/kiln/busybox
$B mount -t proc p /proc; $B mount -t sysfs s /sys; $B mount -t devtmpfs d /dev
for m in $($B cat /kiln/modules); do $B insmod $m; done
port=
while [ -z "$port" ]; do
  for p in /sys/class/virtio-ports/*; do
    [ "$($B cat $p/name 2>/dev/null)" = kiln.agent ] && port=/dev/${p##*/}
  done
  $B sleep 0.1
done
exec 3<>$port
$B cat /hello.bin >&3
$B cat <&3 > /dev/null &
$B sleep 6
$B cat /answer.bin >&3
$B sleep 60
"#;

fn frame(kind: u8, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![kind];
    f.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// A ustar member `name` holding `data`.
fn tar_member(name: &str, data: &[u8]) -> Vec<u8> {
    let mut h = [0u8; 512];
    h[..name.len()].copy_from_slice(name.as_bytes());
    h[100..108].copy_from_slice(b"0000644\0");
    h[108..116].copy_from_slice(b"0000000\0");
    h[116..124].copy_from_slice(b"0000000\0");
    h[124..136].copy_from_slice(format!("{:011o}\0", data.len()).as_bytes());
    h[136..148].copy_from_slice(b"00000000000\0");
    h[156] = b'0';
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    h[148..156].fill(b' ');
    let sum: u32 = h.iter().map(|b| u32::from(*b)).sum();
    h[148..155].copy_from_slice(format!("{sum:06o}\0").as_bytes());
    let mut out = h.to_vec();
    out.extend_from_slice(data);
    out.resize(out.len().div_ceil(512) * 512, 0);
    out.extend_from_slice(&[0u8; 1024]);
    out
}

/// kiln's own initramfs for this store, with /init replaced by the fake agent answering
/// `answer` after its hello.
fn hostile_initrd(env: &TestEnv, answer: &[u8]) -> PathBuf {
    initrd_with(env, SCRIPT, answer)
}

/// kiln's own initramfs for this store, with /init replaced by `script` (run by the
/// host's static busybox, added as /kiln/busybox) and `answer` at /answer.bin.
fn initrd_with(env: &TestEnv, script: &str, answer: &[u8]) -> PathBuf {
    let vm = env.store().join("vm");
    let base = std::fs::read_dir(&vm)
        .expect("STORE/vm")
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("initramfs-"))
        })
        .expect("kiln's initramfs");
    let mut data = std::fs::read(&base).expect("read the initramfs");
    let mut c = Cpio::default();
    c.file("init", 0o755, script.as_bytes());
    let busybox = std::fs::read(support::tool("busybox", "busybox-static")).expect("busybox");
    c.file("kiln/busybox", 0o755, &busybox);
    c.file(
        "hello.bin",
        0o644,
        &frame(
            1,
            format!(
                r#"{{"protocol":{},"kernel":"hostile"}}"#,
                kiln_vm::message::PROTOCOL
            )
            .as_bytes(),
        ),
    );
    c.file("answer.bin", 0o644, answer);
    data.extend_from_slice(&c.finish());
    let out = env
        .path()
        .join(format!("hostile-{}-{}.cpio", script.len(), answer.len()));
    std::fs::write(&out, data).expect("write the initramfs");
    out
}

fn build_with(env: &TestEnv, ctx: &Path, initrd: &Path) -> std::process::Output {
    env.run(&[
        "build",
        "--progress",
        "plain",
        "--isolation",
        "vm",
        "--network",
        "none",
        "--no-cache",
        "--timeout",
        "15s",
        "--vm-initrd",
        s(initrd),
        s(ctx),
    ])
}

/// A store with busybox and a one-RUN context, built once with kiln's own agent (which
/// makes the initramfs the fake agents start from).
fn env_with_kiln_initramfs() -> (TestEnv, PathBuf) {
    let env = TestEnv::new();
    env.import_busybox("busybox:test");
    let ctx = env.context(
        "ctx",
        &[("Dockerfile", "FROM busybox:test\nRUN echo hi > /f\n")],
    );
    env.ok(&[
        "build",
        "-q",
        "--isolation",
        "vm",
        "--network",
        "none",
        s(&ctx),
    ]);
    (env, ctx)
}

#[test]
fn the_host_refuses_what_a_hostile_guest_sends() {
    let (env, ctx) = env_with_kiln_initramfs();

    let mut climbing = frame(7, b"hostile agent says hello\n");
    climbing.extend(frame(9, br#"{"code":0,"signal":null}"#));
    climbing.extend(frame(4, &tar_member("../../escape-from-guest", b"owned")));
    climbing.extend(frame(5, b""));
    let out = build_with(&env, &ctx, &hostile_initrd(&env, &climbing));
    assert_fails(
        &out,
        1,
        &[
            "hostile agent says hello",
            "escape-from-guest",
            "Dockerfile:2",
        ],
    );
    for dir in [env.path(), env.store().as_path(), Path::new("/")] {
        assert!(!dir.join("escape-from-guest").exists(), "{}", dir.display());
    }
    env.ok(&["store", "verify"]);

    let mut huge = frame(7, b"hostile agent says hello\n");
    huge.extend_from_slice(&[7, 0xff, 0xff, 0xff, 0xff]);
    let out = build_with(&env, &ctx, &hostile_initrd(&env, &huge));
    assert_fails(
        &out,
        4,
        &["hostile agent says hello", "the limit is 1048576"],
    );
    env.ok(&["store", "verify"]);

    // It says the step succeeded, then sends nothing: --timeout still ends the build.
    let mut stall = frame(7, b"hostile agent says hello\n");
    stall.extend(frame(9, br#"{"code":0,"signal":null}"#));
    let started = std::time::Instant::now();
    let out = build_with(&env, &ctx, &hostile_initrd(&env, &stall));
    assert_fails(
        &out,
        4,
        &[
            "hostile agent says hello",
            "did not finish within --timeout 15s",
        ],
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(120));
    env.ok(&["store", "verify"]);
}

/// A guest that never says hello: SIGINT to kiln ends the wait for its boot at once (as
/// the build's cancellation) instead of after the 120 s boot timeout, and QEMU with it. Control:
/// the probe sees the booting guest's QEMU before the signal.
#[test]
fn a_build_interrupted_while_its_guest_boots_stops_the_guest() {
    let (env, ctx) = env_with_kiln_initramfs();
    let silent = initrd_with(&env, "#!/kiln/busybox sh\n/kiln/busybox sleep 600\n", b"");
    let mut cmd = env.kiln();
    cmd.args(["build", "--progress", "plain", "--isolation", "vm"]);
    cmd.args([
        "--network",
        "none",
        "--no-cache",
        "--vm-initrd",
        s(&silent),
        s(&ctx),
    ]);
    cmd.stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let child = cmd.spawn().expect("run kiln");
    env.wait_for_qemu();
    std::thread::sleep(std::time::Duration::from_millis(500));
    let kiln = rustix::process::Pid::from_raw(child.id() as i32).expect("pid");
    rustix::process::kill_process(kiln, rustix::process::Signal::INT).expect("signal kiln");
    let signalled = std::time::Instant::now();
    let out = child.wait_with_output().expect("wait for kiln");
    assert_fails(&out, 130, &["interrupted by SIGINT"]);
    // Not a speed goal: a bound well under the 120 s boot wait that, without the fix,
    // runs out before the signal is acted on.
    assert!(
        signalled.elapsed() < std::time::Duration::from_secs(60),
        "the boot's wait outlived the interruption"
    );
    assert!(env.qemus().is_empty(), "QEMU left: {}", env.qemus());
    env.ok(&["store", "verify"]);
}
