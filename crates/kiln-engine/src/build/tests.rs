//! Engine tests through the [`Isolation`](super::Isolation) seam with a fake sandbox: it
//! records what RUN asks for, writes files into the root filesystem it is given, and ends
//! the way a test chooses. Nothing here needs root: the vfs storage driver copies instead
//! of mounting, every stage starts from scratch, the network is `none` (no shared network
//! is started), and each test has its own store and context.
//!
//! Checked to run without root: the test binary `cargo test -p kiln-engine --lib` built,
//! run as `nobody` with `cd /tmp && setpriv --reuid=65534 --regid=65534 --clear-groups
//! target/debug/deps/kiln_engine-HASH build::tests` passes every test (as nobody, the
//! WORKDIR part of the first test takes its non-root branch).

use super::{build, BuildError, BuildOptions, Built, Failed, Network, SandboxOptions};
use super::{Output, StorageDriver};
use crate::context::ContextSource;
use kiln_oci::{ErrorKind, Store};
use kiln_sandbox::{Exit, RunControl, RunRequest, Sandbox, SandboxError};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What the fake saw of one run.
#[derive(Debug, Clone)]
struct Seen {
    args: Vec<String>,
    env: Vec<String>,
    cwd: String,
    uid: u32,
    gid: u32,
    timeout: Option<Duration>,
}

/// How the fake ends a run.
#[derive(Debug, Clone, Copy)]
enum Ending {
    Exit(i32),
    Signal(i32),
    TimedOut(Duration),
    Cancelled(i32),
    CannotStart,
}

/// A sandbox that runs nothing: it records the request, writes `files` into the rootfs,
/// prints `output` on stdout and ends as `ending` says.
struct FakeSandbox {
    seen: Mutex<Vec<Seen>>,
    files: Vec<(&'static str, &'static str)>,
    output: &'static str,
    ending: Ending,
}

impl FakeSandbox {
    fn new(ending: Ending) -> Arc<FakeSandbox> {
        Self::writing(ending, Vec::new(), "")
    }

    fn writing(
        ending: Ending,
        files: Vec<(&'static str, &'static str)>,
        output: &'static str,
    ) -> Arc<FakeSandbox> {
        Arc::new(FakeSandbox {
            seen: Mutex::new(Vec::new()),
            files,
            output,
            ending,
        })
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().expect("seen").clone()
    }
}

impl Sandbox for FakeSandbox {
    fn run_controlled(
        &self,
        mut req: RunRequest<'_>,
        control: &RunControl,
    ) -> Result<Exit, SandboxError> {
        self.seen.lock().expect("seen").push(Seen {
            args: req.process.args.clone(),
            env: req.process.env.clone(),
            cwd: req.process.cwd.clone(),
            uid: req.process.uid,
            gid: req.process.gid,
            timeout: control.timeout,
        });
        for (path, content) in &self.files {
            let p = req.rootfs.join(path.trim_start_matches('/'));
            std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir in rootfs");
            std::fs::write(&p, content).expect("write in rootfs");
        }
        req.stdout
            .write_all(self.output.as_bytes())
            .expect("stdout");
        match self.ending {
            Ending::Exit(code) => Ok(Exit {
                code: Some(code),
                signal: None,
            }),
            Ending::Signal(s) => Ok(Exit {
                code: None,
                signal: Some(s),
            }),
            Ending::TimedOut(limit) => Err(SandboxError::TimedOut { limit }),
            Ending::Cancelled(why) => Err(SandboxError::Cancelled { why }),
            Ending::CannotStart => Err(SandboxError::NotRoot),
        }
    }
}

/// A store and a build context of its own.
struct Env {
    dir: tempfile::TempDir,
    store: Store,
}

impl Env {
    fn new() -> Env {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Store::open(&dir.path().join("store")).expect("store");
        std::fs::create_dir(dir.path().join("ctx")).expect("context dir");
        Env { dir, store }
    }

    fn context(&self) -> &Path {
        self.dir.path()
    }

    fn build(&self, dockerfile: &str, fake: &Arc<FakeSandbox>) -> Result<Built, Failed> {
        self.build_with(dockerfile, fake, |_| {})
    }

    fn build_with(
        &self,
        dockerfile: &str,
        fake: &Arc<FakeSandbox>,
        change: impl FnOnce(&mut BuildOptions),
    ) -> Result<Built, Failed> {
        let mut opts = options(dockerfile, self.context().join("ctx"), fake.clone());
        change(&mut opts);
        build(&self.store, opts)
    }

