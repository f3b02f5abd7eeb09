//! Variables used before they are defined (BuildKit's UndefinedVar).

use crate::pass::{Cx, Out};
use crate::rule::{Finding, Rule, Severity};
use kiln_dockerfile::instructions::{Command as Ins, Expander};
use kiln_dockerfile::plan::{Base, PlannedStage};
use kiln_dockerfile::shell::LookupEnv;
use kiln_dockerfile::suggest::{self, NameIndex};
use std::cell::OnceCell;
use std::collections::{BTreeSet, HashSet};

pub(super) static UNDEFINED_VAR: Rule = Rule {
    id: "KL102",
    name: "undefined-var",
    severity: Severity::Warning,
    summary: "A variable used in an instruction the builder expands, but never defined.",
    message: "usage of undefined variable `${0}`",
    why: "An undefined variable expands to an empty string without any error: `COPY app-$VERSION.jar /app.jar` silently becomes `COPY app-.jar`. A global ARG (before the first FROM) is not visible inside a stage unless the stage declares it again with `ARG NAME`. RUN, CMD and ENTRYPOINT in shell form are not checked: the shell expands those at run time.",
    fix: "Declare the variable with `ARG NAME` or `ENV NAME=value` before using it, or fix the typo. For variables that the base image defines, add them to `known-env` in `.kiln.toml` (common ones such as PATH, HOME, JAVA_HOME, PYTHON_VERSION are known already).",
    hadolint: None,
    buildkit: Some("UndefinedVar"),
};

pub(super) static RULES: &[&Rule] = &[&UNDEFINED_VAR];

/// Variables that common base images define (official images' ENV), assumed defined in
/// stages built on an image.
const KNOWN_ENV: &[&str] = &[
    "PATH",
    "HOME",
    "HOSTNAME",
    "USER",
    "SHELL",
    "TERM",
    "LANG",
    "LANGUAGE",
    "LC_ALL",
    "TZ",
    "PWD",
    "JAVA_HOME",
    "JAVA_VERSION",
    "JDK_VERSION",
    "MAVEN_HOME",
    "MAVEN_CONFIG",
    "GRADLE_HOME",
    "GRADLE_VERSION",
    "PYTHON_VERSION",
    "PYTHON_SHA256",
    "PYTHON_PIP_VERSION",
    "PYTHON_SETUPTOOLS_VERSION",
    "GPG_KEY",
    "NODE_VERSION",
    "YARN_VERSION",
    "NODE_ENV",
    "GOLANG_VERSION",
    "GOPATH",
    "GOTOOLCHAIN",
    "GOROOT",
    "RUBY_VERSION",
    "RUBY_MAJOR",
    "RUBY_DOWNLOAD_SHA256",
    "GEM_HOME",
    "BUNDLE_PATH",
    "BUNDLE_SILENCE_ROOT_WARNING",
    "BUNDLE_APP_CONFIG",
    "PHP_VERSION",
    "PHP_INI_DIR",
    "PHPIZE_DEPS",
    "PHP_CFLAGS",
    "PHP_LDFLAGS",
    "NGINX_VERSION",
    "NJS_VERSION",
    "PKG_RELEASE",
    "HTTPD_VERSION",
    "HTTPD_PREFIX",
    "RUSTUP_HOME",
    "CARGO_HOME",
    "RUST_VERSION",
    "DOTNET_VERSION",
    "ASPNET_VERSION",
    "DOTNET_RUNNING_IN_CONTAINER",
    "PG_MAJOR",
    "PG_VERSION",
    "PGDATA",
    "MYSQL_MAJOR",
    "MYSQL_VERSION",
    "REDIS_VERSION",
    "CATALINA_HOME",
    "TOMCAT_VERSION",
    "ERLANG_VERSION",
    "ELIXIR_VERSION",
    "PERL_VERSION",
    "DEBIAN_FRONTEND",
    "SSL_CERT_FILE",
];

/// The names defined so far; every defined variable expands to a placeholder.
#[derive(Clone, Default)]
struct Names {
    set: BTreeSet<String>,
    /// The same names for "did you mean" hints, made at the first hint.
    index: OnceCell<NameIndex>,
}

impl Names {
    fn extend(&mut self, new: Vec<String>) {
        for name in new {
            if let Some(index) = self.index.get_mut() {
                index.insert(&name);
            }
            self.set.insert(name);
        }
    }

    /// The defined name `name` is likely a typo of, as [`suggest::closest`] over them in
    /// order, and its distance.
    fn closest(&self, name: &str) -> Option<(usize, &str)> {
        self.index
            .get_or_init(|| {
                let mut index = NameIndex::new();
                for n in &self.set {
                    index.insert(n);
                }
                index
            })
            .closest(name)
    }
}

