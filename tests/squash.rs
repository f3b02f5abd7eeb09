//! `kiln build --squash` / `--squash-all` and `kiln squash`: the squashed image's root
//! filesystem equals the unsquashed one's, with one new layer; reproducible under
//! SOURCE_DATE_EPOCH; usage errors exit 2.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use support::{assert_fails, TestEnv};

/// A base with two layers (busybox, then a RUN writing /data), and an app on it that
/// deletes a base file, empties and re-creates a base directory (opaque), copies a file,
/// and makes a setuid file hard-linked to a file with another owner.
fn build_images(env: &TestEnv, extra: &[&str], name: &str) {
    env.import_busybox("busybox:1");
    let base = env.context(
        "base",
        &[(
            "Dockerfile",
            "FROM busybox:1\nRUN mkdir -p /data/keep /data/wipe && echo a > /data/wipe/1 && \
             echo b > /data/wipe/2 && echo x > /data/gone && echo k > /data/keep/k\n",
        )],
    );
    env.ok(&["build", "-q", "-t", "base:1", support::s(&base)]);
    let app = env.context(
        "app",
        &[
            (
                "Dockerfile",
                "FROM base:1\n\
                 RUN rm /data/gone && rm -rf /data/wipe && mkdir /data/wipe && echo new > /data/wipe/3\n\
                 COPY f.txt ping /app/\n\
                 RUN echo hi > /app/a && ln /app/a /app/b && chown 1000:2000 /app/b && \
                 chmod 4755 /app/a && mkdir /tmp2 && echo t > /tmp2/t\n\
                 RUN rm -rf /tmp2 && echo more >> /data/keep/k\n",
            ),
            ("f.txt", "copied\n"),
            ("ping", "not really ping\n"),
        ],
    );
    // xattrs: a user.* attribute and a file capability (cap_net_bind_service+ep).
    set_xattr(&app.join("f.txt"), "user.test", b"hello");
    set_xattr(
        &app.join("ping"),
        "security.capability",
        &[1, 0, 0, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
    );
    let mut args = vec!["build", "-q", "-t", name];
    args.extend_from_slice(extra);
    args.push(support::s(&app));
    env.ok(&args);
}

fn set_xattr(path: &Path, name: &str, value: &[u8]) {
    rustix::fs::lsetxattr(path, name, value, rustix::fs::XattrFlags::empty())
        .unwrap_or_else(|e| panic!("setxattr {name} on {}: {e}", path.display()));
}

/// The extended attributes of `path`, as `name=hex` sorted.
fn xattrs(path: &Path) -> String {
    let mut names = vec![0u8; 4096];
    let n = rustix::fs::llistxattr(path, &mut names).expect("listxattr");
    let mut out = Vec::new();
    for name in names[..n].split(|b| *b == 0).filter(|n| !n.is_empty()) {
        let name = String::from_utf8_lossy(name).into_owned();
        let mut value = vec![0u8; 4096];
        let len = rustix::fs::lgetxattr(path, name.as_str(), &mut value).expect("getxattr");
        out.push(format!("{name}={}", hex::encode(&value[..len])));
    }
    out.sort();
    out.join(",")
}

fn layer_count(env: &TestEnv, name: &str) -> usize {
    let out = env.ok(&["inspect", name]);
    let v: serde_json::Value = serde_json::from_str(&out).expect("inspect JSON");
    v[0]["Layers"].as_array().expect("Layers").len()
}

fn history(env: &TestEnv, name: &str) -> String {
    env.ok(&["history", name])
}

/// Every entry of an exported tree: kind, mode, owner, size, contents, link target; and
/// the hard-link groups.
fn tree(dir: &Path) -> (BTreeMap<String, String>, BTreeSet<Vec<String>>) {
    let mut out = BTreeMap::new();
    let mut inodes: BTreeMap<u64, Vec<String>> = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(p) = stack.pop() {
        let m = std::fs::symlink_metadata(&p).expect("lstat");
        let rel = p.strip_prefix(dir).expect("inside").display().to_string();
        let ft = m.file_type();
        let detail = if ft.is_dir() {
            for e in std::fs::read_dir(&p).expect("read_dir") {
                stack.push(e.expect("entry").path());
            }
            "dir".to_string()
        } else if ft.is_symlink() {
            format!(
                "symlink -> {}",
                std::fs::read_link(&p).expect("readlink").display()
            )
        } else if ft.is_file() {
            if m.nlink() > 1 {
                inodes.entry(m.ino()).or_default().push(rel.clone());
            }
            format!("file {:?}", std::fs::read(&p).expect("read"))
        } else {
            "special".to_string()
        };
        out.insert(
            rel,
            format!(
                "{detail} mode {:o} owner {}:{} size {} xattrs {}",
                m.mode(),
                m.uid(),
                m.gid(),
                if ft.is_dir() { 0 } else { m.size() },
                xattrs(&p)
            ),
        );
    }
    let groups = inodes
        .into_values()
        .map(|mut g| {
            g.sort();
            g
        })
        .collect();
    (out, groups)
}

fn export(env: &TestEnv, name: &str) -> (BTreeMap<String, String>, BTreeSet<Vec<String>>) {
    let dir = env
        .path()
        .join(format!("export-{}", name.replace(':', "-")));
    env.ok(&["export", name, "-o", support::s(&dir)]);
    tree(&dir)
}

#[test]
fn squash_keeps_the_root_filesystem_with_one_new_layer() {
    let env = TestEnv::new();
    build_images(&env, &[], "app:plain");
    build_images(&env, &["--squash"], "app:squash");
    build_images(&env, &["--squash-all"], "app:all");
    assert_eq!(layer_count(&env, "base:1"), 2);
    assert_eq!(layer_count(&env, "app:plain"), 6);
    assert_eq!(layer_count(&env, "app:squash"), 3, "base layers + 1");
    assert_eq!(layer_count(&env, "app:all"), 1);
    let plain = export(&env, "app:plain");
    assert!(!plain.0.contains_key("data/gone"));
    assert!(plain.0.contains_key("data/wipe/3") && !plain.0.contains_key("data/wipe/1"));
    assert_eq!(plain.1.len(), 1, "one hard-link group: {:?}", plain.1);
    let ping = &plain.0["app/ping"];
    assert!(
        ping.contains("security.capability=01000002")
            && plain.0["app/f.txt"].contains("user.test=68656c6c6f"),
        "xattrs kept: {ping}"
    );
    assert!(
        plain.0["app/a"].contains("mode 104755"),
        "{}",
        plain.0["app/a"]
    );
    assert_eq!(export(&env, "app:squash"), plain);
    assert_eq!(export(&env, "app:all"), plain);
    // What ran is still in the history, the squashed steps as empty layers.
    let h = history(&env, "app:squash");
    assert!(h.contains("rm -rf /tmp2"), "{h}");
    assert!(h.contains("kiln build --squash"), "{h}");
}

#[test]
fn squash_is_reproducible_under_source_date_epoch() {
    let ids: Vec<String> = (0..2)
        .map(|_| {
            let env = TestEnv::new();
            let ctx = env.context(
                "ctx",
                &[(
                    "Dockerfile",
                    "FROM busybox:1\nRUN echo a > /a && rm /bin/true\nRUN echo b > /b\n",
                )],
            );
            let tar = support::busybox_tarball();
            let import = env
                .kiln()
                .env("SOURCE_DATE_EPOCH", "1700000000")
                .args(["import", support::s(&tar), "busybox:1"])
                .output()
                .expect("run kiln");
            assert!(import.status.success(), "{}", support::show(&import));
            let out = env
                .kiln()
                .env("SOURCE_DATE_EPOCH", "1700000000")
                .args(["build", "-q", "--squash", "-t", "r:1", support::s(&ctx)])
                .output()
                .expect("run kiln");
            assert!(out.status.success(), "{}", support::show(&out));
            String::from_utf8_lossy(&out.stdout).trim().to_string()
        })
        .collect();
    assert_eq!(ids[0], ids[1]);
}

#[test]
fn kiln_squash_last_and_from_on_a_stored_image() {
    let env = TestEnv::new();
    build_images(&env, &[], "app:plain");
    let plain = export(&env, "app:plain");
    let out = env.ok(&["squash", "app:plain", "--last", "2", "-t", "app:last2"]);
    assert!(out.contains("before") && out.contains("after"), "{out}");
    assert!(out.contains("uncompressed"), "{out}");
    assert_eq!(layer_count(&env, "app:last2"), 5);
    assert_eq!(export(&env, "app:last2"), plain);
    // --from a layer digest: that layer and everything above it.
    let v: serde_json::Value =
        serde_json::from_str(&env.ok(&["inspect", "app:plain"])).expect("inspect JSON");
    let third = v[0]["Layers"][2]["Digest"]
        .as_str()
        .expect("digest")
        .to_string();
    env.ok(&["squash", "app:plain", "--from", &third, "-t", "app:from"]);
    assert_eq!(layer_count(&env, "app:from"), 3);
    assert_eq!(export(&env, "app:from"), plain);
    // --from a history index: step 0 is the busybox import, so everything.
    env.ok(&["squash", "app:plain", "--from", "0", "-t", "app:from0"]);
    assert_eq!(layer_count(&env, "app:from0"), 1);
    assert_eq!(export(&env, "app:from0"), plain);
}

#[test]
fn kiln_squash_usage_errors_exit_2() {
    let env = TestEnv::new();
    env.import_busybox("busybox:1");
    let out = env.run(&["squash", "busybox:1", "--last", "9", "-t", "x:1"]);
    assert_fails(&out, 2, &["has 1 layer(s)", "--last 1 or less"]);
    let out = env.run(&[
        "squash",
        "busybox:1",
        "--from",
        "sha256:0123456789abcdef",
        "-t",
        "x:1",
    ]);
    assert_fails(
        &out,
        2,
        &["no layer or history step", "kiln inspect busybox:1"],
    );
    let out = env.run(&["squash", "busybox:1", "--from", "7", "-t", "x:1"]);
    assert_fails(&out, 2, &["no layer or history step"]);
    let out = env.run(&["squash", "busybox:1", "-t", "x:1"]);
    assert_fails(&out, 2, &["--last"]);
}

/// podman loads the --squash and --squash-all images (oci-archive) and runs them: the files
/// the build wrote are there, the ones it deleted are not.
#[test]
fn podman_runs_the_squashed_images() {
    let podman_bin = support::tool("podman", "podman");
    support::tool("runc", "runc");
    let env = TestEnv::new();
    build_images(&env, &["--squash"], "app:squash");
    build_images(&env, &["--squash-all"], "app:all");
    let dir = env.path();
    for name in ["app:squash", "app:all"] {
        let archive = env.path().join(format!("{}.tar", name.replace(':', "-")));
        env.ok(&[
            "save",
            "--format",
            "oci-archive",
            "-o",
            support::s(&archive),
            name,
        ]);
        support::run_ok(support::podman(&podman_bin, dir).args([
            "load",
            "-q",
            "-i",
            support::s(&archive),
        ]));
    }
    for name in ["docker.io/library/app:squash", "docker.io/library/app:all"] {
        let mut c = support::podman(&podman_bin, dir);
        c.args(["run", "--rm"]).args(support::OCI_RUN_FLAGS).args([
            name,
            "sh",
            "-c",
            "cat /app/f.txt /data/wipe/3 /data/keep/k; ls /data/wipe; \
                 test -e /data/gone || echo gone; test -e /tmp2 || echo no-tmp2; \
                 stat -c '%a %u:%g %h' /app/a /app/b",
        ]);
        assert_eq!(
            support::run_ok(&mut c),
            "copied\nnew\nk\nmore\n3\ngone\nno-tmp2\n4755 1000:2000 2\n4755 1000:2000 2\n",
            "{name}"
        );
    }
}

/// With `FROM` an earlier stage, `--squash` keeps the layers of that stage's base image
/// and squashes what both stages added.
#[test]
fn squash_through_stages_keeps_the_base_image_layers() {
    let env = TestEnv::new();
    env.import_busybox("busybox:1");
    let ctx = env.context(
        "ctx",
        &[(
            "Dockerfile",
            "FROM busybox:1 AS one\nRUN echo 1 > /one && rm /bin/true\n\
             FROM one\nRUN echo 2 > /two\nRUN rm /one\n",
        )],
    );
    env.ok(&["build", "-q", "-t", "st:plain", support::s(&ctx)]);
    env.ok(&[
        "build",
        "-q",
        "--squash",
        "-t",
        "st:squash",
        support::s(&ctx),
    ]);
    assert_eq!(layer_count(&env, "st:plain"), 4);
    assert_eq!(layer_count(&env, "st:squash"), 2);
    let plain = export(&env, "st:plain");
    assert!(!plain.0.contains_key("one") && !plain.0.contains_key("bin/true"));
    assert_eq!(export(&env, "st:squash"), plain);
}
