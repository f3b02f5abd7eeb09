//! Differential test against buildah: every case under `tests/differential/<case>/` is built
//! by kiln and by `buildah bud` (1.28, docker format, isolated vfs storage) from the same
//! busybox base image, and the results must agree:
//!
//! - the root filesystem: every path with its type, mode (with setuid/setgid/sticky), owner,
//!   size, link target, content hash, xattrs, hard-link group and, for non-directories, mtime
//!   (except where both tools give a time after the test started: a file a RUN step made or
//!   changed gets the build's time);
//! - the config: Env, Cmd, Entrypoint, WorkingDir, User, ExposedPorts, Volumes, Labels,
//!   StopSignal, Healthcheck, OnBuild, Shell and the author (MAINTAINER).
//!
//! Every difference must be listed in [`DIFFERENCES`] with the reason (buildah is not
//! `docker build`); a listed difference that no longer shows up fails the test too.
//!
//! Features buildah 1.28 cannot build (heredocs, `--parents`, `--exclude`, `--link`, symbolic
//! `--chmod`, `ADD --checksum`) have a hand-written `expected` file instead: what
//! `docker build` (BuildKit) gives, checked against kiln's result in the same test.
//!
//! A case directory holds the `Dockerfile` and the context files, and optionally:
//! - `args`: extra build arguments for both tools, whitespace separated (`--build-arg K=V`,
//!   `--target NAME`); `{url}` stands for the test's HTTP server;
//! - `setup`: what git cannot hold, made in the copied context before the build (see
//!   [`setup`]): symlinks, hard links, modes, xattrs, tar archives, empty directories;
//! - `parent.Dockerfile`: built first as `<case>-parent` by both tools (ONBUILD);
//! - `expected`: hand-written expectations (see [`check_expected`]); buildah is not run;
//! - `fails`: both builds must fail (a failing RUN); kiln's error must contain the file's
//!   text; nothing else is compared;
//! - `check`: lines in the same format for a case compared with buildah, checked against
//!   kiln's image as well (that a feature really shows: xattrs present, links kept), for
//!   the listed paths only.
//!
//! The reference tools run only on storage inside the test's temporary directory. buildah
//! runs RUN steps with runc and `--network none` (kiln's steps see only `lo`).
//!
//! `KILN_DIFF_CASE=NAME` (or `PREFIX*`) runs only those cases.

#[path = "differential_support/buildah.rs"]
mod buildah;
#[path = "differential_support/config.rs"]
mod config;
#[path = "differential_support/context.rs"]
mod context;
#[path = "differential_support/listed.rs"]
mod listed;
mod support;
#[path = "support/test_net.rs"]
mod test_net;
#[path = "differential_support/tree.rs"]
mod tree;

use buildah::*;
use config::*;
use context::*;
use listed::*;
use sha2::{Digest as _, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use support::TestEnv;
use tree::*;

fn cases_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/differential")
}

// ---------------------------------------------------------------------------------------
// The root filesystem walker.

/// Everything the cases share: one kiln store, one buildah storage, the HTTP server.
struct Harness {
    env: TestEnv,
    buildah: Buildah,
    url: String,
    /// Where the HTTP server listens: a network namespace of the test's own.
    _net: test_net::TestNetns,
    /// kiln's view of the base image, for hand-written expectations.
    base: Tree,
    /// When the test started (seconds): later mtimes are build times.
    since: i64,
}

