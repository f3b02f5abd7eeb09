//! `kiln parse`: the front end on its own.

use crate::cli::{ParseArgs, ParseFormat};
use crate::exit::Failure;
use crate::input::Source;
use kiln_dockerfile::syntax;

pub fn run(args: ParseArgs) -> Result<(), Failure> {
    let source = Source::read(&args.file)?;
    let ast = syntax::parse_bytes(&source.bytes).map_err(|e| source.render(&e))?;
    match args.format {
        ParseFormat::BuildkitDump => print!("{}", syntax::dump::dump(&ast)),
        ParseFormat::Json | ParseFormat::Human => {
            let df =
                kiln_dockerfile::instructions::from_ast(&ast).map_err(|e| source.render(&e))?;
            println!("{}", serde_json::to_string_pretty(&df).unwrap_or_default());
        }
    }
    Ok(())
}
