//! Where `kiln build` reads its Dockerfile from: `-f FILE`, `-f -` (standard input), a path
//! inside a context tarball on standard input, or the context's own `Dockerfile`.

use crate::cli_image::BuildArgs;
use crate::exit::Failure;
use std::path::PathBuf;

/// The Dockerfile as the engine takes it.
pub struct DockerfileSource {
    /// Name (for messages) and bytes, when read here; `None`: the engine finds it in the
    /// context.
    pub read: Option<(String, Vec<u8>)>,
    /// The file on the host (for `.dockerignore` next to it).
    pub path: Option<PathBuf>,
    /// With a context tarball, the Dockerfile's path inside it.
    pub in_context: Option<String>,
}

/// The Dockerfile of `args`; `from_tar`: the context comes from standard input.
pub fn source(args: &BuildArgs, from_tar: bool) -> Result<DockerfileSource, Failure> {
    let read = match &args.file {
        None => None,
        // With a context tarball, -f names a file inside it (as docker build).
        Some(p) if from_tar && p.as_os_str() != "-" => None,
        Some(p) if p.as_os_str() == "-" && from_tar => {
            return Err(Failure::usage(
                "the context and the Dockerfile cannot both come from standard input",
            ));
        }
        Some(p) => {
            let src = crate::input::Source::read(p)?;
            Some((src.name, src.bytes))
        }
    };
    let path = match &args.file {
        Some(p) if p.as_os_str() != "-" && !from_tar => Some(p.clone()),
        _ => None,
    };
    let in_context = match &args.file {
        Some(p) if from_tar && p.as_os_str() != "-" => Some(p.to_string_lossy().into_owned()),
        _ => None,
    };
    Ok(DockerfileSource {
        read,
        path,
        in_context,
    })
}

/// `kiln build --check`: lint the Dockerfile on disk, as `kiln lint` reads it (the user's
/// own files), and build nothing.
pub fn check(args: &BuildArgs, from_tar: bool) -> Result<(), Failure> {
    let default_file = ["Dockerfile", "Containerfile"]
        .iter()
        .map(|n| args.context.join(n))
        .find(|p| p.is_file());
    let Some(path) = args.file.clone().or(default_file).filter(|_| !from_tar) else {
        return Err(Failure::usage(
            "--check needs a Dockerfile on disk: give -f FILE (with a context on standard input, lint the Dockerfile with `kiln lint`)",
        ));
    };
    crate::commands::lint::check(path, false)
}