impl Harness {
    fn new() -> Harness {
        let since = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock after 1970")
            .as_secs() as i64
            - 1;
        assert!(
            rustix::process::geteuid().is_root(),
            "the differential test runs buildah and sets file owners: run it as root"
        );
        if Command::new("buildah").arg("--version").output().is_err() {
            panic!("buildah is required for the differential test: apt-get install buildah (scripts/deps.sh)");
        }
        let env = TestEnv::new();
        env.import_busybox("busybox:test");
        let buildah = Buildah::new(&env.path().join("buildah"));
        // The same base image in both: kiln saves it, skopeo copies it into buildah's storage.
        let archive = env.path().join("base.tar");
        env.ok(&[
            "save",
            "-o",
            archive.to_str().expect("utf-8"),
            "busybox:test",
        ]);
        run(
            Command::new("skopeo")
                .env("CONTAINERS_STORAGE_CONF", &buildah.conf)
                .args(["--insecure-policy", "copy"])
                .arg(format!("oci-archive:{}", archive.display()))
                .arg(format!(
                    "containers-storage:[{}]localhost/busybox:test",
                    buildah.storage()
                )),
            "skopeo copy of the base image into buildah's storage",
        )
        .expect("skopeo copy");
        let base_dir = env.path().join("base-rootfs");
        env.ok(&[
            "export",
            "busybox:test",
            "-o",
            base_dir.to_str().expect("utf-8"),
        ]);
        let base = walk(&base_dir);
        let net = test_net::TestNetns::new("10.214");
        let url = serve(env.path().join("ctx"), net.listen());
        Harness {
            env,
            buildah,
            url,
            _net: net,
            base,
            since,
        }
    }

    fn kiln_build(
        &self,
        ctx: &Path,
        dockerfile: &Path,
        tag: &str,
        args: &[String],
    ) -> Result<(), String> {
        run(
            self.env
                .kiln()
                .args(["build", "-q", "-t", tag, "-f"])
                .arg(dockerfile)
                .args(args)
                .arg(ctx),
            "kiln build",
        )
        .map(|_| ())
    }

    fn kiln_config(&self, tag: &str) -> Result<BTreeMap<String, serde_json::Value>, String> {
        let text = run(self.env.kiln().args(["inspect", tag]), "kiln inspect")?;
        let v: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| format!("kiln inspect: {e}"))?;
        Ok(normalize_config(&v[0]["Config"], &v[0]["Author"]))
    }

    fn kiln_rootfs(&self, tag: &str, case: &str) -> Result<Tree, String> {
        let dir = self.env.path().join("out").join(case);
        run(
            self.env.kiln().args(["export", tag, "-o"]).arg(&dir),
            "kiln export",
        )?;
        let tree = walk(&dir);
        let _ = std::fs::remove_dir_all(&dir);
        Ok(tree)
    }

    /// Build and compare one case; returns its differences (or an error).
    fn case(&self, name: &str) -> Result<Outcome, String> {
        let src = cases_dir().join(name);
        let ctx = self.env.path().join("ctx").join(name);
        copy_context(&src, &ctx, true);
        let script = std::fs::read_to_string(src.join("setup")).unwrap_or_default();
        let times = setup(&ctx, &script);
        fix_times(&ctx);
        for (p, sec, nsec) in times {
            set_time(&p, sec, nsec);
        }
        let args: Vec<String> = std::fs::read_to_string(src.join("args"))
            .unwrap_or_default()
            .split_whitespace()
            .map(|a| a.replace("{url}", &self.url))
            .collect();
        let tag = format!("diff-{name}");
        let expected = std::fs::read_to_string(src.join("expected")).ok();
        let parent = ctx.join("parent.Dockerfile");
        if parent.is_file() {
            let ptag = format!("{name}-parent");
            self.kiln_build(&ctx, &parent, &ptag, &args)?;
            if expected.is_none() {
                self.buildah.bud(&ctx, &parent, &ptag, &args)?;
            }
        }
        let dockerfile = ctx.join("Dockerfile");
        if let Ok(want) = std::fs::read_to_string(src.join("fails")) {
            return self.both_fail(&ctx, &dockerfile, &tag, &args, want.trim());
        }
        self.kiln_build(&ctx, &dockerfile, &tag, &args)?;
        let kiln_tree = self.kiln_rootfs(&tag, name)?;
        let kiln_config = self.kiln_config(&tag)?;
        if let Some(exp) = expected {
            return Ok(Outcome::Expected(check_expected(
                &exp,
                Some(&self.base),
                &kiln_tree,
                &kiln_config,
            )));
        }
        let mut checks = Vec::new();
        if let Ok(check) = std::fs::read_to_string(src.join("check")) {
            checks = check_expected(&check, None, &kiln_tree, &kiln_config);
        }
        self.buildah.bud(&ctx, &dockerfile, &tag, &args)?;
        let b_tree = self.buildah.rootfs(&tag)?;
        let b_config = self.buildah.config(&tag)?;
        let mut diffs = diff_trees(&kiln_tree, &b_tree, "buildah", self.since);
        diffs.extend(diff_configs(&kiln_config, &b_config, "buildah"));
        Ok(Outcome::Compared(diffs, checks))
    }
}

