//! `kiln audit` on images built in the test with planted problems: each finding with its
//! path, layer and step; files a later step deleted are still found (their bytes ship);
//! a clean image gives none; `--fail-on` sets the exit code.

mod support;

use support::TestEnv;

const RSA_KEY: &str = "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA0Z3VS5JJcds3xfn/ygWyF8PbnGy0AHB7MhgwMbRvI0MBZhpI\n-----END RSA PRIVATE KEY-----\n";

/// `kiln build -q [extra] -t TAG CTX`.
fn build(env: &TestEnv, ctx: &std::path::Path, tag: &str, extra: &[&str]) {
    let mut args = vec!["build", "-q"];
    args.extend_from_slice(extra);
    args.extend_from_slice(&["-t", tag, ctx.to_str().expect("utf-8")]);
    env.ok(&args);
}

fn audit_json(env: &TestEnv, image: &str) -> serde_json::Value {
    let out = env.ok(&["audit", "--format", "json", image]);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("audit JSON ({e}): {out}"))
}

/// The findings with this ID.
fn with_id<'a>(a: &'a serde_json::Value, id: &str) -> Vec<&'a serde_json::Value> {
    a["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|f| f["id"] == id)
        .collect()
}

#[test]
fn planted_problems_are_found_with_their_layer_path_and_step() {
    let env = TestEnv::new();
    env.import_busybox("busybox:test");
    let dockerfile = "FROM busybox:test\n\
        COPY id_rsa /root/.ssh/id_rsa\n\
        COPY aws.txt /app/aws.txt\n\
        RUN busybox rm /root/.ssh/id_rsa /app/aws.txt\n\
        ENV DB_PASSWORD=Xk9mQ2vL7pZr4TwE\n\
        ARG API_TOKEN\n\
        RUN echo \"token=$API_TOKEN\" > /app.env\n\
        RUN busybox mkdir -p /var/lib/apt/lists && echo packages > /var/lib/apt/lists/deb.debian.org_Packages\n\
        RUN busybox mkdir -p /usr/bin && busybox cp /bin/busybox /usr/bin/suid-tool && busybox chmod 4755 /usr/bin/suid-tool\n\
        RUN busybox head -c 52428800 /dev/zero > /big\n\
        RUN busybox rm /big\n";
    let ctx = env.context(
        "ctx",
        &[
            ("Dockerfile", dockerfile),
            ("id_rsa", RSA_KEY),
            ("aws.txt", "aws_access_key_id = AKIAIOSFODNN7EXAMPLE\n"),
        ],
    );
    let token = "API_TOKEN=ghp_0123456789abcdefghijklmnopqrstuvwxyzAB";
    build(&env, &ctx, "planted:1", &["--build-arg", token]);
    let a = audit_json(&env, "planted:1");
    let one = |id: &str, path: &str| -> serde_json::Value {
        let found = with_id(&a, id);
        found
            .iter()
            .find(|f| f["path"] == path)
            .map(|f| (*f).clone())
            .unwrap_or_else(|| panic!("no {id} at {path}: {a:#}"))
    };
    // Layers: 0 busybox, 1 COPY id_rsa, 2 COPY aws.txt, 3 RUN rm, 4 RUN echo token,
    // 5 apt lists, 6 setuid, 7 big, 8 rm big.
    // The Dockerfile line of each finding: the step that made the layer or set the value.
    assert_eq!(a["dockerfile"], "Dockerfile", "{a:#}");
    let line = |id: &str, path: &str| one(id, path)["line"].clone();
    assert_eq!(line("KA010", "/root/.ssh/id_rsa"), 2);
    assert_eq!(line("KA011", "/app/aws.txt"), 3);
    assert_eq!(line("KA012", "/app.env"), 7);
    assert_eq!(line("KA030", "/var/lib/apt/lists"), 8);
    assert_eq!(line("KA002", "/usr/bin/suid-tool"), 9);
    assert_eq!(line("KA032", "/big"), 10);
    assert_eq!(with_id(&a, "KA013")[0]["line"], 5, "the ENV line");
    assert_eq!(with_id(&a, "KA015")[0]["line"], 6, "the ARG line");
    assert_eq!(a["layers"][0]["line"], 1, "the base's layer: the FROM line");
    let key = one("KA010", "/root/.ssh/id_rsa");
    assert_eq!(key["layer"], 1, "{key}");
    assert_eq!(key["hidden_by_layer"], 3, "deleted by the RUN rm: {key}");
    assert!(
        key["step"]
            .as_str()
            .is_some_and(|s| s.contains("COPY id_rsa")),
        "{key}"
    );
    let aws = one("KA011", "/app/aws.txt");
    assert_eq!(
        (aws["layer"].clone(), aws["hidden_by_layer"].clone()),
        (2.into(), 3.into())
    );
    let token = one("KA012", "/app.env");
    assert_eq!(token["layer"], 4, "{token}");
    assert!(
        !a.to_string().contains("ghp_0123"),
        "a secret's value is never shown"
    );
    assert!(
        !a.to_string().contains("Xk9mQ2"),
        "a secret's value is never shown"
    );
    let env_secret = with_id(&a, "KA013");
    assert_eq!(env_secret.len(), 1, "{a:#}");
    assert!(env_secret[0]["message"]
        .as_str()
        .is_some_and(|m| m.contains("DB_PASSWORD")));
    // The ARG's value is in the image's history.
    let hist = with_id(&a, "KA015");
    assert_eq!(hist.len(), 1, "{a:#}");
    assert_eq!(hist[0]["step"], "ARG API_TOKEN=[redacted]", "{a:#}");
    let lists = one("KA030", "/var/lib/apt/lists");
    assert_eq!(
        (lists["layer"].clone(), lists["bytes"].clone()),
        (5.into(), 9.into())
    );
    let suid = one("KA002", "/usr/bin/suid-tool");
    assert_eq!(suid["layer"], 6, "{suid}");
    let big = one("KA032", "/big");
    assert_eq!(big["bytes"], 52_428_800u64, "{big}");
    assert_eq!(
        (big["layer"].clone(), big["hidden_by_layer"].clone()),
        (7.into(), 8.into())
    );
    assert!(!with_id(&a, "KA001").is_empty(), "runs as root");
    let wasted = a["wasted_bytes"].as_u64().expect("wasted");
    assert!(wasted >= 52_428_800, "{wasted}");
    assert!(
        a["efficiency"].as_f64().is_some_and(|e| e < 0.5),
        "{}",
        a["efficiency"]
    );
    assert_eq!(a["layers"].as_array().map(Vec::len), Some(9));

    let human = env.ok(&["audit", "planted:1"]);
    assert!(human.contains("CRITICAL KA011"), "{human}");
    assert!(human.contains("Dockerfile:3; layer 2"), "{human}");
    assert!(human.contains("deleted or replaced in layer 3"), "{human}");
    assert!(human.contains("efficiency:"), "{human}");
    let out = env.run(&["audit", "--fail-on", "critical", "planted:1"]);
    support::assert_fails(&out, 1, &["at or above critical (--fail-on critical)"]);
    // A build of nothing but `FROM planted:1` gives the same image: its lines stay.
    let ctx2 = env.context("ctx2", &[("Dockerfile", "FROM planted:1\n")]);
    build(&env, &ctx2, "again:1", &[]);
    let again = audit_json(&env, "again:1");
    assert_eq!(again["id"], a["id"], "the same image");
    let key = with_id(&again, "KA010");
    assert_eq!(key[0]["line"], 2, "{again:#}");
}

