//! The build context: `.dockerignore` (and `<Dockerfile>.dockerignore`) with Docker's
//! pattern rules, sources outside the context refused or copied as links, a context
//! tarball on standard input, a Dockerfile on standard input.

mod support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use support::{assert_fails, assert_unchanged, s, snapshot, TarEntry, TestEnv};

/// Every path under `dir` (relative, directories with a trailing `/`), links not followed.
fn tree(dir: &Path) -> BTreeSet<String> {
    snapshot(dir, &[])
        .into_iter()
        .filter(|(p, _)| p != dir)
        .map(|(p, seen)| {
            let rel = p
                .strip_prefix(dir)
                .expect("under dir")
                .to_string_lossy()
                .into_owned();
            if seen.kind == "dir" {
                format!("{rel}/")
            } else {
                rel
            }
        })
        .collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// Build `ctx` as `name`, export the image, return the exported tree under `/ctx`.
fn built_tree(env: &TestEnv, ctx: &Path, extra: &[&str], name: &str) -> BTreeSet<String> {
    let mut args = vec!["build", "-q", "-t", name];
    args.extend_from_slice(extra);
    args.push(s(ctx));
    env.ok(&args);
    let out = env.export(name, &format!("export-{}", name.replace(':', "-")));
    tree(&out.join("ctx"))
}

const FILES: &[(&str, &str)] = &[
    ("a.txt", "a"),
    ("b.log", "b"),
    ("keep.log", "k"),
    ("logs/x.log", "x"),
    ("deep/d.txt", "d"),
    ("deep/dir/c.tmp", "c"),
    ("c.tmp", "c"),
    ("secret.key", "s"),
    ("secrets/s1", "s"),
    ("node_modules/m/index.js", "m"),
    ("src/main.rs", "m"),
    ("src/test/fixture.txt", "f"),
    ("docs/readme.md", "r"),
    ("docs/internal/notes.md", "n"),
    ("sp ace/f[1].txt", "sp"),
];

#[test]
fn dockerignore_follows_dockers_rules() {
    let env = TestEnv::new();
    let mut files = FILES.to_vec();
    files.push(("Dockerfile", "FROM scratch\nCOPY . /ctx/\n"));
    files.push((
        ".dockerignore",
        "# a comment\n\
         *.log\n\
         !keep.log\n\
         **/*.tmp\n\
         secret*\n\
         node_modules\n\
         docs/**\n\
         !docs/readme.md\n\
         /src/test/\n\
         ./sp ace/f\\[1\\].txt\n\
         \n",
    ));
    let ctx = env.context("ctx", &files);
    let got = built_tree(&env, &ctx, &[], "ignore:1");
    let want = set(&[
        ".dockerignore",
        "Dockerfile",
        "a.txt",
        "keep.log",
        "logs/",
        "logs/x.log",
        "deep/",
        "deep/d.txt",
        "deep/dir/",
        "docs/",
        "docs/readme.md",
        "src/",
        "src/main.rs",
        "sp ace/",
    ]);
    assert_eq!(got, want);
}

#[test]
fn a_dockerignore_next_to_the_dockerfile_wins() {
    let env = TestEnv::new();
    let ctx = env.context(
        "ctx",
        &[
            ("a.txt", "a"),
            ("b.txt", "b"),
            ("c.txt", "c"),
            (".dockerignore", "a.txt\n"),
            ("Dockerfile", "FROM scratch\nCOPY . /ctx/\n"),
            (
                "Dockerfile.dockerignore",
                "b.txt\nDockerfile*\n.dockerignore\n",
            ),
            ("build/app.Dockerfile", "FROM scratch\nCOPY *.txt /ctx/\n"),
            ("build/app.Dockerfile.dockerignore", "c.txt\n"),
        ],
    );
    // The default Dockerfile's own ignore file replaces .dockerignore.
    assert_eq!(
        built_tree(&env, &ctx, &[], "one:1"),
        set(&[
            "a.txt",
            "build/",
            "build/app.Dockerfile",
            "build/app.Dockerfile.dockerignore",
            "c.txt"
        ])
    );
    // -f names another Dockerfile: its ignore file applies.
    let df = ctx.join("build/app.Dockerfile");
    assert_eq!(
        built_tree(&env, &ctx, &["-f", s(&df)], "two:1"),
        set(&["a.txt", "b.txt"])
    );
    // Without one, .dockerignore applies.
    std::fs::remove_file(ctx.join("build/app.Dockerfile.dockerignore")).expect("rm");
    assert_eq!(
        built_tree(&env, &ctx, &["-f", s(&df)], "three:1"),
        set(&["b.txt", "c.txt"])
    );
}

#[test]
fn copying_an_ignored_file_says_so() {
    let env = TestEnv::new();
    let ctx = env.context(
        "ctx",
        &[
            ("secret.key", "s"),
            (".dockerignore", "secret*\n"),
            ("Dockerfile", "FROM scratch\nCOPY secret.key /\n"),
        ],
    );
    let out = env.run(&["build", s(&ctx)]);
    assert_fails(
        &out,
        1,
        &[
            "Dockerfile:2:1",
            "\"secret.key\" is excluded from the build context by .dockerignore",
            "hint: remove the matching pattern from .dockerignore",
        ],
    );
    // A bad pattern is reported with its file and line.
    std::fs::write(ctx.join(".dockerignore"), "ok\n!\n").expect("write");
    let out = env.run(&["build", s(&ctx)]);
    assert_fails(
        &out,
        3,
        &[".dockerignore", "line 2", "illegal exclusion pattern"],
    );
}

/// A context with links that point out of it, next to a directory it must not reach.
fn escaping_context(env: &TestEnv) -> (PathBuf, PathBuf) {
    let outside = env.path().join("outside");
    std::fs::create_dir_all(&outside).expect("mkdir");
    std::fs::write(outside.join("secret"), "outside secret\n").expect("write");
    std::fs::write(env.path().join("beside.txt"), "beside\n").expect("write");
    let ctx = env.context("ctx", &[("a.txt", "inside a\n")]);
    let link = |target: &Path, name: &str| {
        std::os::unix::fs::symlink(target, ctx.join(name)).expect("symlink")
    };
    link(&outside.join("secret"), "abs-link");
    link(Path::new("../outside/secret"), "rel-link");
    link(&outside, "dir-link");
    link(Path::new("a.txt"), "good-link");
    (ctx, outside)
}

#[test]
fn sources_outside_the_context_are_refused() {
    let env = TestEnv::new();
    let (ctx, outside) = escaping_context(&env);
    let before = snapshot(env.path(), &[&env.store()]);
    for (src, shown) in [
        ("../beside.txt", "../beside.txt"),
        ("/../outside/secret", "/../outside/secret"),
        ("abs-link", "abs-link"),
        ("rel-link", "rel-link"),
        ("dir-link/secret", "dir-link/secret"),
        ("dir-link/", "dir-link"),
    ] {
        std::fs::write(
            ctx.join("Dockerfile"),
            format!("FROM scratch\nCOPY {src} /x\n"),
        )
        .expect("write");
        let out = env.run(&["build", s(&ctx)]);
        assert_fails(
            &out,
            1,
            &[
                "Dockerfile:2:1",
                &format!("COPY failed: {shown:?} not found in the build context"),
                "hint: paths are relative to the build context",
            ],
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("outside secret"), "{stderr}");
    }
    // ADD follows the same rules.
    std::fs::write(ctx.join("Dockerfile"), "FROM scratch\nADD abs-link /x\n").expect("write");
    let out = env.run(&["build", s(&ctx)]);
    assert_fails(
        &out,
        1,
        &[
            "Dockerfile:2:1",
            "ADD failed",
            "not found in the build context",
        ],
    );
    let mut after = snapshot(env.path(), &[&env.store()]);
    let df = ctx.join("Dockerfile");
    assert!(!before.contains_key(&df));
    after.remove(&df);
    let mut before = before;
    before.remove(&ctx);
    after.remove(&ctx);
    assert_unchanged("outside the store", &before, &after);
    assert_eq!(
        std::fs::read_to_string(outside.join("secret")).expect("read"),
        "outside secret\n"
    );
}

#[test]
fn links_out_of_the_context_are_copied_as_links() {
    let env = TestEnv::new();
    let (ctx, outside) = escaping_context(&env);
    // ../ at the start of a source is cleaned away, as in Docker: this is the context's a.txt.
    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM scratch\nCOPY . /ctx/\nCOPY ../a.txt good-link /top/\n",
    )
    .expect("write");
    let got = built_tree(&env, &ctx, &[], "links:1");
    assert_eq!(
        got,
        set(&[
            "Dockerfile",
            "a.txt",
            "abs-link",
            "dir-link",
            "good-link",
            "rel-link"
        ])
    );
    let root = env.path().join("export-links-1");
    let ctx_out = root.join("ctx");
    assert_eq!(
        std::fs::read_link(ctx_out.join("abs-link")).expect("link"),
        outside.join("secret")
    );
    assert_eq!(
        std::fs::read_link(ctx_out.join("rel-link")).expect("link"),
        Path::new("../outside/secret")
    );
    assert_eq!(
        std::fs::read_link(ctx_out.join("dir-link")).expect("link"),
        outside
    );
    // A link named as a source is followed inside the context.
    assert_eq!(
        std::fs::read_to_string(root.join("top/good-link")).expect("read"),
        "inside a\n"
    );
    assert_eq!(
        std::fs::read_to_string(root.join("top/a.txt")).expect("read"),
        "inside a\n"
    );
    // Nothing from outside is anywhere in the image.
    for (p, seen) in snapshot(&root, &[]) {
        if seen.kind == "file" {
            let text = std::fs::read_to_string(&p).unwrap_or_default();
            assert!(!text.contains("outside secret"), "{} has it", p.display());
        }
    }
}