impl Harness {
    /// A case with a `fails` file: both builds must fail, and kiln's error must mention
    /// the file's text (when it has any). Nothing else is compared.
    fn both_fail(
        &self,
        ctx: &Path,
        dockerfile: &Path,
        tag: &str,
        args: &[String],
        want: &str,
    ) -> Result<Outcome, String> {
        let mut problems = Vec::new();
        match self.kiln_build(ctx, dockerfile, tag, args) {
            Ok(()) => problems.push("kiln build succeeded, expected a failure".to_string()),
            Err(e) if !e.contains(want) => {
                problems.push(format!("kiln's error does not mention {want:?}: {e}"))
            }
            Err(_) => {}
        }
        if self.buildah.bud(ctx, dockerfile, tag, args).is_ok() {
            problems.push("buildah bud succeeded, expected a failure".to_string());
        }
        Ok(Outcome::Compared(Vec::new(), problems))
    }
}

enum Outcome {
    /// Compared against buildah: the differences found, and failed `check` lines.
    Compared(Vec<Diff>, Vec<String>),
    /// Checked against a hand-written `expected` file: the mismatches.
    Expected(Vec<String>),
}

/// Check kiln's result against a hand-written `expected` file. Its lines:
///
/// ```text
/// PATH TYPE MODE UID:GID [size=N] [target=T] [text=CONTENT] [mtime=N] [xattr.NAME=HEX]
///                        [links=PATH,PATH...]
/// config FIELD JSON
/// ```
///
/// Every listed path must match; with `base`, every path kiln's image has that the base
/// image does not (or has differently) must be listed too. `text` is the whole file content
/// with `\n` (newline) and `\s` (space) escapes; `links` the other paths of a hard-link
/// group. `config` lines give the expected value of a compared config field (`null` for
/// unset); fields not listed are not checked.
fn check_expected(
    expected: &str,
    base: Option<&Tree>,
    tree: &Tree,
    config: &BTreeMap<String, serde_json::Value>,
) -> Vec<String> {
    let mut problems = Vec::new();
    let mut listed = BTreeSet::new();
    for line in expected.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(rest) = line.strip_prefix("config ") {
            let (field, json) = rest.split_once(' ').expect("config FIELD JSON");
            let want: serde_json::Value = serde_json::from_str(json).expect("expected JSON");
            let got = config.get(field).cloned().unwrap_or_default();
            if got != want {
                problems.push(format!("config {field}: kiln {got}, expected {want}"));
            }
            continue;
        }
        let w: Vec<&str> = line.split_whitespace().collect();
        assert!(
            w.len() >= 4,
            "expected line needs PATH TYPE MODE UID:GID: {line}"
        );
        let path = w[0];
        listed.insert(path.to_string());
        let Some(e) = tree.get(path) else {
            problems.push(format!("{path}: missing from kiln's image"));
            continue;
        };
        let mut check = |what: &str, got: String, want: &str| {
            if got != want {
                problems.push(format!("{path}: {what}: kiln {got}, expected {want}"));
            }
        };
        check("type", e.kind.to_string(), w[1]);
        check("mode", format!("{:04o}", e.mode), w[2]);
        check("owner", format!("{}:{}", e.uid, e.gid), w[3]);
        for kv in &w[4..] {
            let (k, v) = kv.split_once('=').expect("KEY=VALUE");
            match k {
                "size" => check("size", e.size.to_string(), v),
                "target" => check("target", e.target.clone(), v),
                "mtime" => check("mtime", format!("{}", e.mtime.unwrap_or(-1)), v),
                "links" => check("links", e.links.join(","), v),
                "text" => {
                    let want = v.replace("\\n", "\n").replace("\\s", " ");
                    check(
                        "content sha256",
                        e.sha256.clone(),
                        &hex::encode(Sha256::digest(want.as_bytes())),
                    );
                }
                x if x.starts_with("xattr.") => check(
                    x,
                    e.xattrs
                        .get(&x["xattr.".len()..])
                        .cloned()
                        .unwrap_or_default(),
                    v,
                ),
                other => panic!("unknown expected key {other:?} in {line:?}"),
            }
        }
    }
    let Some(base) = base else {
        return problems;
    };
    for (p, e) in tree {
        if p != "/" && base.get(p) != Some(e) && !listed.contains(p) {
            problems.push(format!("{p}: in kiln's image but not expected ({e:?})"));
        }
    }
    problems
}

