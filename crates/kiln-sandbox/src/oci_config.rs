//! The OCI runtime config (`config.json`) of a run, from the same settings the
//! embedded runtime applies: namespaces, capabilities, seccomp (Docker's
//! profile converted to the OCI section), masked and read-only paths, the
//! standard /dev, /proc and /sys mounts, /etc files, `RUN --mount`s, user and
//! groups, rlimits, cgroup limits. Typed by `oci_spec::runtime::Spec`.

use std::path::{Path, PathBuf};

use oci_spec::runtime::Spec;
use serde_json::{json, Value};

use crate::{caps, seccomp, Confinement, MountKind, ProcessSpec, SandboxError, SeccompPolicy};

/// How the run gets its network namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum NetNamespace {
    /// The host's (no network namespace entry).
    Host,
    /// Join the namespace at this path (made by kiln: `lo` up, maybe slirp).
    Path(String),
}

/// Everything the config is made from.
pub(crate) struct ConfigInput<'a> {
    pub rootfs: &'a Path,
    pub process: &'a ProcessSpec,
    pub confinement: &'a Confinement,
    /// `/etc/hosts` etc.: container path and host file.
    pub etc: &'a [(String, PathBuf)],
    pub mounts: &'a [crate::Mount],
    pub network: NetNamespace,
    /// `linux.cgroupsPath`; `None` leaves cgroups (and limits) to nobody.
    pub cgroups_path: Option<String>,
    /// RLIMIT_NOFILE (soft, hard), as the embedded runtime's process inherits it.
    pub nofile: (u64, u64),
    /// The rootfs's own `/tmp`, bound on `/tmp` (gVisor mounts a tmpfs on an
    /// empty `/tmp` that is not in the config, and what a step writes there
    /// would miss its layer).
    pub tmp_bind: Option<PathBuf>,
}

fn invalid(e: impl std::fmt::Display) -> SandboxError {
    SandboxError::Invalid(format!("OCI runtime config: {e}"))
}

/// The standard mounts, as Docker/runc set them up (and the embedded runtime
/// mounts them).
fn standard_mounts() -> Vec<Value> {
    let m = |dest: &str, typ: &str, src: &str, opts: &[&str]| json!({ "destination": dest, "type": typ, "source": src, "options": opts });
    let mut mounts = vec![
        m("/proc", "proc", "proc", &["nosuid", "noexec", "nodev"]),
        m(
            "/dev",
            "tmpfs",
            "tmpfs",
            &["nosuid", "nodev", "strictatime", "mode=755", "size=65536k"],
        ),
        m(
            "/dev/pts",
            "devpts",
            "devpts",
            &[
                "nosuid",
                "noexec",
                "newinstance",
                "ptmxmode=0666",
                "mode=0620",
                "gid=5",
            ],
        ),
        m(
            "/dev/shm",
            "tmpfs",
            "shm",
            &["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"],
        ),
        m(
            "/dev/mqueue",
            "mqueue",
            "mqueue",
            &["nosuid", "noexec", "nodev"],
        ),
        m(
            "/sys",
            "sysfs",
            "sysfs",
            &["nosuid", "noexec", "nodev", "ro"],
        ),
    ];
    // /dev is nodev: the standard nodes are the host's, bound in (a node a runtime
    // makes there with mknod, like runc's and crun's default devices, opens nothing).
    for (path, _, _) in crate::devices::STANDARD_NODES {
        let path = path.to_string_lossy();
        mounts.push(m(&path, "bind", &path, &["bind", "ro", "nosuid", "noexec"]));
    }
    mounts
}

/// `/sys` read-write for privileged runs (`RUN --security=insecure`).
fn writable_sysfs(mounts: &mut [Value]) {
    for m in mounts.iter_mut().filter(|m| m["destination"] == "/sys") {
        m["options"] = json!(["nosuid", "noexec", "nodev", "rw"]);
    }
}