#[test]
fn a_dockerignore_that_links_out_of_the_context_is_not_read() {
    let env = TestEnv::new();
    let outside = env.path().join("outside");
    std::fs::create_dir_all(&outside).expect("mkdir");
    std::fs::write(outside.join("ignore"), "a.txt\n").expect("write");
    let ctx = env.context(
        "ctx",
        &[
            ("a.txt", "a"),
            ("Dockerfile", "FROM scratch\nCOPY a.txt /ctx/\n"),
        ],
    );
    for name in [".dockerignore", "Dockerfile.dockerignore"] {
        let l = ctx.join(name);
        let _ = std::fs::remove_file(&l);
        std::os::unix::fs::symlink(outside.join("ignore"), &l).expect("symlink");
        // The link resolves inside the context, where there is no such file.
        assert_eq!(
            built_tree(&env, &ctx, &[], &format!("ign{}:1", name.len())),
            set(&["a.txt"]),
            "{name} was read from outside the context"
        );
        std::fs::remove_file(&l).expect("rm");
    }
    // And a Dockerfile that links out is not found.
    std::fs::remove_file(ctx.join("Dockerfile")).expect("rm");
    std::fs::write(outside.join("Dockerfile"), "FROM scratch\n").expect("write");
    std::os::unix::fs::symlink(outside.join("Dockerfile"), ctx.join("Dockerfile")).expect("ln");
    let out = env.run(&["build", s(&ctx)]);
    assert_fails(&out, 3, &["no Dockerfile found", "Dockerfile"]);
}

