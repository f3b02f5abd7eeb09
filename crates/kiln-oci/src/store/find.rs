//! Resolving what a user typed (a name, a digest, an image ID or its prefix) to an image
//! record.

use super::index::Record;
use super::StoreError;
use crate::digest::Digest;
use crate::reference::Reference;

/// Shortest hex prefix accepted as an image ID (like Docker's short IDs).
pub const MIN_ID_PREFIX: usize = 12;

fn is_lower_hex(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Resolves a name, digest or ID to a record index.
pub(crate) fn find(records: &[Record], input: &str) -> Result<usize, StoreError> {
    let not_found = || StoreError::ImageNotFound(input.to_owned());
    // Full digest: a manifest digest or an image ID.
    if let Ok(d) = Digest::parse(input) {
        return records
            .iter()
            .position(|r| r.manifest == d)
            .or_else(|| records.iter().position(|r| r.config == d))
            .ok_or_else(not_found);
    }
    let parsed = Reference::parse_normalized(input);
    if let Ok(r) = &parsed {
        if let Some(d) = r.digest {
            return records
                .iter()
                .position(|rec| rec.manifest == d)
                .ok_or_else(not_found);
        }
        let name = r.to_string();
        if let Some(i) = records.iter().position(|rec| rec.names.contains(&name)) {
            return Ok(i);
        }
    }
    // An ID prefix, like Docker: names first, then IDs.
    let hex = input.strip_prefix("sha256:").unwrap_or(input);
    if is_lower_hex(hex) && hex.len() <= crate::digest::HEX_LEN {
        if hex.len() < MIN_ID_PREFIX {
            return Err(not_found());
        }
        let matches: Vec<usize> = records
            .iter()
            .enumerate()
            .filter(|(_, r)| r.config.hex_starts_with(hex))
            .map(|(i, _)| i)
            .collect();
        return match matches.as_slice() {
            [one] => Ok(*one),
            [] => Err(not_found()),
            many => Err(StoreError::AmbiguousId {
                prefix: input.to_owned(),
                count: many.len(),
            }),
        };
    }
    match parsed {
        Ok(_) => Err(not_found()),
        Err(source) => Err(StoreError::BadName {
            input: input.to_owned(),
            source: Box::new(source),
        }),
    }
}
