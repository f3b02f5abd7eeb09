//! ustar header blocks and PAX records, byte by byte.

use super::*;

/// Normalize a relative tar path: drop empty and `.` components, strip a
/// leading `/`; refuse `..` and the empty path.
pub(super) fn norm(path: &[u8]) -> std::result::Result<Vec<u8>, String> {
    let mut out: Vec<u8> = Vec::with_capacity(path.len());
    for comp in path.split(|b| *b == b'/') {
        match comp {
            b"" | b"." => {}
            b".." => {
                return Err("the path contains a `..` component; give a clean relative path".into())
            }
            c => {
                if c.contains(&0) {
                    return Err("the path contains a NUL byte".into());
                }
                if !out.is_empty() {
                    out.push(b'/');
                }
                out.extend_from_slice(c);
            }
        }
    }
    if out.is_empty() {
        return Err("the path is empty or names the root; give a path below the root".into());
    }
    Ok(out)
}

pub(super) fn put_octal(field: &mut [u8], v: u64) {
    // width-1 zero-padded digits, then NUL.
    let digits = field.len() - 1;
    let mut v = v;
    for i in (0..digits).rev() {
        field[i] = b'0' + (v & 7) as u8;
        v >>= 3;
    }
    field[digits] = 0;
}

pub(super) fn put_bytes(field: &mut [u8], s: &[u8]) {
    let n = s.len().min(field.len());
    field[..n].copy_from_slice(&s[..n]);
}

pub(super) fn pax_record(out: &mut Vec<u8>, key: &str, value: &[u8]) {
    let base = 1 + key.len() + 1 + value.len() + 1;
    let mut len = base + 1;
    loop {
        let total = base + len.to_string().len();
        if total == len {
            break;
        }
        len = total;
    }
    out.extend_from_slice(len.to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(key.as_bytes());
    out.push(b'=');
    out.extend_from_slice(value);
    out.push(b'\n');
}

pub(super) struct Fields<'a> {
    pub(super) name: &'a [u8],
    pub(super) mode: u32,
    pub(super) uid: u64,
    pub(super) gid: u64,
    pub(super) size: u64,
    pub(super) mtime: i64,
    pub(super) typeflag: u8,
    pub(super) link: &'a [u8],
    pub(super) dev: (u32, u32),
}

pub(super) fn header_block(f: &Fields<'_>) -> [u8; BLOCK] {
    let mut h = [0u8; BLOCK];
    put_bytes(&mut h[0..100], f.name);
    put_octal(&mut h[100..108], u64::from(f.mode & 0o7777));
    put_octal(&mut h[108..116], f.uid);
    put_octal(&mut h[116..124], f.gid);
    put_octal(&mut h[124..136], f.size);
    put_octal(&mut h[136..148], u64::try_from(f.mtime).unwrap_or(0));
    h[156] = f.typeflag;
    put_bytes(&mut h[157..257], f.link);
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    put_octal(&mut h[329..337], u64::from(f.dev.0));
    put_octal(&mut h[337..345], u64::from(f.dev.1));
    h[148..156].copy_from_slice(b"        ");
    let sum: u32 = h.iter().map(|b| u32::from(*b)).sum();
    let mut ck = [0u8; 7];
    put_octal(&mut ck, u64::from(sum));
    h[148..155].copy_from_slice(&ck);
    h[155] = b' ';
    h
}

pub(super) fn base_name(p: &[u8]) -> &[u8] {
    let p = p.strip_suffix(b"/").unwrap_or(p);
    match p.iter().rposition(|b| *b == b'/') {
        Some(i) => &p[i + 1..],
        None => p,
    }
}