    /// The files of the image's top layer, unpacked.
    fn top_layer(&self, built: &Built) -> tempfile::TempDir {
        let img = self.store.load_image(&built.manifest).expect("image");
        let layers = img.layers().expect("layers");
        let top = layers.last().expect("a layer");
        let out = tempfile::tempdir().expect("temp dir");
        let root = kiln_layer::Root::open(out.path()).expect("root");
        let blob = self.store.blob_reader(&top.digest).expect("blob");
        let (_, reader) = kiln_oci::compression::decompress(blob).expect("decompress");
        let opts = kiln_layer::ExtractOptions {
            whiteouts: kiln_layer::WhiteoutMode::Keep,
            same_owner: false,
            devices: false,
            record_paths: false,
        };
        kiln_layer::extract(reader, &root, &opts).expect("extract");
        out
    }
}

fn options(dockerfile: &str, context: std::path::PathBuf, fake: Arc<FakeSandbox>) -> BuildOptions {
    BuildOptions {
        dockerfile: Some(("Dockerfile".into(), dockerfile.as_bytes().to_vec())),
        dockerfile_path: None,
        dockerfile_in_context: None,
        on_dockerfile: None,
        context: ContextSource::Dir(context),
        tags: Vec::new(),
        build_args: BTreeMap::new(),
        target: None,
        labels: BTreeMap::new(),
        platform: None,
        outputs: Vec::<Output>::new(),
        source_date_epoch: Some(0),
        sandbox: SandboxOptions {
            network: Network::None,
            ..SandboxOptions::default()
        },
        isolation: fake,
        vm: None,
        storage_driver: Some(StorageDriver::Vfs),
        max_layer_size: None,
        cache_mount_scope: super::mounts::cache::Scope::default(),
        secrets: Vec::new(),
        ssh: Vec::new(),
        registry: None,
        push: kiln_registry::PushOptions::default(),
        reporter: None,
        squash: Default::default(),
        no_cache: false,
        no_cache_filter: Vec::new(),
        pull: false,
        jobs: 1,
        cache_from: Vec::new(),
        cache_to: Vec::new(),
        step_timeout: None,
        cancel: None,
    }
}

fn failed(r: Result<Built, Failed>) -> BuildError {
    match r {
        Ok(b) => panic!("the build succeeded: {}", b.id),
        Err(f) => f.error,
    }
}

#[test]
fn run_passes_args_env_user_and_workdir_to_the_sandbox() {
    let env = Env::new();
    let fake = FakeSandbox::new(Ending::Exit(0));
    let df = "FROM scratch\nENV GREETING=hello\nARG V=1\nWORKDIR /app\nUSER 1000:1001\n\
              ENV HOME=/home/x\nRUN [\"/bin/tool\", \"a b\", \"$V\"]\n";
    let r = env.build_with(df, &fake, |o| {
        o.build_args.insert("V".into(), "2".into());
    });
    if !is_root() {
        // WORKDIR makes /app owned by root, which only root can do: the rest is checked
        // without it.
        let e = failed(r);
        assert!(e.to_string().contains("WORKDIR"), "{e}");
        return run_without_workdir(&env);
    }
    r.expect("build");
    let seen = fake.seen();
    assert_eq!(seen.len(), 1, "{seen:?}");
    let s = &seen[0];
    assert_eq!(
        s.args,
        ["/bin/tool", "a b", "$V"],
        "exec form is passed as written"
    );
    assert!(s.env.contains(&"GREETING=hello".to_string()), "{:?}", s.env);
    assert!(s.env.contains(&"V=2".to_string()), "{:?}", s.env);
    assert!(
        s.env.iter().any(|e| e.starts_with("PATH=/usr/local/sbin")),
        "{:?}",
        s.env
    );
    assert!(s.env.contains(&"HOME=/home/x".to_string()), "{:?}", s.env);
    assert_eq!((s.uid, s.gid), (1000, 1001));
    assert_eq!(s.cwd, "/app");
}

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// The same checks without WORKDIR (for a run as a user other than root).
fn run_without_workdir(env: &Env) {
    let fake = FakeSandbox::new(Ending::Exit(0));
    let df = "FROM scratch\nENV GREETING=hello\nARG V=1\nUSER 1000:1001\nRUN echo $V\n";
    env.build_with(df, &fake, |o| {
        o.build_args.insert("V".into(), "2".into());
    })
    .expect("build");
    let s = &fake.seen()[0];
    assert_eq!(s.args, ["/bin/sh", "-c", "echo $V"]);
    assert!(s.env.contains(&"GREETING=hello".to_string()), "{:?}", s.env);
    assert!(s.env.contains(&"V=2".to_string()), "{:?}", s.env);
    assert!(s.env.contains(&"HOME=/".to_string()), "{:?}", s.env);
    assert_eq!((s.uid, s.gid, s.cwd.as_str()), (1000, 1001, "/"));
}

