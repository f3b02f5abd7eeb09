//! Reproducible builds: identical inputs give byte-identical layers, and with
//! SOURCE_DATE_EPOCH (environment or --source-date-epoch) the same image digest, in
//! another store, from a copy of the context with other timestamps, at another time.

mod support;

use std::path::Path;
use support::{s, TestEnv};

const DOCKERFILE: &str = "FROM busybox:test
ARG VERSION=1
LABEL version=$VERSION
WORKDIR /srv
COPY . /srv/
COPY <<EOF /srv/generated.txt
made at build time
EOF
ADD archive.tar /opt/
ENV PATH=/srv/bin:$PATH
CMD [\"cat\", \"/srv/a.txt\"]
";

/// A context with files, a subdirectory, a symlink, a hard link and a tar to ADD.
fn make_context(env: &TestEnv, name: &str) -> std::path::PathBuf {
    let ctx = env.context(
        name,
        &[
            ("Dockerfile", DOCKERFILE),
            ("a.txt", "a\n"),
            ("bin/tool", "#!/bin/sh\necho tool\n"),
            ("deep/er/b.txt", "b\n"),
        ],
    );
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(ctx.join("bin/tool"), std::fs::Permissions::from_mode(0o755))
        .expect("chmod");
    std::os::unix::fs::symlink("a.txt", ctx.join("link")).expect("symlink");
    std::fs::hard_link(ctx.join("a.txt"), ctx.join("hard")).expect("hard link");
    support::write_tar(
        &ctx.join("archive.tar"),
        &[
            support::TarEntry::dir("pkg/"),
            support::TarEntry::file("pkg/data", "data\n").owned(1000, 1000),
        ],
    );
    ctx
}

/// Give every file under `dir` a different mtime (as a fresh checkout would).
fn touch_all(dir: &Path, secs: i64) {
    for e in support::snapshot(dir, &[]).keys() {
        let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs as u64);
        if std::fs::symlink_metadata(e).expect("stat").is_symlink() {
            continue;
        }
        let f = std::fs::File::options().read(true).open(e);
        if let Ok(f) = f {
            let _ = f.set_modified(t);
        }
    }
}

fn build(env: &TestEnv, ctx: &Path, extra: &[&str], envs: &[(&str, &str)]) -> (String, String) {
    let mut args = vec!["build", "-q", "-t", "repro:1"];
    args.extend_from_slice(extra);
    args.push(s(ctx));
    let out = env.run_env(&args, envs);
    assert!(out.status.success(), "{}", support::show(&out));
    let i = env.inspect("repro:1");
    (
        i["Digest"].as_str().expect("Digest").to_string(),
        i["Id"].as_str().expect("Id").to_string(),
    )
}

fn import_at_epoch(env: &TestEnv) {
    let tar = support::busybox_tarball();
    let out = env.run_env(
        &["import", s(&tar), "busybox:test"],
        &[("SOURCE_DATE_EPOCH", "0")],
    );
    assert!(out.status.success(), "{}", support::show(&out));
}

#[test]
fn same_context_with_source_date_epoch_gives_the_same_digest() {
    let env = TestEnv::new();
    import_at_epoch(&env);
    let ctx = make_context(&env, "ctx");
    let epoch0 = [("SOURCE_DATE_EPOCH", "0")];
    let (m1, id1) = build(&env, &ctx, &[], &epoch0);
    // Later, with every timestamp in the context changed.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    touch_all(&ctx, 1_500_000_000);
    let (m2, id2) = build(&env, &ctx, &[], &epoch0);
    assert_eq!(m1, m2, "manifest digests differ between two builds");
    assert_eq!(id1, id2);
    // The flag is the same as the variable, and wins over it.
    let (m3, _) = build(&env, &ctx, &["--source-date-epoch", "0"], &[]);
    assert_eq!(
        m1, m3,
        "--source-date-epoch 0 differs from SOURCE_DATE_EPOCH=0"
    );
    let (m4, _) = build(
        &env,
        &ctx,
        &["--source-date-epoch", "0"],
        &[("SOURCE_DATE_EPOCH", "12345")],
    );
    assert_eq!(m1, m4, "--source-date-epoch should win over the variable");

    // A second store, base imported there, a copy of the context made later: same digest.
    let other = TestEnv::new();
    import_at_epoch(&other);
    let copy = make_context(&other, "elsewhere");
    touch_all(&copy, 1_600_000_000);
    let (m5, _) = build(&other, &copy, &[], &epoch0);
    assert_eq!(m1, m5, "another store and context copy give another digest");

    // The config says 1970 everywhere.
    let i = env.inspect("repro:1");
    assert_eq!(i["Created"], "1970-01-01T00:00:00Z");
    // Outputs are byte-identical too.
    let outs = |e: &TestEnv, ctx: &Path, tag: &str| -> Vec<Vec<u8>> {
        let oci = e.path().join(format!("{tag}.oci.tar"));
        let docker = e.path().join(format!("{tag}.docker.tar"));
        build(
            e,
            ctx,
            &[
                "-o",
                &format!("type=oci-archive,dest={}", s(&oci)),
                "-o",
                &format!("type=docker-archive,dest={}", s(&docker)),
            ],
            &epoch0,
        );
        vec![
            std::fs::read(oci).expect("oci"),
            std::fs::read(docker).expect("docker"),
        ]
    };
    assert!(
        outs(&env, &ctx, "one") == outs(&other, &copy, "two"),
        "oci-archive or docker-archive outputs differ"
    );
}

