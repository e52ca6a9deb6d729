#!/bin/sh
# The runtime and WSGI test suites (unit and integration tests of eventlet,
# eventlet-wsgi and the root package's tests/) under AddressSanitizer, with
# LeakSanitizer. Needs the nightly toolchain (`rustup toolchain install
# nightly`); std itself is not instrumented (no rust-src needed). Doc tests are
# left out: rustdoc does not link them with the sanitizer runtime.
#
#   sh asan/run.sh                       # everything
#   sh asan/run.sh --test hardening      # extra cargo test arguments
set -eu
cd "$(dirname "$0")/.."
export RUSTFLAGS="-Zsanitizer=address"
export ASAN_OPTIONS="detect_leaks=1"
export LSAN_OPTIONS="suppressions=$PWD/asan/lsan.supp:print_suppressions=0"
# Tests that assert time or memory limits allow for ASAN's overhead.
export EVENTLET_TEST_SANITIZER=address
if [ "$#" -eq 0 ]; then
    set -- -p eventlet -p eventlet-wsgi -p eventlet-rs --lib --tests
fi
exec cargo +nightly test --target x86_64-unknown-linux-gnu \
    --target-dir target/asan --no-fail-fast "$@"
