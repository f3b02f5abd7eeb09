//! `kiln pull`, `kiln push`, `kiln login`, `kiln logout`.

use crate::cli_registry::{LoginArgs, LogoutArgs, PullArgs, PushArgs};
use crate::exit::Failure;
use kiln_oci::ErrorKind;
use kiln_oci::Reference;
use kiln_registry::{auth, Credentials, Platform, RegistryError, Secret};
use std::io::Read;
use std::path::PathBuf;

/// A registry error as a failure, of the error's own kind (see `exit.rs`).
pub fn failure(doing: &str, e: RegistryError) -> Failure {
    Failure::new(e.kind(), format!("error: {doing}: {e}"))
}

fn reference(input: &str) -> Result<Reference, Failure> {
    Reference::parse_normalized(input).map_err(|e| Failure::usage(e.to_string()))
}

pub fn pull(root: &Option<PathBuf>, args: PullArgs) -> Result<(), Failure> {
    let store = crate::store::open(root)?;
    let r = reference(&args.reference)?;
    let platform = match &args.platform {
        Some(p) => Platform::parse(p).map_err(|e| Failure::usage(e.to_string()))?,
        None => Platform::host(),
    };
    let display = crate::progress::for_transfers(args.quiet);
    let opts = args.registry.options(crate::progress::transfers(&display));
    let pulled = kiln_registry::pull(&store, &r, &platform, &opts)
        .map_err(|e| failure(&format!("cannot pull {}", r.familiar()), e))?;
    let id = pulled.image.config;
    if args.quiet {
        crate::output::stdout(&format!("{id}\n"))
    } else {
        crate::output::stdout(&format!(
            "Pulled {} ({} blobs fetched, {} already present)\nDigest: {}\n{id}\n",
            r, pulled.fetched, pulled.present, pulled.manifest
        ))
    }
}

pub fn push(root: &Option<PathBuf>, args: PushArgs) -> Result<(), Failure> {
    let store = crate::store::open(root)?;
    let image = store
        .lookup(&args.name)
        .map_err(|e| Failure::new(e.kind(), format!("error: cannot push {}: {e}", args.name)))?;
    let dest = reference(args.dest.as_deref().unwrap_or(&args.name))?;
    let display = crate::progress::for_transfers(args.quiet);
    let opts = args.registry.options(crate::progress::transfers(&display));
    let push_opts = kiln_registry::PushOptions {
        compression: args.compression.map(|c| c.to_compression()),
    };
    let pushed = kiln_registry::push(&store, &image.manifest, &dest, &push_opts, &opts)
        .map_err(|e| failure(&format!("cannot push {} to {}", args.name, dest), e))?;
    if let Some(path) = &args.digestfile {
        std::fs::write(path, pushed.digest.to_string()).map_err(|e| {
            Failure::new(
                ErrorKind::Io,
                format!("error: cannot write --digestfile {}: {e}", path.display()),
            )
        })?;
    }
    if args.quiet {
        crate::output::stdout(&format!("{}\n", pushed.digest))
    } else {
        crate::output::stdout(&format!(
            "Pushed {} ({} blobs uploaded, {} mounted, {} already there)\nDigest: {}\n",
            dest, pushed.uploaded, pushed.mounted, pushed.existed, pushed.digest
        ))
    }
}

/// `HOST[:PORT]` from `kiln login` input (a URL or a reference's registry part).
fn server(input: &str) -> Result<String, Failure> {
    let host = auth::files::normalize_key(input.trim());
    if host.is_empty() || host.contains(char::is_whitespace) {
        return Err(Failure::usage(format!(
            "{input:?} is not a registry: give HOST[:PORT], e.g. registry.example.com or 127.0.0.1:5000"
        )));
    }
    Ok(host)
}

pub fn login(args: LoginArgs) -> Result<(), Failure> {
    let host = server(&args.server)?;
    let username = match &args.username {
        Some(u) => u.clone(),
        None => {
            return Err(Failure::usage(
                "kiln login needs -u USER (and --password-stdin or -p PASSWORD)",
            ))
        }
    };
    let password = match (&args.password, args.password_stdin) {
        (Some(_), true) => {
            return Err(Failure::usage(
                "give either -p or --password-stdin, not both",
            ))
        }
        (Some(p), false) => p.clone(),
        (None, true) => {
            let mut s = String::new();
            std::io::stdin().read_to_string(&mut s).map_err(|e| {
                Failure::new(
                    ErrorKind::Io,
                    format!("error: cannot read the password from standard input: {e}"),
                )
            })?;
            s.trim_end_matches(['\n', '\r']).to_owned()
        }
        (None, false) => {
            return Err(Failure::usage(
                "kiln login needs --password-stdin or -p PASSWORD",
            ))
        }
    };
    if password.is_empty() {
        return Err(Failure::usage("the password is empty"));
    }
    let creds = Credentials {
        username,
        password: Secret::new(password),
    };
    let opts = args.registry.options(None);
    if !args.no_verify {
        let client = kiln_registry::Client::connect(&host, &opts, Some(creds.clone()))
            .map_err(|e| failure(&format!("cannot log in to {host}"), e))?;
        client
            .check_login()
            .map_err(|e| failure(&format!("cannot log in to {host}"), e))?;
    }
    let path = opts.auth.login.clone();
    auth::files::store(&path, &host, &creds)
        .map_err(|e| failure("cannot save the credentials", e))?;
    crate::output::stdout(&format!("Login Succeeded (saved in {})\n", path.display()))
}

pub fn logout(args: LogoutArgs) -> Result<(), Failure> {
    let host = server(&args.server)?;
    let files = kiln_registry::AuthFiles::from_env(args.authfile.clone());
    let removed = auth::files::remove(&files.login, &host)
        .map_err(|e| failure("cannot remove the credentials", e))?;
    if removed {
        crate::output::stdout(&format!("Removed login credentials for {host}\n"))
    } else {
        Err(Failure::new(
            ErrorKind::Rejected,
            format!(
                "error: not logged in to {host} (no entry in {})",
                files.login.display()
            ),
        ))
    }
}
