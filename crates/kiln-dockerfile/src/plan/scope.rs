//! Build arguments and their scopes: global ARGs before the first FROM (usable in FROM
//! lines), per-stage ARG declarations (a bare `ARG NAME` brings a global value into the
//! stage), `--build-arg` overrides, the predefined platform and proxy ARGs; and the walk
//! through a stage that expands each instruction with the ARG and ENV values in force.

use super::Base;
use crate::error::{Error, ErrorKind, Result};
use crate::instructions::{ArgDecl, Command, Expander, Instruction};
use crate::platform::Platform;
use crate::shell::Lexer;
use crate::span::Span;
use std::collections::{BTreeMap, BTreeSet};

/// Proxy variables: passed to RUN steps when given as build args, without an ARG.
pub const PROXY_ARGS: [&str; 10] = [
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "FTP_PROXY",
    "ftp_proxy",
    "NO_PROXY",
    "no_proxy",
    "ALL_PROXY",
    "all_proxy",
];

/// An ordered variable list; later entries win (Docker's env list semantics).
pub type EnvList = Vec<(String, String)>;

pub(crate) fn set(env: &mut EnvList, key: &str, value: &str) {
    env.retain(|(k, _)| k != key);
    env.push((key.to_string(), value.to_string()));
}

/// What build arguments the user gave and which of them were used.
#[derive(Debug, Clone)]
pub struct BuildArgs {
    pub values: BTreeMap<String, String>,
    pub used: BTreeSet<String>,
}

impl BuildArgs {
    pub fn new(values: BTreeMap<String, String>) -> Self {
        BuildArgs {
            values,
            used: BTreeSet::new(),
        }
    }

    fn take(&mut self, key: &str) -> Option<String> {
        let v = self.values.get(key).cloned();
        if v.is_some() {
            self.used.insert(key.to_string());
        }
        v
    }

    /// Build args no ARG declared (proxy variables excepted), for a warning.
    pub fn unused(&self) -> Vec<String> {
        self.values
            .keys()
            .filter(|k| !self.used.contains(*k) && !PROXY_ARGS.contains(&k.as_str()))
            .cloned()
            .collect()
    }
}

/// The automatic platform ARGs of the global scope.
pub fn platform_args(build: &Platform, target: &Platform, target_stage: &str) -> EnvList {
    let v = |p: &Option<String>| p.clone().unwrap_or_default();
    vec![
        ("BUILDPLATFORM".into(), build.to_string()),
        ("BUILDOS".into(), build.os.clone()),
        ("BUILDOSVERSION".into(), String::new()),
        ("BUILDARCH".into(), build.arch.clone()),
        ("BUILDVARIANT".into(), v(&build.variant)),
        ("TARGETPLATFORM".into(), target.to_string()),
        ("TARGETOS".into(), target.os.clone()),
        ("TARGETOSVERSION".into(), String::new()),
        ("TARGETARCH".into(), target.arch.clone()),
        ("TARGETVARIANT".into(), v(&target.variant)),
        ("TARGETSTAGE".into(), target_stage.to_string()),
    ]
}

/// Evaluate the global ARGs (in order) over the platform defaults. A build arg overrides
/// a default; defaults may use earlier global ARGs. Returns the variables and each global
/// ARG instruction with its values resolved.
pub fn global_scope(
    mut env: EnvList,
    decls: &[Instruction],
    build_args: &mut BuildArgs,
    escape: char,
) -> Result<(EnvList, Vec<Command>)> {
    let mut resolved = Vec::with_capacity(decls.len());
    for (k, v) in env.clone() {
        if let Some(o) = build_args.take(&k) {
            set(&mut env, &k, &o);
        } else {
            set(&mut env, &k, &v);
        }
    }
    for ins in decls {
        let Command::Arg { args } = &ins.command else {
            continue;
        };
        let mut out = Vec::with_capacity(args.len());
        for decl in args {
            let value = match build_args.take(&decl.key.value) {
                Some(v) => Some(v),
                None => match &decl.default {
                    Some(d) => {
                        let snapshot = env.clone();
                        Some(Expander::new(escape, &snapshot).word(d)?.value)
                    }
                    None => None,
                },
            };
            if let Some(v) = &value {
                set(&mut env, &decl.key.value, v);
            }
            out.push(resolved_decl(decl, value));
        }
        resolved.push(Command::Arg { args: out });
    }
    Ok((env, resolved))
}

/// `decl` with its value in force (`None`: declared without a value).
fn resolved_decl(decl: &ArgDecl, value: Option<String>) -> ArgDecl {
    ArgDecl {
        key: decl.key.clone(),
        default: value.map(|v| crate::syntax::Token {
            value: v,
            span: decl.default.as_ref().map_or(decl.key.span, |d| d.span),
        }),
    }
}