#[test]
fn special_files_in_the_context_are_copied_not_opened() {
    let env = TestEnv::new();
    let ctx = env.context(
        "ctx",
        &[
            ("Dockerfile", "FROM scratch\nCOPY . /ctx/\n"),
            ("a.txt", "a"),
        ],
    );
    let fifo = ctx.join("pipe");
    support::run_ok(std::process::Command::new("mkfifo").arg(&fifo));
    let mut cmd = env.kiln();
    cmd.args(["build", "-q", "-t", "fifo:1", s(&ctx)]);
    let out = support::output_within(&mut cmd, 60);
    assert!(out.status.success(), "{}", support::show(&out));
    let tar = env.path().join("fifo.tar");
    env.ok(&["export", "fifo:1", "-o", s(&tar)]);
    let listing = support::tar_listing(&tar);
    assert!(
        listing
            .lines()
            .any(|l| l.starts_with("prw-r--r-- 0/0") && l.ends_with(" ctx/pipe")),
        "{listing}"
    );
}

fn context_tar(entries: &[TarEntry]) -> Vec<u8> {
    support::tar_bytes(entries)
}

#[test]
fn a_context_tarball_on_standard_input() {
    let env = TestEnv::new();
    let tar = context_tar(&[
        TarEntry::file("Dockerfile", "FROM scratch\nCOPY . /ctx/\nCMD [\"x\"]\n"),
        TarEntry::file(".dockerignore", "*.log\n"),
        TarEntry::file("a.txt", "from the tar\n"),
        TarEntry::file("b.log", "ignored\n"),
        TarEntry::dir("d/"),
        TarEntry::file("d/e.txt", "e\n").owned(1000, 1000),
        TarEntry::symlink("link", "/etc/passwd"),
    ]);
    // (An epoch, so that the gzip build below gives the same layers.)
    let out = env.run_stdin(
        &[
            "build",
            "-q",
            "--source-date-epoch",
            "0",
            "-t",
            "stdin:1",
            "-",
        ],
        &tar,
    );
    assert!(out.status.success(), "{}", support::show(&out));
    let root = env.export("stdin:1", "stdin-root");
    assert_eq!(
        tree(&root.join("ctx")),
        set(&[
            ".dockerignore",
            "Dockerfile",
            "a.txt",
            "d/",
            "d/e.txt",
            "link"
        ])
    );
    assert_eq!(
        std::fs::read_to_string(root.join("ctx/a.txt")).expect("read"),
        "from the tar\n"
    );
    // COPY gives root ownership, whatever the tar said.
    use std::os::unix::fs::MetadataExt;
    assert_eq!(
        std::fs::metadata(root.join("ctx/d/e.txt"))
            .expect("stat")
            .uid(),
        0
    );
    assert_eq!(
        std::fs::read_link(root.join("ctx/link")).expect("link"),
        Path::new("/etc/passwd")
    );

    // Compressed with gzip.
    let gz = support::run_ok_bytes(std::process::Command::new("gzip").arg("-c").arg("-n"), &tar);
    let out = env.run_stdin(
        &[
            "build",
            "-q",
            "--source-date-epoch",
            "0",
            "-t",
            "stdin:gz",
            "-",
        ],
        &gz,
    );
    assert!(out.status.success(), "{}", support::show(&out));
    assert_eq!(
        env.inspect("stdin:gz")["RootFS"],
        env.inspect("stdin:1")["RootFS"]
    );

    // -f names a Dockerfile inside the tarball, as docker build does.
    let tar2 = context_tar(&[
        TarEntry::file("build/Custom", "FROM scratch\nCOPY a.txt /custom/\n"),
        TarEntry::file("a.txt", "a\n"),
    ]);
    let out = env.run_stdin(
        &[
            "build",
            "-q",
            "-t",
            "stdin:custom",
            "-f",
            "build/Custom",
            "-",
        ],
        &tar2,
    );
    assert!(out.status.success(), "{}", support::show(&out));
    let root = env.export("stdin:custom", "custom-root");
    assert_eq!(tree(&root), set(&["custom/", "custom/a.txt"]));

    // No Dockerfile in it.
    let out = env.run_stdin(
        &["build", "-"],
        &context_tar(&[TarEntry::file("a.txt", "a")]),
    );
    assert_fails(&out, 3, &["no Dockerfile found"]);
    // Not a tarball: the input is a Dockerfile with an empty context, as docker build does.
    let out = env.run_stdin(
        &["build", "-q", "-t", "stdin:df", "-"],
        b"FROM scratch\nLABEL from=stdin\n",
    );
    assert!(out.status.success(), "{}", support::show(&out));
    assert_eq!(env.inspect("stdin:df")["Config"]["Labels"]["from"], "stdin");
}

