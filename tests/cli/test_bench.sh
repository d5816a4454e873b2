#!/usr/bin/env bash
# rhema ai tasks benchmark: its arguments, and one small run whose JSON
# carries the speeds, the bandwidth measured between the generated tokens
# and the limit.
set -u
rhema_bin="$1"
. "$(dirname "$0")/../testlib.sh"
fx="${RHEMA_FIXTURES:-}"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

expect 2 "--model PATH is required" rhema ai tasks benchmark --service embedded
expect 2 "only the embedded engine can be benchmarked" rhema ai tasks benchmark --service openai --model x
expect 2 "-p and -n take 1 to 1000000 tokens" rhema ai tasks benchmark --model x -p 0
expect 2 "-r takes 1 to 1000 repetitions" rhema ai tasks benchmark --model x -r 0
expect 2 "-d takes 0 to 1000000 tokens" rhema ai tasks benchmark --model x -d -1
expect 2 "-b takes 1 to 1000000 tokens (0: the default)" rhema ai tasks benchmark --model x -b -1
expect 1 "cannot open: No such file or directory" rhema ai tasks benchmark --model "$tmp/none.gguf"
expect 2 "--kernels: unknown kernel set 'sse2' (portable, avx2, avx512, neon, amx" \
    rhema ai tasks benchmark --model x --kernels sse2
# a table by the name --version --verbose prints for it
table=$(rhema --version --verbose | sed -n 's/^kernels: //p')
expect 1 "cannot open" rhema ai tasks benchmark --model "$tmp/none.gguf" --kernels "$table"
# a set of the other architecture (the binary's, which under qemu is not uname's)
case "$(rhema --version --verbose)" in
*"kernels: neon"*) other=avx2 ;;
*) other=neon ;;
esac
expect 2 "--kernels: kernel set $other is not available" rhema ai tasks benchmark --model x --kernels $other

if [ -z "$fx" ] || [ ! -d "$fx" ]; then
    echo "SKIP: RHEMA_FIXTURES not set: benchmark run skipped"
else
    model="$fx/models/stories260K.gguf"
    for r in 2 1; do
        if rhema ai tasks benchmark --service embedded --model "$model" -p 8 -n 4 -r $r -t 1 --json >"$tmp/b$r.json"; then
            ok
        else
            bad "benchmark run (-r $r) failed"
        fi
    done
    if python3 - "$tmp/b2.json" "$tmp/b1.json" <<'PY'; then ok; else bad "benchmark JSON: $(cat "$tmp"/b*.json)"; fi
import json, sys
for path, reps in ((sys.argv[1], 2), (sys.argv[2], 1)):
    b = json.load(open(path))
    for k in ("pp_tps", "tg_tps", "bandwidth_gbs", "tg_limit_tps", "tg_fraction", "bytes_per_token"):
        assert b[k] > 0, k
    assert b["bandwidth_gbs_sd"] >= 0 and 0 < b["tg_cpu_share"] <= 1.5
    assert b["pp_tokens"] == 8 and b["tg_tokens"] == 4 and b["reps"] == reps and b["threads"] == 1
    # the default batch of 128, cut to the context of 8 the run needs
    assert b["batch"] == 8, b
    # the limit is the bandwidth over the bytes a token reads
    assert abs(b["tg_limit_tps"] - b["bandwidth_gbs"] * 1e9 / b["bytes_per_token"]) <= 1e-3 * b["tg_limit_tps"] + 1e-3
    # each run's speed is set against the bandwidth measured during it: for
    # a single run, the fraction is its speed over the limit
    if reps == 1:
        assert abs(b["tg_fraction"] - b["tg_tps"] / b["tg_limit_tps"]) <= 1e-3 * b["tg_fraction"], b
    # every run on its own, each against its own bandwidth; the means are theirs
    runs = b["runs"]
    assert len(runs) == reps, runs
    for r in runs:
        assert r["pp_tps"] > 0 and r["tg_tps"] > 0 and r["bandwidth_gbs"] > 0, r
        own = r["tg_tps"] / (r["bandwidth_gbs"] * 1e9 / b["bytes_per_token"])
        assert abs(r["tg_fraction"] - own) <= 1e-3 * own + 1e-4, r
    for k in ("pp_tps", "tg_tps", "bandwidth_gbs", "tg_fraction"):
        mean = sum(r[k] for r in runs) / reps
        assert abs(mean - b[k]) <= 1e-3 * b[k] + 1e-3, (k, mean, b[k])
PY
    expect 0 "generation reaches" rhema ai tasks benchmark --model "$model" -p 4 -n 2 -r 1 -t 2
    # at a depth, each generated token also reads the keys and values of
    # the positions before it: eight more of them on average
    if rhema ai tasks benchmark --model "$model" -p 4 -n 3 -d 8 -r 1 -t 1 --json >"$tmp/d8.json" &&
        rhema ai tasks benchmark --model "$model" -p 4 -n 3 -r 1 -t 1 --json >"$tmp/d0.json" &&
        python3 - "$tmp/d8.json" "$tmp/d0.json" <<'PY'; then ok; else bad "benchmark at depth 8: $(cat "$tmp"/d*.json)"; fi
import json, sys
d8, d0 = (json.load(open(p)) for p in sys.argv[1:])
assert d8["depth"] == 8 and d0["depth"] == 0, (d8, d0)
grew = d8["bytes_per_token"] - d0["bytes_per_token"]
assert grew > 0 and grew % 8 == 0, grew
assert d8["pp_tps"] > 0 and d8["tg_tps"] > 0
PY
    expect 0 "depth              8 tokens in the context" rhema ai tasks benchmark --model "$model" -p 4 -n 2 -d 8 -r 1 -t 1
    # the prompt in batches of 3 tokens
    expect 0 "batches of 3 tokens" rhema ai tasks benchmark --model "$model" -p 8 -n 2 -b 3 -r 1 -t 1
    # a chosen kernel set, named in the report
    expect 0 '"kernels":"portable"' rhema ai tasks benchmark --model "$model" -p 4 -n 2 -r 1 -t 1 --kernels portable --json
fi
finish