#[test]
fn a_non_zero_exit_is_a_step_failure_at_the_run_line() {
    let env = Env::new();
    let fake = FakeSandbox::writing(Ending::Exit(3), Vec::new(), "first\nwhy it broke\n");
    let e = failed(env.build("FROM scratch\nENV A=1\nRUN false\n", &fake));
    assert!(matches!(e, BuildError::StepFailed { .. }), "{e:?}");
    assert_eq!(e.kind(), ErrorKind::StepFailed);
    assert_eq!(e.span().map(|s| s.start.line), Some(3), "{e:?}");
    let msg = e.to_string();
    assert!(msg.contains("exit code 3"), "{msg}");
    assert!(msg.contains("why it broke"), "the step's last lines: {msg}");
    assert!(e.hint().is_some_and(|h| h.contains("fix the command")));
}

#[test]
fn a_killed_step_is_a_step_failure() {
    let env = Env::new();
    let fake = FakeSandbox::new(Ending::Signal(9));
    let e = failed(env.build("FROM scratch\nRUN sleep 1\n", &fake));
    assert_eq!(e.kind(), ErrorKind::StepFailed, "{e:?}");
    assert!(e.to_string().contains("signal 9"), "{e}");
}

#[test]
fn a_cached_second_build_does_not_call_the_sandbox() {
    let env = Env::new();
    let df = "FROM scratch\nRUN make\n";
    let first = FakeSandbox::writing(Ending::Exit(0), vec![("/out/a", "A")], "");
    let one = env.build(df, &first).expect("first build");
    assert_eq!(first.seen().len(), 1);
    let second = FakeSandbox::new(Ending::Exit(1));
    let two = env.build(df, &second).expect("cached build");
    assert!(second.seen().is_empty(), "{:?}", second.seen());
    assert_eq!(one.id, two.id, "the same image from the cache");
}

#[test]
fn files_the_step_writes_end_up_in_its_layer() {
    let env = Env::new();
    let fake = FakeSandbox::writing(
        Ending::Exit(0),
        vec![("/out/hello.txt", "hello\n"), ("/etc/made", "x")],
        "",
    );
    let built = env.build("FROM scratch\nRUN make\n", &fake).expect("build");
    let layer = env.top_layer(&built);
    let read = |p: &str| std::fs::read_to_string(layer.path().join(p)).expect(p);
    assert_eq!(read("out/hello.txt"), "hello\n");
    assert_eq!(read("etc/made"), "x");
}

#[test]
fn timeout_reaches_the_sandbox_and_its_end_is_a_step_failure() {
    let env = Env::new();
    let limit = Duration::from_secs(90);
    let fake = FakeSandbox::new(Ending::TimedOut(limit));
    let e = failed(
        env.build_with("FROM scratch\nRUN sleep 1000\n", &fake, |o| {
            o.step_timeout = Some(limit)
        }),
    );
    assert_eq!(fake.seen()[0].timeout, Some(limit));
    assert_eq!(e.kind(), ErrorKind::StepFailed, "{e:?}");
    assert_eq!(e.span().map(|s| s.start.line), Some(2));
    assert!(e.to_string().contains("--timeout"), "{e}");
}

#[test]
fn a_cancelled_step_cancels_the_build_with_its_signal() {
    let env = Env::new();
    let fake = FakeSandbox::new(Ending::Cancelled(15));
    let e = failed(env.build("FROM scratch\nRUN sleep 1000\n", &fake));
    assert!(matches!(e, BuildError::Cancelled { why: 15 }), "{e:?}");
    assert_eq!(e.kind(), ErrorKind::Cancelled(15));
}

#[test]
fn a_build_cancelled_before_a_step_does_not_run_it() {
    let env = Env::new();
    let fake = FakeSandbox::new(Ending::Exit(0));
    let cancel = kiln_sandbox::Cancel::new().expect("cancel flag");
    cancel.cancel(2);
    let e = failed(env.build_with("FROM scratch\nRUN true\n", &fake, |o| {
        o.cancel = Some(cancel)
    }));
    assert_eq!(e.kind(), ErrorKind::Cancelled(2), "{e:?}");
    assert!(fake.seen().is_empty());
}

