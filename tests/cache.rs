//! The step cache: which steps a rebuild reuses (CACHED in the plain progress output) and
//! which it runs again, following Docker's rules; the image of a cached rebuild is the
//! same image. Also --no-cache, --no-cache-filter, --iidfile, --metadata-file and the
//! JSON progress events.

mod support;

use support::{s, statuses, TestEnv};

/// Build with plain progress; (image ID, step statuses).
fn build(env: &TestEnv, args: &[&str]) -> (String, Vec<(String, String)>) {
    let mut all = vec!["build", "--progress", "plain"];
    all.extend_from_slice(args);
    let out = env.run(&all);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success(),
        "kiln {all:?} failed:\n{}",
        support::show(&out)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let id = stdout
        .lines()
        .last()
        .unwrap_or_else(|| panic!("no image ID:\n{stdout}"))
        .to_string();
    (id, statuses(&stderr))
}

/// Only the statuses (`CACHED`, `DONE`), in step order.
fn marks(v: &[(String, String)]) -> Vec<&str> {
    v.iter().map(|(_, st)| st.as_str()).collect()
}

/// The statuses, for comparing with an expected list written by hand.
fn only_status(v: &[(String, String)]) -> Vec<(&str, &str)> {
    v.iter().map(|(n, st)| (n.as_str(), st.as_str())).collect()
}

