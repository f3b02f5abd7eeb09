#!/usr/bin/env bash
# Lint a generated 10,000-instruction Dockerfile (release build) and print the time.
# Usage: bench/lint.sh [INSTRUCTIONS]   (CARGO_TARGET_DIR is honoured)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo run --quiet --release -p kiln-lint --example bench -- "${1:-10000}"
