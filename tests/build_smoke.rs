//! A first end-to-end build: a busybox base, COPY, metadata, and what the image holds.

mod support;

use support::TestEnv;

#[test]
fn copy_and_metadata_end_up_in_the_image() {
    let env = TestEnv::new();
    env.import_busybox("busybox:test");
    let ctx = env.context(
        "ctx",
        &[
            ("hello.txt", "hello\n"),
            ("Dockerfile", "FROM busybox:test\nENV A=1\nWORKDIR /app\nCOPY hello.txt .\nCMD [\"cat\", \"/app/hello.txt\"]\n"),
        ],
    );
    env.ok(&["build", "-q", "-t", "smoke:1", ctx.to_str().expect("utf-8")]);
    let out = env.path().join("rootfs");
    env.ok(&["export", "smoke:1", "-o", out.to_str().expect("utf-8")]);
    assert_eq!(
        std::fs::read_to_string(out.join("app/hello.txt")).expect("read"),
        "hello\n"
    );
    let inspect: serde_json::Value =
        serde_json::from_str(&env.ok(&["inspect", "smoke:1"])).expect("json");
    // BuildKit gives every stage a PATH when its base has none; ENV comes after it.
    assert_eq!(
        inspect[0]["Config"]["Env"][0],
        "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    );
    assert_eq!(inspect[0]["Config"]["Env"][1], "A=1");
    assert_eq!(inspect[0]["Config"]["WorkingDir"], "/app");
    assert_eq!(inspect[0]["Config"]["Cmd"][1], "/app/hello.txt");
}
