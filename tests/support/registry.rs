//! A real registry for the tests: Debian's `docker-registry` (distribution 2.8) on a free
//! 127.0.0.1 port, plain HTTP, TLS with a CA made for the test, or TLS with htpasswd
//! basic auth; everything lives in a temp dir and the process is killed at drop.

use super::{run_ok, s, tool, TestEnv};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How the registry is set up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Setup {
    Plain,
    Tls,
    TlsAuth,
    /// TLS that also requires a client certificate signed by the test CA.
    MutualTls,
}

pub const USER: &str = "kilnuser";
pub const PASSWORD: &str = "s3cret-pa55word";

pub struct Registry {
    pub dir: tempfile::TempDir,
    pub host: String,
    pub setup: Setup,
    child: Child,
}

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

impl Registry {
    pub fn start(setup: Setup) -> Registry {
        let bin = tool("docker-registry", "docker-registry");
        let dir = tempfile::Builder::new()
            .prefix("kiln-registry-")
            .tempdir()
            .expect("temp dir");
        let port = free_port();
        let host = format!("127.0.0.1:{port}");
        let d = dir.path();
        let mut yaml = format!(
            "version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {host}\n  secret: kiln-test-secret\n",
            d.join("data").display()
        );
        if setup != Setup::Plain {
            make_certs(d);
            yaml.push_str(&format!(
                "  tls:\n    certificate: {}\n    key: {}\n",
                d.join("server.crt").display(),
                d.join("server.key").display()
            ));
            let certs = d.join("certs.d").join(&host);
            std::fs::create_dir_all(&certs).expect("certs.d");
            std::fs::copy(d.join("ca.crt"), certs.join("ca.crt")).expect("ca");
        }
        if setup == Setup::MutualTls {
            make_client_cert(d);
            let certs = d.join("certs.d").join(&host);
            std::fs::copy(d.join("client.crt"), certs.join("client.cert")).expect("client cert");
            std::fs::copy(d.join("client.key"), certs.join("client.key")).expect("client key");
            yaml.push_str(&format!(
                "    clientcas:\n      - {}\n",
                d.join("ca.crt").display()
            ));
        }
        if setup == Setup::TlsAuth {
            let out = run_ok(
                Command::new(tool("htpasswd", "apache2-utils")).args(["-Bbn", USER, PASSWORD]),
            );
            std::fs::write(d.join("htpasswd"), out).expect("htpasswd");
            yaml.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: kiln-test\n    path: {}\n",
                d.join("htpasswd").display()
            ));
        }
        std::fs::write(d.join("config.yml"), yaml).expect("config");
        let log = std::fs::File::create(d.join("registry.log")).expect("log");
        let child = Command::new(bin)
            .arg("serve")
            .arg(d.join("config.yml"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("start docker-registry");
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(&host).is_err() {
            assert!(
                Instant::now() < deadline,
                "docker-registry did not start: {}",
                std::fs::read_to_string(d.join("registry.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Registry {
            dir,
            host,
            setup,
            child,
        }
    }

    /// The certs.d base directory kiln gets as KILN_CERTS_DIR.
    pub fn certs_dir(&self) -> PathBuf {
        self.dir.path().join("certs.d")
    }

    /// skopeo's TLS/credential flags for this registry (`dest` or source side).
    pub fn skopeo_flags(&self, side: &str) -> Vec<String> {
        let mut f = Vec::new();
        match self.setup {
            Setup::Plain => f.push(format!("--{side}tls-verify=false")),
            _ => {
                f.push(format!("--{side}cert-dir"));
                f.push(self.certs_dir().join(&self.host).display().to_string());
            }
        }
        if self.setup == Setup::TlsAuth {
            f.push(format!("--{side}creds"));
            f.push(format!("{USER}:{PASSWORD}"));
        }
        f
    }

    /// A skopeo command that reads no auth file of the host's.
    pub fn skopeo(&self) -> Command {
        let mut c = Command::new(tool("skopeo", "skopeo"));
        c.env(
            "REGISTRY_AUTH_FILE",
            self.dir.path().join("skopeo-auth.json"),
        );
        c.env("HOME", self.dir.path());
        c
    }

    /// `skopeo inspect --raw`'s manifest bytes and `skopeo inspect`'s digest of `repo:tag`.
    pub fn inspect(&self, reference: &str) -> (serde_json::Value, String) {
        let target = format!("docker://{}/{reference}", self.host);
        let raw = self.raw_manifest(reference);
        let info = run_ok(
            self.skopeo()
                .arg("inspect")
                .args(self.skopeo_flags(""))
                .arg(&target),
        );
        let info: serde_json::Value = serde_json::from_str(&info).expect("skopeo inspect json");
        (raw, info["Digest"].as_str().expect("Digest").to_owned())
    }

    /// `skopeo inspect --raw`'s manifest of `repo:tag` (also for artifacts, which
    /// `skopeo inspect` refuses).
    pub fn raw_manifest(&self, reference: &str) -> serde_json::Value {
        let raw = run_ok(
            self.skopeo()
                .args(["inspect", "--raw"])
                .args(self.skopeo_flags(""))
                .arg(format!("docker://{}/{reference}", self.host)),
        );
        serde_json::from_str(&raw).expect("raw manifest json")
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }
}

/// kiln with the registry's CA dir and an auth file of the test's own.
pub fn kiln(env: &TestEnv, reg: &Registry, store: &str) -> Command {
    let mut c = Command::new(super::kiln_bin());
    c.arg("--root").arg(env.path().join(store));
    c.env_remove("KILN_ROOT").env_remove("SOURCE_DATE_EPOCH");
    c.stdin(std::process::Stdio::null());
    c.env("KILN_CERTS_DIR", reg.certs_dir())
        .env("REGISTRY_AUTH_FILE", env.path().join("auth.json"))
        .env("HOME", env.path())
        .env_remove("XDG_RUNTIME_DIR")
        .env_remove("DOCKER_CONFIG");
    c
}

pub fn kiln_ok(env: &TestEnv, reg: &Registry, store: &str, args: &[&str]) -> String {
    run_ok(kiln(env, reg, store).args(args))
}

/// skopeo pushes busybox (imported into a store of its own, saved as an oci-archive),
/// as OCI (`oci`) or as a Docker schema 2 image (`v2s2`).
pub fn seed_base(env: &TestEnv, reg: &Registry, repo_tag: &str, format: &str) -> String {
    kiln_ok(
        env,
        reg,
        "seed",
        &["import", s(&super::busybox_tarball()), "busybox:seed"],
    );
    let archive = env.path().join("base.tar");
    kiln_ok(
        env,
        reg,
        "seed",
        &[
            "save",
            "--format",
            "oci-archive",
            "-o",
            s(&archive),
            "busybox:seed",
        ],
    );
    run_ok(
        reg.skopeo()
            .args(["copy", "--format", format])
            .args(reg.skopeo_flags("dest-"))
            .arg(format!("oci-archive:{}", archive.display()))
            .arg(format!("docker://{}/{repo_tag}", reg.host)),
    );
    reg.inspect(repo_tag).1
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A client certificate signed by the test CA.
fn make_client_cert(d: &Path) {
    let openssl = tool("openssl", "openssl");
    let run = |args: &[&str]| {
        run_ok(Command::new(&openssl).current_dir(d).args(args));
    };
    run(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "client.key",
        "-out",
        "client.csr",
        "-subj",
        "/CN=kiln test client",
    ]);
    std::fs::write(d.join("client.cnf"), "extendedKeyUsage=clientAuth\n").expect("ext");
    run(&[
        "x509",
        "-req",
        "-in",
        "client.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "client.crt",
        "-days",
        "2",
        "-extfile",
        "client.cnf",
    ]);
}

/// A CA and a server certificate for 127.0.0.1 signed by it (openssl CLI).
fn make_certs(d: &Path) {
    let openssl = tool("openssl", "openssl");
    let run = |args: &[&str]| {
        run_ok(Command::new(&openssl).current_dir(d).args(args));
    };
    run(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
        "-days",
        "2",
        "-subj",
        "/CN=kiln test CA",
    ]);
    run(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=127.0.0.1",
    ]);
    std::fs::write(
        d.join("ext.cnf"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n",
    )
    .expect("ext");
    run(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.crt",
        "-days",
        "2",
        "-extfile",
        "ext.cnf",
    ]);
}
