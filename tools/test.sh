#!/usr/bin/env bash
# Build rhema and run its test suite.
#   tools/test.sh             release build (static binary) + all tests
#   tools/test.sh --sanitize  the same tests built with ASan and UBSan
#   tools/test.sh --fuzz-smoke  build the libFuzzer harnesses (clang-14) and run each briefly
#   tools/test.sh --aarch64   cross-build for aarch64 and run the tests under qemu
# Conformance tests read ../shared/fixtures (or $RHEMA_FIXTURES) and are
# skipped, with a message, when it is absent.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/deps.sh "${1:-}"
if [ -z "${RHEMA_FIXTURES:-}" ] && [ -d ../shared/fixtures ]; then
    RHEMA_FIXTURES="$(cd ../shared/fixtures && pwd)"
fi
export RHEMA_FIXTURES="${RHEMA_FIXTURES:-}"
[ -n "$RHEMA_FIXTURES" ] || echo "note: no ../shared/fixtures: conformance tests will be skipped"
jobs=$(nproc)

# Configure DIR once; a folder left by a failed configure is redone.
setup() {
    local dir="$1"; shift
    [ -f "$dir/build.ninja" ] && return 0
    rm -rf "$dir"
    meson setup "$dir" "$@" | tail -n 3
}

case "${1:-}" in
"")
    setup build
    ninja -C build
    meson test -C build --print-errorlogs --num-processes "$jobs"
    ;;
--sanitize)
    CC=gcc setup build-asan -Dbuildtype=debugoptimized \
        -Db_sanitize=address,undefined -Db_lundef=false -Dstatic_binary=false \
        -Dc_args=-fno-sanitize-recover=all
    ninja -C build-asan
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
        meson test -C build-asan --print-errorlogs --num-processes "$jobs" --timeout-multiplier 4
    ;;
--fuzz-smoke)
    CC=clang-14 setup build-fuzz -Dfuzz=true -Dtests=false \
        -Dbuildtype=debugoptimized -Db_sanitize=address,undefined -Db_lundef=false \
        -Dstatic_binary=false -Dc_args=-fsanitize=fuzzer-no-link
    ninja -C build-fuzz
    # Each harness replays its kept crash inputs, then explores for a while.
    for fz in $(find build-fuzz/tests -type f -name 'fuzz_*' -perm -u+x | sort); do
        name=$(basename "$fz")
        regress="tests/fuzz-regress/${name#fuzz_}"
        work=$(mktemp -d)
        if [ -d "$regress" ]; then cp -r "$regress"/. "$work"/; fi
        echo "== $name (${FUZZ_SECONDS:-20} s)"
        # A crash or leak found now is kept in fuzz-out/ to become a regression input.
        mkdir -p fuzz-out
        "$fz" -max_total_time="${FUZZ_SECONDS:-20}" -max_len=65536 -timeout=10 \
            -rss_limit_mb=2048 -artifact_prefix="fuzz-out/$name-" "$work" 2>&1 | tail -n 4
        if [ -d "$regress" ]; then
            find "$regress" -type f -print0 | xargs -0 -r "$fz" >/dev/null 2>&1 ||
                { echo "$name: a kept regression input fails again"; exit 1; }
        fi
        rm -rf "$work"
    done
    ;;
--aarch64)
    setup build-aarch64 --cross-file tools/cross/aarch64-linux-gnu.ini
    ninja -C build-aarch64
    meson test -C build-aarch64 --print-errorlogs --num-processes "$jobs" --timeout-multiplier 4
    ;;
*)
    echo "usage: tools/test.sh [--sanitize|--fuzz-smoke|--aarch64]" >&2
    exit 2
    ;;
esac
