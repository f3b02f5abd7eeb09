//! Interoperability with containers/image via skopeo: skopeo must accept
//! kiln's layouts and archives, and kiln must load what skopeo writes.

use std::path::Path;
use std::process::{Command, Output};

use kiln_oci::archive::{self, write_docker_archive, write_oci_archive};
use kiln_oci::layout::{read_layout, write_layout};
use kiln_oci::{Digest, StoredImage};

use crate::common::{self, tiny_tagged, Env};

fn skopeo(args: &[&str]) -> Output {
    let out = Command::new("skopeo").args(args).output();
    let out = match out {
        Ok(out) => out,
        Err(e) => panic!(
            "skopeo is required for the interoperability tests but could not be run ({e}); \
             install it: apt-get install skopeo"
        ),
    };
    assert!(
        out.status.success(),
        "skopeo {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn tiny_image(env: &Env) -> StoredImage {
    tiny_tagged(&env.store, "skopeo", "kiln-test/tiny:1");
    env.store.lookup("kiln-test/tiny:1").expect("lookup")
}

fn s(p: &Path) -> String {
    p.display().to_string()
}

#[test]
fn skopeo_accepts_oci_layout() {
    let env = Env::new();
    let image = tiny_image(&env);
    let dir = env.path("layout");
    write_layout(&env.store, std::slice::from_ref(&image), &dir).expect("write");
    let name = "docker.io/kiln-test/tiny:1";
    let raw = skopeo(&["inspect", "--raw", &format!("oci:{}:{name}", s(&dir))]).stdout;
    assert_eq!(
        Digest::of_bytes(&raw),
        image.manifest,
        "skopeo must see our manifest"
    );
    let out = skopeo(&[
        "inspect",
        "--config",
        "--raw",
        &format!("oci:{}:{name}", s(&dir)),
    ])
    .stdout;
    assert_eq!(
        Digest::of_bytes(&out),
        image.config,
        "skopeo must see our config"
    );
}

#[test]
fn skopeo_accepts_oci_archive() {
    let env = Env::new();
    let image = tiny_image(&env);
    let path = env.path("image.oci.tar");
    let bytes =
        write_oci_archive(&env.store, std::slice::from_ref(&image), Vec::new()).expect("write");
    common::write_file(&path, &bytes);
    let raw = skopeo(&[
        "inspect",
        "--raw",
        &format!("oci-archive:{}:docker.io/kiln-test/tiny:1", s(&path)),
    ])
    .stdout;
    assert_eq!(Digest::of_bytes(&raw), image.manifest);
}

#[test]
fn skopeo_accepts_docker_archive() {
    let env = Env::new();
    let image = tiny_image(&env);
    let path = env.path("image.docker.tar");
    let bytes =
        write_docker_archive(&env.store, std::slice::from_ref(&image), Vec::new()).expect("write");
    common::write_file(&path, &bytes);
    let out = skopeo(&["inspect", &format!("docker-archive:{}", s(&path))]).stdout;
    let v: serde_json::Value = serde_json::from_slice(&out).expect("inspect json");
    assert_eq!(v["Architecture"], "amd64");
    assert_eq!(v["Os"], "linux");
    assert_eq!(v["Layers"].as_array().expect("layers").len(), 1);
    let config = skopeo(&[
        "inspect",
        "--config",
        "--raw",
        &format!("docker-archive:{}", s(&path)),
    ])
    .stdout;
    assert_eq!(
        Digest::of_bytes(&config),
        image.config,
        "the image ID is preserved"
    );
}

#[test]
fn kiln_loads_what_skopeo_writes() {
    let env = Env::new();
    let image = tiny_image(&env);
    let dir = env.path("layout");
    write_layout(&env.store, std::slice::from_ref(&image), &dir).expect("write");
    let src = format!("oci:{}:docker.io/kiln-test/tiny:1", s(&dir));

    // skopeo's docker-archive (with its own layout of files and links).
    let docker = env.path("skopeo.docker.tar");
    skopeo(&[
        "--insecure-policy",
        "copy",
        "-q",
        &src,
        &format!("docker-archive:{}:skopeo/out:2", s(&docker)),
    ]);
    let fresh = Env::new();
    let loaded = archive::load(&fresh.store, &docker).expect("load skopeo docker-archive");
    assert_eq!(loaded.len(), 1);
    assert_eq!(
        loaded[0].config, image.config,
        "same image ID through skopeo"
    );
    assert_eq!(loaded[0].names, vec![common::reference("skopeo/out:2")]);

    // skopeo's OCI layout.
    let layout2 = env.path("skopeo-layout");
    skopeo(&[
        "--insecure-policy",
        "copy",
        "-q",
        &src,
        &format!("oci:{}:other/name:3", s(&layout2)),
    ]);
    let fresh = Env::new();
    let loaded = read_layout(&fresh.store, &layout2).expect("load skopeo layout");
    assert_eq!(loaded[0].config, image.config);
    assert_eq!(loaded[0].names, vec![common::reference("other/name:3")]);
}
