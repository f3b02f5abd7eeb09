//! Real clients accept kiln's output: skopeo reads the OCI layout and the archives,
//! umoci unpacks the layout, podman loads and runs the image, and Docker's daemon loads
//! the docker-archive. Every tool works on storage inside the test's temp dir.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use support::{run_ok, s, tool, TestEnv};

const DOCKERFILE: &str = "FROM busybox:test
LABEL org.example.test=interop
ENV GREETING=hello-from-kiln
WORKDIR /app
COPY --chown=1000:1000 --chmod=0640 greeting.txt .
COPY run.sh /usr/local/bin/run.sh
USER 1000:1000
ENTRYPOINT [\"/bin/sh\", \"/usr/local/bin/run.sh\"]
CMD [\"default-arg\"]
";

const RUN_SH: &str =
    "echo \"$GREETING: $(cat /app/greeting.txt) as $(id -u):$(id -g) in $(pwd) with $*\"
stat -c '%a %u:%g %n' /app/greeting.txt
";

/// What the image prints when run with no arguments.
const EXPECTED: &str = "hello-from-kiln: greetings as 1000:1000 in /app with default-arg
640 1000:1000 /app/greeting.txt
";

/// Build the test image and write it in every output format; returns
/// (image id, manifest digest, outputs dir).
fn build(env: &TestEnv) -> (String, String, PathBuf) {
    env.import_busybox("busybox:test");
    let ctx = env.context(
        "ctx",
        &[
            ("Dockerfile", DOCKERFILE),
            ("greeting.txt", "greetings"),
            ("run.sh", RUN_SH),
        ],
    );
    let out = env.path().join("out");
    let id = env.ok(&[
        "build",
        "-q",
        "-t",
        "kiln-interop:1",
        "-o",
        &format!("type=oci,dest={}", s(&out.join("layout"))),
        "-o",
        &format!("type=oci-archive,dest={}", s(&out.join("oci.tar"))),
        "-o",
        &format!("type=docker-archive,dest={}", s(&out.join("docker.tar"))),
        s(&ctx),
    ]);
    let inspect = env.inspect("kiln-interop:1");
    let manifest = inspect["Digest"].as_str().expect("Digest").to_string();
    assert_eq!(inspect["Id"].as_str().expect("Id"), id.trim());
    (id.trim().to_string(), manifest, out)
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// skopeo reads the layout, the oci-archive and the docker-archive, and sees the
/// image kiln stored (same manifest digest for the OCI forms, same config for all).
#[test]
fn skopeo_and_umoci_read_the_outputs() {
    let skopeo = tool("skopeo", "skopeo");
    let umoci = tool("umoci", "umoci");
    let env = TestEnv::new();
    let (id, manifest, out) = build(&env);
    let inspect_kiln = env.inspect("kiln-interop:1");
    let layers: Vec<String> = inspect_kiln["Layers"]
        .as_array()
        .expect("Layers")
        .iter()
        .map(|l| l["Digest"].as_str().expect("digest").to_string())
        .collect();
    assert_eq!(layers.len(), 4, "busybox, WORKDIR, and two COPY layers");
    let layout = out.join("layout");
    for (transport, same_manifest) in [
        (format!("oci:{}", s(&layout)), true),
        (
            format!("oci:{}:docker.io/library/kiln-interop:1", s(&layout)),
            true,
        ),
        (format!("oci-archive:{}", s(&out.join("oci.tar"))), true),
        (
            format!("docker-archive:{}", s(&out.join("docker.tar"))),
            false,
        ),
    ] {
        let v = json(&run_ok(
            Command::new(&skopeo).args(["inspect", "--raw", &transport]),
        ));
        assert_eq!(v["schemaVersion"], 2, "{transport}: {v}");
        let config = json(&run_ok(
            Command::new(&skopeo).args(["inspect", "--config", &transport]),
        ));
        assert_eq!(
            config["config"]["Env"]
                .as_array()
                .expect("Env")
                .iter()
                .filter(|e| e.as_str() == Some("GREETING=hello-from-kiln"))
                .count(),
            1,
            "{transport}: {config}"
        );
        assert_eq!(config["config"]["User"], "1000:1000", "{transport}");
        assert_eq!(config["config"]["WorkingDir"], "/app", "{transport}");
        let i = json(&run_ok(Command::new(&skopeo).args(["inspect", &transport])));
        assert_eq!(i["Labels"]["org.example.test"], "interop", "{transport}");
        assert_eq!(i["Os"], "linux", "{transport}");
        assert_eq!(
            i["Layers"].as_array().expect("Layers").len(),
            4,
            "{transport}"
        );
        if same_manifest {
            assert_eq!(i["Digest"].as_str(), Some(manifest.as_str()), "{transport}");
            assert_eq!(
                i["Layers"]
                    .as_array()
                    .expect("layers")
                    .iter()
                    .map(|l| l.as_str().expect("digest").to_string())
                    .collect::<Vec<_>>(),
                layers,
                "{transport}"
            );
        }
        // skopeo can copy it (verifying every blob) into a fresh layout.
        let copy = env
            .path()
            .join(format!("copy-{}", transport.split(':').next().expect("t")));
        if !copy.exists() {
            run_ok(Command::new(&skopeo).args([
                "copy",
                "--quiet",
                &transport,
                &format!("oci:{}:copied", s(&copy)),
            ]));
            let copied = json(&run_ok(Command::new(&skopeo).args([
                "inspect",
                "--config",
                &format!("oci:{}:copied", s(&copy)),
            ])));
            assert_eq!(copied["config"]["Cmd"][0], "default-arg");
        }
    }
    // The docker-archive holds the same config: its digest is the image ID.
    let d = json(&run_ok(Command::new(&skopeo).args([
        "inspect",
        "--raw",
        &format!("docker-archive:{}", s(&out.join("docker.tar"))),
    ])));
    assert_eq!(d["config"]["digest"].as_str(), Some(id.as_str()));

    // umoci unpacks the layout by its name; the bundle has the files and config.
    let bundle = env.path().join("bundle");
    run_ok(Command::new(&umoci).args([
        "unpack",
        "--image",
        &format!("{}:docker.io/library/kiln-interop:1", s(&layout)),
        s(&bundle),
    ]));
    let rootfs = bundle.join("rootfs");
    assert_eq!(
        std::fs::read_to_string(rootfs.join("app/greeting.txt")).expect("greeting"),
        "greetings"
    );
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(rootfs.join("app/greeting.txt")).expect("stat");
    assert_eq!((m.mode() & 0o7777, m.uid(), m.gid()), (0o640, 1000, 1000));
    assert!(rootfs.join("bin/busybox").is_file());
    let spec = json(&std::fs::read_to_string(bundle.join("config.json")).expect("config.json"));
    assert_eq!(
        spec["process"]["args"],
        serde_json::json!(["/bin/sh", "/usr/local/bin/run.sh", "default-arg"])
    );
    assert_eq!(spec["process"]["cwd"], "/app");
    assert_eq!(spec["process"]["user"]["uid"], 1000);
    assert!(spec["process"]["env"]
        .as_array()
        .expect("env")
        .iter()
        .any(|e| e == "GREETING=hello-from-kiln"));
}

/// podman loads the docker-archive and the oci-archive and runs the image: exact output.
#[test]
fn podman_loads_and_runs_the_image() {
    let podman_bin = tool("podman", "podman");
    tool("runc", "runc");
    let env = TestEnv::new();
    let (id, _, out) = build(&env);
    let dir = env.path();
    let loaded = run_ok(support::podman(&podman_bin, dir).args([
        "load",
        "-q",
        "-i",
        s(&out.join("docker.tar")),
    ]));
    assert!(
        loaded.contains("kiln-interop:1"),
        "podman load said: {loaded}"
    );
    // podman 4.3 files a docker-archive's short RepoTags (as `docker save` writes them)
    // under localhost/.
    let pid = run_ok(support::podman(&podman_bin, dir).args([
        "image",
        "inspect",
        "--format",
        "{{.Id}}",
        "localhost/kiln-interop:1",
    ]));
    assert_eq!(
        format!("sha256:{}", pid.trim()),
        id,
        "podman keeps kiln's image ID"
    );
    let run = |args: &[&str]| {
        let mut c = support::podman(&podman_bin, dir);
        c.args(["run", "--rm"])
            .args(support::OCI_RUN_FLAGS)
            .args(args);
        run_ok(&mut c)
    };
    assert_eq!(run(&["localhost/kiln-interop:1"]), EXPECTED);
    assert_eq!(
        run(&["localhost/kiln-interop:1", "a", "b"]),
        EXPECTED.replace("default-arg", "a b")
    );
    // The oci-archive too: its index names the image in full.
    run_ok(support::podman(&podman_bin, dir).args(["rmi", "-a", "-f"]));
    let loaded = run_ok(support::podman(&podman_bin, dir).args([
        "load",
        "-q",
        "-i",
        s(&out.join("oci.tar")),
    ]));
    assert!(
        loaded.contains("docker.io/library/kiln-interop:1"),
        "podman load said: {loaded}"
    );
    assert_eq!(run(&["docker.io/library/kiln-interop:1"]), EXPECTED);
}

/// A dockerd of the test's own, on a socket and data root inside the temp dir.
struct Dockerd {
    child: std::process::Child,
    dir: PathBuf,
}

impl Dockerd {
    fn start(dir: &Path) -> Dockerd {
        let dockerd = tool("dockerd", "docker.io");
        tool("containerd", "containerd");
        let log = std::fs::File::create(dir.join("dockerd.log")).expect("log");
        let child = Command::new(dockerd)
            .arg("--data-root")
            .arg(dir.join("docker"))
            .arg("--exec-root")
            .arg(dir.join("docker-exec"))
            .arg("--pidfile")
            .arg(dir.join("docker.pid"))
            .arg("--host")
            .arg(format!("unix://{}", s(&dir.join("docker.sock"))))
            .args(["--iptables=false", "--ip6tables=false", "--bridge=none"])
            .args(["--storage-driver", "vfs"])
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("start dockerd");
        let d = Dockerd {
            child,
            dir: dir.to_path_buf(),
        };
        for _ in 0..300 {
            if d.docker()
                .arg("version")
                .output()
                .is_ok_and(|o| o.status.success())
            {
                return d;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        let log = std::fs::read_to_string(dir.join("dockerd.log")).unwrap_or_default();
        panic!("dockerd did not come up in 30s:\n{log}");
    }

    fn docker(&self) -> Command {
        let mut c = Command::new("/usr/bin/docker");
        c.arg("-H")
            .arg(format!("unix://{}", s(&self.dir.join("docker.sock"))))
            .env("DOCKER_CONFIG", self.dir.join("docker-config"))
            .stdin(Stdio::null());
        c
    }
}

impl Drop for Dockerd {
    fn drop(&mut self) {
        // SIGTERM lets dockerd stop its own containerd and unmount what it mounted.
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        for _ in 0..200 {
            if self.child.try_wait().ok().flatten().is_some() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Docker's daemon (Debian's docker.io) loads the docker-archive: same image ID, names,
/// config.
#[test]
fn docker_loads_the_docker_archive() {
    assert!(
        Path::new("/usr/bin/docker").is_file(),
        "/usr/bin/docker is missing: apt-get install docker.io"
    );
    let env = TestEnv::new();
    let (id, _, out) = build(&env);
    let dockerd = Dockerd::start(env.path());
    let loaded = run_ok(
        dockerd
            .docker()
            .args(["load", "-i", s(&out.join("docker.tar"))]),
    );
    assert!(loaded.contains("Loaded image: kiln-interop:1"), "{loaded}");
    let v = json(&run_ok(dockerd.docker().args([
        "image",
        "inspect",
        "kiln-interop:1",
    ])));
    let img = &v[0];
    assert_eq!(img["Id"].as_str(), Some(id.as_str()));
    assert_eq!(img["RepoTags"], serde_json::json!(["kiln-interop:1"]));
    assert_eq!(img["Config"]["User"], "1000:1000");
    assert_eq!(img["Config"]["WorkingDir"], "/app");
    assert_eq!(
        img["Config"]["Entrypoint"],
        serde_json::json!(["/bin/sh", "/usr/local/bin/run.sh"])
    );
    assert_eq!(img["Config"]["Cmd"], serde_json::json!(["default-arg"]));
    assert_eq!(img["Config"]["Labels"]["org.example.test"], "interop");
    assert_eq!(img["RootFS"]["Layers"].as_array().expect("layers").len(), 4);
    let kiln = env.inspect("kiln-interop:1");
    assert_eq!(img["RootFS"]["Layers"], kiln["RootFS"]["Layers"]);
    // docker history reads the history kiln wrote.
    let history = run_ok(dockerd.docker().args([
        "history",
        "--no-trunc",
        "--format",
        "{{.CreatedBy}}",
        "kiln-interop:1",
    ]));
    assert!(history.contains("COPY"), "{history}");
    assert!(history.contains("kiln import"), "{history}");
    // And docker save of it loads back into kiln under the same ID.
    let saved = env.path().join("docker-saved.tar");
    run_ok(
        dockerd
            .docker()
            .args(["save", "-o", s(&saved), "kiln-interop:1"]),
    );
    drop(dockerd);
    let other = TestEnv::new();
    other.ok(&["load", "-i", s(&saved)]);
    assert_eq!(
        other.inspect("kiln-interop:1")["Id"].as_str(),
        Some(id.as_str())
    );
}