/// The variables in force while walking one stage.
#[derive(Debug, Clone)]
pub struct StageScope {
    /// Expansion environment: the base image's ENV, then ARG values and ENV instructions
    /// in order (later wins).
    pub env: EnvList,
    /// ARGs declared in this stage with their values (`None`: declared, no value).
    pub args: Vec<(String, Option<String>)>,
    /// The ENV instructions' variables only (what goes into the image config, on top of
    /// the base image's).
    pub config_env: EnvList,
    escape: char,
}

/// One instruction after expansion, with the variables it referenced but nobody defined.
#[derive(Debug, Clone)]
pub struct ExpandedStep {
    pub command: Command,
    /// RUN's `--mount`s, parsed with their values expanded.
    pub mounts: Vec<crate::instructions::Mount>,
    pub undefined: Vec<(String, Span)>,
}

impl StageScope {
    pub fn new(base_env: EnvList, escape: char) -> Self {
        StageScope {
            env: base_env.clone(),
            args: Vec::new(),
            config_env: base_env,
            escape,
        }
    }

    /// The scope a stage starts in. A stage built on an earlier stage (`FROM name`) starts
    /// with that stage's variables as they were at its end, ARG values included, as BuildKit
    /// carries the base stage's state over; any other stage starts empty. `finished` holds
    /// the end scope of every stage walked so far, by index.
    pub fn inherit(base: &Base, finished: &[Option<StageScope>], escape: char) -> Self {
        match base {
            Base::Stage(i) => finished.get(*i).cloned().flatten(),
            _ => None,
        }
        .unwrap_or_else(|| StageScope::new(Vec::new(), escape))
    }

    pub fn lexer(&self) -> Lexer {
        Lexer::new(self.escape)
    }

    /// Expand `ins` with the variables in force and update them (ARG, ENV).
    pub fn step(
        &mut self,
        ins: &Instruction,
        global: &EnvList,
        build_args: &mut BuildArgs,
    ) -> Result<ExpandedStep> {
        let snapshot = self.env.clone();
        let mut ex = Expander::new(self.escape, &snapshot);
        let mut mounts = Vec::new();
        let command = match &ins.command {
            Command::Run(run) => {
                mounts = ex.mounts(run)?;
                // The mounts as parsed, their values expanded.
                let mut run = run.clone();
                for (tok, mount) in run.mounts.iter_mut().zip(&mounts) {
                    tok.value = mount.to_string();
                }
                Command::Run(run)
            }
            Command::Arg { args } => {
                let mut out = Vec::new();
                for decl in args {
                    // A default sees the names declared before it, in this instruction too.
                    let current = self.env.clone();
                    let mut arg_ex = Expander::new(self.escape, &current);
                    let value = self.arg_value(decl, global, build_args, &mut arg_ex)?;
                    ex.unmatched.append(&mut arg_ex.unmatched);
                    if let Some(v) = &value {
                        set(&mut self.env, &decl.key.value, v);
                    }
                    self.args.retain(|(k, _)| *k != decl.key.value);
                    self.args.push((decl.key.value.clone(), value.clone()));
                    out.push(resolved_decl(decl, value));
                }
                Command::Arg { args: out }
            }
            other => {
                let expanded = ex.command(other)?;
                if let Command::Env { env } = &expanded {
                    for kv in env {
                        set(&mut self.env, &kv.key.value, &kv.value.value);
                        set(&mut self.config_env, &kv.key.value, &kv.value.value);
                    }
                }
                expanded
            }
        };
        Ok(ExpandedStep {
            command,
            mounts,
            undefined: ex.unmatched,
        })
    }

    fn arg_value(
        &self,
        decl: &ArgDecl,
        global: &EnvList,
        build_args: &mut BuildArgs,
        ex: &mut Expander<'_>,
    ) -> Result<Option<String>> {
        if let Some(v) = build_args.take(&decl.key.value) {
            return Ok(Some(v));
        }
        match &decl.default {
            Some(d) => Ok(Some(ex.word(d)?.value)),
            None => Ok(global
                .iter()
                .rev()
                .find(|(k, _)| *k == decl.key.value)
                .map(|(_, v)| v.clone())),
        }
    }
}

/// Error for a FROM whose base expands to nothing.
pub(crate) fn blank_base(span: Span, written: &str, unmatched: &[(String, Span)]) -> Error {
    let mut e = Error::new(
        ErrorKind::Stage,
        span,
        format!("base name ({written}) should not be blank"),
    );
    e.hint = Some(undefined_hint(unmatched).unwrap_or_else(|| "FROM needs an image name".into()));
    e
}

/// For a FROM line that expanded to nothing: what to do about the first variable in it
/// that has no value.
pub(crate) fn undefined_hint(unmatched: &[(String, Span)]) -> Option<String> {
    unmatched.first().map(|(name, _)| {
        format!(
            "{name} has no value before the first FROM: declare it with `ARG {name}=default` at the top, or pass --build-arg {name}=..."
        )
    })
}
