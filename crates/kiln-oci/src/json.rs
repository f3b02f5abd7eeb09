//! Canonical JSON output (sorted object keys, no insignificant whitespace) so
//! equal values always give equal bytes and digests, and size-capped JSON input.

use std::io::{self, Read};

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

/// Serialises `value` with object keys sorted at every level and no whitespace.
pub(crate) fn to_canonical_vec<T: Serialize>(value: &T) -> Result<Vec<u8>, serde_json::Error> {
    let value = serde_json::to_value(value)?;
    let mut out = Vec::new();
    write_value(&value, &mut out)?;
    Ok(out)
}

fn write_value(value: &Value, out: &mut Vec<u8>) -> Result<(), serde_json::Error> {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push(b'{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                serde_json::to_writer(&mut *out, key)?;
                out.push(b':');
                if let Some(v) = map.get(key) {
                    write_value(v, out)?;
                }
            }
            out.push(b'}');
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_value(v, out)?;
            }
            out.push(b']');
        }
        scalar => serde_json::to_writer(&mut *out, scalar)?,
    }
    Ok(())
}

/// Reads at most `max` bytes; `Ok(None)` if the input is longer.
pub(crate) fn read_capped<R: Read>(reader: R, max: u64) -> io::Result<Option<Vec<u8>>> {
    let mut buf = Vec::new();
    reader.take(max.saturating_add(1)).read_to_end(&mut buf)?;
    if buf.len() as u64 > max {
        Ok(None)
    } else {
        Ok(Some(buf))
    }
}

/// Parses JSON bytes.
pub(crate) fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, serde_json::Error> {
    serde_json::from_slice(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn canonical_sorts_keys_recursively() {
        let mut m = HashMap::new();
        for k in ["z", "a", "m", "b"] {
            m.insert(
                k.to_owned(),
                serde_json::json!({"y": 1, "x": [true, null, "s\n"]}),
            );
        }
        let out = to_canonical_vec(&m).expect("serialize");
        let s = String::from_utf8(out).expect("utf8");
        assert!(
            s.starts_with("{\"a\":{\"x\":[true,null,\"s\\n\"],\"y\":1},\"b\""),
            "{s}"
        );
        let again = to_canonical_vec(&m).expect("serialize");
        assert_eq!(s.as_bytes(), &again[..]);
    }

    #[test]
    fn read_capped_limits() {
        assert_eq!(
            read_capped(&b"abc"[..], 3).expect("io"),
            Some(b"abc".to_vec())
        );
        assert_eq!(read_capped(&b"abcd"[..], 3).expect("io"), None);
    }
}
