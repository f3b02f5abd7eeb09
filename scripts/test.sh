#!/usr/bin/env bash
# The whole test suite: formatting, clippy, and every test of the workspace; then the RUN
# tests and the escape tests again with every build under --isolation vm (KILN_ISOLATION).
# Left out of that second run: the tests that loop over the runtimes themselves, vm
# included (--runtime, which vm excludes, would fail there); tests/vm.rs has the cache and
# secret cases of the two RUN tests among them.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
cargo fmt --all -- --check
cargo clippy --locked --all-targets -- -D warnings
cargo test --locked --workspace
KILN_ISOLATION=vm cargo test --locked -p kiln \
    --test run --test run_mount --test escape --test mount_escape -- \
    --skip cache_mount_is_reused_across_builds_and_is_in_no_layer \
    --skip secret_is_readable_in_the_step_and_appears_nowhere \
    --skip proc_1_environ_cmdline_and_mem_hold_nothing_of_the_build \
    --skip forged_exit_status_through_proc_fds \
    --skip mknod_char_device_kmsg_cannot_be_opened \
    --skip setuid_program_planted_through_etc_hosts_stays_powerless \
    --skip open_the_users_terminal_through_dev_tty \
    --skip chmod_the_hosts_dev_null_through_the_bound_node \
    --skip raw_tcp_syn_frames_cannot_reach_the_host_address