fn write(path: &std::path::Path, data: &str) {
    std::fs::write(path, data).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

const SIMPLE: &str = "FROM busybox:latest\n\
    ENV GREETING=hi\n\
    COPY a.txt /a.txt\n\
    RUN cat /a.txt > /a.copy\n\
    WORKDIR /app\n\
    COPY b.txt ./\n\
    RUN cat b.txt > /b.copy && echo \"$GREETING\" > /greeting\n\
    CMD [\"cat\", \"/b.copy\"]\n";

#[test]
fn unchanged_context_rebuild_is_all_cached_and_gives_the_same_image() {
    let env = TestEnv::new();
    env.import_busybox("busybox:latest");
    let ctx = env.context(
        "ctx",
        &[("Dockerfile", SIMPLE), ("a.txt", "a\n"), ("b.txt", "b\n")],
    );
    let (id1, first) = build(&env, &["-t", "app:1", s(&ctx)]);
    assert_eq!(first.len(), 6, "FROM, 2 COPY, 2 RUN, WORKDIR: {first:?}");
    assert!(
        first[1..].iter().all(|(_, st)| st == "DONE"),
        "a new store runs every step: {first:?}"
    );
    let (id2, second) = build(&env, &["-t", "app:2", s(&ctx)]);
    assert_eq!(
        only_status(&second),
        vec![
            ("[stage-0 1/8] FROM busybox:latest", "CACHED"),
            ("[stage-0 3/8] COPY a.txt /a.txt", "CACHED"),
            ("[stage-0 4/8] RUN cat /a.txt > /a.copy", "CACHED"),
            ("[stage-0 5/8] WORKDIR /app", "CACHED"),
            ("[stage-0 6/8] COPY b.txt ./", "CACHED"),
            (
                "[stage-0 7/8] RUN cat b.txt > /b.copy && echo \"$GREETING\" > /greeting",
                "CACHED"
            ),
        ]
    );
    assert_eq!(id1, id2, "a cached rebuild gives the same image ID");
    assert_eq!(
        env.inspect("app:1")["Digest"],
        env.inspect("app:2")["Digest"],
        "and the same manifest"
    );
    // The records are where the store's tools look for them.
    let steps = env.store().join("cache/steps");
    let records: Vec<_> = std::fs::read_dir(&steps)
        .expect("cache/steps")
        .map(|e| e.expect("entry").path())
        .collect();
    assert!(records.len() >= 8, "a record per step: {records:?}");
    for r in &records {
        let v: serde_json::Value =
            serde_json::from_slice(&std::fs::read(r).expect("read record")).expect("JSON");
        let key = v["key"].as_str().expect("key");
        assert_eq!(
            r.file_name().and_then(|n| n.to_str()),
            Some(format!("{}.json", key.trim_start_matches("sha256:")).as_str())
        );
        for b in v["blobs"].as_array().expect("blobs") {
            let hex = b.as_str().expect("digest").trim_start_matches("sha256:");
            assert!(env.store().join("blobs/sha256").join(hex).is_file());
        }
    }
}

#[test]
fn changing_a_copy_source_reruns_that_step_and_the_later_ones_only() {
    let env = TestEnv::new();
    env.import_busybox("busybox:latest");
    let ctx = env.context(
        "ctx",
        &[
            ("Dockerfile", SIMPLE),
            ("a.txt", "a\n"),
            ("b.txt", "b\n"),
            (".dockerignore", "*.log\n"),
            ("notes.log", "1"),
        ],
    );
    build(&env, &["-t", "app:1", s(&ctx)]);
    write(&ctx.join("b.txt"), "b changed\n");
    let (_, after) = build(&env, &["-t", "app:2", s(&ctx)]);
    assert_eq!(
        marks(&after),
        vec!["CACHED", "CACHED", "CACHED", "CACHED", "DONE", "DONE"],
        "{after:?}"
    );
    let root = env.export("app:2", "root2");
    assert_eq!(
        std::fs::read_to_string(root.join("b.copy")).expect("b.copy"),
        "b changed\n"
    );
    // An ignored file, or only a new modification time, changes nothing (as BuildKit).
    write(&ctx.join("notes.log"), "2");
    let f = std::fs::File::options()
        .write(true)
        .open(ctx.join("a.txt"))
        .expect("open a.txt");
    f.set_modified(std::time::SystemTime::now() - std::time::Duration::from_secs(3600))
        .expect("set mtime");
    let (_, again) = build(&env, &[s(&ctx)]);
    assert!(
        again.iter().all(|(_, st)| st == "CACHED"),
        "ignored file and mtime: {again:?}"
    );
    // A mode change is a change.
    std::fs::set_permissions(
        ctx.join("a.txt"),
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .expect("chmod");
    let (_, mode) = build(&env, &[s(&ctx)]);
    assert_eq!(
        marks(&mode),
        vec!["CACHED", "DONE", "DONE", "DONE", "DONE", "DONE"],
        "{mode:?}"
    );
}

#[test]
fn a_changed_build_arg_reruns_exactly_the_steps_docker_does() {
    let env = TestEnv::new();
    env.import_busybox("busybox:latest");
    // Docker: a changed ARG value misses at its first use, not at its declaration; every
    // RUN after the ARG uses it implicitly (build args are in its environment); COPY does
    // not unless its text names the ARG. After a miss every later step runs.
    let dockerfile = "FROM busybox:latest\n\
        COPY a.txt /a.txt\n\
        RUN echo before > /before\n\
        ARG V=1\n\
        ARG OTHER=x\n\
        COPY b.txt /b.txt\n\
        ENV FIXED=1\n\
        RUN echo plain > /plain\n\
        COPY c.txt /c.txt\n";
    let ctx = env.context(
        "ctx",
        &[
            ("Dockerfile", dockerfile),
            ("a.txt", "a"),
            ("b.txt", "b"),
            ("c.txt", "c"),
        ],
    );
    let (id1, _) = build(&env, &[s(&ctx)]);
    let (id2, v2) = build(&env, &["--build-arg", "V=2", s(&ctx)]);
    assert_eq!(
        only_status(&v2),
        vec![
            ("[stage-0 1/9] FROM busybox:latest", "CACHED"),
            ("[stage-0 2/9] COPY a.txt /a.txt", "CACHED"),
            ("[stage-0 3/9] RUN echo before > /before", "CACHED"),
            ("[stage-0 6/9] COPY b.txt /b.txt", "CACHED"),
            ("[stage-0 8/9] RUN echo plain > /plain", "DONE"),
            ("[stage-0 9/9] COPY c.txt /c.txt", "DONE"),
        ]
    );
    // (The image may still equal the first one: these steps do not write V anywhere.)
    // The same value again: all cached, the image of that build.
    let (id3, v3) = build(&env, &["--build-arg", "V=2", s(&ctx)]);
    assert!(v3.iter().all(|(_, st)| st == "CACHED"), "{v3:?}");
    assert_eq!(id3, id2);
    // Passing the default value explicitly is no change.
    let (id4, v4) = build(&env, &["--build-arg", "V=1", s(&ctx)]);
    assert!(v4.iter().all(|(_, st)| st == "CACHED"), "{v4:?}");
    assert_eq!(id4, id1);
    // A build arg no ARG declares reaches no step.
    let (id5, v5) = build(&env, &["--build-arg", "UNDECLARED=1", s(&ctx)]);
    assert!(v5.iter().all(|(_, st)| st == "CACHED"), "{v5:?}");
    assert_eq!(id5, id1);
    // An ARG used in a COPY's text misses there.
    let dockerfile2 = dockerfile.replace("COPY b.txt /b.txt", "COPY b.txt /b-$V.txt");
    write(&ctx.join("Dockerfile"), &dockerfile2);
    build(&env, &[s(&ctx)]);
    let (_, v6) = build(&env, &["--build-arg", "V=3", s(&ctx)]);
    assert_eq!(
        marks(&v6),
        vec!["CACHED", "CACHED", "CACHED", "DONE", "DONE", "DONE"],
        "{v6:?}"
    );
}

#[test]
fn env_and_base_image_changes_invalidate_what_follows() {
    let env = TestEnv::new();
    env.import_busybox("busybox:latest");
    let dockerfile = "FROM busybox:latest\n\
        COPY a.txt /a.txt\n\
        ENV MODE=one\n\
        RUN echo \"$MODE\" > /mode\n";
    let ctx = env.context("ctx", &[("Dockerfile", dockerfile), ("a.txt", "a")]);
    build(&env, &["-t", "app:1", s(&ctx)]);
    write(&ctx.join("Dockerfile"), &dockerfile.replace("one", "two"));
    let (_, v) = build(&env, &["-t", "app:2", s(&ctx)]);
    assert_eq!(marks(&v), vec!["CACHED", "CACHED", "DONE"], "{v:?}");
    let root = env.export("app:2", "root2");
    assert_eq!(
        std::fs::read_to_string(root.join("mode")).expect("mode"),
        "two\n"
    );
    // A different image under the same name: every step runs on the new base.
    let base = env.path().join("base");
    std::fs::create_dir_all(base.join("etc")).expect("mkdir");
    write(&base.join("etc/marker"), "new base\n");
    let tar = env.path().join("base.tar");
    support::run_ok(
        std::process::Command::new("tar")
            .arg("-C")
            .arg(env.export("busybox:latest", "bb"))
            .arg("-cf")
            .arg(&tar)
            .arg("."),
    );
    support::run_ok(
        std::process::Command::new("tar")
            .arg("-C")
            .arg(&base)
            .arg("-rf")
            .arg(&tar)
            .arg("etc/marker"),
    );
    env.ok(&["import", s(&tar), "busybox:latest"]);
    let (_, v) = build(&env, &["-t", "app:3", s(&ctx)]);
    assert_eq!(marks(&v), vec!["DONE", "DONE", "DONE"], "{v:?}");
    assert!(env.export("app:3", "root3").join("etc/marker").is_file());
}

const TWO_STAGES: &str = "FROM busybox:latest AS tools\n\
    COPY t.txt /t.txt\n\
    RUN cat /t.txt > /tool\n\
    FROM busybox:latest AS app\n\
    COPY a.txt /a.txt\n\
    COPY --from=tools /tool /tool\n\
    RUN cat /tool /a.txt > /out\n";

#[test]
fn no_cache_runs_everything_and_no_cache_filter_only_that_stage() {
    let env = TestEnv::new();
    env.import_busybox("busybox:latest");
    let ctx = env.context(
        "ctx",
        &[("Dockerfile", TWO_STAGES), ("t.txt", "t"), ("a.txt", "a")],
    );
    let (id1, _) = build(&env, &[s(&ctx)]);
    let (_, all) = build(&env, &["--no-cache", s(&ctx)]);
    assert!(
        all.iter()
            .filter(|(n, _)| !n.contains("FROM"))
            .all(|(_, st)| st == "DONE"),
        "{all:?}"
    );
    let (_, filtered) = build(&env, &["--no-cache-filter", "app", s(&ctx)]);
    let by_stage = |stage: &str| -> Vec<&str> {
        filtered
            .iter()
            .filter(|(n, _)| n.starts_with(&format!("[{stage} ")) && !n.contains("FROM"))
            .map(|(_, st)| st.as_str())
            .collect()
    };
    assert_eq!(by_stage("tools"), vec!["CACHED", "CACHED"], "{filtered:?}");
    assert_eq!(
        by_stage("app"),
        vec!["DONE", "DONE", "DONE"],
        "{filtered:?}"
    );
    // A change in the first stage reaches the COPY --from of the second.
    write(&ctx.join("t.txt"), "t2");
    // The stages run at the same time: their steps are numbered as they start.
    let (id2, v) = build(&env, &[s(&ctx)]);
    let mut statuses: Vec<_> = only_status(&v)
        .into_iter()
        .filter(|(n, _)| !n.contains("FROM"))
        .collect();
    statuses.sort();
    assert_eq!(
        statuses,
        vec![
            ("[app 2/4] COPY a.txt /a.txt", "CACHED"),
            ("[app 3/4] COPY --from=tools /tool /tool", "DONE"),
            ("[app 4/4] RUN cat /tool /a.txt > /out", "DONE"),
            ("[tools 2/3] COPY t.txt /t.txt", "DONE"),
            ("[tools 3/3] RUN cat /t.txt > /tool", "DONE"),
        ]
    );
    assert_ne!(id1, id2);
}

/// JSON progress events on standard error, every line parsed.
fn json_events(stderr: &[u8]) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(stderr)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l:?}")))
        .collect()
}

