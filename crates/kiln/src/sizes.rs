//! Sizes and durations on the command line and in output.

use std::time::Duration;

/// Sizes like `512m`, `2g`, `10GB`, `1048576` (binary multiples, as docker's).
pub fn parse_bytes(s: &str) -> Option<u64> {
    let s = s.trim().to_ascii_lowercase();
    let s = s.strip_suffix('b').unwrap_or(&s);
    let (num, mult) = match s.chars().last()? {
        'k' => (&s[..s.len() - 1], 1u64 << 10),
        'm' => (&s[..s.len() - 1], 1 << 20),
        'g' => (&s[..s.len() - 1], 1 << 30),
        't' => (&s[..s.len() - 1], 1 << 40),
        _ => (s, 1),
    };
    let n: f64 = num.parse().ok()?;
    (n > 0.0 && n.is_finite()).then_some((n * mult as f64) as u64)
}

/// Durations as Go (and so docker's `until=` filter) writes them: `24h`, `90m`,
/// `1h30m`, `45s`.
pub fn parse_duration(s: &str) -> Option<Duration> {
    kiln_dockerfile::instructions::parse_go_duration(s).ok()
}

/// Bytes as docker prints them: decimal units with up to 3 significant digits
/// after the point (`0B`, `4.096kB`, `1.2MB`, `3.45GB`).
pub fn human(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["B", "kB", "MB", "GB", "TB", "PB"];
    let mut v = bytes as f64;
    let mut unit = 0;
    while v >= 1000.0 && unit + 1 < UNITS.len() {
        v /= 1000.0;
        unit += 1;
    }
    // Four significant digits, trailing zeros dropped (Go's %.4g).
    let int_digits = if v < 10.0 {
        1
    } else if v < 100.0 {
        2
    } else {
        3
    };
    let text = format!("{v:.prec$}", prec = 4 - int_digits);
    let text = if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        text
    };
    format!("{text}{}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_durations_and_units() {
        assert_eq!(parse_bytes("512m"), Some(512 << 20));
        assert_eq!(parse_bytes("10GB"), Some(10 << 30));
        assert_eq!(parse_bytes("0"), None);
        assert_eq!(parse_duration("24h"), Some(Duration::from_secs(86_400)));
        assert_eq!(parse_duration("1h30m"), Some(Duration::from_secs(5_400)));
        assert_eq!(parse_duration("0s"), Some(Duration::ZERO));
        for bad in ["", "h", "5", "5x", "-1h", "7d"] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
        assert_eq!(human(0), "0B");
        assert_eq!(human(4096), "4.096kB");
        assert_eq!(human(1_200_000), "1.2MB");
        assert_eq!(human(999), "999B");
        assert_eq!(human(123_456_789), "123.5MB");
    }
}
