use crate::SandboxError;

/// Docker's default capability set.
pub const DOCKER_DEFAULT_CAPABILITIES: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// Every capability (names without `CAP_`), for `--cap-add ALL`.
pub const ALL_CAPABILITIES: &[&str] = NAMES;

/// Capability names in kernel numbering order.
const NAMES: &[&str] = &[
    "CHOWN",
    "DAC_OVERRIDE",
    "DAC_READ_SEARCH",
    "FOWNER",
    "FSETID",
    "KILL",
    "SETGID",
    "SETUID",
    "SETPCAP",
    "LINUX_IMMUTABLE",
    "NET_BIND_SERVICE",
    "NET_BROADCAST",
    "NET_ADMIN",
    "NET_RAW",
    "IPC_LOCK",
    "IPC_OWNER",
    "SYS_MODULE",
    "SYS_RAWIO",
    "SYS_CHROOT",
    "SYS_PTRACE",
    "SYS_PACCT",
    "SYS_ADMIN",
    "SYS_BOOT",
    "SYS_NICE",
    "SYS_RESOURCE",
    "SYS_TIME",
    "SYS_TTY_CONFIG",
    "MKNOD",
    "LEASE",
    "AUDIT_WRITE",
    "AUDIT_CONTROL",
    "SETFCAP",
    "MAC_OVERRIDE",
    "MAC_ADMIN",
    "SYSLOG",
    "WAKE_ALARM",
    "BLOCK_SUSPEND",
    "AUDIT_READ",
    "PERFMON",
    "BPF",
    "CHECKPOINT_RESTORE",
];

/// The capabilities kiln itself holds (its bounding set), as `CAP_` names: what "every
/// capability" can mean for a step (Docker's privileged mode gives the current ones too). A
/// host or container may withhold some, e.g. `CAP_SYS_RESOURCE`.
pub fn current_capabilities() -> Vec<String> {
    let bounding = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("CapBnd:"))
                .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        })
        .unwrap_or(u64::MAX);
    NAMES
        .iter()
        .enumerate()
        .filter(|(i, _)| bounding & (1u64 << i) != 0)
        .map(|(_, n)| format!("CAP_{n}"))
        .collect()
}

/// Kernel number of a capability name (`CAP_SYS_ADMIN`, `sys_admin`).
pub(crate) fn number(name: &str) -> Option<u32> {
    let upper = name.to_ascii_uppercase();
    let bare = upper.strip_prefix("CAP_").unwrap_or(&upper);
    NAMES.iter().position(|n| *n == bare).map(|i| i as u32)
}

/// Bit mask of the named capabilities.
pub(crate) fn mask(names: &[String]) -> Result<u64, SandboxError> {
    names.iter().try_fold(0u64, |acc, name| match number(name) {
        Some(n) => Ok(acc | (1u64 << n)),
        None => Err(SandboxError::Invalid(format!(
            "unknown capability {name:?}; use names like CAP_CHOWN"
        ))),
    })
}

/// Whether `names` contains capability `name` (both in any accepted spelling).
pub(crate) fn contains(names: &[String], name: &str) -> bool {
    let Some(n) = number(name) else { return false };
    names.iter().any(|c| number(c) == Some(n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_default_mask() {
        let names: Vec<String> = DOCKER_DEFAULT_CAPABILITIES
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(mask(&names).ok(), Some(0x00000000a80425fb));
        assert_eq!(number("sys_admin"), Some(21));
        assert!(mask(&["CAP_NOPE".to_string()]).is_err());
    }
}
