//! `RUN --mount`: cache mounts kept across builds (and out of every layer), secrets
//! readable in the step and nowhere else, bind mounts of the context, stages and images
//! (writes thrown away), tmpfs, forwarded SSH agents, mount points left out of layers.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use support::{assert_fails, files_containing, s, sha256_hex, show, TestEnv};

fn read(root: &Path, p: &str) -> String {
    std::fs::read_to_string(root.join(p)).unwrap_or_else(|e| panic!("{p}: {e}"))
}

/// A test env whose store has the busybox base as `busybox:test`.
fn busybox_env() -> TestEnv {
    let env = TestEnv::new();
    env.import_busybox("busybox:test");
    env
}

fn runtime_installed(name: &str) -> bool {
    let found = ["/usr/sbin", "/usr/bin"]
        .iter()
        .any(|d| Path::new(d).join(name).is_file());
    if !found {
        eprintln!("skipping --runtime {name}: it is not installed (apt-get install {name})");
    }
    found
}

const CACHE_DOCKERFILE: &str = "FROM busybox:test\n\
    ARG N\n\
    RUN --mount=type=cache,target=/var/cache/x sh -c 'cat /var/cache/x/seen > /prev 2>/dev/null; echo build-$N >> /var/cache/x/seen'\n";

#[test]
fn cache_mount_is_reused_across_builds_and_is_in_no_layer() {
    let env = busybox_env();
    let ctx = env.context("ctx", &[("Dockerfile", CACHE_DOCKERFILE)]);
    env.ok(&["build", "-q", "-t", "c:1", "--build-arg", "N=1", s(&ctx)]);
    let first = env.export("c:1", "r1");
    assert_eq!(
        read(&first, "prev"),
        "",
        "the first build starts with an empty cache"
    );
    env.ok(&["build", "-q", "-t", "c:2", "--build-arg", "N=2", s(&ctx)]);
    let second = env.export("c:2", "r2");
    assert_eq!(
        read(&second, "prev"),
        "build-1\n",
        "the second build sees the first's files"
    );
    for root in [&first, &second] {
        assert!(
            !root.join("var").exists(),
            "the cache and its mount point are in no layer"
        );
    }
    // The cache lives in the store, outside every layer blob.
    let caches: Vec<PathBuf> = std::fs::read_dir(env.store().join("cache-mounts"))
        .expect("cache-mounts")
        .map(|e| e.expect("entry").path())
        .collect();
    assert_eq!(caches.len(), 1, "{caches:?}");
    assert_eq!(read(&caches[0], "data/seen"), "build-1\nbuild-2\n");
    assert_eq!(
        read(&caches[0], "id"),
        "/var/cache/x",
        "the id defaults to the target"
    );
    let layers = layer_listings(&env, "c:2");
    assert!(
        !layers.contains("var/"),
        "no layer lists the cache:\n{layers}"
    );

    // Through an OCI runtime the same cache is used.
    for rt in ["runc", "crun"] {
        if runtime_installed(rt) {
            env.ok(&[
                "build",
                "-q",
                "-t",
                "c:rt",
                "--runtime",
                rt,
                "--build-arg",
                &format!("N={rt}"),
                s(&ctx),
            ]);
            let r = env.export("c:rt", &format!("r-{rt}"));
            assert!(
                read(&r, "prev").starts_with("build-1\nbuild-2\n"),
                "{rt} sees the cache"
            );
        }
    }

    let out = env.ok(&["prune", "--cache-mounts"]);
    assert!(out.starts_with("removed 1 cache mount"), "{out}");
    assert!(!caches[0].exists(), "prune removed the cache");
    env.ok(&["build", "-q", "-t", "c:3", "--build-arg", "N=3", s(&ctx)]);
    assert_eq!(
        read(&env.export("c:3", "r3"), "prev"),
        "",
        "after prune the cache starts empty"
    );
}

/// `tar -t` of every layer blob of an image, one listing.
fn layer_listings(env: &TestEnv, name: &str) -> String {
    let inspect = env.inspect(name);
    let mut all = String::new();
    for l in inspect["Layers"].as_array().expect("layers") {
        let digest = l["Digest"].as_str().expect("digest");
        let blob = env
            .store()
            .join("blobs/sha256")
            .join(&digest["sha256:".len()..]);
        all.push_str(&support::tar_listing(&blob));
    }
    all
}