/// A `RUN --mount` as an OCI mount.
fn extra_mount(m: &crate::Mount) -> Value {
    match &m.kind {
        MountKind::Bind { source, readonly } => json!({
            "destination": m.target,
            "type": "bind",
            "source": source,
            "options": ["rbind", "nosuid", "nodev", if *readonly { "ro" } else { "rw" }],
        }),
        MountKind::Tmpfs { size } => {
            let mut opts = vec!["nosuid".to_owned(), "nodev".to_owned()];
            opts.extend(size.map(|s| format!("size={s}")));
            json!({ "destination": m.target, "type": "tmpfs", "source": "tmpfs", "options": opts })
        }
    }
}

/// The config for one run.
pub(crate) fn build(input: &ConfigInput<'_>) -> Result<Spec, SandboxError> {
    let c = input.confinement;
    let p = input.process;
    let caps: Vec<String> = c
        .capabilities
        .iter()
        .map(|n| {
            caps::canonical(n).ok_or_else(|| {
                SandboxError::Invalid(format!(
                    "unknown capability {n:?}; use names like CAP_CHOWN"
                ))
            })
        })
        .collect::<Result<_, _>>()?;
    let mut mounts = standard_mounts();
    if c.writable_sysfs {
        writable_sysfs(&mut mounts);
    }
    if let Some(tmp) = &input.tmp_bind {
        mounts.push(json!({
            "destination": "/tmp", "type": "bind", "source": tmp, "options": ["rbind", "rw", "nodev"],
        }));
    }
    for (target, source) in input.etc {
        mounts.push(json!({
            "destination": target, "type": "bind", "source": source,
            "options": ["rbind", "rprivate", "nosuid", "nodev"],
        }));
    }
    mounts.extend(input.mounts.iter().map(extra_mount));

    let mut namespaces = vec![
        json!({"type": "pid"}),
        json!({"type": "ipc"}),
        json!({"type": "uts"}),
        json!({"type": "mount"}),
        json!({"type": "cgroup"}),
    ];
    if let NetNamespace::Path(path) = &input.network {
        namespaces.push(json!({"type": "network", "path": path}));
    }
    let mut linux = json!({
        "namespaces": namespaces,
        "maskedPaths": c.masked_paths,
        "readonlyPaths": c.readonly_paths,
    });
    match &c.seccomp {
        SeccompPolicy::Unconfined => {}
        SeccompPolicy::Default | SeccompPolicy::Profile(_) => {
            let json = match &c.seccomp {
                SeccompPolicy::Profile(j) => j.as_str(),
                _ => seccomp::DOCKER_DEFAULT_PROFILE,
            };
            let ctx = seccomp::Context {
                capabilities: &c.capabilities,
                kernel: seccomp::running_kernel(),
            };
            linux["seccomp"] = seccomp::to_oci(json, &ctx)?;
        }
    }
    if let Some(path) = &input.cgroups_path {
        linux["cgroupsPath"] = path.as_str().into();
        // Only the standard devices (crate::devices), by the runtime's device cgroup.
        let mut resources = json!({ "devices": crate::devices::oci_rules() });
        if let Some(mem) = c.limits.memory {
            resources["memory"] = json!({ "limit": mem, "swap": mem });
        }
        if let Some(pids) = c.limits.pids {
            resources["pids"] = json!({ "limit": pids });
        }
        if let Some(cpus) = c.limits.cpus {
            const PERIOD: u64 = 100_000;
            let quota = ((cpus * PERIOD as f64) as i64).max(1000);
            resources["cpu"] = json!({ "quota": quota, "period": PERIOD });
        }
        linux["resources"] = resources;
    }
    let config = json!({
        "ociVersion": "1.0.2",
        "root": { "path": input.rootfs, "readonly": false },
        "hostname": p.hostname,
        "mounts": mounts,
        "process": {
            "terminal": false,
            "user": { "uid": p.uid, "gid": p.gid, "additionalGids": p.additional_gids },
            "args": p.args,
            "env": p.env,
            "cwd": p.cwd,
            "capabilities": {
                "bounding": caps, "effective": caps, "permitted": caps,
                "inheritable": [], "ambient": [],
            },
            "rlimits": [{ "type": "RLIMIT_NOFILE", "soft": input.nofile.0, "hard": input.nofile.1 }],
            "noNewPrivileges": c.no_new_privs,
        },
        "linux": linux,
    });
    serde_json::from_value(config).map_err(invalid)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn process() -> ProcessSpec {
        ProcessSpec {
            args: vec!["/bin/sh".into(), "-c".into(), "true".into()],
            env: vec!["PATH=/bin".into()],
            cwd: "/".into(),
            uid: 1000,
            gid: 1000,
            additional_gids: vec![1000, 50],
            hostname: "kiln".into(),
        }
    }

    #[test]
    fn config_carries_the_embedded_runtimes_confinement() {
        let mut confinement = Confinement::default();
        confinement.limits.pids = Some(64);
        let p = process();
        let mounts = [crate::Mount {
            target: "/var/cache/x".into(),
            kind: MountKind::Bind {
                source: "/tmp/cache".into(),
                readonly: false,
            },
        }];
        let spec = build(&ConfigInput {
            rootfs: Path::new("/tmp/rootfs"),
            process: &p,
            confinement: &confinement,
            etc: &[("/etc/hosts".into(), "/tmp/hosts".into())],
            mounts: &mounts,
            network: NetNamespace::Path("/proc/42/ns/net".into()),
            cgroups_path: Some("/kiln/x".into()),
            nofile: (1024, 4096),
            tmp_bind: None,
        })
        .expect("config");
        let v = serde_json::to_value(&spec).expect("json");
        let caps = v["process"]["capabilities"]["bounding"]
            .as_array()
            .expect("caps");
        assert_eq!(caps.len(), crate::DOCKER_DEFAULT_CAPABILITIES.len());
        assert!(caps.iter().any(|c| c == "CAP_CHOWN"));
        assert_eq!(v["process"]["user"]["additionalGids"], json!([1000, 50]));
        assert_eq!(v["process"]["noNewPrivileges"], json!(true));
        assert_eq!(v["process"]["rlimits"][0]["hard"], json!(4096));
        let ns = v["linux"]["namespaces"].as_array().expect("namespaces");
        assert!(ns.contains(&json!({"type": "network", "path": "/proc/42/ns/net"})));
        assert_eq!(v["linux"]["resources"]["pids"]["limit"], json!(64));
        assert_eq!(
            v["linux"]["seccomp"]["defaultAction"],
            json!("SCMP_ACT_ERRNO")
        );
        let syscalls = v["linux"]["seccomp"]["syscalls"]
            .as_array()
            .expect("syscalls");
        // clone3 answers ENOSYS without CAP_SYS_ADMIN, as in the embedded filter.
        assert!(syscalls
            .iter()
            .any(|s| s["names"] == json!(["clone3"]) && s["action"] == json!("SCMP_ACT_ERRNO")));
        assert!(v["linux"]["maskedPaths"]
            .as_array()
            .expect("masked")
            .contains(&json!("/proc/kcore")));
        let dests: Vec<&str> = v["mounts"]
            .as_array()
            .expect("mounts")
            .iter()
            .filter_map(|m| m["destination"].as_str())
            .collect();
        assert_eq!(
            dests,
            [
                "/proc",
                "/dev",
                "/dev/pts",
                "/dev/shm",
                "/dev/mqueue",
                "/sys",
                "/dev/null",
                "/dev/zero",
                "/dev/full",
                "/dev/random",
                "/dev/urandom",
                "/dev/tty",
                "/etc/hosts",
                "/var/cache/x"
            ]
        );
    }
}
