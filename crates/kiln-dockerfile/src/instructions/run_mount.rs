//! `RUN --mount=type=bind|cache|tmpfs|secret|ssh,key=value,...` (BuildKit's mount syntax).

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MountType {
    Bind,
    Cache,
    Tmpfs,
    Secret,
    Ssh,
}

impl MountType {
    fn parse(s: &str) -> Option<MountType> {
        Some(match s.to_ascii_lowercase().as_str() {
            "bind" => MountType::Bind,
            "cache" => MountType::Cache,
            "tmpfs" => MountType::Tmpfs,
            "secret" => MountType::Secret,
            "ssh" => MountType::Ssh,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            MountType::Bind => "bind",
            MountType::Cache => "cache",
            MountType::Tmpfs => "tmpfs",
            MountType::Secret => "secret",
            MountType::Ssh => "ssh",
        }
    }
}

/// How a cache mount is shared between concurrent steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Sharing {
    Shared,
    Private,
    Locked,
}

/// One `--mount` of a RUN step, values expanded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Mount {
    pub typ: MountType,
    /// Stage, image or (empty) the build context.
    pub from: Option<String>,
    pub source: Option<String>,
    pub target: Option<String>,
    pub readonly: bool,
    /// tmpfs size in bytes.
    pub size: Option<u64>,
    /// Cache id, or secret/ssh id.
    pub id: Option<String>,
    pub sharing: Option<Sharing>,
    pub required: bool,
    /// Secret exposed as this environment variable.
    pub env: Option<String>,
    pub mode: Option<u32>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
}

const KEYS: [&str; 19] = [
    "type",
    "from",
    "source",
    "target",
    "readonly",
    "id",
    "sharing",
    "required",
    "size",
    "mode",
    "uid",
    "gid",
    "src",
    "dst",
    "destination",
    "ro",
    "rw",
    "readwrite",
    "env",
];

/// The mount in canonical `--mount` syntax: `type=` first, then every option that is set,
/// in a fixed order, with values as expanded (`mode` in octal, `size` in bytes). A bind
/// mount always says `ro` or `rw`; cache and tmpfs mounts say `ro` when read-only.
impl std::fmt::Display for Mount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut fields = vec![format!("type={}", self.typ.as_str())];
        let mut opt = |key: &str, v: &Option<String>| {
            if let Some(v) = v {
                fields.push(format!("{key}={v}"));
            }
        };
        opt("from", &self.from);
        opt("source", &self.source);
        opt("target", &self.target);
        opt("id", &self.id);
        opt("env", &self.env);
        match (self.typ, self.readonly) {
            (MountType::Bind, false) => fields.push("rw".into()),
            (MountType::Bind | MountType::Cache | MountType::Tmpfs, true) => {
                fields.push("ro".into())
            }
            _ => {}
        }
        if let Some(s) = self.sharing {
            let s = match s {
                Sharing::Shared => "shared",
                Sharing::Private => "private",
                Sharing::Locked => "locked",
            };
            fields.push(format!("sharing={s}"));
        }
        if let Some(size) = self.size {
            fields.push(format!("size={size}"));
        }
        if self.required {
            fields.push("required".into());
        }
        if let Some(mode) = self.mode {
            fields.push(format!("mode={mode:04o}"));
        }
        if let Some(uid) = self.uid {
            fields.push(format!("uid={uid}"));
        }
        if let Some(gid) = self.gid {
            fields.push(format!("gid={gid}"));
        }
        let fields: Vec<String> = fields.iter().map(|f| csv_quote(f)).collect();
        f.write_str(&fields.join(","))
    }
}

/// A CSV field, quoted when it holds a comma, a quote or white space.
fn csv_quote(field: &str) -> String {
    if field.contains(|c: char| c == ',' || c == '"' || c.is_whitespace()) {
        format!("\"{}\"", field.replace('"', "\"\""))
    } else {
        field.to_string()
    }
}

/// A mount error: message and an optional hint.
pub type MountError = (String, Option<String>);

