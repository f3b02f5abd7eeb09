//! Lint a generated 10,000-instruction Dockerfile and print the time.
//! Run: `bench/lint.sh` (release build). Optional argument: the instruction count.

use kiln_lint::{lint, Config, LintInput};
use std::fmt::Write as _;
use std::time::Instant;

fn generate(n: usize) -> String {
    let mut s = String::from("# syntax=docker/dockerfile:1\nARG BASE=debian:12-slim\n");
    let mut count = 0;
    let mut stage = 0;
    while count < n {
        if count % 500 == 0 {
            let _ = writeln!(s, "FROM ${{BASE}} AS stage{stage}");
            stage += 1;
            count += 1;
            continue;
        }
        let line = match count % 12 {
            0 => "RUN apt-get update && apt-get install -y --no-install-recommends curl=7.88.1-10 ca-certificates && rm -rf /var/lib/apt/lists/*".to_string(),
            1 => format!("ENV APP_HOME_{count}=/opt/app{count}"),
            2 => "RUN curl -fsSL https://example.com/x.tgz | tar xz -C /opt \\\n    && cd /opt && make -j2 install".to_string(),
            3 => format!("COPY src/{count} /app/src/{count}/"),
            4 => format!("ARG V{count}=1.0"),
            5 => format!("LABEL org.example.n{count}=\"value {count}\""),
            6 => format!("RUN pip install --no-cache-dir flask==3.0.{count} 'gunicorn>=21' && echo done > /tmp/{count}"),
            7 => format!("WORKDIR /app/w{count}"),
            8 => "RUN set -eux; apk add --no-cache jq=1.7-r2; npm install -g typescript@5.4.5 && npm cache clean --force".to_string(),
            9 => format!("EXPOSE {}", 1000 + count % 60000),
            10 => "USER app".to_string(),
            _ => format!("ADD app{count}.conf /etc/app/"),
        };
        s.push_str(&line);
        s.push('\n');
        count += 1;
    }
    s.push_str("CMD [\"/app/run\"]\n");
    s
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(10_000);
    let text = generate(n);
    let cfg = Config::default();
    let input = LintInput::new(text.as_bytes(), &cfg);
    let findings = lint(&input);
    let mut times = Vec::new();
    for _ in 0..15 {
        let t = Instant::now();
        let f = lint(&input);
        times.push(t.elapsed().as_secs_f64() * 1000.0);
        assert_eq!(f.len(), findings.len());
    }
    times.sort_by(|a, b| a.total_cmp(b));
    println!(
        "kiln lint: {n} instructions ({} lines, {} bytes), {} findings: median {:.1} ms, best {:.1} ms, worst {:.1} ms (15 runs)",
        text.lines().count(),
        text.len(),
        findings.len(),
        times[times.len() / 2],
        times[0],
        times[times.len() - 1]
    );
}
