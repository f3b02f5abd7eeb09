//! Hostile `RUN --mount` options: sources and ids that climb out with `..`, symlinks in a
//! stage, image or context that point at the host (the CVE-2024-1753 pattern), and a
//! cache whose directory is swapped for a symlink by another step (the CVE-2024-23651
//! pattern). Each test aims at a sentinel directory of the test's own and shows it
//! unchanged.

mod support;

use std::process::Stdio;
use support::{assert_fails, s, show, snapshot, write_tar, TarEntry, TestEnv};

fn assert_sentinel_untouched(
    env: &TestEnv,
    before: &std::collections::BTreeMap<std::path::PathBuf, support::Seen>,
) {
    let sentinel = env.path().join("sentinel");
    support::assert_unchanged("the sentinel", before, &snapshot(&sentinel, &[]));
    assert_eq!(
        std::fs::read_to_string(sentinel.join("secret")).expect("sentinel"),
        "sentinel\n"
    );
}

type Snapshot = std::collections::BTreeMap<std::path::PathBuf, support::Seen>;

/// A test env with the busybox base and a sentinel: the env, the sentinel's snapshot and
/// its host path.
fn with_sentinel() -> (TestEnv, Snapshot, String) {
    let env = TestEnv::new();
    env.import_busybox("busybox:test");
    let sentinel = env.sentinel();
    let before = snapshot(&sentinel, &[]);
    let host = sentinel.display().to_string();
    (env, before, host)
}

#[test]
fn bind_source_climbing_out_of_the_context_is_refused() {
    let env = TestEnv::new();
    env.import_busybox("busybox:test");
    let ctx = env.context(
        "ctx",
        &[(
            "Dockerfile",
            "FROM busybox:test\nRUN --mount=type=bind,source=../sentinel,target=/x cat /x/secret\n",
        )],
    );
    env.sentinel();
    let out = env.run(&["build", s(&ctx)]);
    assert_fails(
        &out,
        1,
        &[
            "source \"../sentinel\" climbs out of the build context with `..`",
            "Dockerfile:2:13",
            "give a path inside it",
        ],
    );
    assert!(!String::from_utf8_lossy(&out.stderr).contains("sentinel\n"));
}

#[test]
fn cache_source_climbing_out_of_the_cache_is_refused() {
    let env = TestEnv::new();
    env.import_busybox("busybox:test");
    let ctx = env.context(
        "ctx",
        &[(
            "Dockerfile",
            "FROM busybox:test\nRUN --mount=type=cache,target=/c,source=../../../ ls /c\n",
        )],
    );
    let out = env.run(&["build", s(&ctx)]);
    assert_fails(
        &out,
        1,
        &[
            "source \"../../../\" climbs out of the cache with `..`",
            "Dockerfile:2:13",
        ],
    );
}

#[test]
fn ids_with_dotdot_are_refused() {
    let env = TestEnv::new();
    env.import_busybox("busybox:test");
    for mount in [
        "type=secret,id=../../etc/shadow",
        "type=cache,id=../../../etc,target=/c",
        "type=ssh,id=../agent",
    ] {
        let ctx = env.context(
            &format!("ctx-{}", mount.len()),
            &[(
                "Dockerfile",
                &format!("FROM busybox:test\nRUN --mount={mount} true\n"),
            )],
        );
        let out = env.run(&["build", s(&ctx)]);
        assert_fails(&out, 1, &["holds `..`", "give a plain name as id"]);
    }
    let ctx = env.context("ctx", &[("Dockerfile", "FROM busybox:test\nRUN true\n")]);
    let out = env.run(&["build", "--secret", "id=../x,src=/etc/hostname", s(&ctx)]);
    assert_fails(&out, 2, &["--secret: id \"../x\" holds `..`"]);
}

