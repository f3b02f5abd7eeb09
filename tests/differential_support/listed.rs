//! Differences kiln and buildah are allowed to have, each with the reason.

/// A difference between kiln and buildah where buildah is not what `docker build` does.
pub(crate) struct Listed {
    pub(crate) case: &'static str,
    /// The difference as the comparison names it: `PATH FIELD` or `config.FIELD`.
    pub(crate) key: &'static str,
    pub(crate) reason: &'static str,
}

impl Listed {
    /// `case` `*` is every case; a `*` in `key` stands for any text.
    pub(crate) fn matches(&self, case: &str, key: &str) -> bool {
        let case_matches = match self.case.strip_suffix('*') {
            Some(prefix) => case.starts_with(prefix),
            None => self.case == case,
        };
        if !case_matches {
            return false;
        }
        match self.key.split_once('*') {
            Some((pre, post)) => {
                key.len() >= pre.len() + post.len() && key.starts_with(pre) && key.ends_with(post)
            }
            None => self.key == key,
        }
    }
}

/// Every accepted difference, with the reason kiln is right (BuildKit is the reference).
pub(crate) const DIFFERENCES: &[Listed] = &[
    Listed {
        case: "*",
        key: "/ mode",
        reason: "the root of a buildah vfs container is made by containers/storage (0555) and \
                 ignores the layers' `./` entry; the image's root is the base layer's (0755)",
    },
    Listed {
        case: "copy-file",
        key: "/fraction.txt mtime",
        reason: "a context mtime of x.7 s: buildah's layer tar (Go archive/tar without PAX) \
                 rounds it up; BuildKit's (containerd's archive) truncates to whole seconds, \
                 as kiln does",
    },
    Listed {
        case: "chmod",
        key: "/newparent mode",
        reason: "BuildKit creates missing parent directories with the octal --chmod mode \
                 (fsutil copy.MkdirAll with CopyInfo.Mode, moby/buildkit#5943); buildah uses 0755",
    },
    Listed {
        case: "chmod",
        key: "/chdir mode",
        reason: "BuildKit creates the destination of a directory copy with the octal --chmod \
                 mode (fsutil prepareTargetDir); buildah uses 0755",
    },
    Listed {
        case: "add-archives",
        key: "/owned/src* owner",
        reason: "ADD --chown of a local archive: BuildKit extracts with ChownOpts (every entry \
                 gets the --chown owner); buildah 1.28 keeps the owners in the archive",
    },
    Listed {
        case: "expose-volume",
        key: "config.ExposedPorts",
        reason: "BuildKit expands port ranges (8000-8003 -> four ports) and lowercases the \
                 protocol (convert_expose.go); buildah keeps `8000-8003/tcp` and `53/UDP`",
    },
    Listed {
        case: "expose-volume",
        key: "/a only-buildah",
        reason: "buildah creates the directories of a VOLUME in the rootfs; BuildKit's \
                 dispatchVolume only records them in the config",
    },
    Listed {
        case: "expose-volume",
        key: "/b only-buildah",
        reason: "buildah creates the directories of a VOLUME in the rootfs; BuildKit's \
                 dispatchVolume only records them in the config",
    },
    Listed {
        case: "copy-from-image",
        key: "config.WorkingDir",
        reason: "a scratch stage's working directory is / in BuildKit's config (checked with \
                 Docker 20.10); buildah 1.28 records none",
    },
    Listed {
        case: "shell",
        key: "config.Cmd",
        reason: "shell-form CMD runs through the SHELL in force (BuildKit withShell); buildah \
                 1.28 always uses /bin/sh -c",
    },
    Listed {
        case: "shell",
        key: "config.Entrypoint",
        reason: "shell-form ENTRYPOINT runs through the SHELL in force (BuildKit withShell); \
                 buildah 1.28 always uses /bin/sh -c",
    },
    Listed {
        case: "special-modes",
        key: "/bin/suid mode",
        reason: SETID,
    },
    Listed {
        case: "special-modes",
        key: "/s/both mode",
        reason: SETID,
    },
    Listed {
        case: "special-modes",
        key: "/s/sgid mode",
        reason: SETID,
    },
    Listed {
        case: "special-modes",
        key: "/s/sgiddir mode",
        reason: SETID,
    },
    Listed {
        case: "special-modes",
        key: "/s/suid mode",
        reason: SETID,
    },
    Listed {
        case: "run-hardlinks",
        key: "/bb-hard links",
        reason: HARDLINK_LOWER,
    },
    Listed {
        case: "run-hardlinks",
        key: "/bin/busybox links",
        reason: HARDLINK_LOWER,
    },
    Listed {
        case: "run-hosts-resolv",
        key: "/etc/hosts size",
        reason: HOSTS,
    },
    Listed {
        case: "run-hosts-resolv",
        key: "/etc/hosts sha256",
        reason: HOSTS,
    },
    Listed {
        case: "run-hosts-resolv",
        key: "/etc/hosts mtime",
        reason: HOSTS,
    },
    Listed {
        case: "run-hosts-resolv",
        key: "/seen sha256",
        reason: HOSTS,
    },
    Listed {
        case: "run-env-arg",
        key: "/out2 size",
        reason: ARG_AFTER_ENV,
    },
    Listed {
        case: "run-env-arg",
        key: "/out2 sha256",
        reason: ARG_AFTER_ENV,
    },
    Listed {
        case: "run-mknod",
        key: "/blk only-kiln",
        reason: MKNOD,
    },
    Listed {
        case: "run-mknod",
        key: "/null2 only-kiln",
        reason: MKNOD,
    },
    Listed {
        case: "run-mknod",
        key: "/no-mknod only-buildah",
        reason: MKNOD,
    },
    Listed {
        case: "run-hardlink-lower",
        key: "/d/a links",
        reason: HARDLINK_COPYUP,
    },
    Listed {
        case: "run-hardlink-lower",
        key: "/d/b size",
        reason: HARDLINK_COPYUP,
    },
    Listed {
        case: "run-hardlink-lower",
        key: "/d/b sha256",
        reason: HARDLINK_COPYUP,
    },
    Listed {
        case: "run-hardlink-lower",
        key: "/d/b mtime",
        reason: HARDLINK_COPYUP,
    },
    Listed {
        case: "run-hardlink-lower",
        key: "/d/b links",
        reason: HARDLINK_COPYUP,
    },
];