fn err(msg: impl Into<String>) -> MountError {
    (msg.into(), None)
}

fn hinted(msg: impl Into<String>, hint: impl Into<String>) -> MountError {
    (msg.into(), Some(hint.into()))
}

/// A key given for a mount type it does not apply to.
fn not_for_type(key: &str, typ: MountType) -> MountError {
    let kinds = match key {
        "required" => "secret and ssh",
        _ => "tmpfs",
    };
    hinted(
        format!("unexpected key '{key}' for mount type '{}'", typ.as_str()),
        format!("{key} applies to {kinds} mounts (and type= must come before it)"),
    )
}

const CSV_HINT: &str =
    "put a value holding a comma or quote in quotes, escaped in the Dockerfile: \\\"source=a,b\\\"";

/// Parse a `--mount` value. `expand` is applied to every value (not to keys); pass the
/// identity to parse without variables.
pub fn parse_mount(
    raw: &str,
    expand: &mut dyn FnMut(&str) -> Result<String, String>,
) -> Result<Mount, MountError> {
    let fields = csv_fields(raw)
        .map_err(|e| hinted(format!("failed to parse csv mounts: {e}"), CSV_HINT))?;
    let mut m = Mount {
        typ: MountType::Bind,
        from: None,
        source: None,
        target: None,
        readonly: false,
        size: None,
        id: None,
        sharing: None,
        required: false,
        env: None,
        mode: None,
        uid: None,
        gid: None,
    };
    // Read-only unless a field says otherwise: then it follows the type.
    let mut ro_auto = true;
    for field in &fields {
        let sets_ro = match field.split_once('=') {
            Some((k, v)) => {
                let value = expand(v).map_err(err)?;
                apply_value(&mut m, &k.to_ascii_lowercase(), value, field)?
            }
            None => apply_flag(&mut m, &field.to_ascii_lowercase(), field)?,
        };
        ro_auto &= !sets_ro;
    }
    check_file_info(&m)?;
    if ro_auto {
        m.readonly = !matches!(m.typ, MountType::Cache | MountType::Tmpfs);
    }
    check_combination(&m)?;
    Ok(m)
}

/// A field without `=` (`ro`, `rw`, `required`); true when it sets read-only or read-write.
fn apply_flag(m: &mut Mount, key: &str, field: &str) -> Result<bool, MountError> {
    match key {
        "readonly" | "ro" => m.readonly = true,
        "readwrite" | "rw" => m.readonly = false,
        "required" if matches!(m.typ, MountType::Secret | MountType::Ssh) => {
            m.required = true;
            return Ok(false);
        }
        "required" => return Err(not_for_type(key, m.typ)),
        _ => {
            return Err((
                format!("invalid field '{field}' must be a key=value pair"),
                Some(
                    "mount options are written key=value, e.g. type=cache,target=/root/.cache"
                        .into(),
                ),
            ))
        }
    }
    Ok(true)
}