#[test]
fn an_isolation_that_cannot_start_is_a_host_failure_with_a_hint() {
    let env = Env::new();
    let fake = FakeSandbox::new(Ending::CannotStart);
    let e = failed(env.build("FROM scratch\nRUN true\n", &fake));
    assert_eq!(e.kind(), ErrorKind::Io, "{e:?}");
    assert!(e.to_string().starts_with("RUN could not start: "), "{e}");
    assert_eq!(e.span().map(|s| s.start.line), Some(2));
    assert!(e.hint().is_some());
}

#[test]
fn refused_inputs_and_options_have_their_own_kinds() {
    let env = Env::new();
    let fake = FakeSandbox::new(Ending::Exit(0));
    let e = failed(env.build("FROM scratch\nFROBNICATE x\n", &fake));
    assert_eq!(e.kind(), ErrorKind::Rejected, "{e:?}");
    let e = failed(env.build_with("FROM scratch\nRUN true\n", &fake, |o| {
        o.tags = vec!["Bad Name::x".into()]
    }));
    assert_eq!(e.kind(), ErrorKind::Usage, "{e:?}");
    let e = failed(env.build_with("FROM scratch\nRUN true\n", &fake, |o| {
        o.platform = Some("linux/not-an-arch".into())
    }));
    assert_eq!(e.kind(), ErrorKind::Usage, "{e:?}");
    let e = failed(env.build_with("FROM scratch\nRUN true\n", &fake, |o| {
        o.outputs = vec![Output::Registry("Bad Name::x".into())]
    }));
    assert_eq!(e.kind(), ErrorKind::Usage, "{e:?}");
    let e = failed(env.build_with("FROM scratch\nRUN true\n", &fake, |o| {
        let missing = "id=k,src=/nonexistent/kiln-test-secret";
        o.secrets = vec![super::mounts::secrets::SecretSpec::parse(missing).expect("spec")]
    }));
    assert_eq!(e.kind(), ErrorKind::Usage, "{e:?}");
    assert!(
        e.to_string().contains("/nonexistent/kiln-test-secret"),
        "{e}"
    );
    assert!(
        fake.seen().is_empty(),
        "nothing ran before the options were checked"
    );
}

#[test]
fn a_secret_asked_for_as_a_variable_reaches_the_step_and_not_its_key() {
    let env = Env::new();
    let secret = env.context().join("token");
    let df = "FROM scratch\nRUN --mount=type=secret,id=token,env=TOKEN use\n";
    let with = |value: &'static str| {
        let secret = secret.clone();
        move |o: &mut BuildOptions| {
            std::fs::write(&secret, value).expect("write secret");
            let spec = format!("id=token,src={}", secret.display());
            o.secrets = vec![super::mounts::secrets::SecretSpec::parse(&spec).expect("spec")];
        }
    };
    let fake = FakeSandbox::new(Ending::Exit(0));
    env.build_with(df, &fake, with("s3cret")).expect("build");
    assert!(fake.seen()[0].env.contains(&"TOKEN=s3cret".to_string()));
    // Another value: the step is cached (secrets are not part of its key, as in BuildKit).
    let again = FakeSandbox::new(Ending::Exit(0));
    env.build_with(df, &again, with("changed")).expect("build");
    assert!(again.seen().is_empty(), "{:?}", again.seen());
}

#[test]
fn copy_from_an_earlier_stage_takes_what_its_step_wrote() {
    let env = Env::new();
    let fake = FakeSandbox::writing(Ending::Exit(0), vec![("/out/app", "binary")], "");
    let df = "FROM scratch AS build\nRUN make\nFROM scratch\nCOPY --from=build /out/app /app\n";
    let built = env.build(df, &fake).expect("build");
    assert_eq!(fake.seen().len(), 1);
    let layer = env.top_layer(&built);
    let app = std::fs::read_to_string(layer.path().join("app")).expect("app");
    assert_eq!(app, "binary");
}

#[test]
fn a_missing_copy_source_is_a_refused_input_with_a_hint() {
    let env = Env::new();
    let fake = FakeSandbox::new(Ending::Exit(0));
    let e = failed(env.build("FROM scratch\nCOPY missing.txt /x\n", &fake));
    assert!(matches!(e, BuildError::Copy { .. }), "{e:?}");
    assert_eq!(e.kind(), ErrorKind::Rejected);
    assert!(
        e.to_string()
            .starts_with("COPY failed: \"missing.txt\" not found"),
        "{e}"
    );
    assert_eq!(e.span().map(|s| s.start.line), Some(2));
    assert!(e.hint().is_some_and(|h| h.contains("build context")));
}