impl LookupEnv for Names {
    fn lookup(&self, name: &str) -> Option<String> {
        self.set.contains(name).then(|| "x".to_string())
    }
}

fn invalid(e: &kiln_dockerfile::Error) -> Finding {
    Finding {
        rule: &super::INVALID,
        severity: super::INVALID.severity,
        message: e.message.clone(),
        span: e.span,
        hint: e.hint.clone(),
    }
}

pub(super) fn check(cx: &Cx<'_>, out: &mut Out) {
    let globals: HashSet<&str> = cx
        .df
        .global_args
        .iter()
        .flat_map(|g| match &g.command {
            Ins::Arg { args } => args
                .iter()
                .map(|a| a.key.value.as_str())
                .collect::<Vec<_>>(),
            _ => Vec::new(),
        })
        .collect();
    let mut ends = Ends::new(&cx.plan.stages);
    for (st, planned) in cx.df.stages.iter().zip(&cx.plan.stages) {
        let (mut names, on_image) = ends.start(&planned.base);
        for ins in &st.instructions {
            let has_var = ins.original.contains('$');
            let mut ex = Expander::new(cx.df.escape, &names);
            let mut new_names: Vec<String> = Vec::new();
            let ok = match &ins.command {
                Ins::Arg { args } => {
                    let mut r = Ok(());
                    for a in args {
                        if let (Some(d), true) = (&a.default, has_var) {
                            if let Err(e) = ex.word(d) {
                                r = Err(e);
                            }
                        }
                        new_names.push(a.key.value.clone());
                    }
                    r
                }
                Ins::Env { env } => {
                    new_names.extend(env.iter().map(|kv| kv.key.value.clone()));
                    if has_var {
                        ex.command(&ins.command).map(|_| ())
                    } else {
                        Ok(())
                    }
                }
                _ if has_var => ex.command(&ins.command).map(|_| ()),
                _ => Ok(()),
            };
            if let Err(e) = ok {
                out.findings.push(invalid(&e));
            }
            let mut reported: Vec<&str> = Vec::new();
            for (name, span) in &ex.unmatched {
                if reported.contains(&name.as_str())
                    || (on_image
                        && (KNOWN_ENV.contains(&name.as_str())
                            || cx.input.config.known_env.contains(name)))
                {
                    continue;
                }
                reported.push(name);
                let hint = if globals.contains(name.as_str()) {
                    Some(format!("`{name}` is a global ARG: declare it in this stage with `ARG {name}` to use its value"))
                } else {
                    // The defined names in order, then the known ones: the first closest.
                    let defined = names.closest(name);
                    // A known name wins only when closer than the defined one.
                    let max = defined.map_or(usize::MAX, |(dn, _)| dn - 1);
                    let known = match (on_image, max) {
                        (false, _) | (_, 0) => None,
                        _ => suggest::closest_within(name, KNOWN_ENV.iter().copied(), true, max),
                    };
                    let best = match (defined, known) {
                        (Some((dn, n)), Some((dk, k))) => Some(if dk < dn { k } else { n }),
                        (n, k) => n.or(k).map(|(_, c)| c),
                    };
                    best.map(|c| format!("did you mean {c}?").replace("mean ", "mean $"))
                };
                match hint {
                    Some(h) => out.emit_hint(&UNDEFINED_VAR, *span, &[name], h),
                    None => out.emit(&UNDEFINED_VAR, *span, &[name]),
                }
            }
            names.extend(new_names);
        }
        ends.ends.push((names, on_image));
    }
}

/// Per stage: the names defined at its end, and whether an image (unknown ENV) is
/// underneath. The last stage built on a stage takes them instead of a copy, so a chain of
/// stages stays linear.
struct Ends {
    ends: Vec<(Names, bool)>,
    /// Per stage: how many stages still to walk are built on it.
    pending: Vec<usize>,
}

impl Ends {
    fn new(stages: &[PlannedStage]) -> Self {
        let mut pending = vec![0usize; stages.len()];
        for planned in stages {
            if let Base::Stage(i) = planned.base {
                if let Some(p) = pending.get_mut(i) {
                    *p += 1;
                }
            }
        }
        Ends {
            ends: Vec::with_capacity(stages.len()),
            pending,
        }
    }

    /// The names a stage built on `base` starts with.
    fn start(&mut self, base: &Base) -> (Names, bool) {
        match base {
            Base::Stage(i) => match (self.ends.get_mut(*i), self.pending.get_mut(*i)) {
                (Some(end), Some(p)) => {
                    *p = p.saturating_sub(1);
                    if *p == 0 {
                        std::mem::take(end)
                    } else {
                        end.clone()
                    }
                }
                _ => Default::default(),
            },
            Base::Image(_) => (Names::default(), true),
            Base::Scratch => (Names::default(), false),
        }
    }
}
