//! Docker-format seccomp profiles (moby `profiles/seccomp/default.json`)
//! turned into classic BPF programs with `seccompiler`.
//!
//! One program per distinct action: the first has the profile's default
//! action and allows the `SCMP_ACT_ALLOW` rules; every other action (for
//! example `clone3` answering `ENOSYS`) gets its own program that defaults to
//! allow. The kernel runs all of them and keeps the most severe verdict, the
//! most recently loaded one winning between equal kinds, so loading the main
//! program first gives libseccomp's per-rule actions.

use std::collections::BTreeMap;

use seccompiler::{
    SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter, SeccompRule,
    TargetArch,
};
use serde::Deserialize;

use crate::seccomp_dispatch::{self, Returns, Syscall};
use crate::{caps, SandboxError};

/// Docker's default profile, as data.
pub const DOCKER_DEFAULT_PROFILE: &str = include_str!("profiles/docker-default.json");

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Profile {
    default_action: String,
    #[serde(default)]
    default_errno_ret: Option<u32>,
    #[serde(default)]
    syscalls: Vec<Rule>,
}

impl Rule {
    /// The rule as an OCI `linux.seccomp.syscalls` entry; names of other
    /// architectures dropped (as [`compile`] does). `None` if no name is left.
    fn to_oci(&self) -> Option<serde_json::Value> {
        let names: Vec<&String> = self
            .names
            .iter()
            .chain(self.name.iter())
            .filter(|n| syscall_number(n).is_some())
            .collect();
        if names.is_empty() {
            return None;
        }
        let mut v = serde_json::json!({ "names": names, "action": self.action });
        if let Some(e) = self.errno_ret {
            v["errnoRet"] = e.into();
        }
        if let Some(args) = self.args.as_ref().filter(|a| !a.is_empty()) {
            v["args"] = args
                .iter()
                .map(|a| {
                    serde_json::json!({
                        "index": a.index, "value": a.value, "valueTwo": a.value_two, "op": a.op
                    })
                })
                .collect();
        }
        Some(v)
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Rule {
    #[serde(default)]
    names: Vec<String>,
    #[serde(default)]
    name: Option<String>,
    action: String,
    #[serde(default)]
    errno_ret: Option<u32>,
    #[serde(default)]
    args: Option<Vec<Arg>>,
    #[serde(default)]
    includes: Option<Filter>,
    #[serde(default)]
    excludes: Option<Filter>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Filter {
    #[serde(default)]
    caps: Option<Vec<String>>,
    #[serde(default)]
    arches: Option<Vec<String>>,
    #[serde(default)]
    min_kernel: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Arg {
    index: u8,
    value: u64,
    #[serde(default)]
    value_two: u64,
    op: String,
}

/// What the profile is evaluated against.
pub(crate) struct Context<'a> {
    pub capabilities: &'a [String],
    /// Kernel (major, minor).
    pub kernel: (u32, u32),
}

#[cfg(target_arch = "x86_64")]
const ARCH_NAMES: &[&str] = &["amd64", "x86_64"];
#[cfg(target_arch = "x86_64")]
const TARGET: Option<TargetArch> = Some(TargetArch::x86_64);
#[cfg(target_arch = "x86_64")]
use crate::syscalls_x86_64::TABLE;
#[cfg(target_arch = "x86_64")]
const OCI_ARCH: &str = "SCMP_ARCH_X86_64";

#[cfg(target_arch = "aarch64")]
const ARCH_NAMES: &[&str] = &["arm64", "aarch64"];
#[cfg(target_arch = "aarch64")]
const TARGET: Option<TargetArch> = Some(TargetArch::aarch64);
#[cfg(target_arch = "aarch64")]
use crate::syscalls_aarch64::TABLE;
#[cfg(target_arch = "aarch64")]
const OCI_ARCH: &str = "SCMP_ARCH_AARCH64";

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
const ARCH_NAMES: &[&str] = &[];
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
const TARGET: Option<TargetArch> = None;
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
const TABLE: &[(&str, i64)] = &[];
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
const OCI_ARCH: &str = "SCMP_ARCH_NATIVE";

fn syscall_number(name: &str) -> Option<i64> {
    TABLE.iter().find(|(n, _)| *n == name).map(|(_, nr)| *nr)
}

fn parse_action(action: &str, errno: Option<u32>) -> Result<SeccompAction, SandboxError> {
    Ok(match action {
        "SCMP_ACT_ALLOW" => SeccompAction::Allow,
        "SCMP_ACT_ERRNO" => SeccompAction::Errno(errno.unwrap_or(libc::EPERM as u32)),
        "SCMP_ACT_KILL" | "SCMP_ACT_KILL_THREAD" => SeccompAction::KillThread,
        "SCMP_ACT_KILL_PROCESS" => SeccompAction::KillProcess,
        "SCMP_ACT_TRAP" => SeccompAction::Trap,
        "SCMP_ACT_LOG" => SeccompAction::Log,
        "SCMP_ACT_TRACE" => SeccompAction::Trace(errno.unwrap_or(0)),
        other => {
            return Err(SandboxError::Seccomp(format!(
                "action {other:?} is not supported (use SCMP_ACT_ALLOW, _ERRNO, _KILL*, _TRAP, _LOG or _TRACE)"
            )))
        }
    })
}

fn parse_kernel(s: &str) -> Option<(u32, u32)> {
    let mut it = s.split(['.', '-']);
    let major = it.next()?.parse().ok()?;
    let minor = it.next().and_then(|m| m.parse().ok()).unwrap_or(0);
    Some((major, minor))
}

/// The running kernel's (major, minor).
pub(crate) fn running_kernel() -> (u32, u32) {
    let uname = rustix::system::uname();
    parse_kernel(&uname.release().to_string_lossy()).unwrap_or((0, 0))
}

impl Rule {
    fn applies(&self, ctx: &Context<'_>) -> Result<bool, SandboxError> {
        if let Some(inc) = &self.includes {
            if let Some(arches) = &inc.arches {
                if !arches.is_empty() && !arches.iter().any(|a| ARCH_NAMES.contains(&a.as_str())) {
                    return Ok(false);
                }
            }
            if let Some(cs) = &inc.caps {
                if !cs.iter().all(|c| caps::contains(ctx.capabilities, c)) {
                    return Ok(false);
                }
            }
            if let Some(k) = &inc.min_kernel {
                let min = parse_kernel(k).ok_or_else(|| {
                    SandboxError::Seccomp(format!("bad minKernel {k:?}; expected like \"4.8\""))
                })?;
                if ctx.kernel < min {
                    return Ok(false);
                }
            }
        }
        if let Some(exc) = &self.excludes {
            if let Some(arches) = &exc.arches {
                if arches.iter().any(|a| ARCH_NAMES.contains(&a.as_str())) {
                    return Ok(false);
                }
            }
            if let Some(cs) = &exc.caps {
                if cs.iter().any(|c| caps::contains(ctx.capabilities, c)) {
                    return Ok(false);
                }
            }
            if let Some(k) = &exc.min_kernel {
                let min = parse_kernel(k).ok_or_else(|| {
                    SandboxError::Seccomp(format!("bad minKernel {k:?}; expected like \"4.8\""))
                })?;
                if ctx.kernel >= min {
                    return Ok(false);
                }
            }
        }
        Ok(true)
    }

    fn condition(&self) -> Result<Option<SeccompRule>, SandboxError> {
        let Some(args) = self.args.as_ref().filter(|a| !a.is_empty()) else {
            return Ok(None);
        };
        let conds = args
            .iter()
            .map(|a| {
                let op = match a.op.as_str() {
                    "SCMP_CMP_EQ" => SeccompCmpOp::Eq,
                    "SCMP_CMP_NE" => SeccompCmpOp::Ne,
                    "SCMP_CMP_LT" => SeccompCmpOp::Lt,
                    "SCMP_CMP_LE" => SeccompCmpOp::Le,
                    "SCMP_CMP_GT" => SeccompCmpOp::Gt,
                    "SCMP_CMP_GE" => SeccompCmpOp::Ge,
                    // libseccomp: (arg & value) == valueTwo
                    "SCMP_CMP_MASKED_EQ" => SeccompCmpOp::MaskedEq(a.value),
                    other => {
                        return Err(SandboxError::Seccomp(format!("unknown op {other:?}")));
                    }
                };
                let value = if a.op == "SCMP_CMP_MASKED_EQ" {
                    a.value_two
                } else {
                    a.value
                };
                SeccompCondition::new(a.index, SeccompCmpArgLen::Qword, op, value)
                    .map_err(|e| SandboxError::Seccomp(format!("argument condition: {e}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        SeccompRule::new(conds)
            .map(Some)
            .map_err(|e| SandboxError::Seccomp(format!("rule: {e}")))
    }
}

/// The profile as the `linux.seccomp` section of an OCI runtime config: the
/// same rules [`compile`] turns into BPF (includes and excludes evaluated
/// against the capabilities and kernel), for this CPU architecture only.
pub(crate) fn to_oci(json: &str, ctx: &Context<'_>) -> Result<serde_json::Value, SandboxError> {
    let profile: Profile = serde_json::from_str(json)
        .map_err(|e| SandboxError::Seccomp(format!("not a Docker seccomp profile: {e}")))?;
    parse_action(&profile.default_action, profile.default_errno_ret)?;
    let mut syscalls = Vec::new();
    for rule in &profile.syscalls {
        parse_action(&rule.action, rule.errno_ret)?;
        rule.condition()?;
        if rule.applies(ctx)? {
            syscalls.extend(rule.to_oci());
        }
    }
    let mut v = serde_json::json!({
        "defaultAction": profile.default_action,
        "architectures": [OCI_ARCH],
        "syscalls": syscalls,
    });
    if let Some(e) = profile.default_errno_ret {
        v["defaultErrnoRet"] = e.into();
    }
    Ok(v)
}

/// `None` = unconditional match; `Some(rules)` = match if any rule matches.
type Group = BTreeMap<i64, Option<Vec<SeccompRule>>>;

/// Compile a Docker-format profile to BPF programs, in loading order.
/// BPF programs, one per filter to load.
type Programs = Vec<Vec<libc::sock_filter>>;

/// [`compile`], remembered: every step of a build asks for the same profile with the same
/// capabilities, and compiling Docker's profile costs about a millisecond.
pub(crate) fn compile_cached(json: &str, ctx: &Context<'_>) -> Result<Programs, SandboxError> {
    // The whole profile text is the key (not a hash of it): no two profiles can collide.
    type Key = (String, Vec<String>, (u32, u32));
    static CACHE: std::sync::Mutex<Vec<(Key, Programs)>> = std::sync::Mutex::new(Vec::new());
    let matches = |k: &Key| k.0 == json && k.1 == ctx.capabilities && k.2 == ctx.kernel;
    if let Ok(cache) = CACHE.lock() {
        if let Some((_, programs)) = cache.iter().find(|(k, _)| matches(k)) {
            return Ok(programs.clone());
        }
    }
    let programs = compile(json, ctx)?;
    if let Ok(mut cache) = CACHE.lock() {
        // A handful of confinements per build; keep the memory bounded anyway.
        if cache.len() >= 16 {
            cache.remove(0);
        }
        let key: Key = (json.to_owned(), ctx.capabilities.to_vec(), ctx.kernel);
        cache.push((key, programs.clone()));
    }
    Ok(programs)
}

pub(crate) fn compile(json: &str, ctx: &Context<'_>) -> Result<Programs, SandboxError> {
    let (default, groups) = grouped(json, ctx)?;
    let mut programs = Vec::new();
    for (i, (action, group)) in groups.into_iter().enumerate() {
        let mismatch = if i == 0 && action == SeccompAction::Allow {
            default.clone()
        } else {
            SeccompAction::Allow
        };
        if mismatch == action {
            continue;
        }
        programs.push(build(rules_of(group), mismatch, action)?);
    }
    if programs.is_empty() && default != SeccompAction::Allow {
        programs.push(build(BTreeMap::new(), default, SeccompAction::Allow)?);
    }
    Ok(programs)
}

/// A group's rules as seccompiler takes them: no rule means the call always matches.
fn rules_of(group: Group) -> BTreeMap<i64, Vec<SeccompRule>> {
    group
        .into_iter()
        .map(|(nr, r)| (nr, r.unwrap_or_default()))
        .collect()
}

/// The profile's default action, and its rules that apply in `ctx` grouped by action (the
/// allow group first).
fn grouped(
    json: &str,
    ctx: &Context<'_>,
) -> Result<(SeccompAction, Vec<(SeccompAction, Group)>), SandboxError> {
    let profile: Profile = serde_json::from_str(json)
        .map_err(|e| SandboxError::Seccomp(format!("not a Docker seccomp profile: {e}")))?;
    let default = parse_action(&profile.default_action, profile.default_errno_ret)?;

    let mut groups: Vec<(SeccompAction, Group)> = Vec::new();
    for rule in &profile.syscalls {
        if !rule.applies(ctx)? {
            continue;
        }
        let action = parse_action(&rule.action, rule.errno_ret)?;
        if action == default {
            continue;
        }
        let cond = rule.condition()?;
        let idx = match groups.iter().position(|(a, _)| *a == action) {
            Some(i) => i,
            None => {
                groups.push((action, BTreeMap::new()));
                groups.len() - 1
            }
        };
        let group = &mut groups[idx].1;
        for name in rule.names.iter().chain(rule.name.iter()) {
            // Names of other architectures are skipped, as libseccomp does.
            let Some(nr) = syscall_number(name) else {
                continue;
            };
            match (group.get_mut(&nr), &cond) {
                (Some(None), _) => {}
                (Some(Some(rules)), Some(c)) => rules.push(c.clone()),
                (_, None) => {
                    group.insert(nr, None);
                }
                (None, Some(c)) => {
                    group.insert(nr, Some(vec![c.clone()]));
                }
            }
        }
    }
    // The allow group goes first, with the profile's default action.
    groups.sort_by_key(|(a, _)| *a != SeccompAction::Allow);
    Ok((default, groups))
}

/// The program for `rules`: seccompiler's code for each system call's rules behind a
/// binary search on the number ([`seccomp_dispatch`]); seccompiler's linear program when
/// that cannot be made (too long, or a layout it does not know).
fn build(
    rules: BTreeMap<i64, Vec<SeccompRule>>,
    mismatch: SeccompAction,
    matched: SeccompAction,
) -> Result<Vec<libc::sock_filter>, SandboxError> {
    let returns = Returns {
        matched: u32::from(matched.clone()),
        mismatch: u32::from(mismatch.clone()),
    };
    let empty = linear(BTreeMap::new(), &mismatch, &matched)?;
    let mut head = None;
    let mut syscalls = Vec::with_capacity(rules.len());
    for (nr, chain) in &rules {
        let Ok(nr32) = u32::try_from(*nr) else {
            return linear(rules, &mismatch, &matched);
        };
        if chain.is_empty() && head.is_some() {
            syscalls.push(Syscall {
                nr: nr32,
                block: None,
            });
            continue;
        }
        let one = linear(BTreeMap::from([(*nr, chain.clone())]), &mismatch, &matched)?;
        let Some(h) = head
            .clone()
            .or_else(|| seccomp_dispatch::head_of(&one, &empty))
        else {
            return linear(rules, &mismatch, &matched);
        };
        let block = match chain.is_empty() {
            true => None,
            false => match seccomp_dispatch::block_of(&one, h.len(), nr32) {
                Some(b) => Some(b),
                None => return linear(rules, &mismatch, &matched),
            },
        };
        head = Some(h);
        syscalls.push(Syscall { nr: nr32, block });
    }
    match head.and_then(|h| seccomp_dispatch::assemble(&h, &syscalls, returns)) {
        Some(program) => Ok(program),
        None => linear(rules, &mismatch, &matched),
    }
}

/// seccompiler's program for `rules`: one comparison after the other.
fn linear(
    rules: BTreeMap<i64, Vec<SeccompRule>>,
    mismatch: &SeccompAction,
    matched: &SeccompAction,
) -> Result<Vec<libc::sock_filter>, SandboxError> {
    let target = TARGET.ok_or_else(|| {
        SandboxError::Seccomp(
            "no seccomp support for this CPU architecture yet (x86_64 and aarch64 only); use SeccompPolicy::Unconfined"
                .into(),
        )
    })?;
    let filter = SeccompFilter::new(rules, mismatch.clone(), matched.clone(), target)
        .map_err(|e| SandboxError::Seccomp(format!("building filter: {e}")))?;
    let prog: seccompiler::BpfProgram =
        filter.try_into().map_err(|e: seccompiler::BackendError| {
            SandboxError::Seccomp(format!("compiling filter: {e}"))
        })?;
    Ok(prog
        .into_iter()
        .map(|f| libc::sock_filter {
            code: f.code,
            jt: f.jt,
            jf: f.jf,
            k: f.k,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(caps: &[String]) -> Context<'_> {
        Context {
            capabilities: caps,
            kernel: (6, 1),
        }
    }

    fn docker_caps() -> Vec<String> {
        crate::DOCKER_DEFAULT_CAPABILITIES
            .iter()
            .map(|s| s.to_string())
            .collect()
    }

    #[test]
    fn default_profile_compiles_to_main_plus_clone3_programs() {
        let progs = compile(DOCKER_DEFAULT_PROFILE, &ctx(&docker_caps())).expect("compiles");
        assert_eq!(progs.len(), 2, "allow program and clone3 ENOSYS program");
        assert!(progs[0].len() > 300);
    }

    #[test]
    fn sys_admin_drops_the_clone3_program() {
        let mut caps = docker_caps();
        caps.push("CAP_SYS_ADMIN".into());
        let progs = compile(DOCKER_DEFAULT_PROFILE, &ctx(&caps)).expect("compiles");
        assert_eq!(progs.len(), 1);
    }

    /// seccomp_data for system call `nr` of `arch` with `args`.
    fn call(nr: u32, arch: u32, args: [u64; 6]) -> [u8; 64] {
        let mut d = [0u8; 64];
        d[..4].copy_from_slice(&nr.to_ne_bytes());
        d[4..8].copy_from_slice(&arch.to_ne_bytes());
        for (i, a) in args.iter().enumerate() {
            d[16 + 8 * i..24 + 8 * i].copy_from_slice(&a.to_ne_bytes());
        }
        d
    }

    /// The program with the binary search gives seccompiler's linear program's verdict for
    /// every system call number (and some beyond), both architectures' values, and
    /// arguments that meet and miss the profile's conditions (clone's flags, personality,
    /// socket families), with and without CAP_SYS_ADMIN.
    #[test]
    fn the_search_gives_the_linear_programs_verdicts() {
        let docker = docker_caps();
        let mut admin = docker.clone();
        admin.push("CAP_SYS_ADMIN".into());
        let args: Vec<[u64; 6]> = [
            0u64,
            1,
            8,
            0x10,
            0x20008,
            0x7e020000,
            0xffffffff,
            1 << 40,
            u64::MAX,
        ]
        .iter()
        .map(|&v| [v, v >> 1, 2, 0, v, 0])
        .collect();
        let arches = [0xc000003eu32, 0xc00000b7, 0x40000003, 0];
        // x32 numbers (bit 30) and the largest number, besides every native one.
        let numbers: Vec<u32> = (0..600)
            .chain([0x4000_0000, 0x4000_0001, 0x4000_0200, u32::MAX])
            .collect();
        for caps in [&docker, &admin] {
            let (default, groups) = grouped(DOCKER_DEFAULT_PROFILE, &ctx(caps)).expect("groups");
            // Every group, as `compile` builds it (clone3's ENOSYS group among them).
            for (i, (action, group)) in groups.into_iter().enumerate() {
                let mismatch = match i == 0 && action == SeccompAction::Allow {
                    true => default.clone(),
                    false => SeccompAction::Allow,
                };
                let rules = rules_of(group);
                let tree = build(rules.clone(), mismatch.clone(), action.clone()).expect("tree");
                let flat = linear(rules, &mismatch, &action).expect("linear");
                assert!(tree.len() <= flat.len(), "{} vs {}", tree.len(), flat.len());
                for &nr in &numbers {
                    for arch in arches {
                        for a in &args {
                            let d = call(nr, arch, *a);
                            assert_eq!(
                                seccomp_dispatch::run(&tree, &d),
                                seccomp_dispatch::run(&flat, &d),
                                "group {i} nr {nr:#x} arch {arch:#x} args {a:?}"
                            );
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn bad_profiles_are_errors() {
        assert!(compile("{", &ctx(&[])).is_err());
        assert!(compile(r#"{"defaultAction":"SCMP_ACT_NOTIFY"}"#, &ctx(&[])).is_err());
        let bad_op = r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["read"],"action":"SCMP_ACT_ALLOW","args":[{"index":0,"value":1,"op":"X"}]}]}"#;
        assert!(compile(bad_op, &ctx(&[])).is_err());
    }
}
