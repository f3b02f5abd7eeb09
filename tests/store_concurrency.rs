//! Several kiln processes on one store: six builds at once (three Dockerfiles, each
//! twice, SOURCE_DATE_EPOCH set) all succeed and identical inputs give identical
//! image IDs, while `kiln prune`, `kiln images` and `kiln tag` run in a loop beside
//! them. Afterwards the store is intact and every image has the right content.

mod store_common;
mod support;

use std::fs;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use store_common::{assert_intact, context_with_data, exported, ok_at, text};
use support::{show, TestEnv};

fn dockerfile(which: &str) -> String {
    format!(
        "FROM bb\nRUN echo {which} > /which && i=0 && while [ $i -lt 100 ]; do echo {which} $i > /f$i; i=$((i+1)); done\nCOPY data /data\nRUN cat /which /data/f00001 > /summary\n"
    )
}

#[test]
fn six_builds_at_once_with_prune_images_and_tag_beside_them() {
    let env = TestEnv::new();
    let store = env.store();
    env.import_busybox("bb");
    let contexts: Vec<(String, std::path::PathBuf)> = ["a", "b", "c"]
        .iter()
        .map(|w| {
            let dir = env.path().join(format!("ctx-{w}"));
            context_with_data(&dir, &dockerfile(w), 200, 6000, w);
            (w.to_string(), dir)
        })
        .collect();

    let done = Arc::new(AtomicBool::new(false));
    let beside = {
        let done = done.clone();
        let store = store.clone();
        std::thread::spawn(move || {
            let mut rounds = 0u32;
            while !done.load(Ordering::SeqCst) {
                ok_at(&store, &["prune"]);
                ok_at(&store, &["images"]);
                ok_at(&store, &["tag", "bb", &format!("extra:{rounds}")]);
                ok_at(&store, &["df"]);
                rounds += 1;
            }
            rounds
        })
    };
    let builds: Vec<_> = contexts
        .iter()
        .flat_map(|(w, dir)| [1, 2].map(|n| (format!("{w}{n}"), dir.clone())))
        .map(|(tag, dir)| {
            let child = env
                .kiln()
                .env("SOURCE_DATE_EPOCH", "1700000000")
                .args(["build", "-q", "-t", &tag])
                .arg(&dir)
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("spawn kiln build");
            (tag, child)
        })
        .collect();
    let mut ids = std::collections::BTreeMap::new();
    for (tag, child) in builds {
        let out = child.wait_with_output().expect("wait");
        assert!(out.status.success(), "build {tag} failed\n{}", show(&out));
        ids.insert(tag, String::from_utf8_lossy(&out.stdout).trim().to_owned());
    }
    done.store(true, Ordering::SeqCst);
    let rounds = beside.join().expect("the prune/images/tag loop failed");
    eprintln!("prune/images/tag/df rounds beside the builds: {rounds}; image IDs: {ids:?}");
    assert!(rounds >= 1);

    for w in ["a", "b", "c"] {
        assert_eq!(
            ids[&format!("{w}1")],
            ids[&format!("{w}2")],
            "{w}: same inputs, different IDs"
        );
        assert!(ids[&format!("{w}1")].starts_with("sha256:"));
    }
    assert_ne!(ids["a1"], ids["b1"]);
    assert_ne!(ids["b1"], ids["c1"]);
    assert_intact(&store);
    // Every tag made beside the builds is there.
    let images = env.ok(&["images"]);
    for k in 0..rounds {
        assert!(
            images.contains(&format!("docker.io/library/extra:{k} ")),
            "extra:{k} missing\n{images}"
        );
    }
    // A prune now keeps every tagged image; each has its content.
    env.ok(&["prune"]);
    for (w, dir) in &contexts {
        let tag = format!("{w}2");
        let rootfs = exported(&store, &tag, &env.path().join(format!("rootfs-{tag}")));
        let expected = format!("{w}\n{}", text(&dir.join("data/f00001")));
        assert_eq!(text(&rootfs.join("summary")), expected);
        assert_eq!(text(&rootfs.join("f99")), format!("{w} 99\n"));
    }
    assert_intact(&store);
    // And the same builds again give the same IDs.
    let again = env
        .kiln()
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .args(["build", "-q"])
        .arg(&contexts[0].1)
        .output()
        .expect("build");
    assert_eq!(
        String::from_utf8_lossy(&again.stdout).trim(),
        ids["a1"],
        "{}",
        show(&again)
    );
}

#[test]
fn removing_the_base_image_and_pruning_during_a_build_does_not_break_it() {
    let env = TestEnv::new();
    let store = env.store();
    env.import_busybox("bb");
    // A base image with a layer of its own (no other image has it).
    let base_ctx = env.context(
        "base",
        &[(
            "Dockerfile",
            "FROM bb\nRUN echo only-in-base > /base-file\n",
        )],
    );
    env.ok(&[
        "build",
        "-q",
        "-t",
        "base2",
        base_ctx.to_str().expect("utf-8"),
    ]);
    let (_, base_layers) = store_common::layers_of(&store, "base2");
    let own_layer = base_layers.last().expect("layer").clone();
    // Its blobs are old: only what the next build does keeps them from a prune.
    let hour_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
    for blob in fs::read_dir(store.join("blobs/sha256")).expect("blobs") {
        let f = fs::File::open(blob.expect("entry").path()).expect("open");
        f.set_modified(hour_ago).expect("set mtime");
    }
    // A build on it that is still running when the base goes away.
    let ctx = env.context(
        "app",
        &[(
            "Dockerfile",
            "FROM base2\nRUN sleep 3; cat /base-file > /copied\n",
        )],
    );
    let build = env
        .kiln()
        .args(["build", "-q", "-t", "app"])
        .arg(&ctx)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn build");
    // Wait until the build has unpacked its layers (the RUN is sleeping then).
    let layers_dir = store.join("layers/sha256");
    let own_unpacked = layers_dir.join(own_layer.strip_prefix("sha256:").expect("hex"));
    while !own_unpacked.join("complete").exists() {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    env.ok(&["rmi", "base2"]);
    let pruned = env.ok(&["prune", "--all"]);
    let out = build.wait_with_output().expect("wait");
    assert!(
        out.status.success(),
        "the build broke\n{}\nprune said:\n{pruned}",
        show(&out)
    );
    assert!(store_common::blob_file(&store, &own_layer).is_file());
    let rootfs = env.path().join("rootfs");
    let copied = text(&exported(&store, "app", &rootfs).join("copied"));
    assert_eq!(copied, "only-in-base\n");
    assert_intact(&store);
}