#[test]
fn a_hostile_context_tarball_is_refused() {
    let env = TestEnv::new();
    let sentinel = env.sentinel();
    let climb = format!(
        "{}{}",
        "../".repeat(40),
        s(&sentinel.join("x")).trim_start_matches('/')
    );
    let tar = context_tar(&[
        TarEntry::file("Dockerfile", "FROM scratch\nCOPY . /\n"),
        TarEntry::file(&climb, "pwned\n"),
    ]);
    let before = snapshot(env.path(), &[&env.store()]);
    let out = env.run_stdin(&["build", "-"], &tar);
    assert_fails(
        &out,
        1,
        &[
            "cannot unpack the build context from standard input",
            "climbs above the root",
        ],
    );
    // Links planted in the tarball stay inside it.
    let tar = context_tar(&[
        TarEntry::file("Dockerfile", "FROM scratch\nCOPY . /ctx/\n"),
        TarEntry::symlink("evil", s(&sentinel)),
        TarEntry::file("evil/x", "through the link\n"),
    ]);
    let out = env.run_stdin(&["build", "-q", "-t", "planted:1", "-"], &tar);
    assert!(out.status.success(), "{}", support::show(&out));
    assert_unchanged(
        "outside the store",
        &before,
        &snapshot(env.path(), &[&env.store()]),
    );
}