#[test]
fn independent_stages_overlap_and_unused_stages_are_not_built() {
    let env = TestEnv::new();
    env.import_busybox("busybox:latest");
    let dockerfile = "FROM busybox:latest AS left\n\
        RUN sleep 2 && echo left > /left\n\
        FROM busybox:latest AS right\n\
        RUN sleep 2 && echo right > /right\n\
        FROM busybox:latest AS unused\n\
        RUN exit 1\n\
        FROM busybox:latest\n\
        COPY --from=left /left /left\n\
        COPY --from=right /right /right\n";
    let ctx = env.context("ctx", &[("Dockerfile", dockerfile)]);
    let out = env.run(&[
        "build",
        "--progress",
        "json",
        "--jobs",
        "2",
        "-t",
        "par:1",
        s(&ctx),
    ]);
    assert!(out.status.success(), "{}", support::show(&out));
    let events = json_events(&out.stderr);
    for e in &events {
        for field in ["time", "elapsed_ms", "step", "stage", "name", "event"] {
            assert!(e.get(field).is_some(), "{field} missing in {e}");
        }
    }
    let pos = |stage: &str, event: &str| {
        events
            .iter()
            .position(|e| {
                e["stage"] == stage
                    && e["event"] == event
                    && e["name"].as_str().is_some_and(|n| n.contains("RUN sleep"))
            })
            .unwrap_or_else(|| panic!("no {event} of {stage}'s RUN in {events:#?}"))
    };
    // Both sleeps started before either finished: they ran at the same time.
    assert!(pos("left", "start") < pos("right", "done"));
    assert!(pos("right", "start") < pos("left", "done"));
    assert!(
        !events.iter().any(|e| e["stage"] == "unused"),
        "the unused stage was built"
    );
    let root = env.export("par:1", "root");
    assert!(root.join("left").is_file() && root.join("right").is_file());
    // With one job the stages run one after the other.
    let out = env.run(&[
        "build",
        "--progress",
        "json",
        "--jobs",
        "1",
        "--no-cache",
        s(&ctx),
    ]);
    assert!(out.status.success(), "{}", support::show(&out));
    let events = json_events(&out.stderr);
    let starts: Vec<usize> = ["left", "right"]
        .iter()
        .map(|st| {
            events
                .iter()
                .position(|e| e["stage"] == *st && e["event"] == "start")
                .expect("start")
        })
        .collect();
    let left_done = events
        .iter()
        .position(|e| {
            e["stage"] == "left"
                && e["event"] == "done"
                && e["name"].as_str().is_some_and(|n| n.contains("RUN"))
        })
        .expect("left done");
    assert!(
        starts[0] < left_done && left_done < starts[1],
        "{events:#?}"
    );
}

