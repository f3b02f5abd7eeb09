//! Build arguments and their scopes: global ARGs before the first FROM (usable in FROM
//! lines), per-stage ARG declarations (a bare `ARG NAME` brings a global value into the
//! stage), `--build-arg` overrides, the predefined platform and proxy ARGs; and the walk
//! through a stage that expands each instruction with the ARG and ENV values in force.

use super::{Base, Vars};
use crate::error::{Error, ErrorKind, Result};
use crate::instructions::{ArgDecl, Command, Expander, Instruction};
use crate::shell::Lexer;
use crate::span::Span;
use kiln_oci::Platform;
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
    defaults: EnvList,
    decls: &[Instruction],
    build_args: &mut BuildArgs,
    escape: char,
) -> Result<(Vars, Vec<Command>)> {
    let mut resolved = Vec::with_capacity(decls.len());
    let mut env = Vars::new();
    for (k, v) in defaults {
        let v = build_args.take(&k).unwrap_or(v);
        env.set(&k, v);
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
                    Some(d) => Some(Expander::new(escape, &env).word(d)?.value),
                    None => None,
                },
            };
            if let Some(v) = &value {
                env.set(&decl.key.value, v.clone());
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
    pub env: Vars,
    /// ARGs declared in this stage with their values (`None`: declared, no value).
    pub args: Vars<Option<String>>,
    /// The ENV instructions' variables only (what goes into the image config, on top of
    /// the base image's).
    pub config_env: Vars,
    escape: char,
}

/// The end scopes of the stages walked so far, for the stages built on them. A stage built
/// on an earlier stage (`FROM name`) starts with that stage's variables as they were at its
/// end, ARG values included, as BuildKit carries the base stage's state over; any other
/// stage starts empty. The last stage built on a stage takes its scope instead of a copy,
/// so a chain of stages costs O(variables) in all rather than per stage.
#[derive(Debug)]
pub struct Finished {
    scopes: Vec<Option<StageScope>>,
    /// Per stage: how many stages still to walk are built on it.
    pending: Vec<usize>,
    escape: char,
}

impl Finished {
    /// `bases`: the base of every stage that will be walked.
    pub fn new<'b>(stages: usize, bases: impl IntoIterator<Item = &'b Base>, escape: char) -> Self {
        let mut pending = vec![0; stages];
        for base in bases {
            if let Base::Stage(i) = base {
                if let Some(p) = pending.get_mut(*i) {
                    *p += 1;
                }
            }
        }
        Finished {
            scopes: vec![None; stages],
            pending,
            escape,
        }
    }

    /// The scope a stage built on `base` starts in.
    pub fn start(&mut self, base: &Base) -> StageScope {
        let inherited = match base {
            Base::Stage(i) => match self.pending.get_mut(*i) {
                Some(p) if *p > 1 => {
                    *p -= 1;
                    self.scopes[*i].clone()
                }
                Some(p) => {
                    *p = 0;
                    self.scopes[*i].take()
                }
                None => None,
            },
            _ => None,
        };
        inherited.unwrap_or_else(|| StageScope::new(Vec::new(), self.escape))
    }

    /// Stage `index` ended with `scope`.
    pub fn finish(&mut self, index: usize, scope: StageScope) {
        if self.pending.get(index).is_some_and(|p| *p > 0) {
            self.scopes[index] = Some(scope);
        }
    }
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
        let env: Vars = base_env.into_iter().collect();
        StageScope {
            config_env: env.clone(),
            env,
            args: Vars::new(),
            escape,
        }
    }

    pub fn lexer(&self) -> Lexer {
        Lexer::new(self.escape)
    }

    /// Expand `ins` with the variables in force and update them (ARG, ENV). Costs O(size
    /// of `ins`): the variables are looked up and updated in place, never copied.
    pub fn step(
        &mut self,
        ins: &Instruction,
        global: &Vars,
        build_args: &mut BuildArgs,
    ) -> Result<ExpandedStep> {
        if let Command::Arg { args } = &ins.command {
            let (command, undefined) = self.arg_step(args, global, build_args)?;
            return Ok(ExpandedStep {
                command,
                mounts: Vec::new(),
                undefined,
            });
        }
        let mut mounts = Vec::new();
        let mut ex = Expander::new(self.escape, &self.env);
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
            other => ex.command(other)?,
        };
        let undefined = ex.unmatched;
        if let Command::Env { env } = &command {
            for kv in env {
                self.env.set(&kv.key.value, kv.value.value.clone());
                self.config_env.set(&kv.key.value, kv.value.value.clone());
            }
        }
        Ok(ExpandedStep {
            command,
            mounts,
            undefined,
        })
    }

    /// An ARG instruction: each name gets its build arg, default or global value, in order.
    fn arg_step(
        &mut self,
        args: &[ArgDecl],
        global: &Vars,
        build_args: &mut BuildArgs,
    ) -> Result<(Command, Vec<(String, Span)>)> {
        let mut out = Vec::with_capacity(args.len());
        let mut undefined = Vec::new();
        for decl in args {
            // A default sees the names declared before it, in this instruction too.
            let mut ex = Expander::new(self.escape, &self.env);
            let value = arg_value(decl, global, build_args, &mut ex)?;
            undefined.append(&mut ex.unmatched);
            if let Some(v) = &value {
                self.env.set(&decl.key.value, v.clone());
            }
            self.args.set(&decl.key.value, value.clone());
            out.push(resolved_decl(decl, value));
        }
        Ok((Command::Arg { args: out }, undefined))
    }
}

fn arg_value(
    decl: &ArgDecl,
    global: &Vars,
    build_args: &mut BuildArgs,
    ex: &mut Expander<'_>,
) -> Result<Option<String>> {
    if let Some(v) = build_args.take(&decl.key.value) {
        return Ok(Some(v));
    }
    match &decl.default {
        Some(d) => Ok(Some(ex.word(d)?.value)),
        None => Ok(global.get(&decl.key.value).cloned()),
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
