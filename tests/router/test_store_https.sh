#!/usr/bin/env bash
# rhema ai models install/update/remove/validate against a local HTTPS
# server (tests/router/model_server.py, a test CA made here) serving the
# fixture models on 127.0.0.1: install, resume after a cut, redirect, 404,
# wrong checksums, update with rollback, full disk. Loopback only.
# Needs openssl and python3 (Debian: openssl, python3); the full-disk case
# also needs `unshare -rm` (util-linux) to mount a small tmpfs, else it is
# skipped with a message. Usage: test_store_https.sh PATH/TO/rhema
set -u
rhema_bin="$1"
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../testlib.sh"
fx="${RHEMA_FIXTURES:-}"
need openssl python3
if [ -z "$fx" ] || [ ! -d "$fx/models" ]; then
    echo "SKIP: RHEMA_FIXTURES not set; HTTPS model store tests skipped"
    exit 77
fi
rhema_bin=$(cd "$(dirname "$rhema_bin")" && pwd)/$(basename "$rhema_bin")
make_temp_dir store-https
unset HTTPS_PROXY https_proxy RHEMA_MODEL RHEMA_AI_CONFIG
export RHEMA_HOME="$dir/home" HOME="$dir"  # no user config decides what remove refuses
cd "$dir" || exit 1
make_test_ca "$dir"

mkdir www
cp "$fx/models/stories260K.gguf" "$fx/models/llama-tiny-q4_0.gguf" www/
cp "$fx/vocab/ggml-vocab-deepseek-coder.gguf" www/vocab-only.gguf
head -c 12000000 /dev/urandom >www/big.bin
start_server "$dir" python3 "$here/model_server.py" www srv.pem srv.key port server.log
base="https://localhost:$port"

ca=(--ca-file "$dir/ca.pem")
models="$RHEMA_HOME/models"
# no_leftovers: no model file or .part besides the installed ones named.
leftovers() { find "$models" -name '*.gguf*' | wc -l; }

expect 0 "matches the server's digest" rhema ai models install --model tiny --url "$base/models/llama-tiny-q4_0.gguf" "${ca[@]}"
expect 0 "logits finite" rhema ai models validate --model tiny
expect 0 "already installed" rhema ai models install --model tiny --url "$base/models/llama-tiny-q4_0.gguf" "${ca[@]}"

# Cut half-way: the same run resumes with a Range and the result verifies.
expect 0 "installed cutm" rhema ai models install --model cutm --url "$base/cut/stories260K.gguf" "${ca[@]}"
if grep -q "GET /cut/stories260K.gguf range=bytes=[1-9]" server.log; then ok; else bad "no resumed Range request in the server log"; fi
expect 0 "sha256 270cba1bd5109f42d03350f60406024560464db173c0e387d91f0426d3bd256d" rhema ai models validate --model cutm

expect 0 "installed redir" rhema ai models install --model redir --url "$base/redirect/stories260K.gguf" "${ca[@]}"
expect 1 "answered 404 (not found)" rhema ai models install --model gone --url "$base/models/nope.gguf" "${ca[@]}"
expect 1 "unknown CA" rhema ai models install --model noca --url "$base/models/stories260K.gguf"

before=$(leftovers)
expect 1 "checksum mismatch" rhema ai models install --model wrong --url "$base/models/stories260K.gguf" "${ca[@]}" \
    --sha256 0000000000000000000000000000000000000000000000000000000000000000
expect 1 "the server digest is 0000" rhema ai models install --model wrong --url "$base/wrongetag/stories260K.gguf" "${ca[@]}"
expect 1 "not a valid GGUF" rhema ai models install --model wrong --url "$base/models/big.bin" "${ca[@]}"
if [ "$(leftovers)" = "$before" ]; then ok; else bad "a rejected download left files: $(ls "$models")"; fi
expect 1 "no installed model of that name" rhema ai models validate --model wrong

# Update to a newer catalogue version, then a version that does not load:
# the update is refused and the working version stays.
printf 'models:\n  - name: upd\n    version: "1"\n    url: %s/models/llama-tiny-q4_0.gguf\n' "$base" >"$RHEMA_HOME/registry.yaml"
expect 0 "installed upd 1" rhema ai models install --model upd "${ca[@]}"
expect 0 "up to date" rhema ai models update --model upd "${ca[@]}"
printf 'models:\n  - name: upd\n    version: "2"\n    url: %s/models/stories260K.gguf\n' "$base" >"$RHEMA_HOME/registry.yaml"
expect 0 "update to v2" rhema ai models list
expect 0 "updated upd 2" rhema ai models update --model upd "${ca[@]}"
if [ ! -e "$models/upd@1.gguf" ]; then ok; else bad "the old version was not deleted"; fi
printf 'models:\n  - name: upd\n    version: "3"\n    url: %s/models/vocab-only.gguf\n' "$base" >"$RHEMA_HOME/registry.yaml"
expect 1 "nothing was changed" rhema ai models update --model upd "${ca[@]}"
expect 0 "installed version 2" rhema ai models validate --model upd
if [ ! -e "$models/upd@3.gguf" ] && [ ! -e "$models/upd@3.gguf.part" ]; then ok; else bad "the failed update left files"; fi

expect 0 '"name":"upd"' rhema ai models list --json
if rhema ai models list --json | python3 -c 'import json,sys; d=json.load(sys.stdin); assert any(m["name"]=="upd" and m["installed"]["version"]=="2" for m in d["models"])'; then ok; else bad "list --json"; fi

expect 1 "RHEMA_MODEL names it" env RHEMA_MODEL=upd "${wrapper[@]}" "$rhema_bin" ai models remove --model upd
expect 0 "removed upd" env RHEMA_MODEL=upd "${wrapper[@]}" "$rhema_bin" ai models remove --model upd --force
expect 1 "not installed" rhema ai models remove --model upd

# A full disk: an 8 MiB tmpfs in a private mount namespace.
if unshare -rm true 2>/dev/null; then
    mkdir -p "$RHEMA_HOME"
    out=$(unshare -rm bash -c '
        base=$1 ca=$2; shift 2
        mount -t tmpfs -o size=8m tmpfs "$RHEMA_HOME" || exit 99
        "$@" ai models install --model big --url "$base/models/big.bin" --ca-file "$ca"; echo "rc=$?"
        "$@" ai models install --model big --url "$base/nolength/big.bin" --ca-file "$ca"; echo "rc=$?"
        "$@" ai models list' _ "$base" "$dir/ca.pem" "${wrapper[@]}" "$rhema_bin" 2>&1)
    if grep -q "not enough disk space" <<<"$out"; then ok; else bad "full disk (known size): $out"; fi
    if grep -q "disk full writing" <<<"$out"; then ok; else bad "full disk (unknown size): $out"; fi
    if [ "$(grep -c 'rc=1' <<<"$out")" = 2 ] && ! grep -q "^big " <<<"$out"; then ok; else bad "full disk: $out"; fi
else
    echo "SKIP: unshare -rm is not permitted here: full-disk case skipped (the C test covers the free-space check)"
fi

finish