#[test]
fn kiln_and_buildah_build_the_same_images() {
    let started = std::time::Instant::now();
    let h = Harness::new();
    let mut names: Vec<String> = std::fs::read_dir(cases_dir())
        .expect("read tests/differential")
        .map(|d| d.expect("entry"))
        .filter(|d| d.path().join("Dockerfile").is_file())
        .map(|d| d.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    if let Ok(only) = std::env::var("KILN_DIFF_CASE") {
        // A case name, or a prefix ending in `*` (`run-*`).
        match only.strip_suffix('*') {
            Some(prefix) => names.retain(|n| n.starts_with(prefix)),
            None => names.retain(|n| *n == only),
        }
    }
    let mut failures = Vec::new();
    let mut seen: BTreeSet<(String, String)> = BTreeSet::new();
    let (mut compared, mut handwritten) = (0, 0);
    // Compared cases with differences (a failing build's case has none to compare).
    let mut compared_names: Vec<String> = Vec::new();
    for name in &names {
        let t = std::time::Instant::now();
        match h.case(name) {
            Err(e) => failures.push(format!("[{name}] {e}")),
            Ok(Outcome::Expected(problems)) => {
                handwritten += 1;
                for p in problems {
                    failures.push(format!("[{name}] (hand-written expectation) {p}"));
                }
            }
            Ok(Outcome::Compared(diffs, checks)) => {
                compared += 1;
                if !diffs.is_empty() {
                    compared_names.push(name.clone());
                }
                for p in checks {
                    failures.push(format!("[{name}] (check) {p}"));
                }
                for d in diffs {
                    match listed().find(|l| l.matches(name, &d.key)) {
                        Some(l) => {
                            eprintln!("[{name}] listed difference: {} ({})", d.detail, l.reason);
                            seen.insert((l.case.to_string(), l.key.to_string()));
                        }
                        None => failures.push(format!(
                            "[{name}] unlisted difference `{}`: {}",
                            d.key, d.detail
                        )),
                    }
                }
            }
        }
        eprintln!("[{name}] done in {:.1}s", t.elapsed().as_secs_f64());
    }
    for l in listed() {
        let ran = match l.case.strip_suffix('*') {
            Some(prefix) => compared_names.iter().any(|n| n.starts_with(prefix)),
            None => names.iter().any(|n| n == l.case),
        };
        if ran && !seen.contains(&(l.case.to_string(), l.key.to_string())) {
            failures.push(format!(
                "[{}] listed difference `{}` did not show up",
                l.case, l.key
            ));
        }
    }
    let _ = h.buildah.cmd().args(["rm", "--all"]).output();
    eprintln!(
        "{} cases: {compared} compared with buildah, {handwritten} against hand-written expectations, {:.0}s",
        names.len(),
        started.elapsed().as_secs_f64()
    );
    assert!(
        failures.is_empty(),
        "{} problems:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
