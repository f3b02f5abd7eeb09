//! Variables used before they are defined (BuildKit's UndefinedVar).

use crate::context::{Cx, Out};
use crate::rule::{Finding, Rule, Severity};
use kiln_dockerfile::plan::{Base, BuildArgs, EnvList, StageScope};

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

pub(super) fn check(cx: &Cx<'_>, out: &mut Out) {
    let mut build_args = BuildArgs::new(Default::default());
    // Per stage: its final environment, and whether an image (unknown ENV) is underneath.
    let mut ends: Vec<(EnvList, bool)> = Vec::with_capacity(cx.df.stages.len());
    for (st, planned) in cx.df.stages.iter().zip(&cx.plan.stages) {
        let (base_env, on_image) = match &planned.base {
            Base::Stage(i) => ends.get(*i).cloned().unwrap_or_default(),
            Base::Image(_) => (Vec::new(), true),
            Base::Scratch => (Vec::new(), false),
        };
        let mut scope = StageScope::new(base_env, cx.df.escape);
        for ins in &st.instructions {
            let declared: Vec<String> = scope.args.iter().map(|(k, _)| k.clone()).collect();
            let step = match scope.step(ins, cx.global_args, &mut build_args) {
                Ok(s) => s,
                Err(e) => {
                    out.findings.push(Finding {
                        rule: &super::INVALID,
                        severity: super::INVALID.severity,
                        message: e.message.clone(),
                        span: e.span,
                        hint: e.hint.clone(),
                    });
                    continue;
                }
            };
            let mut reported: Vec<&str> = Vec::new();
            for (name, span) in &step.undefined {
                if declared.contains(name)
                    || reported.contains(&name.as_str())
                    || (on_image
                        && (KNOWN_ENV.contains(&name.as_str())
                            || cx.input.config.known_env.contains(name)))
                {
                    continue;
                }
                reported.push(name);
                let global = cx.df.global_args.iter().any(|g| match &g.command {
                    kiln_dockerfile::instructions::Command::Arg { args } => {
                        args.iter().any(|a| &a.key.value == name)
                    }
                    _ => false,
                });
                let hint = if global {
                    Some(format!("`{name}` is a global ARG: declare it in this stage with `ARG {name}` to use its value"))
                } else {
                    let mut cands: Vec<&str> = scope.env.iter().map(|(k, _)| k.as_str()).collect();
                    cands.extend(declared.iter().map(String::as_str));
                    if on_image {
                        cands.extend(KNOWN_ENV.iter().copied());
                    }
                    kiln_dockerfile::suggest::did_you_mean(name, cands, true)
                        .map(|h| h.replace("mean ", "mean $"))
                };
                match hint {
                    Some(h) => out.emit_hint(&UNDEFINED_VAR, *span, &[name], h),
                    None => out.emit(&UNDEFINED_VAR, *span, &[name]),
                }
            }
        }
        ends.push((scope.env.clone(), on_image));
    }
}