/// A `key=value` field, the value expanded; true when it sets read-only or read-write.
fn apply_value(m: &mut Mount, key: &str, value: String, field: &str) -> Result<bool, MountError> {
    let bad_value = || {
        let hint = match key {
            "size" => "size is a number of bytes with an optional unit, e.g. size=64m",
            _ => "use true or false",
        };
        hinted(format!("invalid value for {key}: {value}"), hint)
    };
    match key {
        "type" => m.typ = parse_type(&value)?,
        // An empty value is no value, as in BuildKit (`id=` on a secret is no id).
        "from" => m.from = Some(value).filter(|v| !v.is_empty()),
        "source" | "src" => m.source = Some(value).filter(|v| !v.is_empty()),
        "target" | "dst" | "destination" => m.target = Some(value).filter(|v| !v.is_empty()),
        "readonly" | "ro" => {
            m.readonly = parse_go_bool(&value).ok_or_else(bad_value)?;
            return Ok(true);
        }
        "readwrite" | "rw" => {
            m.readonly = !parse_go_bool(&value).ok_or_else(bad_value)?;
            return Ok(true);
        }
        "required" => {
            if !matches!(m.typ, MountType::Secret | MountType::Ssh) {
                return Err(not_for_type(key, m.typ));
            }
            m.required = parse_go_bool(&value).ok_or_else(bad_value)?;
        }
        "size" => {
            if m.typ != MountType::Tmpfs {
                return Err(not_for_type(key, m.typ));
            }
            m.size = Some(ram_in_bytes(&value).ok_or_else(bad_value)?);
        }
        "id" => m.id = Some(value).filter(|v| !v.is_empty()),
        "sharing" => m.sharing = Some(parse_sharing(&value)?),
        "mode" => {
            m.mode = Some(u32::from_str_radix(&value, 8).map_err(|_| {
                hinted(
                    format!("invalid value {value} for mode"),
                    "mode is an octal number, e.g. mode=0755",
                )
            })?)
        }
        "uid" => m.uid = Some(parse_id(key, &value)?),
        "gid" => m.gid = Some(parse_id(key, &value)?),
        "env" => m.env = Some(value),
        _ => {
            return Err((
                format!("unexpected key '{key}' in '{field}'"),
                Some(
                    crate::suggest::did_you_mean(key, KEYS, false)
                        .unwrap_or_else(|| format!("mount keys are {}", KEYS.join(", "))),
                ),
            ))
        }
    }
    Ok(false)
}

fn parse_type(value: &str) -> Result<MountType, MountError> {
    MountType::parse(value).ok_or_else(|| {
        (
            format!("unsupported mount type \"{value}\""),
            Some(
                crate::suggest::did_you_mean(
                    value,
                    ["bind", "cache", "tmpfs", "secret", "ssh"],
                    false,
                )
                .unwrap_or_else(|| "types are bind, cache, tmpfs, secret and ssh".into()),
            ),
        )
    })
}

fn parse_sharing(value: &str) -> Result<Sharing, MountError> {
    Ok(match value.to_ascii_lowercase().as_str() {
        "shared" => Sharing::Shared,
        "private" => Sharing::Private,
        "locked" => Sharing::Locked,
        _ => {
            return Err((
                format!("unsupported sharing value \"{value}\""),
                Some("sharing is shared, private or locked".into()),
            ))
        }
    })
}

/// `uid=` or `gid=`: a decimal number.
fn parse_id(key: &str, value: &str) -> Result<u32, MountError> {
    value.parse().map_err(|_| {
        hinted(
            format!("invalid value {value} for {key}"),
            format!("uid and gid are decimal numbers, e.g. {key}=1000"),
        )
    })
}

/// mode, uid and gid only on the mounts that make files (cache, secret, ssh).
fn check_file_info(m: &Mount) -> Result<(), MountError> {
    if matches!(m.typ, MountType::Secret | MountType::Ssh | MountType::Cache) {
        return Ok(());
    }
    for (set, what) in [
        (m.mode.is_some(), "mode"),
        (m.uid.is_some(), "uid"),
        (m.gid.is_some(), "gid"),
    ] {
        if set {
            return Err(hinted(
                format!("{what} not allowed for \"{}\" type mounts", m.typ.as_str()),
                "mode, uid and gid apply to cache, secret and ssh mounts",
            ));
        }
    }
    Ok(())
}

/// Options that do not go together with the mount's type.
fn check_combination(m: &Mount) -> Result<(), MountError> {
    if m.typ == MountType::Secret {
        check_secret(m)?;
    }
    if m.typ == MountType::Ssh && m.source.is_some() {
        return Err((
            "ssh does not support source".into(),
            Some("name the forwarded agent or key with id=, e.g. type=ssh,id=default".into()),
        ));
    }
    if m.sharing.is_some() && m.typ != MountType::Cache {
        return Err(hinted(
            format!("invalid cache sharing set for {} mount", m.typ.as_str()),
            "sharing applies to cache mounts",
        ));
    }
    Ok(())
}