#[test]
fn a_dockerfile_on_standard_input() {
    let env = TestEnv::new();
    let ctx = env.context(
        "ctx",
        &[
            ("a.txt", "a"),
            ("b.txt", "b"),
            (".dockerignore", "b.txt\n"),
            ("Dockerfile", "FROM scratch\nCOPY a.txt /not-this/\n"),
        ],
    );
    let out = env.run_stdin(
        &["build", "-q", "-t", "dfin:1", "-f", "-", s(&ctx)],
        b"FROM scratch\nCOPY . /ctx/\n",
    );
    assert!(out.status.success(), "{}", support::show(&out));
    let root = env.export("dfin:1", "dfin-root");
    assert_eq!(
        tree(&root.join("ctx")),
        set(&[".dockerignore", "Dockerfile", "a.txt"])
    );
    assert!(!root.join("not-this").exists());
    // Errors point at <stdin>.
    let out = env.run_stdin(
        &["build", "-f", "-", s(&ctx)],
        b"FROM scratch\nCOPY nope /\n",
    );
    assert_fails(
        &out,
        1,
        &["<stdin>:2:1", "\"nope\" not found in the build context"],
    );
    // Both from standard input is a usage error.
    let out = env.run_stdin(&["build", "-f", "-", "-"], b"");
    assert_fails(
        &out,
        2,
        &["the context and the Dockerfile cannot both come from standard input"],
    );
}

#[test]
fn context_errors_say_what_to_do() {
    let env = TestEnv::new();
    let missing = env.path().join("no-such-dir");
    let out = env.run(&["build", s(&missing)]);
    assert_fails(
        &out,
        3,
        &[
            &format!("the build context {} is not a directory", s(&missing)),
            "hint: give a directory, or - to read a tarball from standard input",
        ],
    );
    let ctx = env.context("empty", &[]);
    let out = env.run(&["build", s(&ctx)]);
    assert_fails(
        &out,
        3,
        &[
            "no Dockerfile found: looked for",
            &format!("{}/Dockerfile", s(&ctx)),
        ],
    );
    let out = env.run(&["build", "-f", s(&ctx.join("Nope")), s(&ctx)]);
    assert_fails(
        &out,
        3,
        &["cannot read", "Nope", "hint: give the Dockerfile's path"],
    );
}