#[test]
fn symlink_in_a_stage_pointing_at_the_host_is_resolved_inside_the_stage() {
    let (env, before, host) = with_sentinel();
    let dockerfile = format!(
        "FROM busybox:test AS base\n\
         RUN /bin/busybox mkdir -p /data {host} && echo decoy > {host}/secret && /bin/busybox ln -s {host} /data/abs && /bin/busybox ln -s ../../../../../../../../../..{host} /data/climb && /bin/busybox ln -s {host} /data/missing-in-stage\n\
         RUN /bin/busybox rm -r {host}\n\
         FROM busybox:test AS decoy\n\
         RUN /bin/busybox mkdir -p /data {host} && echo decoy > {host}/secret && /bin/busybox ln -s {host} /data/abs && /bin/busybox ln -s ../../../../../../../../../..{host} /data/climb\n\
         FROM busybox:test\n\
         RUN --mount=type=bind,from=decoy,source=/data/abs,target=/x,rw sh -c 'cat /x/secret > /abs; echo pwned > /x/secret; echo pwned > /x/new'\n\
         RUN --mount=type=bind,from=decoy,source=/data/climb,target=/x,rw sh -c 'cat /x/secret > /climb; echo pwned > /x/secret'\n\
         RUN --mount=type=bind,from=decoy,source=/data,target=/x sh -c 'cat /x/abs/secret > /through 2>&1 || echo none > /through'\n"
    );
    let ctx = env.context("ctx", &[("Dockerfile", &dockerfile)]);
    env.ok(&["build", "-q", "-t", "esc:1", s(&ctx)]);
    let root = env.export("esc:1", "root");
    for f in ["abs", "climb"] {
        assert_eq!(
            std::fs::read_to_string(root.join(f)).expect("read"),
            "decoy\n",
            "/data/{f} resolved inside the stage"
        );
    }
    assert_ne!(
        std::fs::read_to_string(root.join("through")).expect("read"),
        "sentinel\n"
    );
    assert_sentinel_untouched(&env, &before);

    // A link whose target exists only on the host: refused, with the stage named.
    let dockerfile = format!(
        "FROM busybox:test AS base\n\
         RUN /bin/busybox mkdir /data && /bin/busybox ln -s {host} /data/link\n\
         FROM busybox:test\n\
         RUN --mount=type=bind,from=base,source=/data/link,target=/x,rw sh -c 'cat /x/secret; echo pwned > /x/secret'\n"
    );
    let ctx = env.context("ctx2", &[("Dockerfile", &dockerfile)]);
    let out = env.run(&["build", s(&ctx)]);
    assert_fails(
        &out,
        1,
        &["source \"/data/link\" in stage base", "Dockerfile:4:13"],
    );
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("sentinel\n"),
        "{}",
        show(&out)
    );
    assert_sentinel_untouched(&env, &before);
}

#[test]
fn symlinks_in_an_image_or_the_context_pointing_at_the_host_do_not_reach_it() {
    let (env, before, host) = with_sentinel();
    let tar = env.path().join("links.tar");
    write_tar(
        &tar,
        &[
            TarEntry::symlink("abs", &host),
            TarEntry::symlink("climb", &format!("../../../../../../../..{host}")),
        ],
    );
    env.ok(&["import", s(&tar), "links:1"]);
    let ctx = env.context("ctx", &[]);
    std::os::unix::fs::symlink(&host, ctx.join("out")).expect("symlink");
    for (i, mount) in [
        "type=bind,from=links:1,source=abs,target=/x,rw",
        "type=bind,from=links:1,source=climb,target=/x,rw",
        "type=bind,source=out,target=/x,rw",
    ]
    .iter()
    .enumerate()
    {
        std::fs::write(
            ctx.join("Dockerfile"),
            format!("FROM busybox:test\nRUN --mount={mount} sh -c 'cat /x/secret; echo pwned > /x/secret'\n"),
        )
        .expect("Dockerfile");
        let out = env.run(&["build", s(&ctx)]);
        assert_fails(
            &out,
            1,
            &["RUN --mount=type=bind: source", "Dockerfile:2:13"],
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("sentinel\n"), "case {i}: {}", show(&out));
    }
    assert_sentinel_untouched(&env, &before);
}

