//! Regression tests for the quadratic stage walk: `kiln parse` took 7.7 s on a Dockerfile
//! of 5,000 RUN and 5,000 ENV lines because every instruction copied every variable in
//! force. No timing here: the tests count the variable entries copied while planning and
//! reporting (see `vars::ENTRIES_COPIED`) and require that count to stay within a constant
//! per instruction, whatever the number of variables.

use super::vars::ENTRIES_COPIED;
use super::{plan, PlanOptions};
use crate::{instructions, report, syntax};
use std::fmt::Write;

/// Entries copied by planning and reporting `text`.
fn copies(text: &str) -> usize {
    let ast = syntax::parse(text).expect("parses");
    let df = instructions::from_ast(&ast).expect("typed");
    ENTRIES_COPIED.with(|c| c.set(0));
    let plan = plan(df, &PlanOptions::default()).expect("plans");
    report::report(&plan).expect("reports");
    ENTRIES_COPIED.with(|c| c.get())
}

fn env_heavy(n: usize) -> String {
    let mut s = String::from("FROM debian:12-slim\n");
    for i in 0..n {
        let _ = writeln!(s, "ENV V{i}=v{i} PATH=/opt/{i}:$PATH\nRUN echo {i}");
    }
    s
}

fn arg_heavy(n: usize) -> String {
    let mut s = String::new();
    for i in 0..n {
        let _ = writeln!(s, "ARG G{i}=g{i}");
    }
    s.push_str("FROM debian:12-slim\n");
    for i in 0..n {
        let _ = writeln!(
            s,
            "ARG G{i}\nARG A{i}=${{G{i}}}-${{A{}:+x}}",
            i.saturating_sub(1)
        );
    }
    s
}

/// Stages each built on the one before, each adding variables.
fn stage_chain(n: usize) -> String {
    let mut s = String::from("FROM debian:12-slim AS s0\n");
    for i in 1..n {
        let _ = writeln!(s, "FROM s{} AS s{i}\nENV E{i}=e{i}\nARG A{i}=a{i}", i - 1);
    }
    s
}

#[test]
fn env_heavy_stage_walk_copies_no_variables_per_instruction() {
    // The old walk copied every variable for every instruction: n^2 entries.
    let n = 2_000;
    assert!(copies(&env_heavy(n)) <= 2 * n, "{}", copies(&env_heavy(n)));
}

#[test]
fn arg_heavy_walk_stays_linear() {
    let n = 2_000;
    let c = copies(&arg_heavy(n));
    // The report lists the stage's ARG values once: n entries, plus the global scope.
    assert!(c <= 4 * n, "{c} entries copied for {n} ARGs");
}

#[test]
fn stage_chain_moves_the_scope_to_the_last_stage_built_on_it() {
    let n = 500;
    let c = copies(&stage_chain(n));
    // The report lists each stage's ARGs (i of them for stage i): that listing is the only
    // per-stage copy, and it is output. Moving the scope leaves nothing else; copying it
    // to each stage built on it would add another n^2/2 for ENV alone.
    let listed = n * (n - 1) / 2;
    assert!(c <= listed + 4 * n, "{c} entries copied for {n} stages");
}

#[test]
fn two_stages_on_one_base_copy_its_scope_once() {
    let text = "FROM debian:12-slim AS base\nENV A=1 B=2 C=3\n\
                FROM base AS one\nRUN true\nFROM base AS two\nRUN true\n\
                FROM debian:12-slim\nCOPY --from=one /a /a\nCOPY --from=two /b /b\n";
    // Once in the plan walk and once in the report walk, 3 ENV + 3 config entries each.
    assert_eq!(copies(text), 12);
}