#[test]
fn iidfile_metadata_file_and_quiet_progress() {
    let env = TestEnv::new();
    env.import_busybox("busybox:latest");
    let ctx = env.context(
        "ctx",
        &[("Dockerfile", SIMPLE), ("a.txt", "a"), ("b.txt", "b")],
    );
    let iid = env.path().join("iid");
    let meta = env.path().join("meta.json");
    let out = env.run(&[
        "build",
        "--progress",
        "quiet",
        "-t",
        "m:1",
        "-t",
        "m:2",
        "--iidfile",
        s(&iid),
        "--metadata-file",
        s(&meta),
        s(&ctx),
    ]);
    assert!(out.status.success(), "{}", support::show(&out));
    assert!(out.stderr.is_empty(), "quiet: {}", support::show(&out));
    let id = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(id.starts_with("sha256:") && id.len() == 71, "{id:?}");
    assert_eq!(std::fs::read_to_string(&iid).expect("iidfile"), id);
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&meta).expect("metadata file")).expect("JSON");
    let inspect = env.inspect("m:1");
    assert_eq!(m["containerimage.config.digest"], inspect["Id"]);
    assert_eq!(
        m["containerimage.config.digest"].as_str(),
        Some(id.as_str())
    );
    assert_eq!(m["containerimage.digest"], inspect["Digest"]);
    assert_eq!(
        m["image.name"],
        "docker.io/library/m:1,docker.io/library/m:2"
    );
    assert_eq!(m["containerimage.descriptor"]["digest"], inspect["Digest"]);
}