#[test]
fn cache_mount_options_set_owner_mode_and_sharing_locked_serializes() {
    let env = busybox_env();
    let dockerfile = "FROM busybox:test\n\
        ARG N\n\
        RUN --mount=type=cache,id=shared-log,target=/c,sharing=locked,uid=1000,gid=50,mode=0750 sh -c 'stat -c \"%u %g %a\" /c > /owner; echo start-$N >> /c/log; sleep 1; echo end-$N >> /c/log'\n";
    let ctx = env.context("ctx", &[("Dockerfile", dockerfile)]);
    let spawn = |n: &str| {
        env.kiln()
            .args([
                "build",
                "-q",
                "-t",
                &format!("l:{n}"),
                "--build-arg",
                &format!("N={n}"),
                s(&ctx),
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn kiln")
    };
    let (a, b) = (spawn("a"), spawn("b"));
    for child in [a, b] {
        let out = child.wait_with_output().expect("wait");
        assert!(out.status.success(), "{}", show(&out));
    }
    assert_eq!(read(&env.export("l:a", "ra"), "owner"), "1000 50 750\n");
    let cache = std::fs::read_dir(env.store().join("cache-mounts"))
        .expect("cache-mounts")
        .next()
        .expect("one cache")
        .expect("entry")
        .path();
    let log = read(&cache, "data/log");
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(lines.len(), 4, "{log}");
    assert!(
        lines[0].strip_prefix("start-") == lines[1].strip_prefix("end-")
            && lines[2].strip_prefix("start-") == lines[3].strip_prefix("end-"),
        "sharing=locked runs one step at a time:\n{log}"
    );
}

#[test]
fn secret_is_readable_in_the_step_and_appears_nowhere() {
    let env = busybox_env();
    let value = format!(
        "kiln-secret-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("time")
            .as_nanos()
    );
    let file = env.path().join("secret-file");
    std::fs::write(&file, &value).expect("write secret");
    let dockerfile = "FROM busybox:test\n\
        RUN --mount=type=secret,id=tok sha256sum /run/secrets/tok > /file-sum && stat -c '%a %u %g' /run/secrets/tok > /file-mode\n\
        RUN --mount=type=secret,id=tok,env=TOK sh -c 'printf %s \"$TOK\" | sha256sum > /env-sum; test -e /run/secrets/tok || echo no-file > /env-only'\n\
        RUN --mount=type=secret,id=tok,target=/home/app/tok,uid=1000,gid=50,mode=0440 stat -c '%a %u %g' /home/app/tok > /custom-mode\n\
        RUN --mount=type=secret,id=fromenv cat /run/secrets/fromenv | sha256sum > /env-flag-sum\n\
        RUN --mount=type=secret,id=absent ls /run > /absent 2>&1 || echo no-run > /absent\n";
    let ctx = env.context("ctx", &[("Dockerfile", dockerfile)]);
    let expected = format!("{}  -\n", sha256_hex(value.as_bytes()));
    let mut runtimes = vec![None];
    for rt in ["runc", "crun"] {
        if runtime_installed(rt) {
            runtimes.push(Some(rt));
        }
    }
    for rt in runtimes {
        let tag = format!("sec:{}", rt.unwrap_or("embedded"));
        let oci = env
            .path()
            .join(format!("{}.oci.tar", rt.unwrap_or("embedded")));
        let docker = env
            .path()
            .join(format!("{}.docker.tar", rt.unwrap_or("embedded")));
        let mut args = vec![
            "build".to_string(),
            "-t".into(),
            tag.clone(),
            "--secret".into(),
            format!("id=tok,src={}", file.display()),
            "--secret".into(),
            "id=fromenv,env=KILN_TEST_SECRET".into(),
            "-o".into(),
            format!("type=oci-archive,dest={}", oci.display()),
            "-o".into(),
            format!("type=docker-archive,dest={}", docker.display()),
        ];
        if let Some(rt) = rt {
            args.extend(["--runtime".to_string(), rt.to_string()]);
        }
        args.push(s(&ctx).to_string());
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = env.run_env(&argv, &[("KILN_TEST_SECRET", &value)]);
        assert!(out.status.success(), "{}", show(&out));
        let root = env.export(&tag, &format!("root-{tag}"));
        assert_eq!(
            read(&root, "file-sum"),
            format!("{}  /run/secrets/tok\n", sha256_hex(value.as_bytes()))
        );
        assert_eq!(
            read(&root, "file-mode"),
            "400 0 0\n",
            "secrets are 0400 root by default"
        );
        assert_eq!(
            read(&root, "env-sum"),
            expected,
            "env= gives the value as a variable"
        );
        assert_eq!(
            read(&root, "env-only"),
            "no-file\n",
            "env= alone mounts no file"
        );
        assert_eq!(read(&root, "custom-mode"), "440 1000 50\n");
        assert_eq!(read(&root, "env-flag-sum"), expected, "--secret env=VAR");
        assert_eq!(
            read(&root, "absent"),
            "no-run\n",
            "a missing optional secret is skipped"
        );
        assert!(
            !root.join("run").exists(),
            "no mount point is left in the image"
        );
        let history = env.ok(&["history", &tag]);
        let log = [
            out.stdout.as_slice(),
            out.stderr.as_slice(),
            history.as_bytes(),
        ]
        .concat();
        assert!(
            !log.windows(value.len()).any(|w| w == value.as_bytes()),
            "the secret is in the build log or history"
        );
    }
    let mut hits = files_containing(&env.store(), value.as_bytes());
    for f in std::fs::read_dir(env.path()).expect("env dir").flatten() {
        if f.file_name().to_string_lossy().ends_with(".tar") {
            hits.extend(files_containing(&f.path(), value.as_bytes()));
        }
    }
    assert!(hits.is_empty(), "the secret was written to {hits:?}");
}

#[test]
fn required_secret_that_is_missing_fails_at_its_mount() {
    let env = busybox_env();
    let ctx = env.context(
        "ctx",
        &[(
            "Dockerfile",
            "FROM busybox:test\nRUN --mount=type=secret,id=npmrc,required true\n",
        )],
    );
    let out = env.run(&["build", s(&ctx)]);
    assert_fails(
        &out,
        1,
        &[
            "secret \"npmrc\" is required but was not given",
            "Dockerfile:2:13",
            "--secret id=npmrc,src=FILE",
        ],
    );
    let out = env.run(&["build", "--secret", "id=npmrc", s(&ctx)]);
    // A --secret whose file is missing is a command-line mistake found before any step
    // runs: exit 2 (1 before the command line was checked whole).
    assert_fails(&out, 2, &["--secret id=npmrc", "cannot read npmrc"]);
    let out = env.run(&["build", "--secret", "src=/etc/hostname", s(&ctx)]);
    assert_fails(&out, 2, &["has no id"]);
}

#[test]
fn bind_mounts_read_the_context_stages_and_images_and_discard_writes() {
    let env = busybox_env();
    let dockerfile = "FROM busybox:test AS base\n\
        RUN /bin/busybox mkdir /data && echo stage > /data/f\n\
        FROM busybox:test\n\
        RUN --mount=type=bind,source=src,target=/src cat /src/a > /from-context; (echo x > /src/new) 2>/dev/null || echo read-only > /ro\n\
        RUN --mount=type=bind,from=base,source=/data,target=/d,rw sh -c 'cat /d/f > /from-stage; echo changed > /d/f; echo more > /d/g'\n\
        RUN --mount=type=bind,from=base,source=/data,target=/d cat /d/f > /after; ls /d > /after-ls\n\
        RUN --mount=type=bind,from=busybox:test,source=etc/passwd,target=/pw wc -l < /pw > /from-image\n\
        RUN --mount=type=bind,source=src,target=/src,rw sh -c 'echo x > /src/a; echo y > /src/new'\n\
        RUN --mount=type=tmpfs,target=/t,size=1m sh -c 'echo hi > /t/x && df -k /t | tail -1 | while read a b c; do echo $b; done > /tmpfs-size'\n";
    let ctx = env.context("ctx", &[("Dockerfile", dockerfile), ("src/a", "context\n")]);
    let before = support::snapshot(&ctx, &[]);
    env.ok(&["build", "-q", "-t", "b:1", s(&ctx)]);
    support::assert_unchanged("the build context", &before, &support::snapshot(&ctx, &[]));
    let root = env.export("b:1", "root");
    assert_eq!(read(&root, "from-context"), "context\n");
    assert_eq!(
        read(&root, "ro"),
        "read-only\n",
        "bind mounts are read-only by default"
    );
    assert_eq!(read(&root, "from-stage"), "stage\n");
    assert_eq!(
        read(&root, "after"),
        "stage\n",
        "rw changes are thrown away"
    );
    assert_eq!(read(&root, "after-ls"), "f\n");
    assert_eq!(read(&root, "from-image"), "3\n");
    assert_eq!(read(&root, "tmpfs-size"), "1024\n");
    for gone in ["src", "d", "pw", "t"] {
        assert!(
            !root.join(gone).exists(),
            "mount point /{gone} is not in the image"
        );
    }
}

#[test]
fn ssh_agent_is_forwarded_to_the_step() {
    let (Ok(_), Ok(_), Ok(_)) = (which("ssh-agent"), which("ssh-add"), which("ssh-keygen")) else {
        eprintln!("skipping: openssh-client is not installed");
        return;
    };
    let env = busybox_env();
    // An image holding the host's ssh-add and its libraries, run through its loader.
    let client = env.path().join("client");
    let ssh_add = which("ssh-add").expect("ssh-add");
    let ldd = String::from_utf8(
        Command::new("ldd")
            .arg(&ssh_add)
            .output()
            .expect("ldd")
            .stdout,
    )
    .expect("utf-8");
    let mut files = vec![ssh_add.clone()];
    for l in ldd.lines() {
        if let Some(p) = l.split_whitespace().find(|w| w.starts_with('/')) {
            files.push(PathBuf::from(p));
        }
    }
    let mut loader = String::new();
    let mut libdirs = Vec::new();
    for f in &files {
        let dest = client.join(f.strip_prefix("/").expect("absolute"));
        std::fs::create_dir_all(dest.parent().expect("parent")).expect("mkdir");
        std::fs::copy(std::fs::canonicalize(f).expect("canonical"), &dest).expect("copy");
        let name = f.file_name().expect("name").to_string_lossy().into_owned();
        if name.starts_with("ld-linux") {
            loader = f.display().to_string();
        } else if f != &ssh_add {
            libdirs.push(format!("/x{}", f.parent().expect("dir").display()));
        }
    }
    let tar = env.path().join("client.tar");
    support::run_ok(
        Command::new("tar")
            .arg("-C")
            .arg(&client)
            .arg("-cf")
            .arg(&tar)
            .arg("."),
    );
    env.ok(&["import", s(&tar), "sshclient:1"]);

    let key = env.path().join("key");
    support::run_ok(
        Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-C", "kiln-test", "-f"])
            .arg(&key),
    );
    let sock = env.path().join("agent.sock");
    let mut agent = Command::new("ssh-agent")
        .arg("-D")
        .arg("-a")
        .arg(&sock)
        .stdout(Stdio::null())
        .spawn()
        .expect("ssh-agent");
    for _ in 0..100 {
        if sock.exists() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    support::run_ok(
        Command::new("ssh-add")
            .arg(&key)
            .env("SSH_AUTH_SOCK", &sock)
            .stderr(Stdio::null()),
    );
    let fingerprint = support::run_ok(
        Command::new("ssh-keygen")
            .arg("-lf")
            .arg(key.with_extension("pub")),
    );
    let dockerfile = format!(
        "FROM busybox:test\n\
         RUN --mount=type=bind,from=sshclient:1,target=/x --mount=type=ssh sh -c 'echo $SSH_AUTH_SOCK > /sock; stat -c \"%a %u\" $SSH_AUTH_SOCK > /sock-mode; /x{loader} --library-path {} /x{} -l > /keys'\n",
        libdirs.join(":"),
        ssh_add.display()
    );
    let ctx = env.context("ctx", &[("Dockerfile", &dockerfile)]);
    let out = env.run(&[
        "build",
        "-q",
        "-t",
        "ssh:1",
        "--ssh",
        &format!("default={}", sock.display()),
        s(&ctx),
    ]);
    let _ = agent.kill();
    let _ = agent.wait();
    assert!(out.status.success(), "{}", show(&out));
    let root = env.export("ssh:1", "root");
    assert_eq!(read(&root, "sock"), "/run/buildkit/ssh_agent.0\n");
    assert_eq!(read(&root, "sock-mode"), "600 0\n");
    assert_eq!(
        read(&root, "keys"),
        fingerprint,
        "the step lists the host agent's key"
    );
    assert!(!root.join("run").exists());

    let ctx = env.context(
        "ctx2",
        &[(
            "Dockerfile",
            "FROM busybox:test\nRUN --mount=type=ssh,required true\n",
        )],
    );
    let out = env.run(&["build", s(&ctx)]);
    assert_fails(
        &out,
        1,
        &[
            "SSH agent \"default\" is required but was not given",
            "--ssh default",
        ],
    );
    let out = env.run(&[
        "build",
        "--ssh",
        &format!("default={}", key.display()),
        s(&ctx),
    ]);
    assert_fails(&out, 2, &["is not a socket", "ssh-add"]);
}

fn which(name: &str) -> Result<PathBuf, ()> {
    ["/usr/bin", "/bin", "/usr/sbin"]
        .iter()
        .map(|d| Path::new(d).join(name))
        .find(|p| p.is_file())
        .ok_or(())
}

#[test]
fn context_bind_shows_only_what_dockerignore_keeps() {
    let env = busybox_env();
    let dockerfile = "FROM busybox:test\n\
        RUN --mount=type=bind,target=/ctx find /ctx | sort > /seen\n\
        RUN --mount=type=bind,target=/ctx,rw sh -c 'echo x > /ctx/app.txt; cat /ctx/private/keep > /kept'\n";
    let ctx = env.context(
        "ctx",
        &[
            ("Dockerfile", dockerfile),
            (".dockerignore", ".env\nprivate\n!private/keep\n"),
            (".env", "TOKEN=do-not-leak\n"),
            ("app.txt", "app\n"),
            ("private/key", "do-not-leak\n"),
            ("private/keep", "kept\n"),
        ],
    );
    env.ok(&["build", "-q", "-t", "ig:1", s(&ctx)]);
    let root = env.export("ig:1", "root");
    assert_eq!(
        read(&root, "seen"),
        "/ctx\n/ctx/.dockerignore\n/ctx/Dockerfile\n/ctx/app.txt\n/ctx/private\n/ctx/private/keep\n"
    );
    assert_eq!(read(&root, "kept"), "kept\n");
    assert_eq!(
        read(&ctx, "app.txt"),
        "app\n",
        "rw writes never reach the context"
    );
    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM busybox:test\nRUN --mount=type=bind,source=.env,target=/e cat /e\n",
    )
    .expect("Dockerfile");
    let out = env.run(&["build", s(&ctx)]);
    assert_fails(
        &out,
        1,
        &[
            "source \".env\" is excluded by .dockerignore",
            "Dockerfile:2:13",
        ],
    );
    assert!(!String::from_utf8_lossy(&out.stderr).contains("do-not-leak"));
}

#[test]
fn mount_points_are_left_out_of_the_layer() {
    let env = busybox_env();
    let dockerfile = "FROM busybox:test\n\
        RUN --mount=type=tmpfs,target=/new/deep/dir --mount=type=cache,target=/tmp/cache --mount=type=tmpfs,target=/etc/extra echo > /marker\n";
    let ctx = env.context("ctx", &[("Dockerfile", dockerfile)]);
    env.ok(&[
        "build",
        "-q",
        "-t",
        "mp:1",
        "--source-date-epoch",
        "0",
        s(&ctx),
    ]);
    let listing = layer_listings(&env, "mp:1");
    let run_layer: Vec<&str> = listing.lines().filter(|l| !l.contains("bin/")).collect();
    for gone in ["new", "tmp/cache", "etc/extra"] {
        assert!(
            !run_layer.iter().any(|l| l.contains(gone)),
            "{gone} is in a layer:\n{listing}"
        );
    }
    let root = env.export("mp:1", "root");
    assert!(root.join("marker").exists());
    assert!(root.join("tmp").is_dir() && !root.join("tmp/cache").exists());
}

#[test]
fn cache_from_a_stage_seeds_a_new_cache_once() {
    let env = busybox_env();
    let dockerfile = "FROM busybox:test AS base\n\
        RUN /bin/busybox mkdir /seed && echo seeded > /seed/f\n\
        FROM busybox:test\n\
        ARG N\n\
        RUN --mount=type=cache,id=seeded,target=/c,from=base,source=/seed sh -c 'cat /c/* > /got; echo $N > /c/n$N'\n";
    let ctx = env.context("ctx", &[("Dockerfile", dockerfile)]);
    env.ok(&["build", "-q", "-t", "s:1", "--build-arg", "N=1", s(&ctx)]);
    assert_eq!(read(&env.export("s:1", "r1"), "got"), "seeded\n");
    env.ok(&["build", "-q", "-t", "s:2", "--build-arg", "N=2", s(&ctx)]);
    assert_eq!(
        read(&env.export("s:2", "r2"), "got"),
        "seeded\n1\n",
        "the cache is seeded once, then kept"
    );
}