fn check_secret(m: &Mount) -> Result<(), MountError> {
    if m.from.is_some() {
        return Err(hinted(
            "secret mount should not have a from",
            "a secret comes from the build's secrets (by id=), not from a stage or image",
        ));
    }
    if m.sharing.is_some() {
        return Err(hinted(
            "secret mount should not define sharing",
            "sharing applies to cache mounts",
        ));
    }
    if m.source.is_none() && m.target.is_none() && m.id.is_none() {
        return Err((
            "invalid secret mount. one of source, target required".into(),
            Some("write --mount=type=secret,id=NAME[,target=PATH]".into()),
        ));
    }
    if m.source.is_some() && m.id.is_some() {
        return Err(hinted(
            "both source and id can't be set",
            "source= is another name for a secret's id: give one of them",
        ));
    }
    Ok(())
}

/// Check what can be checked before expansion: the CSV syntax and that `from` has no
/// variables (BuildKit resolves stage references before variables are known).
pub fn precheck_mount(raw: &str) -> Result<(), MountError> {
    let fields = csv_fields(raw)
        .map_err(|e| hinted(format!("failed to parse csv mounts: {e}"), CSV_HINT))?;
    for f in fields {
        if let Some((k, v)) = f.split_once('=') {
            if k.eq_ignore_ascii_case("from") {
                if let Some(i) = v.find('$') {
                    if i != v.len() - 1 {
                        return Err((
                            "'from' doesn't support variable expansion, define alias stage instead"
                                .into(),
                            Some("add `FROM ${VAR} AS alias` and use from=alias".into()),
                        ));
                    }
                }
            }
        }
    }
    Ok(())
}

/// Go's `strconv.ParseBool`.
fn parse_go_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// Sizes like `64m`, `1.5GiB`, `1024` (binary multiples, as docker's RAMInBytes).
fn ram_in_bytes(s: &str) -> Option<u64> {
    let num_len = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(num_len);
    if num.is_empty() || num.starts_with('.') || num.ends_with('.') {
        return None;
    }
    let value: f64 = num.parse().ok()?;
    let unit = unit.strip_prefix(' ').unwrap_or(unit).to_ascii_lowercase();
    let unit = unit.strip_suffix('b').unwrap_or(&unit);
    let unit = unit.strip_suffix('i').unwrap_or(unit);
    let mult: f64 = match unit {
        "" => 1.0,
        "k" => 1024.0,
        "m" => 1024f64.powi(2),
        "g" => 1024f64.powi(3),
        "t" => 1024f64.powi(4),
        "p" => 1024f64.powi(5),
        _ => return None,
    };
    let bytes = value * mult;
    (bytes < u64::MAX as f64).then_some(bytes as u64)
}