#[test]
fn failing_step_is_reported_and_not_cached() {
    let env = TestEnv::new();
    env.import_busybox("busybox:latest");
    let ctx = env.context(
        "ctx",
        &[(
            "Dockerfile",
            "FROM busybox:latest\nRUN echo out && test -f /flag\n",
        )],
    );
    let out = env.run(&["build", "--progress", "plain", s(&ctx)]);
    // A failed RUN exits 4 (step failed; 1 before exit codes were split by kind).
    assert_eq!(out.status.code(), Some(4), "{}", support::show(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    // Output lines carry the step number and the seconds since the step started.
    assert!(
        stderr.lines().any(|l| {
            let mut f = l.splitn(3, ' ');
            f.next() == Some("#2")
                && f.next().is_some_and(|t| t.parse::<f64>().is_ok())
                && f.next() == Some("out")
        }),
        "{stderr}"
    );
    assert!(stderr.contains("#2 ERROR: "), "{stderr}");
    // The failure left no record: the next build runs the step again.
    let out = env.run(&["build", "--progress", "plain", s(&ctx)]);
    let st = statuses(&String::from_utf8_lossy(&out.stderr));
    assert_eq!(st.last().map(|(_, s)| s.as_str()), Some("ERROR"), "{st:?}");
}

/// ADD never downloads from the host's own addresses under the default network; the test
/// server is on 127.0.0.1, so these builds are given the host's network, which lets them.
const HOST_NETWORK: &[&str] = &["--network", "host", "--allow", "network.host"];

/// An HTTP/1.0 server on 127.0.0.1 serving the file `path` (read at each request) with a
/// fixed Last-Modified; returns its URL and a counter of the requests it answered.
fn serve_file(
    path: std::path::PathBuf,
) -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::io::{BufRead, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    let url = format!(
        "http://{}/file.txt",
        listener.local_addr().expect("address")
    );
    let count = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = count.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let Ok(clone) = stream.try_clone() else {
                continue;
            };
            let mut reader = std::io::BufReader::new(clone);
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 0) && line.trim() != "" {
                line.clear();
            }
            let body = std::fs::read(&path).unwrap_or_default();
            counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let _ = stream.write_all(
                format!(
                    "HTTP/1.0 200 OK\r\nContent-Length: {}\r\nLast-Modified: Wed, 21 Oct 2015 07:28:00 GMT\r\nConnection: close\r\n\r\n",
                    body.len()
                )
                .as_bytes(),
            );
            let _ = stream.write_all(&body);
        }
    });
    (url, count)
}

