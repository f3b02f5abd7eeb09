//! The device allow-list of a step, as data, and its three forms: cgroup v1
//! `devices.allow` lines, a cgroup v2 device program (`BPF_PROG_TYPE_CGROUP_DEVICE`) and
//! the OCI `linux.resources.devices` list.
//!
//! A step may open only the standard nodes (null, zero, full, random, urandom, tty),
//! `/dev/ptmx` and its own pseudo-terminals. It may create any node (`mknod`, as Docker
//! allows with `c *:* m` / `b *:* m`, so images can carry device files), but never open
//! one outside the list; every mount it sees is also `nodev`.

use std::ffi::CStr;
use std::os::fd::OwnedFd;
use std::sync::OnceLock;

use crate::bpf::{self, Insn};

/// A character device rule: major, minor (`None`: every minor).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CharDevice {
    pub major: u32,
    pub minor: Option<u32>,
}

const fn dev(major: u32, minor: u32) -> CharDevice {
    CharDevice {
        major,
        minor: Some(minor),
    }
}

/// The standard nodes bind-mounted from the host's `/dev`: path, major, minor.
pub(crate) const STANDARD_NODES: [(&CStr, u32, u32); 6] = [
    (c"/dev/null", 1, 3),
    (c"/dev/zero", 1, 5),
    (c"/dev/full", 1, 7),
    (c"/dev/random", 1, 8),
    (c"/dev/urandom", 1, 9),
    (c"/dev/tty", 5, 0),
];

/// Character devices a step may read and write: the standard nodes, `/dev/ptmx` (5:2)
/// and the pseudo-terminals of its devpts (136:*).
pub(crate) const ALLOWED: &[CharDevice] = &[
    dev(1, 3),
    dev(1, 5),
    dev(1, 7),
    dev(1, 8),
    dev(1, 9),
    dev(5, 0),
    dev(5, 2),
    CharDevice {
        major: 136,
        minor: None,
    },
];

/// cgroup v1 `devices.allow` lines, written after `a` to `devices.deny`.
pub(crate) fn v1_allow_lines() -> Vec<String> {
    let mut lines = vec!["c *:* m".to_owned(), "b *:* m".to_owned()];
    lines.extend(ALLOWED.iter().map(|d| match d.minor {
        Some(minor) => format!("c {}:{minor} rwm", d.major),
        None => format!("c {}:* rwm", d.major),
    }));
    lines
}

// struct bpf_cgroup_dev_ctx { u32 access_type; u32 major; u32 minor; }
// access_type = (BPF_DEVCG_ACC_* << 16) | BPF_DEVCG_DEV_*.
const ACC_MKNOD: i32 = 1;
const DEV_CHAR: i32 = 2;

/// The v2 device program: allow `mknod` of anything, read/write of [`ALLOWED`], deny
/// the rest. Registers: r2 access, r3 type, r4 major, r5 minor.
pub(crate) fn program() -> Vec<Insn> {
    let mut p = vec![
        Insn::load_u32(2, 1, 0),
        Insn::mov_reg(3, 2),
        Insn::and_imm(3, 0xffff),
        Insn::rsh_imm(2, 16),
        Insn::load_u32(4, 1, 4),
        Insn::load_u32(5, 1, 8),
        // mknod only: allowed.
        Insn::jne_imm(2, ACC_MKNOD, 2),
        Insn::mov_imm(0, 1),
        Insn::exit(),
        // Anything but a character device: denied.
        Insn::jeq_imm(3, DEV_CHAR, 2),
        Insn::mov_imm(0, 0),
        Insn::exit(),
    ];
    for d in ALLOWED {
        // Each block: skip to the next block unless it matches, else allow.
        match d.minor {
            Some(minor) => p.extend([
                Insn::jne_imm(4, d.major as i32, 3),
                Insn::jne_imm(5, minor as i32, 2),
            ]),
            None => p.push(Insn::jne_imm(4, d.major as i32, 2)),
        }
        p.extend([Insn::mov_imm(0, 1), Insn::exit()]);
    }
    p.extend([Insn::mov_imm(0, 0), Insn::exit()]);
    p
}

/// The device program, loaded once per process and shared by every step (an attachment
/// holds its own reference; the fd only saves loading it again).
pub(crate) fn loaded_program() -> std::io::Result<&'static OwnedFd> {
    static PROG: OnceLock<Result<OwnedFd, String>> = OnceLock::new();
    PROG.get_or_init(|| {
        bpf::load(
            bpf::PROG_TYPE_CGROUP_DEVICE,
            bpf::ATTACH_CGROUP_DEVICE,
            &program(),
            "kiln_devices",
        )
        .map_err(|e| match e.log.as_str() {
            "" => e.source.to_string(),
            log => format!("{} (verifier: {log})", e.source),
        })
    })
    .as_ref()
    .map_err(|m| std::io::Error::other(m.clone()))
}

/// The OCI `linux.resources.devices` list: deny all, then the same rules as v1.
pub(crate) fn oci_rules() -> serde_json::Value {
    let mut rules = vec![
        serde_json::json!({"allow": false, "access": "rwm"}),
        serde_json::json!({"allow": true, "type": "c", "access": "m"}),
        serde_json::json!({"allow": true, "type": "b", "access": "m"}),
    ];
    rules.extend(ALLOWED.iter().map(|d| {
        let mut r =
            serde_json::json!({"allow": true, "type": "c", "major": d.major, "access": "rwm"});
        if let Some(minor) = d.minor {
            r["minor"] = minor.into();
        }
        r
    }));
    serde_json::Value::Array(rules)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v1_lines_name_every_allowed_device() {
        let lines = v1_allow_lines();
        assert!(lines.contains(&"c 1:3 rwm".to_owned()));
        assert!(lines.contains(&"c 136:* rwm".to_owned()));
        assert!(!lines.iter().any(|l| l.contains("1:11")), "{lines:?}");
        assert_eq!(lines.len(), ALLOWED.len() + 2);
    }

    #[test]
    fn every_standard_node_is_allowed() {
        for (path, major, minor) in STANDARD_NODES {
            assert!(
                ALLOWED.contains(&dev(major, minor)),
                "{path:?} is bound but not allowed"
            );
        }
    }

    #[test]
    fn the_device_program_passes_the_verifier() {
        if !rustix::process::geteuid().is_root() {
            return;
        }
        loaded_program().expect("the kernel accepts the device program");
    }
}