/// One CSV record (RFC 4180): comma-separated, `"..."` quoting with `""` for a quote.
fn csv_fields(s: &str) -> Result<Vec<String>, String> {
    let mut fields = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        let mut field = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next() {
                    Some('"') if chars.peek() == Some(&'"') => {
                        chars.next();
                        field.push('"');
                    }
                    Some('"') => break,
                    Some(c) => field.push(c),
                    None => return Err("extraneous or missing \" in quoted-field".into()),
                }
            }
            match chars.next() {
                None => {
                    fields.push(field);
                    return Ok(fields);
                }
                Some(',') => fields.push(field),
                Some(_) => return Err("extraneous or missing \" in quoted-field".into()),
            }
        } else {
            loop {
                match chars.next() {
                    None => {
                        fields.push(field);
                        return Ok(fields);
                    }
                    Some(',') => break,
                    Some('"') => return Err("bare \" in non-quoted-field".into()),
                    Some(c) => field.push(c),
                }
            }
            fields.push(field);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(raw: &str) -> Result<Mount, MountError> {
        parse_mount(raw, &mut |v| Ok(v.to_string()))
    }

    #[test]
    fn mount_types_and_defaults() {
        let m = parse("type=cache,target=/root/.cache,id=pip,sharing=locked,mode=0755,uid=1")
            .unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(m.typ, MountType::Cache);
        assert!(!m.readonly);
        assert_eq!(m.mode, Some(0o755));
        assert_eq!(m.sharing, Some(Sharing::Locked));
        let b = parse("target=/src").unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(b.typ, MountType::Bind);
        assert!(b.readonly);
        let b = parse("type=bind,target=/src,rw").unwrap_or_else(|e| panic!("{e:?}"));
        assert!(!b.readonly);
        let t = parse("type=tmpfs,target=/t,size=64m").unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(t.size, Some(64 << 20));
        let s = parse("type=secret,id=tok,required,env=TOKEN").unwrap_or_else(|e| panic!("{e:?}"));
        assert!(s.required);
        assert_eq!(s.env.as_deref(), Some("TOKEN"));
    }

    #[test]
    fn mount_errors() {
        let msg = |r: &str| parse(r).err().map(|e| e.0).unwrap_or_default();
        assert_eq!(msg("type=cahce"), "unsupported mount type \"cahce\"");
        assert_eq!(
            msg("type=bind,mode=0700"),
            "mode not allowed for \"bind\" type mounts"
        );
        assert_eq!(
            msg("type=secret,from=x,id=a"),
            "secret mount should not have a from"
        );
        assert_eq!(
            msg("type=secret"),
            "invalid secret mount. one of source, target required"
        );
        assert_eq!(
            msg("type=bind,sharing=locked"),
            "invalid cache sharing set for bind mount"
        );
        assert_eq!(
            msg("type=bind,size=1"),
            "unexpected key 'size' for mount type 'bind'"
        );
        assert_eq!(
            msg("type=cache,foo=bar"),
            "unexpected key 'foo' in 'foo=bar'"
        );
        assert_eq!(
            msg("type=cache,bogus"),
            "invalid field 'bogus' must be a key=value pair"
        );
        assert_eq!(msg("type=cache,uid=x"), "invalid value x for uid");
        assert_eq!(msg("type=ssh,source=/k"), "ssh does not support source");
        assert!(precheck_mount("from=$X,target=/a").is_err());
        assert!(precheck_mount("from=x$,target=/a").is_ok());
    }

    #[test]
    fn empty_values_are_no_values() {
        let msg = |r: &str| parse(r).err().map(|e| e.0).unwrap_or_default();
        assert_eq!(
            msg("type=secret,id="),
            "invalid secret mount. one of source, target required"
        );
        assert!(parse("type=secret,id=tok,from=").is_ok());
        let c = parse("type=cache,target=/c,id=").unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(c.id, None);
    }

    #[test]
    fn canonical_text_round_trips() {
        for (raw, canonical) in [
            ("target=/src", "type=bind,target=/src,ro"),
            ("type=bind,rw,dst=/a", "type=bind,target=/a,rw"),
            (
                "type=cache,target=/c,sharing=locked,mode=755,uid=1",
                "type=cache,target=/c,sharing=locked,mode=0755,uid=1",
            ),
            (
                "type=tmpfs,dst=/t,size=1k",
                "type=tmpfs,target=/t,size=1024",
            ),
            (
                "type=secret,id=a,required,env=A",
                "type=secret,id=a,env=A,required",
            ),
            (
                r#"type=bind,"target=/a,b""#,
                r#"type=bind,"target=/a,b",ro"#,
            ),
        ] {
            let m = parse(raw).unwrap_or_else(|e| panic!("{raw}: {e:?}"));
            assert_eq!(m.to_string(), canonical);
            assert_eq!(parse(canonical), Ok(m));
        }
    }

    #[test]
    fn csv_quoting() {
        assert_eq!(
            csv_fields(r#"a,"b,c",d"#),
            Ok(vec!["a".into(), "b,c".into(), "d".into()])
        );
        assert_eq!(csv_fields(r#""x""y""#), Ok(vec!["x\"y".into()]));
        assert!(csv_fields(r#"a"b"#).is_err());
        assert!(csv_fields(r#""ab"#).is_err());
    }
}