#[test]
fn a_clean_image_has_no_findings_and_passes_fail_on() {
    let env = TestEnv::new();
    env.import_busybox("busybox:test");
    let ctx = env.context(
        "ctx",
        &[
            (
                "Dockerfile",
                "FROM busybox:test\nCOPY app.sh /app/app.sh\nUSER app\nHEALTHCHECK CMD true\n",
            ),
            ("app.sh", "echo hello\n"),
        ],
    );
    build(&env, &ctx, "clean:1", &[]);
    let a = audit_json(&env, "clean:1");
    assert_eq!(a["findings"].as_array().map(Vec::len), Some(0), "{a:#}");
    assert_eq!(a["efficiency"], 1.0);
    // An image no build here made (imported) has no Dockerfile lines.
    let imported = audit_json(&env, "busybox:test");
    assert!(imported.get("dockerfile").is_none(), "{imported:#}");
    assert!(imported["layers"][0].get("line").is_none(), "{imported:#}");
    env.ok(&["audit", "--fail-on", "low", "clean:1"]);
    // Control: the same image as root, without a healthcheck.
    let ctx = env.context("ctx2", &[("Dockerfile", "FROM busybox:test\n")]);
    build(&env, &ctx, "root:1", &[]);
    let ids: Vec<String> = audit_json(&env, "root:1")["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| f["id"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(ids, ["KA001", "KA040"]);
    let out = env.run(&["audit", "--fail-on", "medium", "root:1"]);
    support::assert_fails(&out, 1, &["1 finding(s) at or above medium"]);
    let out = env.run(&["audit", "--fail-on", "severe", "root:1"]);
    support::assert_fails(
        &out,
        2,
        &["--fail-on severe: give low, medium, high or critical"],
    );
    let out = env.run(&["audit", "missing:1"]);
    assert_ne!(out.status.code(), Some(0), "{}", support::show(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing:1"));
}