#[test]
fn cache_directory_swapped_for_a_symlink_stays_inside_the_cache() {
    let (env, before, host) = with_sentinel();
    // A first build leaves a symlink to the host's sentinel in the cache.
    let plant = env.context(
        "plant",
        &[("Dockerfile", &format!("FROM busybox:test\nRUN --mount=type=cache,id=c,target=/c /bin/busybox ln -s {host} /c/sub\n"))],
    );
    env.ok(&["build", "-q", s(&plant)]);
    let use_it = env.context(
        "use",
        &[("Dockerfile", "FROM busybox:test\nRUN --mount=type=cache,id=c,source=sub,target=/x sh -c 'cat /x/secret 2>/dev/null > /seen; echo pwned > /x/secret; echo pwned > /x/owned'\n")],
    );
    env.ok(&["build", "-q", "-t", "use:1", s(&use_it)]);
    let root = env.export("use:1", "root");
    assert_eq!(
        std::fs::read_to_string(root.join("seen")).expect("seen"),
        ""
    );
    assert_sentinel_untouched(&env, &before);

    // Concurrently: one build keeps swapping the directory and the link while another
    // mounts the sub-directory; the mount is resolved under the cache's exclusive lock.
    let swap = env.context(
        "swap",
        &[("Dockerfile", &format!(
            "FROM busybox:test\nRUN --mount=type=cache,id=c,target=/c sh -c 'i=0; while [ $i -lt 300 ]; do /bin/busybox rm -rf /c/sub; /bin/busybox mkdir /c/sub; /bin/busybox rm -rf /c/sub; /bin/busybox ln -s {host} /c/sub; i=$((i+1)); done'\n"
        ))],
    );
    let spawn = |ctx: &std::path::Path| {
        env.kiln()
            .args(["build", "-q", s(ctx)])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn kiln")
    };
    let children = [spawn(&swap), spawn(&use_it), spawn(&use_it)];
    for child in children {
        let out = child.wait_with_output().expect("wait");
        assert!(out.status.success(), "{}", show(&out));
    }
    assert_sentinel_untouched(&env, &before);
}

#[test]
fn mount_target_through_a_symlink_to_the_host_stays_in_the_root() {
    let (env, before, host) = with_sentinel();
    // A link to a directory the image does not have: refused, nothing mounted on the host.
    let dockerfile = format!(
        "FROM busybox:test\n\
         RUN /bin/busybox ln -s {host} /evil\n\
         RUN --mount=type=tmpfs,target=/evil sh -c 'echo pwned > /evil/secret'\n"
    );
    let ctx = env.context("ctx", &[("Dockerfile", &dockerfile)]);
    let out = env.run(&["build", s(&ctx)]);
    // The engine's kind for a mount the isolation cannot set up is Io: exit 3 (1 before the
    // exit code came from the error's kind).
    assert_fails(&out, 3, &["dangling symlink", "Dockerfile:3:1"]);
    assert_sentinel_untouched(&env, &before);
    // A link to a directory the image has: the mount lands there, inside the root.
    let dockerfile = "FROM busybox:test\n\
         RUN /bin/busybox ln -s /tmp /lnk\n\
         RUN --mount=type=tmpfs,target=/lnk sh -c 'echo x > /tmp/in-tmpfs; /bin/busybox grep -c \" /tmp tmpfs\" /proc/mounts > /count'\n";
    let ctx = env.context("ctx2", &[("Dockerfile", dockerfile)]);
    env.ok(&["build", "-q", "-t", "lnk:1", s(&ctx)]);
    let root = env.export("lnk:1", "root");
    assert_eq!(
        std::fs::read_to_string(root.join("count")).expect("count"),
        "1\n"
    );
    assert!(
        !root.join("tmp/in-tmpfs").exists(),
        "the write went to the tmpfs"
    );
    assert_sentinel_untouched(&env, &before);
}