#[test]
fn add_url_is_fetched_every_build_and_what_follows_is_reused_when_it_is_the_same() {
    let env = TestEnv::new();
    env.import_busybox("busybox:latest");
    let served = env.path().join("served.txt");
    write(&served, "one\n");
    let (url, requests) = serve_file(served.clone());
    let dockerfile = format!("FROM busybox:latest\nADD {url} /f.txt\nRUN cat /f.txt > /copy\n");
    let ctx = env.context("ctx", &[("Dockerfile", &dockerfile)]);
    let fetched = || requests.load(std::sync::atomic::Ordering::SeqCst);
    let (id1, _) = build(&env, &[HOST_NETWORK, &[s(&ctx)]].concat());
    assert_eq!(fetched(), 1);
    let (id2, v) = build(&env, &[HOST_NETWORK, &[s(&ctx)]].concat());
    assert_eq!(
        fetched(),
        2,
        "ADD of a URL without --checksum is fetched again"
    );
    assert_eq!(
        marks(&v),
        vec!["CACHED", "DONE", "CACHED"],
        "the same download keeps the steps after it: {v:?}"
    );
    assert_eq!(id1, id2);
    write(&served, "two\n");
    let (_, v) = build(&env, &[HOST_NETWORK, &["-t", "url:2", s(&ctx)]].concat());
    assert_eq!(marks(&v), vec!["CACHED", "DONE", "DONE"], "{v:?}");
    assert_eq!(
        std::fs::read_to_string(env.export("url:2", "root2").join("copy")).expect("copy"),
        "two\n"
    );
    // With --checksum the checksum is the key: no fetch when it is cached.
    let sum = support::sha256_hex(b"two\n");
    write(
        &ctx.join("Dockerfile"),
        &format!("FROM busybox:latest\nADD --checksum=sha256:{sum} {url} /f.txt\n"),
    );
    build(&env, &[HOST_NETWORK, &[s(&ctx)]].concat());
    let before = fetched();
    let (_, v) = build(&env, &[HOST_NETWORK, &[s(&ctx)]].concat());
    assert!(v.iter().all(|(_, st)| st == "CACHED"), "{v:?}");
    assert_eq!(fetched(), before, "a cached ADD --checksum fetches nothing");
}

