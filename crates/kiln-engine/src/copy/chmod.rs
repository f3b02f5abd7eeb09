//! `--chmod`: octal (`0755`, at most `07777`) or symbolic (`u+x,go-w`, `a=rX`) modes.

/// A parsed `--chmod` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Chmod {
    Octal(u32),
    Symbolic(Vec<Clause>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Clause {
    /// Bits of `who` (u/g/o as 0o700/0o070/0o007 masks plus special bits).
    who: u32,
    op: char,
    perms: Vec<char>,
}

impl Chmod {
    pub fn parse(s: &str) -> Result<Chmod, String> {
        if !s.is_empty() && s.chars().all(|c| c.is_ascii_digit()) {
            return match u32::from_str_radix(s, 8) {
                Ok(m) if m <= 0o7777 => Ok(Chmod::Octal(m)),
                _ => Err(format!(
                    "invalid chmod parameter: '{s}'. it should be octal string and between 0 and 07777"
                )),
            };
        }
        let mut clauses = Vec::new();
        for part in s.split(',') {
            let who_len = part
                .find(|c: char| !matches!(c, 'u' | 'g' | 'o' | 'a'))
                .unwrap_or(part.len());
            let (who_s, rest) = part.split_at(who_len);
            let mut who = 0;
            for c in who_s.chars() {
                who |= match c {
                    'u' => 0o4700,
                    'g' => 0o2070,
                    'o' => 0o1007,
                    _ => 0o7777,
                };
            }
            if who == 0 {
                who = 0o7777;
            }
            let mut chars = rest.chars().peekable();
            let mut any = false;
            while let Some(op) = chars.next() {
                if !matches!(op, '+' | '-' | '=') {
                    return Err(format!("invalid chmod parameter: '{s}': unexpected '{op}'"));
                }
                let mut perms = Vec::new();
                while let Some(&p) = chars.peek() {
                    if matches!(p, '+' | '-' | '=') {
                        break;
                    }
                    if !matches!(p, 'r' | 'w' | 'x' | 'X' | 's' | 't') {
                        return Err(format!(
                            "invalid chmod parameter: '{s}': unknown permission '{p}'"
                        ));
                    }
                    perms.push(p);
                    chars.next();
                }
                clauses.push(Clause { who, op, perms });
                any = true;
            }
            if !any {
                return Err(format!(
                    "invalid chmod parameter: '{s}': expected [ugoa][+-=][rwxXst]"
                ));
            }
        }
        Ok(Chmod::Symbolic(clauses))
    }

    /// The new mode (permission and special bits) of a file that had `mode`.
    pub fn apply(&self, mode: u32, is_dir: bool) -> u32 {
        match self {
            Chmod::Octal(m) => *m,
            Chmod::Symbolic(clauses) => {
                let mut m = mode & 0o7777;
                for c in clauses {
                    let mut bits = 0;
                    for p in &c.perms {
                        bits |= match p {
                            'r' => 0o444,
                            'w' => 0o222,
                            'x' => 0o111,
                            'X' if is_dir || m & 0o111 != 0 => 0o111,
                            's' => 0o6000,
                            't' => 0o1000,
                            _ => 0,
                        };
                    }
                    bits &= c.who;
                    match c.op {
                        '+' => m |= bits,
                        '-' => m &= !bits,
                        _ => m = (m & !(c.who & 0o7777)) | bits,
                    }
                }
                m
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ap(s: &str, mode: u32, dir: bool) -> u32 {
        Chmod::parse(s)
            .unwrap_or_else(|e| panic!("{e}"))
            .apply(mode, dir)
    }

    #[test]
    fn octal_and_symbolic() {
        assert_eq!(ap("0755", 0o600, false), 0o755);
        assert_eq!(ap("4755", 0, false), 0o4755);
        assert!(Chmod::parse("10000").is_err());
        assert!(Chmod::parse("0789").is_err());
        assert_eq!(ap("u+x", 0o644, false), 0o744);
        assert_eq!(ap("go-w", 0o666, false), 0o644);
        assert_eq!(ap("a=r", 0o777, false), 0o444);
        assert_eq!(ap("u=rwx,go=rX", 0o600, true), 0o755);
        assert_eq!(ap("a+X", 0o644, false), 0o644);
        assert_eq!(ap("+x", 0o644, false), 0o755);
        assert_eq!(ap("u+s", 0o755, false), 0o4755);
        assert!(Chmod::parse("u+q").is_err());
        assert!(Chmod::parse("z+x").is_err());
        assert!(Chmod::parse("").is_err());
    }
}
