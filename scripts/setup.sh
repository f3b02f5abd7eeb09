#!/usr/bin/env bash
# Install what kiln needs and build the release binary (target/release/kiln).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
cargo build --release --locked
