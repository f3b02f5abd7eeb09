//! COPY and ADD: sources (paths, URLs, heredocs) and a destination, with their flags.

use super::flags::FlagType;
use super::Req;
use crate::error::Result;
use crate::span::Span;
use crate::syntax::heredoc::parse_marker;
use crate::syntax::Token;
use serde::Serialize;

/// A heredoc used as a source file (`COPY <<EOF /dest`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InlineSource {
    /// The heredoc's name, used as the file name when the destination is a directory.
    pub path: String,
    /// The body, `<<-` already applied.
    pub data: String,
    /// Variables in the body are to be expanded (unquoted delimiter). False in an expanded
    /// step (`StageScope::step`), whose `data` is final.
    pub expand: bool,
    /// The lines of the body and its terminator.
    pub span: Span,
}

/// COPY or ADD.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Copy {
    /// Source paths (or URLs / git refs for ADD), unexpanded.
    pub sources: Vec<Token>,
    /// Heredoc sources.
    pub inline: Vec<InlineSource>,
    pub dest: Token,
    /// `--from=stage|image|index` (COPY only).
    pub from: Option<Token>,
    pub chown: Option<Token>,
    pub chmod: Option<Token>,
    pub link: bool,
    /// `--parents` (COPY only).
    pub parents: bool,
    pub excludes: Vec<Token>,
    /// `--checksum` (ADD only).
    pub checksum: Option<Token>,
    /// `--keep-git-dir` (ADD only); `None` when not given.
    pub keep_git_dir: Option<bool>,
    /// `--unpack` (ADD only); `None` when not given.
    pub unpack: Option<bool>,
}

pub(crate) fn parse(req: &Req<'_>, add: bool) -> Result<Copy> {
    let args = req.args();
    if args.len() < 2 {
        let span = args.first().map_or(req.node.keyword.span, |a| a.span);
        return Err(req
            .err(
                span,
                format!(
                    "{} requires at least two arguments, but only one was provided. Destination could not be determined",
                    req.name
                ),
            )
            .with_hint(format!("write `{} SOURCE... DEST`", req.name)));
    }
    let spec: &[(&'static str, FlagType)] = if add {
        &[
            ("chown", FlagType::String),
            ("chmod", FlagType::String),
            ("link", FlagType::Bool),
            ("keep-git-dir", FlagType::Bool),
            ("checksum", FlagType::String),
            ("unpack", FlagType::Bool),
            ("exclude", FlagType::Strings),
        ]
    } else {
        &[
            ("chown", FlagType::String),
            ("from", FlagType::String),
            ("chmod", FlagType::String),
            ("link", FlagType::Bool),
            ("exclude", FlagType::Strings),
            ("parents", FlagType::Bool),
        ]
    };
    let flags = req.flags(spec)?;
    let (srcs, dest) = args.split_at(args.len() - 1);
    let dest = &dest[0];
    if matches!(parse_marker(&dest.value), Ok(Some(_))) {
        return Err(req
            .err(
                dest.span,
                format!("{} cannot accept a heredoc as a destination", req.name),
            )
            .with_hint("the last argument is the destination path; put the heredoc before it"));
    }
    let mut sources = Vec::new();
    let mut inline = Vec::new();
    for src in srcs {
        match parse_marker(&src.value) {
            Ok(Some(m)) => {
                let heredoc = req.node.heredocs.iter().find(|h| h.name == m.name);
                let body = heredoc.map(|h| h.content.clone()).unwrap_or_default();
                let data = if m.chomp {
                    crate::syntax::heredoc::chomp_tabs(&body)
                } else {
                    body
                };
                inline.push(InlineSource {
                    path: m.name,
                    data,
                    expand: m.expand,
                    span: heredoc.map_or(src.span, |h| h.span),
                });
            }
            _ => sources.push(src.clone()),
        }
    }
    Ok(Copy {
        sources,
        inline,
        dest: dest.clone(),
        from: flags.string("from"),
        chown: flags.string("chown"),
        chmod: flags.string("chmod"),
        link: flags.bool("link").unwrap_or(false),
        parents: flags.bool("parents").unwrap_or(false),
        excludes: flags.all("exclude").to_vec(),
        checksum: flags.string("checksum"),
        keep_git_dir: flags.bool("keep-git-dir"),
        unpack: flags.bool("unpack"),
    })
}
