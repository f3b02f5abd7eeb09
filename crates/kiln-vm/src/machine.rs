//! One guest: QEMU started with the kernel, the agent's initramfs, a virtio serial port
//! to a socket only kiln holds, the kernel's console in a log file, and, with a network,
//! a virtio NIC on QEMU's user-mode network (QEMU itself runs in the network policy's
//! cgroup, so the guest reaches what a step of the `oci` tier reaches, never the host's
//! own addresses or loopback). Stopped, reaped and its files removed on drop.

use crate::frame::{self, Kind};
use crate::message::{Hello, PROTOCOL};
use crate::session::Watchdog;
use crate::VmError;
use kiln_sandbox::netpolicy::PolicyCgroup;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The longest a guest may take from QEMU's start to the agent's hello (software
/// emulation on a busy CI runner is slow; a healthy boot takes a few seconds).
pub const BOOT_TIMEOUT: Duration = Duration::from_secs(120);

/// How QEMU executes the guest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accel {
    /// Hardware virtualization.
    Kvm,
    /// Software emulation.
    Tcg,
}

impl Accel {
    pub fn name(self) -> &'static str {
        match self {
            Accel::Kvm => "kvm",
            Accel::Tcg => "tcg (software emulation)",
        }
    }
}

/// What a guest is started with.
#[derive(Debug, Clone)]
pub struct MachineSpec {
    pub qemu: PathBuf,
    /// An ELF kernel (see [`crate::kernel::Kernel::bootable`]).
    pub kernel: PathBuf,
    pub initramfs: PathBuf,
    pub accel: Accel,
    pub memory_mib: u64,
    pub cpus: u32,
    /// A NIC on user-mode networking (else none).
    pub network: bool,
    /// Where the guest's socket and console log live while it runs.
    pub scratch: PathBuf,
    /// The longest the boot may take (see [`BOOT_TIMEOUT`]).
    pub boot_timeout: Duration,
}

/// A running guest.
#[derive(Debug)]
pub struct Machine {
    child: Option<Child>,
    channel: UnixStream,
    dir: tempfile::TempDir,
    pub hello: Hello,
    boot_timeout: Duration,
    _cgroup: Option<PolicyCgroup>,
}

impl Machine {
    /// Start QEMU and wait for the agent's hello; `cancel` (the build's) ends the wait
    /// and QEMU with [`VmError::Cancelled`].
    pub fn boot(
        spec: &MachineSpec,
        cgroup: Option<PolicyCgroup>,
        cancel: Option<&kiln_sandbox::Cancel>,
    ) -> Result<Machine, VmError> {
        let dir = tempfile::Builder::new()
            .prefix("vm-")
            .tempdir_in(&spec.scratch)
            .map_err(|e| VmError::io("making the guest's directory in", &spec.scratch, e))?;
        let sock = dir.path().join("agent.sock");
        let listener =
            UnixListener::bind(&sock).map_err(|e| VmError::io("listening on", &sock, e))?;
        let mut cmd = command(spec, dir.path(), &sock);
        let log = dir.path().join("qemu.log");
        let out = std::fs::File::create(&log).map_err(|e| VmError::io("creating", &log, e))?;
        let err = out
            .try_clone()
            .map_err(|e| VmError::io("creating", &log, e))?;
        cmd.stdin(Stdio::null()).stdout(out).stderr(err);
        let child =
            kiln_sandbox::spawn_helper(cmd, cgroup.as_ref()).map_err(|e| VmError::Qemu {
                what: format!("cannot start {}: {e}", spec.qemu.display()),
                console: String::new(),
            })?;
        limit_file_size(&child);
        let mut m = Machine {
            child: Some(child),
            channel: UnixStream::pair()
                .map_err(|e| VmError::io("socketpair", &sock, e))?
                .0,
            dir,
            hello: Hello {
                protocol: 0,
                kernel: String::new(),
            },
            boot_timeout: spec.boot_timeout,
            _cgroup: cgroup,
        };
        let control = kiln_sandbox::RunControl {
            timeout: None,
            cancel: cancel.cloned(),
        };
        let watch = Watchdog::start(m.pid(), &control)?;
        let booted = m.accept(&listener).and_then(|channel| {
            m.channel = channel;
            let _ = std::fs::remove_file(&sock);
            m.read_hello()
        });
        if let Some(cancelled) = watch.fired() {
            return Err(cancelled);
        }
        m.hello = booted?;
        Ok(m)
    }

    /// The channel to the agent.
    pub fn channel(&mut self) -> &mut UnixStream {
        &mut self.channel
    }

