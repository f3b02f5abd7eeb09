//! Durations as people write them on a command line: `90s`, `10m`, `1h30m`, `1.5s`, `500ms`
//! (a bare number is seconds).

use std::time::Duration;

/// Parse `90s`, `10m`, `1h30m`, `1.5h`, `500ms` (Go's duration syntax, as HEALTHCHECK
/// flags take it), or a number of seconds.
pub fn parse(text: &str) -> Result<Duration, String> {
    let bad = || format!("{text:?} is not a duration: write e.g. 90s, 10m, 1h30m or 500ms");
    let t = text.trim();
    if let Ok(secs) = t.parse::<f64>() {
        return Duration::try_from_secs_f64(secs).map_err(|_| bad());
    }
    match kiln_dockerfile::instructions::parse_go_duration(t) {
        Ok(d) if !t.starts_with('-') => Ok(d),
        _ => Err(bad()),
    }
}

/// `1m30s`, `10m`, `1.5s`: a duration as [`parse`] reads it back.
pub fn human(d: Duration) -> String {
    if d.subsec_nanos() != 0 {
        let s = format!("{:.3}", d.as_secs_f64());
        return format!("{}s", s.trim_end_matches('0').trim_end_matches('.'));
    }
    let secs = d.as_secs();
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    let mut out = String::new();
    for (n, unit) in [(h, "h"), (m, "m"), (s, "s")] {
        if n != 0 {
            out.push_str(&format!("{n}{unit}"));
        }
    }
    if out.is_empty() {
        out.push_str("0s");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_as_written_and_read_back() {
        assert_eq!(parse("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse("10m"), Ok(Duration::from_secs(600)));
        assert_eq!(parse("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse("2"), Ok(Duration::from_secs(2)));
        assert_eq!(parse("1.5s"), Ok(Duration::from_millis(1500)));
        for bad in ["", "s", "10x", "-1s", "ten", "1e400"] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        assert_eq!(human(Duration::from_secs(90)), "1m30s");
        assert_eq!(human(Duration::from_secs(600)), "10m");
        assert_eq!(human(Duration::from_millis(1500)), "1.5s");
        assert_eq!(human(Duration::ZERO), "0s");
    }
}