pub(crate) const HARDLINK_COPYUP: &str =
    "RUN appends to one name of a hard-linked pair from a lower layer: \
                               overlayfs (index=off, the kernel default, under BuildKit's \
                               overlay snapshotter as under kiln) copies up that name only, so \
                               the link breaks and the other name keeps the old content; \
                               buildah's vfs container has the real link and changes both";

pub(crate) const MKNOD: &str =
    "RUN mknod: Docker's default capabilities (BuildKit's oci spec) include \
                     CAP_MKNOD, as kiln's; buildah's default capability list \
                     (containers.conf) leaves it out, so mknod fails there";

pub(crate) const ARG_AFTER_ENV: &str =
    "ARG E=value after ENV E=...: BuildKit's dispatchArg adds the ARG to \
                             the state's env (llb AddEnv), so RUN sees the ARG's value (as kiln; \
                             golden parse/arg_env_same_name_later_wins); buildah keeps the ENV \
                             value, as the classic builder and the Dockerfile reference say";

pub(crate) const HOSTS: &str =
    "an image with its own /etc/hosts: BuildKit bind-mounts a fresh hosts file \
                     (executor/oci GetHostsFile: localhost and the sandbox name only) over it \
                     during RUN, so RUN neither sees nor changes the image's file (as kiln); \
                     buildah mounts a copy seeded from the image's file and its RUN's writes \
                     end up in the image";

pub(crate) const HARDLINK_LOWER: &str =
    "RUN hard-links a file of a lower layer: overlayfs copies it up, so \
                              BuildKit's overlay diff has both names in the layer, linked (as \
                              kiln); buildah's vfs diff sees /bin/busybox unchanged and stores \
                              /bb-hard as a separate copy";

/// Every listed difference.
pub(crate) fn listed() -> impl Iterator<Item = &'static Listed> {
    DIFFERENCES.iter().chain(RUN_STUBS.iter())
}

/// RUN cases: the mount points buildah's runtime leaves in the image.
pub(crate) const RUN_STUBS: [Listed; 5] = [
    Listed {
        case: "run-*",
        key: "/etc/hostname only-buildah",
        reason: "buildah bind-mounts /etc/hostname and leaves the empty mount point in the \
                 image; BuildKit mounts only /etc/hosts and /etc/resolv.conf and removes \
                 their stubs (executor.MountStubsCleaner)",
    },
    Listed {
        case: "run-*",
        key: "/run only-buildah",
        reason: "buildah mounts /run/.containerenv and leaves /run in the image; BuildKit \
                 mounts nothing there",
    },
    Listed {
        case: "run-*",
        key: "/dev only-buildah",
        reason: MOUNT_DIRS,
    },
    Listed {
        case: "run-*",
        key: "/proc only-buildah",
        reason: MOUNT_DIRS,
    },
    Listed {
        case: "run-*",
        key: "/sys only-buildah",
        reason: MOUNT_DIRS,
    },
];

pub(crate) const MOUNT_DIRS: &str =
    "the test's base image has no /dev, /proc, /sys (real bases do): the \
                          OCI runtime under buildah creates the mount points and they stay in \
                          the image; kiln's sandbox removes the empty ones it made \
                          (kiln-sandbox rootfs_is_left_without_mount_points). runc under \
                          BuildKit would leave them too: an open decision, not a buildah bug";

pub(crate) const SETID: &str =
    "buildah 1.28 strips setuid/setgid bits when copying from the context; \
                     BuildKit's copy keeps the whole mode (fsutil copyFileInfo chmods fi.Mode())";

/// Meta files of a case directory that are not part of the build context.
pub(crate) const META: [&str; 5] = ["args", "setup", "expected", "check", "fails"];

/// Last-Modified of everything the test's HTTP server sends.
pub(crate) const LAST_MODIFIED: &str = "Wed, 21 Oct 2015 07:28:00 GMT";

/// The time every context file gets (see [`fix_times`]).
pub(crate) const CONTEXT_MTIME: i64 = 1_700_000_000;