    /// Why the guest is gone or failed: QEMU's exit and the last lines of its output and
    /// of the guest's console (a kernel panic says so there).
    pub fn failure(&mut self, what: &str) -> VmError {
        let status = self.stop();
        let log = self.dir.path().join("console.log");
        let mut console = tail(&log, 8);
        if let Some(panic) = panic_line(&log) {
            console = format!("{panic}\n...\n{console}");
        }
        let qemu = tail(&self.dir.path().join("qemu.log"), 5);
        if !qemu.is_empty() {
            console.push_str(&format!("\nQEMU: {qemu}"));
        }
        let status = status.map_or_else(String::new, |s| format!(" (QEMU {s})"));
        VmError::Qemu {
            what: format!("{what}{status}"),
            console,
        }
    }

    /// QEMU's process id while it runs (for a watchdog that kills it).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Kill QEMU and reap it; how it ended if it was still to be reaped.
    pub fn stop(&mut self) -> Option<std::process::ExitStatus> {
        let mut child = self.child.take()?;
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        let _ = child.kill();
        child.wait().ok()
    }

    fn accept(&mut self, listener: &UnixListener) -> Result<UnixStream, VmError> {
        listener
            .set_nonblocking(true)
            .map_err(|e| VmError::io("listening on", Path::new("agent.sock"), e))?;
        let deadline = Instant::now() + self.boot_timeout;
        loop {
            match listener.accept() {
                Ok((s, _)) => {
                    s.set_nonblocking(false)
                        .map_err(|e| VmError::io("accepting on", Path::new("agent.sock"), e))?;
                    return Ok(s);
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(VmError::io("accepting on", Path::new("agent.sock"), e)),
            }
            let exited = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten());
            if exited.is_some() || Instant::now() > deadline {
                return Err(self.failure("QEMU did not connect to the guest's channel"));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    fn read_hello(&mut self) -> Result<Hello, VmError> {
        let _ = self.channel.set_read_timeout(Some(self.boot_timeout));
        let got = frame::read_frame(&mut self.channel);
        let _ = self.channel.set_read_timeout(None);
        let hello = match got {
            Ok((Kind::Hello, payload)) => frame::parse_json::<Hello>(&payload).ok(),
            Ok((Kind::Failed, why)) => {
                let why = String::from_utf8_lossy(&why).into_owned();
                return Err(self.failure(&format!("the guest agent could not start: {why}")));
            }
            _ => None,
        };
        match hello {
            Some(h) if h.protocol == PROTOCOL => Ok(h),
            Some(h) => Err(self.failure(&format!(
                "the guest agent speaks protocol {}, kiln {PROTOCOL}: the initramfs is not this kiln's",
                h.protocol
            ))),
            None => Err(self.failure("the guest did not start its agent")),
        }
    }
}

impl Drop for Machine {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The kernel command line: console on the first serial port, quiet, and a kernel panic
/// ends the VM at once (QEMU runs with -no-reboot). Under emulation the guest's TSC runs
/// at the host's rate, and calibrating it against the emulated PIT fails now and then on a
/// busy host (the boot then hangs): the host's rate is given instead.
///
/// Under emulation the guest's speculative-execution mitigations are off: TCG does not
/// execute speculatively, so they guard against nothing there and cost a good part of a
/// step's time. Under KVM they stay on.
///
/// Under emulation the guest's TSC is the host's: its rate is measured on the host
/// ([`crate::tsc`]) and given to the kernel, and where the host's TSC runs at one rate the
/// guest's is declared reliable. QEMU does not advertise an invariant TSC, and a microvm
/// has no other clock source (no HPET, no ACPI timer), so the kernel fell back to
/// jiffies, a 4 ms clock for every timer and timestamp in the guest.
///
/// `kiln.net` tells the agent the guest has a NIC (it loads the network driver only then).
///
/// A soft lockup (a CPU stuck in the kernel for 20 s) panics the guest, so a guest kernel
/// that hangs fails its step with the kernel's own message instead of holding the build.
///
/// Two built-in initcalls of Debian's kernel are skipped: the SP800-108 KDF's self-test
/// (it runs even with `cryptomgr.notests` and only tests; a quarter second under
/// emulation) and the kprobe-events tracer's setup (tracing the guest has no use for).
fn cmdline(spec: &MachineSpec) -> String {
    let mut line = String::from(
        "console=ttyS0 quiet panic=-1 oops=panic softlockup_panic=1 nomodeset pci=off no_timer_check \
         i8042.noaux i8042.nokbd cryptomgr.notests \
         initcall_blacklist=crypto_kdf108_init,init_kprobe_trace",
    );
    let tsc = crate::tsc::host_khz();
    if let Some(khz) = tsc {
        line.push_str(&format!(" tsc_early_khz={khz}"));
    }
    if spec.accel == Accel::Tcg {
        line.push_str(" mitigations=off");
        if tsc.is_some() {
            line.push_str(" tsc=reliable");
        }
    }
    if spec.network {
        line.push_str(&format!(" {NET_FLAG}"));
    }
    line
}

/// On the guest's command line when it has a NIC.
pub const NET_FLAG: &str = "kiln.net=1";

fn command(spec: &MachineSpec, dir: &Path, sock: &Path) -> Command {
    let mut cmd = Command::new(&spec.qemu);
    let accel = match spec.accel {
        Accel::Kvm => "kvm",
        Accel::Tcg => "tcg",
    };
    cmd.arg("-M").arg(format!("microvm,accel={accel}"));
    cmd.args([
        "-cpu",
        if spec.accel == Accel::Kvm {
            "host"
        } else {
            "max"
        },
    ]);
    cmd.args([
        "-nodefaults",
        "-no-user-config",
        "-display",
        "none",
        "-no-reboot",
    ]);
    // QEMU confines itself: its seccomp filter refuses obsolete system calls, starting
    // programs and changing scheduling or resources; run as root, kiln has it drop to
    // `nobody` once the guest is set up (QEMU 7.2's filter would refuse the setgid of that
    // drop with elevateprivileges=deny; once it is nobody it cannot get root back anyway).
    cmd.args([
        "-sandbox",
        "on,obsolete=deny,spawn=deny,resourcecontrol=deny",
    ]);
    if rustix::process::geteuid().is_root() && has_user(RUN_AS) {
        cmd.args(["-runas", RUN_AS]);
    }
    cmd.arg("-m").arg(format!("{}M", spec.memory_mib));
    cmd.arg("-smp").arg(spec.cpus.to_string());
    cmd.arg("-kernel").arg(&spec.kernel);
    cmd.arg("-initrd").arg(&spec.initramfs);
    cmd.arg("-append").arg(cmdline(spec));
    cmd.arg("-serial")
        .arg(format!("file:{}", option_path(&dir.join("console.log"))));
    cmd.args(["-device", "virtio-serial-device"]);
    cmd.arg("-chardev")
        .arg(format!("socket,id=agent,path={}", option_path(sock)));
    cmd.args(["-device", "virtserialport,chardev=agent,name=kiln.agent"]);
    if spec.network {
        cmd.args([
            "-netdev",
            "user,id=net0",
            "-device",
            "virtio-net-device,netdev=net0",
        ]);
    }
    cmd
}

/// The user QEMU runs as once the guest is set up (when kiln runs as root).
const RUN_AS: &str = "nobody";

/// Whether `/etc/passwd` has `name` (QEMU 7.2's `-runas` takes only a name).
fn has_user(name: &str) -> bool {
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    passwd.lines().any(|l| l.split(':').next() == Some(name))
}

/// A path inside a QEMU option value (a comma is written twice).
fn option_path(p: &Path) -> String {
    p.display().to_string().replace(',', ",,")
}

/// The kernel's panic message in the console log (`Kernel panic - not syncing: ...`).
fn panic_line(path: &Path) -> Option<String> {
    let text = read_end(path);
    let line = text.lines().find(|l| l.contains("Kernel panic"))?;
    Some(clean(line.trim()))
}

/// The last `n` non-empty lines of a log file, joined.
fn tail(path: &Path, n: usize) -> String {
    let text = read_end(path);
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    clean(&lines[lines.len().saturating_sub(n)..].join("\n"))
}

/// The most a log the guest fills may grow to (the console, QEMU's output): past it QEMU
/// gets SIGXFSZ and the step fails, instead of the host's temp space filling up.
const LOG_LIMIT: u64 = 64 << 20;

fn limit_file_size(child: &Child) {
    let limit = rustix::process::Rlimit {
        current: Some(LOG_LIMIT),
        maximum: Some(LOG_LIMIT),
    };
    let pid = rustix::process::Pid::from_child(child);
    let _ = rustix::process::prlimit(Some(pid), rustix::process::Resource::Fsize, limit);
}

/// The last [`LOG_TAIL`] bytes of a log the guest fills.
fn read_end(path: &Path) -> String {
    use std::io::{Read, Seek, SeekFrom};
    let mut buf = Vec::new();
    if let Ok(mut f) = std::fs::File::open(path) {
        let _ = f
            .seek(SeekFrom::End(-(LOG_TAIL as i64)))
            .or_else(|_| f.rewind().map(|_| 0));
        let _ = f.take(LOG_TAIL).read_to_end(&mut buf);
    }
    String::from_utf8_lossy(&buf).into_owned()
}

/// How much of a log's end is read for a message.
const LOG_TAIL: u64 = 64 * 1024;

/// Text from the guest without control characters (no terminal escapes reach the user).
pub(crate) fn clean(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() && c != '\n' { ' ' } else { c })
        .collect()
}
