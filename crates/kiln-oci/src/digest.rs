//! SHA-256 content digests (`sha256:<64 lowercase hex>`), and hashing
//! writers/readers that count bytes as they go.
//!
//! Digests end up in file system paths (`blobs/sha256/<hex>`), so parsing is
//! strict: exactly the `sha256` algorithm and exactly 64 lowercase hex digits.

use crate::error_kind::ErrorKind;
use std::fmt;
use std::io::{self, Read, Write};
use std::str::FromStr;

use sha2::{Digest as _, Sha256};

/// Errors from parsing a digest string.
#[derive(Debug, thiserror::Error)]
pub enum DigestError {
    /// The string is not `sha256:` followed by 64 lowercase hex digits.
    #[error("invalid digest {input:?}: {reason}; expected \"sha256:\" followed by 64 lowercase hex digits")]
    Invalid {
        /// The rejected input (truncated to 100 characters).
        input: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The algorithm is well formed but not supported.
    #[error("unsupported digest algorithm {algorithm:?} in {input:?}: only sha256 is supported")]
    UnsupportedAlgorithm {
        /// The algorithm part before the colon.
        algorithm: String,
        /// The rejected input (truncated to 100 characters).
        input: String,
    },
}

impl DigestError {
    /// The class of this failure: a digest that does not parse came from an input (an
    /// image, an archive, a Dockerfile, a command line), [`ErrorKind::Rejected`]. The CLI
    /// classifies what it parses from its own arguments as usage errors itself.
    pub fn kind(&self) -> ErrorKind {
        ErrorKind::Rejected
    }
}

/// A SHA-256 digest.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest([u8; 32]);

/// Length of the hex part of a sha256 digest.
pub const HEX_LEN: usize = 64;

fn truncate(s: &str) -> String {
    s.chars().take(100).collect()
}

impl Digest {
    /// Parses `sha256:<64 lowercase hex>`; nothing else is accepted.
    pub fn parse(s: &str) -> Result<Digest, DigestError> {
        let invalid = |reason| DigestError::Invalid {
            input: truncate(s),
            reason,
        };
        let Some((algorithm, hex)) = s.split_once(':') else {
            return Err(invalid("missing ':' between algorithm and hex"));
        };
        if algorithm != "sha256" {
            let well_formed = !algorithm.is_empty()
                && algorithm
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"+._-".contains(&b));
            return if well_formed {
                Err(DigestError::UnsupportedAlgorithm {
                    algorithm: truncate(algorithm),
                    input: truncate(s),
                })
            } else {
                Err(invalid("malformed algorithm"))
            };
        }
        Digest::from_hex(hex).ok_or_else(|| {
            if hex.len() != HEX_LEN {
                invalid("the hex part must be exactly 64 characters")
            } else {
                invalid("the hex part must be lowercase hex digits [0-9a-f]")
            }
        })
    }

    /// Parses a bare 64-character lowercase hex string.
    pub fn from_hex(hex: &str) -> Option<Digest> {
        let bytes = hex.as_bytes();
        if bytes.len() != HEX_LEN {
            return None;
        }
        let mut out = [0u8; 32];
        for (i, pair) in bytes.chunks_exact(2).enumerate() {
            let hi = hex_value(pair[0])?;
            let lo = hex_value(pair[1])?;
            out[i] = (hi << 4) | lo;
        }
        Some(Digest(out))
    }

    /// The digest of `data`.
    pub fn of_bytes(data: &[u8]) -> Digest {
        Digest(Sha256::digest(data).into())
    }

    /// The 64 lowercase hex digits, without the algorithm.
    pub fn hex(&self) -> String {
        let mut s = String::with_capacity(HEX_LEN);
        for b in self.0 {
            s.push(char::from(HEX_DIGITS[usize::from(b >> 4)]));
            s.push(char::from(HEX_DIGITS[usize::from(b & 0xf)]));
        }
        s
    }

    /// The raw 32 bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The algorithm name, always `sha256`.
    pub fn algorithm(&self) -> &'static str {
        "sha256"
    }

    /// True if `prefix` (lowercase hex, optionally with `sha256:`) is a prefix of this digest.
    pub fn hex_starts_with(&self, prefix: &str) -> bool {
        let prefix = prefix.strip_prefix("sha256:").unwrap_or(prefix);
        self.hex().starts_with(prefix)
    }
}

const HEX_DIGITS: &[u8; 16] = b"0123456789abcdef";

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        _ => None,
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", self.hex())
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest(sha256:{})", self.hex())
    }
}

impl FromStr for Digest {
    type Err = DigestError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Digest::parse(s)
    }
}

impl serde::Serialize for Digest {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Digest {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Digest::parse(&s).map_err(serde::de::Error::custom)
    }
}

impl From<Digest> for oci_spec::image::Digest {
    fn from(d: Digest) -> Self {
        // oci-spec only offers fallible constructors; a canonical sha256 digest
        // (64 lowercase hex digits) always passes its validation, whatever the input was.
        #[allow(clippy::expect_used)]
        oci_spec::image::Sha256Digest::from_str(&d.hex())
            .expect("64 lowercase hex digits are a valid oci-spec sha256 digest")
            .into()
    }
}

