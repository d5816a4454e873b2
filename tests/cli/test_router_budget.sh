#!/usr/bin/env bash
# max_daily_cost held across processes, for real: three `rhema ai tasks
# route` runs start at once against the loopback TLS stand-in for OpenAI
# (tests/net/ai_upstream.py), whose "gated" model holds every request until
# this test creates the file "release" beside it, so they overlap for as
# long as the test needs (no timing). The budget has room for one request:
# exactly one goes out, the others answer locally with the budget's reason,
# and the ledger never passes the budget. Then a run is SIGKILLed while its
# request is out: its hold stops counting and the next run may spend.
# Needs openssl, python3 and the fixture models (RHEMA_FIXTURES, else
# ../shared/fixtures beside the source tree); exits 77 without them.
# Usage: test_router_budget.sh PATH/TO/rhema
set -u
rhema_bin=$(realpath "$1")
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../testlib.sh"
need openssl python3
fx=$(fixtures)
if [ ! -f "$fx/models/stories260K.gguf" ]; then
    echo "SKIP: no fixture models at $fx; budget tests skipped"
    exit 77
fi
make_temp_dir budget
unset HTTPS_PROXY https_proxy RHEMA_AI_CONFIG OPENAI_API_KEY ANTHROPIC_API_KEY
export HOME="$dir/home" RHEMA_HOME="$dir/home/.rhema" RHEMA_MODEL="$fx/models/stories260K.gguf"
mkdir -p "$HOME" "$dir/srv" "$dir/work/.rhema"
export OPENAI_API_KEY=sk-test-budget-1234
start_ai_upstream "$dir/srv" "$OPENAI_API_KEY"
cd "$dir/work" || exit 1

# config BUDGET: every request goes external unless the budget says no; $1
# per output token, nothing for input, so --max-tokens 8 is an $8 estimate
# and the upstream's answer (5 tokens) costs $5.
config() {
    printf 'ai_service:\n  external:\n    provider: openai\n    base_url: https://localhost:%s/v1\n    ca_file: %s\n    models: [gated]\n    api_key: ${OPENAI_API_KEY}\n    timeout_seconds: 90\n  embedded:\n    model_type: tiny\n    max_context_length: 256\n  routing:\n    routing_strategy: external_only\n    cost_thresholds: {max_daily_cost: %s}\n  pricing:\n    openai: {gated: {input_per_million: 0, output_per_million: 1000000}}\n' \
        "$port" "$dir/srv/ca.pem" "$1" >.rhema/ai-config.yaml
}
route() { rhema ai tasks route --prompt "hello there" --max-tokens 8 --no-cache --json "$@"; }
upstream_requests() { grep -c "model=gated" "$dir/srv/server.log" 2>/dev/null || true; }
# await_exits N PIDS...: until N of the processes have ended (at most 2 min).
await_exits() {
    local want="$1" done_n p
    shift
    for _ in $(seq 1200); do
        done_n=0
        for p in "$@"; do kill -0 "$p" 2>/dev/null || done_n=$((done_n + 1)); done
        [ "$done_n" -ge "$want" ] && return 0
        sleep 0.1
    done
    return 1
}
# ledger_total: the sum of COST over the ledger's records.
ledger_total() { awk '$1 == "R3" && $8 != "-" { s += $8 } END { printf "%.6f", s }' .rhema/ai/usage.log; }
within() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a <= b + 1e-9) }'; }

config 10
pids=()
for i in 1 2 3; do
    route >"out$i.json" 2>"err$i.txt" &
    pids+=($!)
done
# Two answer locally while the third's request waits upstream.
if await_exits 2 "${pids[@]}"; then ok; else bad "no two runs ended while one request was held upstream"; fi
touch "$dir/srv/release"
await_exits 3 "${pids[@]}" || bad "a run did not end"
wait "${pids[@]}"
external=$(grep -l '"served_by":"external"' out*.json | wc -l)
local_n=$(grep -l '"served_by":"embedded"' out*.json | wc -l)
if [ "$external" -eq 1 ] && [ "$local_n" -eq 2 ]; then ok
else bad "want 1 external and 2 local answers, got $external and $local_n: $(cat out*.json err*.txt | head -c 1500)"; fi
if [ "$(upstream_requests)" -eq 1 ]; then ok; else bad "the upstream saw $(upstream_requests) requests, want 1"; fi
for f in out*.json; do
    if grep -q '"served_by":"external"' "$f"; then
        want='budget: $8.000000 held against max_daily_cost $10.0000 (today'"'"'s spend $0.0000, $0.0000 held by 0 other requests in flight)'
    else
        want='budget: today'"'"'s spend $0.0000 + $8.0000 held by 1 request in flight + estimate $8.000000 exceeds max_daily_cost $10.0000 -> embedded'
        if grep -qF '"budget_local":true' "$f"; then ok; else bad "$f: not marked budget_local"; fi
    fi
    if grep -qF -- "$want" "$f"; then ok; else bad "$f lacks '$want': $(head -c 800 "$f")"; fi
done
total=$(ledger_total)
if [ "$total" = "5.000000" ] && within "$total" 10; then ok; else bad "ledger total \$$total, want \$5 (budget \$10)"; fi
expect 0 '"total_cost_usd":5,' rhema ai costs analyze --period day --json
expect 0 '"reserved_requests":0,"reserved_usd":0' rhema ai service status --json
if [ ! -e .rhema/ai/reservations ]; then ok; else bad "reservations left behind: $(cat .rhema/ai/reservations)"; fi
# After the answer settled: $5 spent, another $8 does not fit.
expect 0 "budget: today's spend \$5.0000 + estimate \$8.000000 exceeds max_daily_cost \$10.0000 -> embedded" route

# A run killed while its request is out: its hold goes with it.
config 20
rm -f "$dir/srv/release"
# Started as a simple command, so $! is rhema itself and not a subshell.
"${wrapper[@]}" "$rhema_bin" ai tasks route --prompt "hello there" --max-tokens 8 --no-cache --json >killed.json 2>&1 &
victim=$!
for _ in $(seq 1200); do [ "$(upstream_requests)" -ge 2 ] && break; sleep 0.1; done
if [ "$(upstream_requests)" -eq 2 ]; then ok; else bad "the run to be killed never reached the upstream"; fi
expect 0 "held by 1 request in flight + estimate \$8.000000 exceeds max_daily_cost \$20.0000" route --dry-run
expect 0 '"reserved_requests":1,"reserved_usd":8' rhema ai service status --json
kill -9 "$victim"
wait "$victim" 2>/dev/null
expect 0 '"reserved_requests":0,"reserved_usd":0' rhema ai service status --json
touch "$dir/srv/release"
expect 0 '"served_by":"external"' route
total=$(ledger_total)
if [ "$total" = "10.000000" ] && within "$total" 20; then ok; else bad "ledger total \$$total, want \$10 (budget \$20)"; fi
if [ "$(upstream_requests)" -eq 3 ]; then ok; else bad "the upstream saw $(upstream_requests) requests, want 3"; fi

finish
