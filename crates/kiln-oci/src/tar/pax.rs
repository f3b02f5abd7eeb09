//! PAX extended header records (`x` and `g` members) and how they override a header.

use super::error::{corrupt, TarError};
use super::header::RawEntry;

fn parse_pax_time(v: &[u8]) -> Option<(i64, u32)> {
    let s = std::str::from_utf8(v).ok()?;
    let (neg, s) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s),
    };
    let (secs, frac) = match s.split_once('.') {
        Some((a, b)) => (a, b),
        None => (s, ""),
    };
    if secs.is_empty() || !secs.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let sec: i64 = secs.parse().ok()?;
    let mut ns: u32 = 0;
    for (i, b) in frac.bytes().take(9).enumerate() {
        ns += u32::from(b - b'0') * 10u32.pow(8 - i as u32);
    }
    if neg {
        if ns > 0 {
            Some((-sec - 1, 1_000_000_000 - ns))
        } else {
            Some((-sec, 0))
        }
    } else {
        Some((sec, ns))
    }
}

pub(super) fn parse_pax(buf: &[u8], offset: u64) -> Result<Vec<(String, Vec<u8>)>, TarError> {
    let mut out = Vec::new();
    let mut rest = buf;
    while !rest.is_empty() {
        // GNU tar pads the last record with NULs in some versions.
        if rest.iter().all(|b| *b == 0) {
            break;
        }
        let sp = rest
            .iter()
            .position(|b| *b == b' ')
            .ok_or_else(|| corrupt(offset, "PAX record without length"))?;
        let len: usize = std::str::from_utf8(&rest[..sp])
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| corrupt(offset, "PAX record with a bad length"))?;
        if len <= sp + 1 || len > rest.len() || rest[len - 1] != b'\n' {
            return Err(corrupt(
                offset,
                "PAX record length does not match its content",
            ));
        }
        let rec = &rest[sp + 1..len - 1];
        let eq = rec
            .iter()
            .position(|b| *b == b'=')
            .ok_or_else(|| corrupt(offset, "PAX record without '='"))?;
        let key = String::from_utf8(rec[..eq].to_vec())
            .map_err(|_| corrupt(offset, "PAX record key is not UTF-8"))?;
        out.push((key, rec[eq + 1..].to_vec()));
        rest = &rest[len..];
    }
    Ok(out)
}

/// PAX records override the header's fields; xattrs are kept, sparse files flagged.
pub(super) fn apply_pax(
    e: &mut RawEntry,
    pax: Vec<(String, Vec<u8>)>,
    at: u64,
) -> Result<(), TarError> {
    for (k, v) in pax {
        let dec = |v: &[u8]| -> Result<u64, TarError> {
            std::str::from_utf8(v)
                .ok()
                .and_then(|s| s.parse::<u64>().ok())
                .ok_or_else(|| corrupt(at, format!("PAX {k} is not a number")))
        };
        match k.as_str() {
            "path" if !v.is_empty() => e.name = v,
            "linkpath" if !v.is_empty() => e.link = v,
            "size" => e.size = dec(&v)?,
            "uid" => e.uid = dec(&v)?,
            "gid" => e.gid = dec(&v)?,
            "mtime" => {
                e.mtime =
                    parse_pax_time(&v).ok_or_else(|| corrupt(at, "PAX mtime is not a number"))?;
            }
            _ => {
                if let Some(x) = k.strip_prefix("SCHILY.xattr.") {
                    e.xattrs.insert(x.to_string(), v);
                } else if k.starts_with("GNU.sparse.") {
                    e.unsupported_pax = Some(k.clone());
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pax_times() {
        assert_eq!(parse_pax_time(b"12"), Some((12, 0)));
        assert_eq!(parse_pax_time(b"12.5"), Some((12, 500_000_000)));
        assert_eq!(parse_pax_time(b"-1.25"), Some((-2, 750_000_000)));
        assert_eq!(parse_pax_time(b"1.x"), None);
        assert_eq!(parse_pax_time(b""), None);
    }

    #[test]
    fn pax_records() {
        let r = parse_pax(b"9 path=a\n", 0).unwrap_or_default();
        assert_eq!(r, vec![("path".to_string(), b"a".to_vec())]);
        assert!(parse_pax(b"99 path=a\n", 0).is_err());
        assert!(parse_pax(b"x path=a\n", 0).is_err());
        assert!(parse_pax(b"3 \n", 0).is_err());
    }
}
