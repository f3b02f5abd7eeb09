//! Whole front end on arbitrary bytes: parse, node dump, typed instructions, plan (with a
//! target and a build arg taken from the input), report. Nothing may panic or hang.
#![no_main]

use kiln_dockerfile::plan::{plan, PlanOptions};
use kiln_dockerfile::{instructions, report, syntax};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(ast) = syntax::parse_bytes(data) else {
        return;
    };
    let _ = syntax::dump::dump(&ast);
    let Ok(df) = instructions::from_ast(&ast) else {
        return;
    };
    for stage in &df.stages {
        for ins in &stage.instructions {
            let _ = ins.command.to_string();
        }
    }
    let mut opts = PlanOptions::default();
    if let Some(name) = df.stages.first().and_then(|s| s.name()) {
        opts.target = Some(name.to_string());
    }
    opts.build_args.insert("A".into(), "x y".into());
    let Ok(p) = plan(df, &opts) else {
        return;
    };
    if let Ok(r) = report::report(&p) {
        let _ = report::human(&p, &r);
    }
});
