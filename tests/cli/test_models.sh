#!/usr/bin/env bash
# rhema ai models inspect/validate and the command dispatcher, run as a user would.
set -u
rhema_bin="$1"
. "$(dirname "$0")/../testlib.sh"
fx="${RHEMA_FIXTURES:-}"
make_temp_dir models

expect 0 "rhema ai models inspect" rhema --help
expect 0 "rhema 0.1.0" rhema --version
expect 2 "did you mean 'ai models'?" rhema ai modles inspect x
expect 2 "did you mean 'ai models validate'?" rhema ai models valdate
expect 2 "needs a subcommand" rhema ai models
expect 0 "rhema ai models validate" rhema ai models --help
expect 2 "unknown option '--modle'; did you mean '--model'?" rhema ai models validate --modle x
expect 2 "option --model needs a value" rhema ai models validate --model
expect 2 "--kernels: unknown kernel set 'sse2' (portable, avx2, avx512, neon, amx" rhema ai run --model x --prompt x --kernels sse2
expect 2 "--batch must be between 0 (the default, 128) and 1048576" rhema ai run --model x --prompt x --batch -1
expect 2 "expected the path of a GGUF file" rhema ai models inspect
expect 0 "usage: rhema ai models inspect PATH [--json]" rhema ai models inspect --help
expect 1 "cannot open: No such file or directory" rhema ai models inspect "$dir/none.gguf"
printf 'GGUF\003\000\000\000' >"$dir/short.gguf"
expect 1 "short.gguf: header: truncated: needs 8 bytes at offset 8, file has 8" rhema ai models validate --model "$dir/short.gguf"

if [ -z "$fx" ] || [ ! -d "$fx" ]; then
    echo "SKIP: RHEMA_FIXTURES not set: fixture checks skipped"
else
    for f in "$fx"/models/*.gguf "$fx"/vocab/*.gguf; do
        expect 0 ": valid" rhema ai models validate --model "$f"
        if rhema ai models inspect --json "$f" | python3 -c 'import json,sys; json.load(sys.stdin)'; then ok; else bad "inspect --json $f is not JSON"; fi
        expect 0 "tensors:" rhema ai models inspect "$f"
    done
    facts=$(rhema ai models inspect --json "$fx/models/stories260K.gguf" | python3 -c '
import json, sys
d = json.load(sys.stdin)
print(len(d["tensors"]), len(d["metadata"]), d["architecture"], d["metadata"]["llama.block_count"],
      d["metadata"]["llama.attention.head_count"], d["metadata"]["llama.attention.head_count_kv"],
      d["metadata"]["tokenizer.ggml.tokens"]["count"], d["parameters"])')
    if [ "$facts" = "48 19 llama 5 8 4 512 292800" ]; then ok; else bad "stories260K facts: $facts"; fi
    # A tensor renamed in place: the architecture check names it.
    python3 - "$fx/models/stories260K.gguf" "$dir/renamed.gguf" <<'PY'
import sys
data = open(sys.argv[1], "rb").read()
open(sys.argv[2], "wb").write(data.replace(b"blk.2.ffn_up.weight", b"blk.2.ffn_XX.weight", 1))
PY
    expect 1 "tensor blk.2.ffn_up.weight is missing" rhema ai models validate --model "$dir/renamed.gguf"
    # --model takes an installed model's name as well as a path.
    export RHEMA_HOME="$dir/home"
    expect 0 "installed stories" rhema ai models install --model stories --file "$fx/models/stories260K.gguf"
    expect 0 ", there was a little girl named Lily" rhema ai run --model stories --prompt "Once upon a time" -n 10 --temp 0
    # the same story through the portable kernels
    expect 0 ", there was a little girl named Lily" \
        rhema ai run --model stories --prompt "Once upon a time" -n 10 --temp 0 --kernels portable --threads 2
    # and with the prompt two tokens at a time
    expect 0 ", there was a little girl named Lily" rhema ai run --model stories --prompt "Once upon a time" -n 10 --temp 0 --batch 2
    expect 0 "1 346 306 414 263 304 341" rhema ai tokenize --model stories "Hello world"
    expect 1 "no file nosuch, and no installed model of that name" rhema ai run --model nosuch --prompt x
    unset RHEMA_HOME
    head -c 700000 "$fx/models/stories260K.gguf" >"$dir/cut.gguf"
    expect 1 "runs past end of file (700000 bytes)" rhema ai models validate --model "$dir/cut.gguf"
fi
finish
