//! STOPSIGNAL values: a signal name (`SIGTERM`, `term`, `RTMIN+3`) or a non-zero number,
//! as the Linux image config consumers (docker, containerd) accept them.

/// Linux signal names without the `SIG` prefix; `RTMIN+n` and `RTMAX-n` are checked apart.
const NAMES: [&str; 36] = [
    "ABRT", "ALRM", "BUS", "CHLD", "CLD", "CONT", "FPE", "HUP", "ILL", "INT", "IO", "IOT", "KILL",
    "PIPE", "POLL", "PROF", "PWR", "QUIT", "SEGV", "STKFLT", "STOP", "SYS", "TERM", "TRAP", "TSTP",
    "TTIN", "TTOU", "URG", "USR1", "USR2", "VTALRM", "WINCH", "XCPU", "XFSZ", "RTMIN", "RTMAX",
];

/// Whether `value` names a signal.
pub(crate) fn is_signal(value: &str) -> bool {
    if let Ok(n) = value.parse::<i64>() {
        return n != 0;
    }
    let upper = value.to_ascii_uppercase();
    let name = upper.strip_prefix("SIG").unwrap_or(&upper);
    let offset = |prefix: &str, sep: char, max: u8| {
        name.strip_prefix(prefix)
            .and_then(|r| r.strip_prefix(sep))
            .and_then(|n| n.parse::<u8>().ok().filter(|v| v.to_string() == n))
            .is_some_and(|n| (1..=max).contains(&n))
    };
    NAMES.contains(&name) || offset("RTMIN", '+', 15) || offset("RTMAX", '-', 14)
}

#[cfg(test)]
mod tests {
    use super::is_signal;

    #[test]
    fn names_and_numbers() {
        for ok in [
            "SIGTERM",
            "term",
            "SIGKILL",
            "9",
            "RTMIN+3",
            "SIGRTMAX-14",
            "RTMAX",
        ] {
            assert!(is_signal(ok), "{ok}");
        }
        for bad in [
            "",
            "0",
            "SIGFOO",
            "TERM KILL",
            "RTMIN+16",
            "RTMIN+01",
            "RTMAX-0",
            "SIG",
        ] {
            assert!(!is_signal(bad), "{bad}");
        }
    }
}
