//! The reference builder on private storage, and an HTTP server for ADD URLs.

use super::*;

pub(crate) fn run(cmd: &mut Command, what: &str) -> Result<String, String> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("{what}: cannot run: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{what} failed ({}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// buildah on storage of its own inside the test's temporary directory (and a
/// storage.conf of its own, so the host's storage settings play no part).
pub(crate) struct Buildah {
    pub(crate) root: PathBuf,
    pub(crate) runroot: PathBuf,
    pub(crate) conf: PathBuf,
}

impl Buildah {
    pub(crate) fn new(dir: &Path) -> Buildah {
        let b = Buildah {
            root: dir.join("root"),
            runroot: dir.join("run"),
            conf: dir.join("storage.conf"),
        };
        std::fs::create_dir_all(dir).expect("mkdir buildah");
        std::fs::write(
            &b.conf,
            format!(
                "[storage]\ndriver = \"vfs\"\ngraphroot = \"{}\"\nrunroot = \"{}\"\n",
                b.root.display(),
                b.runroot.display()
            ),
        )
        .expect("write storage.conf");
        b
    }

    pub(crate) fn cmd(&self) -> Command {
        let mut c = Command::new("buildah");
        c.env("CONTAINERS_STORAGE_CONF", &self.conf);
        c.arg("--root")
            .arg(&self.root)
            .arg("--runroot")
            .arg(&self.runroot)
            .args(["--storage-driver", "vfs"]);
        c.env_remove("BUILDAH_LAYERS")
            .env_remove("BUILDAH_FORMAT")
            .env_remove("SOURCE_DATE_EPOCH")
            .env("NO_PROXY", "127.0.0.1")
            .env("no_proxy", "127.0.0.1");
        c
    }

    pub(crate) fn storage(&self) -> String {
        format!("vfs@{}+{}", self.root.display(), self.runroot.display())
    }

    pub(crate) fn bud(
        &self,
        ctx: &Path,
        dockerfile: &Path,
        tag: &str,
        args: &[String],
    ) -> Result<(), String> {
        run(
            self.cmd()
                .args([
                    "bud",
                    "--pull=never",
                    "--format",
                    "docker",
                    "--layers=false",
                ])
                // RUN steps: no network, runc, rlimits it may set here.
                .args(support::OCI_RUN_FLAGS)
                .arg("-t")
                .arg(tag)
                .arg("-f")
                .arg(dockerfile)
                .args(args)
                .arg(ctx),
            "buildah bud",
        )
        .map(|_| ())
    }

    pub(crate) fn config(&self, tag: &str) -> Result<BTreeMap<String, serde_json::Value>, String> {
        let text = run(
            self.cmd().args(["inspect", "--type", "image", tag]),
            "buildah inspect",
        )?;
        let v: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| format!("buildah inspect: {e}"))?;
        let mut config = v["Docker"]["config"].clone();
        // buildah stamps its own version on every image; docker build adds no label.
        if let Some(labels) = config.get_mut("Labels").and_then(|l| l.as_object_mut()) {
            labels.remove("io.buildah.version");
        }
        Ok(normalize_config(&config, &v["Docker"]["author"]))
    }

    /// The image's root filesystem, read from a working container's mount.
    pub(crate) fn rootfs(&self, tag: &str) -> Result<Tree, String> {
        let name = run(
            self.cmd().args(["from", "--pull=never", tag]),
            "buildah from",
        )?
        .trim()
        .to_string();
        let container = Container {
            buildah: self,
            name,
        };
        let mnt = run(self.cmd().args(["mount", &container.name]), "buildah mount")?;
        Ok(walk(Path::new(mnt.trim())))
    }
}

/// A buildah working container, unmounted and removed at drop.
pub(crate) struct Container<'a> {
    pub(crate) buildah: &'a Buildah,
    pub(crate) name: String,
}

impl Drop for Container<'_> {
    fn drop(&mut self) {
        let _ = self.buildah.cmd().args(["umount", &self.name]).output();
        let _ = self.buildah.cmd().args(["rm", &self.name]).output();
    }
}

/// A small HTTP/1.0 file server for ADD of URLs on `listener` (one in a test network
/// namespace: kiln's ADD refuses the host's own addresses): serves the files under `root`
/// (the copied contexts, so `{url}/CASE/FILE` is a file of a case) with a fixed
/// Last-Modified. Lives as long as the test process.
pub(crate) fn serve(root: PathBuf, listener: std::net::TcpListener) -> String {
    let addr = listener.local_addr().expect("local address");
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let _ = stream.set_read_timeout(Some(std::time::Duration::from_secs(10)));
            let mut reader = BufReader::new(match stream.try_clone() {
                Ok(s) => s,
                Err(_) => continue,
            });
            let mut request = String::new();
            if reader.read_line(&mut request).is_err() {
                continue;
            }
            loop {
                let mut line = String::new();
                match reader.read_line(&mut line) {
                    Ok(0) | Err(_) => break,
                    Ok(_) if line.trim().is_empty() => break,
                    Ok(_) => {}
                }
            }
            let path = request.split_whitespace().nth(1).unwrap_or("/").to_string();
            let path = path.split('?').next().unwrap_or("").trim_start_matches('/');
            let body = if path.split('/').any(|s| s == ".." || s.is_empty()) {
                None
            } else {
                std::fs::read(root.join(path)).ok()
            };
            let _ = match body {
                Some(b) => stream
                    .write_all(
                        format!(
                            "HTTP/1.0 200 OK\r\nContent-Length: {}\r\nContent-Type: application/octet-stream\r\nLast-Modified: {LAST_MODIFIED}\r\nConnection: close\r\n\r\n",
                            b.len()
                        )
                        .as_bytes(),
                    )
                    .and_then(|_| stream.write_all(&b)),
                None => stream.write_all(
                    b"HTTP/1.0 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                ),
            };
        }
    });
    format!("http://{addr}")
}

// ---------------------------------------------------------------------------------------
// Cases.