impl TryFrom<&oci_spec::image::Digest> for Digest {
    type Error = DigestError;
    fn try_from(d: &oci_spec::image::Digest) -> Result<Self, Self::Error> {
        Digest::parse(d.as_ref())
    }
}

/// A writer that hashes and counts everything written through it.
#[derive(Debug)]
pub struct DigestWriter<W: Write> {
    inner: W,
    hasher: Sha256,
    count: u64,
}

impl<W: Write> DigestWriter<W> {
    /// Wraps `inner`.
    pub fn new(inner: W) -> Self {
        DigestWriter {
            inner,
            hasher: Sha256::new(),
            count: 0,
        }
    }

    /// Bytes written so far.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The wrapped writer.
    pub fn get_ref(&self) -> &W {
        &self.inner
    }

    /// Returns the inner writer, the digest and the byte count of what was written.
    /// Does not flush the inner writer.
    pub fn finish(self) -> (W, Digest, u64) {
        (
            self.inner,
            Digest(self.hasher.finalize().into()),
            self.count,
        )
    }
}

impl<W: Write> Write for DigestWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        let written = buf.get(..n).unwrap_or(buf);
        self.hasher.update(written);
        self.count += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// A reader that hashes and counts everything read through it.
#[derive(Debug)]
pub struct DigestReader<R: Read> {
    inner: R,
    hasher: Sha256,
    count: u64,
}

impl<R: Read> DigestReader<R> {
    /// Wraps `inner`.
    pub fn new(inner: R) -> Self {
        DigestReader {
            inner,
            hasher: Sha256::new(),
            count: 0,
        }
    }

    /// Bytes read so far.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Returns the inner reader, the digest and the byte count of what was read.
    pub fn finish(self) -> (R, Digest, u64) {
        (
            self.inner,
            Digest(self.hasher.finalize().into()),
            self.count,
        )
    }
}

impl<R: Read> Read for DigestReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        let read = buf.get(..n).unwrap_or(buf);
        self.hasher.update(read);
        self.count += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EMPTY: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn of_bytes_matches_known_values() {
        assert_eq!(Digest::of_bytes(b"").to_string(), EMPTY);
        assert_eq!(
            Digest::of_bytes(b"{}").to_string(),
            "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
        );
    }

    #[test]
    fn parse_round_trips() {
        let d = Digest::parse(EMPTY).expect("valid");
        assert_eq!(d.to_string(), EMPTY);
        assert_eq!(d.hex(), &EMPTY[7..]);
        assert_eq!(Digest::from_hex(&d.hex()), Some(d));
        assert!(d.hex_starts_with("e3b0c44298fc"));
        assert!(d.hex_starts_with("sha256:e3b0c44298fc"));
        assert!(!d.hex_starts_with("e3b0c44298fd"));
    }

    #[test]
    fn parse_rejects_invalid() {
        let upper = EMPTY.replace('e', "E");
        let short = &EMPTY[..EMPTY.len() - 1];
        let long = format!("{EMPTY}0");
        let cases: Vec<&str> = vec![
            "",
            "sha256",
            "sha256:",
            short,
            &long,
            &upper,
            "sha256:../../../../etc/passwd",
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b85/",
            "SHA256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            " sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b85g",
            "sha256:é3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b85",
        ];
        for c in cases {
            let err = Digest::parse(c).expect_err(c);
            assert!(err.to_string().contains("digest"), "{err}");
        }
        let err = Digest::parse("sha512:abcd").expect_err("sha512");
        assert!(
            matches!(err, DigestError::UnsupportedAlgorithm { .. }),
            "{err}"
        );
        assert!(err.to_string().contains("only sha256"));
    }

    #[test]
    fn serde_as_string() {
        let d = Digest::of_bytes(b"x");
        let json = serde_json::to_string(&d).expect("serialize");
        assert_eq!(json, format!("\"{d}\""));
        let back: Digest = serde_json::from_str(&json).expect("deserialize");
        assert_eq!(back, d);
        assert!(serde_json::from_str::<Digest>("\"sha256:00\"").is_err());
        assert!(serde_json::from_str::<Digest>("42").is_err());
    }

    #[test]
    fn writer_and_reader_hash_and_count() {
        let data = b"hello world, hello digests".repeat(1000);
        let mut w = DigestWriter::new(Vec::new());
        for chunk in data.chunks(777) {
            w.write_all(chunk).expect("write");
        }
        let (out, d, n) = w.finish();
        assert_eq!(out, data);
        assert_eq!(d, Digest::of_bytes(&data));
        assert_eq!(n, data.len() as u64);

        let mut r = DigestReader::new(&data[..]);
        let mut sink = Vec::new();
        r.read_to_end(&mut sink).expect("read");
        let (_, d2, n2) = r.finish();
        assert_eq!(d2, d);
        assert_eq!(n2, n);
    }

    #[test]
    fn converts_to_and_from_oci_spec() {
        let d = Digest::of_bytes(b"abc");
        let o: oci_spec::image::Digest = d.into();
        assert_eq!(o.to_string(), d.to_string());
        assert_eq!(Digest::try_from(&o).expect("back"), d);
    }
}