#[test]
fn a_different_epoch_or_input_changes_the_digest() {
    let env = TestEnv::new();
    import_at_epoch(&env);
    let ctx = make_context(&env, "ctx");
    let (m0, _) = build(&env, &ctx, &[], &[("SOURCE_DATE_EPOCH", "0")]);
    let (m1, _) = build(&env, &ctx, &[], &[("SOURCE_DATE_EPOCH", "1")]);
    assert_ne!(m0, m1, "the epoch must be in the image");
    let (m2, _) = build(
        &env,
        &ctx,
        &["--build-arg", "VERSION=2"],
        &[("SOURCE_DATE_EPOCH", "0")],
    );
    assert_ne!(m0, m2);
    std::fs::write(ctx.join("a.txt"), "A\n").expect("write");
    let (m3, _) = build(&env, &ctx, &[], &[("SOURCE_DATE_EPOCH", "0")]);
    assert_ne!(m0, m3);
    // A bad value is refused, not ignored.
    let out = env.run_env(&["build", s(&ctx)], &[("SOURCE_DATE_EPOCH", "yesterday")]);
    support::assert_fails(
        &out,
        2,
        &["SOURCE_DATE_EPOCH=\"yesterday\"", "whole number"],
    );
}

/// mtime (seconds) of `name` in a tar, from GNU tar's `--full-time` listing.
fn tar_mtime(tar: &Path, name: &str) -> String {
    let out = support::run_ok(
        std::process::Command::new("tar")
            .args(["--full-time", "--utc", "-tvf"])
            .arg(tar)
            .arg(name),
    );
    let f: Vec<&str> = out.split_whitespace().collect();
    format!("{} {}", f[3], f[4])
}

#[test]
fn the_epoch_clamps_times_and_files_keep_older_ones() {
    let env = TestEnv::new();
    import_at_epoch(&env);
    let ctx = env.context(
        "ctx",
        &[
            (
                "Dockerfile",
                "FROM busybox:test\nCOPY old.txt new.txt /files/\n",
            ),
            ("old.txt", "o\n"),
            ("new.txt", "n\n"),
        ],
    );
    let at = |p: &str, secs: u64| {
        std::fs::File::options()
            .write(true)
            .open(ctx.join(p))
            .expect("open")
            .set_modified(std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs))
            .expect("set mtime");
    };
    at("old.txt", 1_000_000_000); // 2001-09-09T01:46:40Z
    at("new.txt", 1_700_000_000); // 2023-11-14T22:13:20Z
                                  // Epoch between the two: the newer file is clamped, the older keeps its time.
    let (_, _) = build(&env, &ctx, &["--source-date-epoch", "1500000000"], &[]);
    let i = env.inspect("repro:1");
    assert_eq!(i["Created"], "2017-07-14T02:40:00Z");
    let out = env.path().join("img.tar");
    env.ok(&["export", "repro:1", "-o", s(&out)]);
    assert_eq!(tar_mtime(&out, "files/old.txt"), "2001-09-09 01:46:40");
    assert_eq!(tar_mtime(&out, "files/new.txt"), "2017-07-14 02:40:00");
    assert_eq!(tar_mtime(&out, "files/"), "2017-07-14 02:40:00");
    // Without an epoch the files keep their own times.
    build(&env, &ctx, &[], &[]);
    std::fs::remove_file(&out).expect("rm");
    env.ok(&["export", "repro:1", "-o", s(&out)]);
    assert_eq!(tar_mtime(&out, "files/old.txt"), "2001-09-09 01:46:40");
    assert_eq!(tar_mtime(&out, "files/new.txt"), "2023-11-14 22:13:20");
}