#[test]
fn tty_progress_on_a_terminal_shows_steps_cached_markers_and_the_summary() {
    let env = TestEnv::new();
    env.import_busybox("busybox:latest");
    let ctx = env.context(
        "ctx",
        &[(
            "Dockerfile",
            "FROM busybox:latest\nRUN x=out; echo \"line-$x\" && sleep 1\n",
        )],
    );
    // `script` gives kiln a terminal as standard error.
    let script = support::tool("script", "bsdutils");
    let run = || {
        let cmd = format!(
            "{} --root {} build --progress tty {}",
            support::kiln_bin().display(),
            env.store().display(),
            ctx.display()
        );
        let out = std::process::Command::new(&script)
            .args(["-qec", &cmd, "/dev/null"])
            .env_remove("KILN_ROOT")
            .env("TERM", "xterm")
            .env("COLUMNS", "120")
            .stdin(std::process::Stdio::null())
            .output()
            .expect("run script");
        assert!(out.status.success(), "{}", support::show(&out));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let first = run();
    assert!(first.contains("[stage-0 2/2] RUN x=out;"), "{first}");
    assert!(
        first.contains("line-out"),
        "the running step shows its output: {first}"
    );
    assert!(
        first.contains("Build finished in") && first.contains("0 cached, 2 run"),
        "{first}"
    );
    let second = run();
    assert!(second.contains("CACHED"), "{second}");
    assert!(second.contains("2 cached, 0 run"), "{second}");
}

/// What a bind mount shows is part of the step's key (as in BuildKit): a changed file under
/// the mount's source runs the step again; a changed secret or a file outside the source
/// does not.
#[test]
fn bind_mount_sources_are_inputs_of_the_step_and_secrets_are_not() {
    let env = TestEnv::new();
    env.import_busybox("busybox:latest");
    let ctx = env.context(
        "ctx",
        &[
            (
                "Dockerfile",
                "FROM busybox:latest\n\
                 RUN --mount=type=bind,source=src,target=/src \
                     --mount=type=secret,id=token \
                     cat /src/a.txt > /seen\n\
                 RUN echo after > /after\n",
            ),
            ("src/a.txt", "one\n"),
            ("other.txt", "x\n"),
        ],
    );
    let secret = env.path().join("token");
    write(&secret, "s1");
    let secret_flag = format!("id=token,src={}", secret.display());
    let (first, v) = build(&env, &["--secret", &secret_flag, s(&ctx)]);
    assert_eq!(marks(&v)[1..], ["DONE", "DONE"], "{v:?}");

    // A file outside the mount's source, and the secret's value: still cached.
    write(&ctx.join("other.txt"), "y\n");
    write(&secret, "s2");
    let (id, v) = build(&env, &["--secret", &secret_flag, s(&ctx)]);
    assert_eq!(marks(&v)[1..], ["CACHED", "CACHED"], "{v:?}");
    assert_eq!(id, first);

    // A file the mount shows: that step and the ones after it run again.
    write(&ctx.join("src/a.txt"), "two\n");
    let (_, v) = build(&env, &["--secret", &secret_flag, "-t", "bind:2", s(&ctx)]);
    assert_eq!(marks(&v)[1..], ["DONE", "DONE"], "{v:?}");
    let root = env.export("bind:2", "root-bind");
    assert_eq!(
        std::fs::read_to_string(root.join("seen")).expect("seen"),
        "two\n"
    );
}

/// A stage's steps before its `COPY --from` run while the stage it copies from still runs
/// (as in BuildKit); the copy waits for it. With one job they cannot overlap (control).
/// When the source stage fails, its error is the build's.
#[test]
fn a_stage_runs_its_early_steps_while_the_stage_it_copies_from_runs() {
    let env = TestEnv::new();
    env.import_busybox("busybox:latest");
    let dockerfile = "FROM busybox:latest AS long\n\
        RUN sleep 2 && echo long > /long\n\
        FROM busybox:latest\n\
        RUN echo early > /early\n\
        COPY --from=long /long /long\n\
        RUN cat /long /early > /both\n";
    let ctx = env.context("ctx", &[("Dockerfile", dockerfile)]);
    for (jobs, overlap) in [("2", true), ("1", false)] {
        let out = env.run(&[
            "build",
            "--progress",
            "json",
            "--no-cache",
            "--jobs",
            jobs,
            "-t",
            "early:1",
            s(&ctx),
        ]);
        assert!(out.status.success(), "{}", support::show(&out));
        let events = json_events(&out.stderr);
        let done = |what: &str| {
            events
                .iter()
                .position(|e| {
                    e["event"] == "done" && e["name"].as_str().is_some_and(|n| n.contains(what))
                })
                .unwrap_or_else(|| panic!("no done of {what} in {events:#?}"))
        };
        assert_eq!(
            done("RUN echo early") < done("RUN sleep 2"),
            overlap,
            "jobs {jobs}: {events:#?}"
        );
        assert!(
            done("RUN sleep 2") < done("COPY --from=long"),
            "{events:#?}"
        );
        let root = env.export("early:1", &format!("root{jobs}"));
        assert_eq!(
            std::fs::read_to_string(root.join("both")).expect("both"),
            "long\nearly\n"
        );
    }
    let failing = dockerfile.replace("sleep 2 && echo long > /long", "sleep 1; exit 3");
    let ctx = env.context("ctx-fail", &[("Dockerfile", &failing)]);
    let out = env.run(&["build", "--progress", "plain", "--jobs", "2", s(&ctx)]);
    support::assert_fails(&out, 4, &["RUN [long 2/2] failed with exit code 3"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("error: stage long, which"), "{stderr}");
}

/// `COPY --from` and `RUN --mount from=` are keyed on the files they read from the stage,
/// as in BuildKit: a change elsewhere in that stage keeps them cached; a change of those
/// files runs them again (control).
#[test]
fn copy_and_mount_from_a_stage_are_keyed_on_the_files_they_read() {
    let env = TestEnv::new();
    env.import_busybox("busybox:latest");
    let dockerfile = "FROM busybox:latest AS build\n\
        COPY dep.txt /dep.txt\n\
        RUN mkdir /wheels && cat /dep.txt > /wheels/dep.whl\n\
        COPY app.txt /app.txt\n\
        FROM busybox:latest\n\
        COPY --from=build /wheels /wheels\n\
        RUN cat /wheels/dep.whl > /installed\n\
        RUN --mount=type=bind,from=build,source=/wheels,target=/w cat /w/dep.whl > /mounted\n\
        COPY --from=build /app.txt /app.txt\n";
    let ctx = env.context(
        "ctx",
        &[
            ("Dockerfile", dockerfile),
            ("dep.txt", "dep 1\n"),
            ("app.txt", "app 1\n"),
        ],
    );
    let status_of = |v: &[(String, String)], what: &str| -> String {
        v.iter()
            .find(|(n, _)| n.contains(what))
            .map(|(_, st)| st.clone())
            .unwrap_or_else(|| panic!("no {what} in {v:?}"))
    };
    build(&env, &["-t", "keyed:1", s(&ctx)]);
    // The app file changes: the wheels do not.
    write(&ctx.join("app.txt"), "app 2\n");
    let (_, v) = build(&env, &["-t", "keyed:2", s(&ctx)]);
    assert_eq!(status_of(&v, "COPY app.txt"), "DONE", "{v:?}");
    assert_eq!(
        status_of(&v, "COPY --from=build /wheels"),
        "CACHED",
        "{v:?}"
    );
    assert_eq!(status_of(&v, "RUN cat /wheels"), "CACHED", "{v:?}");
    assert_eq!(status_of(&v, "RUN --mount"), "CACHED", "{v:?}");
    assert_eq!(status_of(&v, "COPY --from=build /app.txt"), "DONE", "{v:?}");
    let root = env.export("keyed:2", "root2");
    assert_eq!(
        std::fs::read_to_string(root.join("app.txt")).expect("app"),
        "app 2\n"
    );
    // The wheels change: every step that reads them runs again.
    write(&ctx.join("dep.txt"), "dep 2\n");
    let (_, v) = build(&env, &["-t", "keyed:3", s(&ctx)]);
    for step in [
        "COPY --from=build /wheels",
        "RUN cat /wheels",
        "RUN --mount",
    ] {
        assert_eq!(status_of(&v, step), "DONE", "{step}: {v:?}");
    }
    let root = env.export("keyed:3", "root3");
    for f in ["installed", "mounted"] {
        assert_eq!(
            std::fs::read_to_string(root.join(f)).expect(f),
            "dep 2\n",
            "{f}"
        );
    }
}
