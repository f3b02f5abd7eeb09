//! `--build-arg KEY=VALUE` and `--build-arg KEY` (value taken from kiln's environment, as
//! docker does; skipped when that variable is not set).

use crate::exit::Failure;
use std::collections::BTreeMap;

pub fn parse(given: &[String]) -> Result<BTreeMap<String, String>, Failure> {
    let mut out = BTreeMap::new();
    for kv in given {
        let (k, v) = match kv.split_once('=') {
            Some((k, v)) => (k, Some(v.to_string())),
            None => (kv.as_str(), std::env::var(kv).ok()),
        };
        if k.is_empty() {
            return Err(Failure::usage(format!(
                "--build-arg {kv}: the name is empty; write --build-arg NAME=VALUE"
            )));
        }
        if let Some(v) = v {
            out.insert(k.to_string(), v);
        }
    }
    Ok(out)
}
