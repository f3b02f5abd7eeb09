#!/usr/bin/env bash
# The whole test suite: formatting, clippy, and every test of the workspace; then the RUN
# tests again with every build under --isolation vm (KILN_ISOLATION). Left out of that
# second run: the tests that also loop over --runtime (which vm excludes; tests/vm.rs has
# their cache and secret cases) and RUN --mount=type=ssh (not supported under vm yet).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
cargo fmt --all -- --check
cargo clippy --locked --all-targets -- -D warnings
cargo test --locked --workspace
KILN_ISOLATION=vm cargo test --locked -p kiln --test run --test run_mount -- \
    --skip cache_mount_is_reused_across_builds_and_is_in_no_layer \
    --skip secret_is_readable_in_the_step_and_appears_nowhere \
    --skip ssh_agent_is_forwarded_to_the_step
