//! `kiln parse`: the front end on its own.

use crate::cli::{ParseArgs, ParseFormat};
use crate::exit::Failure;
use crate::input::Source;
use kiln_dockerfile::error::{render_in, SourceLines};
use kiln_dockerfile::plan::{plan, PlanOptions};
use kiln_dockerfile::{instructions, report, syntax};

pub fn run(args: ParseArgs) -> Result<(), Failure> {
    let source = Source::read(&args.file)?;
    let ast = syntax::parse_bytes(&source.bytes).map_err(|e| source.render(&e))?;
    if args.format == ParseFormat::BuildkitDump {
        return crate::output::stdout(&syntax::dump::dump(&ast));
    }
    let df = instructions::from_ast(&ast).map_err(|e| source.render(&e))?;
    let opts = PlanOptions {
        build_args: crate::build_args::parse(&args.build_args)?,
        target: args.target.clone(),
        ..PlanOptions::default()
    };
    let plan = plan(df, &opts).map_err(|e| source.render(&e))?;
    let rep = report::report(&plan).map_err(|e| source.render(&e))?;
    let text = source.text();
    let lines = SourceLines::new(&text);
    for w in &rep.warnings {
        let span = w.span;
        eprint!(
            "{}",
            render_in("warning", &w.message, span, None, &source.name, &lines)
        );
    }
    if !plan.unused_build_args.is_empty() {
        eprintln!(
            "warning: build args not used by any ARG of the needed stages: {}",
            plan.unused_build_args.join(", ")
        );
    }
    let text = match args.format {
        ParseFormat::Human => report::human(&plan, &rep),
        _ => {
            let json = serde_json::to_string_pretty(&rep).map_err(|e| {
                Failure::new(
                    kiln_oci::ErrorKind::Internal,
                    format!("error: cannot encode the report as JSON: {e}"),
                )
            })?;
            json + "\n"
        }
    };
    crate::output::stdout(&text)
}
