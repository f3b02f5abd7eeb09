//! Time the front end on a generated 10,000-instruction Dockerfile: parse, typed
//! instructions, plan, and the expansion walk. `cargo bench -p kiln-dockerfile --bench parse`
//! prints the median and minimum of 30 runs per phase. Goal: parse under 20 ms.

use kiln_dockerfile::plan::{plan, PlanOptions};
use kiln_dockerfile::{instructions, report, syntax};
use std::fmt::Write;
use std::time::{Duration, Instant};

/// A Dockerfile of `n` instructions mixing every kind, continuations and heredocs.
fn generate(n: usize) -> String {
    let mut s = String::from("# syntax=docker/dockerfile:1\nARG BASE=debian:bookworm\n");
    let mut count = 1;
    let mut stage = 0;
    while count < n {
        let _ = writeln!(s, "FROM ${{BASE}} AS s{stage}");
        count += 1;
        for i in 0..48 {
            if count >= n {
                break;
            }
            let line = match i % 12 {
                0 => format!("ARG V{i}=value{i}"),
                1 => format!("ENV K{i}=\"a b\" P{i}=$PATH:/opt/{i}"),
                2 => format!("RUN apt-get update && \\\n    apt-get install -y --no-install-recommends pkg{i} && \\\n    rm -rf /var/lib/apt/lists/*"),
                3 => format!("COPY --chown=1000:1000 --chmod=0644 src/{i} /app/{i}/"),
                4 => format!("RUN --mount=type=cache,target=/root/.cache,id=c{i} [\"/bin/sh\", \"-c\", \"echo {i}\"]"),
                5 => format!("WORKDIR /app/${{V{}}}", i - 5),
                6 => format!("LABEL org.example.n{i}=\"{i}\" other=x"),
                7 => "RUN <<EOF\nset -e\necho one\necho two\nEOF".to_string(),
                8 => format!("EXPOSE {}/tcp", 8000 + i),
                9 => format!("USER {i}:{i}"),
                10 => "HEALTHCHECK --interval=30s --timeout=3s CMD curl -f http://localhost/ || exit 1".to_string(),
                _ => format!("CMD [\"/app/run\", \"--id\", \"{i}\"]"),
            };
            s.push_str(&line);
            s.push('\n');
            count += 1;
        }
        stage += 1;
    }
    s
}

fn time<T>(runs: usize, mut f: impl FnMut() -> T) -> (Duration, Duration) {
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let t = Instant::now();
            std::hint::black_box(f());
            t.elapsed()
        })
        .collect();
    times.sort();
    (times[runs / 2], times[0])
}

fn main() {
    let text = generate(10_000);
    let ast = match syntax::parse(&text) {
        Ok(a) => a,
        Err(e) => panic!(
            "generated Dockerfile does not parse: {}",
            e.render("gen", &text)
        ),
    };
    assert_eq!(ast.nodes.len(), 10_000);
    let df = instructions::from_ast(&ast).unwrap_or_else(|e| panic!("{}", e.render("gen", &text)));
    let runs = 30;
    let report_line = |what: &str, (median, min): (Duration, Duration)| {
        println!(
            "{what:<34} median {:>8.3} ms   min {:>8.3} ms",
            median.as_secs_f64() * 1e3,
            min.as_secs_f64() * 1e3
        );
    };
    println!("10,000 instructions, {} bytes, {runs} runs", text.len());
    report_line("parse (syntax tree)", time(runs, || syntax::parse(&text)));
    report_line(
        "typed instructions",
        time(runs, || instructions::from_ast(&ast)),
    );
    report_line(
        "parse + instructions + plan",
        time(runs, || {
            let ast = syntax::parse(&text).ok()?;
            let df = instructions::from_ast(&ast).ok()?;
            plan(df, &PlanOptions::default()).ok()
        }),
    );
    let p = plan(df, &PlanOptions::default()).unwrap_or_else(|e| panic!("{}", e.message));
    report_line(
        "expansion walk (all stages)",
        time(runs, || report::report(&p).is_ok()),
    );
}
