#!/usr/bin/env bash
# rhema ai performance optimize, and the embedded models' load time and
# memory in performance metrics and service status, from ledgers written
# here (and, with the fixture models, by real runs).
set -u
rhema_bin=$(realpath "$1")
. "$(dirname "$0")/../testlib.sh"
make_temp_dir router-perf
cd "$dir" || exit 1
export HOME="$dir/home"
unset RHEMA_AI_CONFIG OPENAI_API_KEY ANTHROPIC_API_KEY RHEMA_MODEL
mkdir -p .rhema/ai
cat >.rhema/ai-config.yaml <<'EOF'
ai_service:
  external:
    providers:
      openai: {base_url: https://api.openai.com, models: [gpt-4o], priority: 1}
      acme: {base_url: https://acme.example, models: [slow-1], priority: 1}
  embedded:
    models:
      small: {model_path: s.gguf, memory_limit_mb: 2}
  routing:
    performance_routing: {enable: true, thresholds: {response_time_ms: 3000}}
EOF

# An empty ledger: every check says it lacks data.
expect 0 "not enough data: every check below needs more records than the ledger holds" rhema ai performance optimize
expect 0 "[not enough data] simple_max_tokens" rhema ai performance optimize
expect 0 '"answered_requests":0,"timed_embedded":0,"timed_external":0,"latency_target_ms":3000,"latency_target_key":"performance_routing.thresholds.response_time_ms","enough_data":false' \
    rhema ai performance optimize --json
expect 0 '{"topic":"fallback_order","subject":null,"status":"not_enough_data","setting":null,"current":null,"recommended":null,"samples":0,"reason":"no provider has 5 calls"}' \
    rhema ai performance optimize --json
expect 2 "--period must be day, week or month, not 'year'" rhema ai performance optimize --period year

# Twenty local answers taking 500 ms + 2 ms per prompt token, each with
# its memory and the first four with a model load; ten quick external
# answers; a provider that is slow and fails half the time.
now=$(date +%s)
{
    for i in $(seq 1 20); do
        r=$(ledger_line R3 $((now - 100)) embedded - small $((100 * i)) 50 0.000000000 $((500 + 200 * i)) -)
        echo "$r"
        load=-
        [ "$i" -le 4 ] && load=$((1500 + 100 * i)).0
        ledger_line M1 "${r##* }" "$load" 2621440 1048576 2097152
    done
    ledger_line R3 $((now - 90)) embedded - small 100 50 0.000000000 0 c
    for i in $(seq 1 10); do ledger_line R3 $((now - 80)) external openai gpt-4o 100 50 0.001000000 $((900 + 100 * i)) -; done
    for i in $(seq 1 5); do
        ledger_line R3 $((now - 70)) external acme slow-1 100 50 - 5000 -
        ledger_line R3 $((now - 70)) external acme slow-1 0 0 - 30000 f
    done
} >.rhema/ai/usage.log
expect 0 "last week, from .rhema/ai/usage.log: 35 answered requests (20 timed local, 15 timed external)" rhema ai performance optimize
expect 0 "[change] simple_max_tokens: simple_max_tokens 512 -> 1250" rhema ai performance optimize
expect 0 "local answers take about 500 ms + 2.000 ms per prompt token (least squares over 20 answers" rhema ai performance optimize
expect 0 "[change] medium_max_tokens: medium_max_tokens 2048 -> 2750" rhema ai performance optimize
expect 0 "[change] latency_threshold: performance_routing.thresholds.response_time_ms 3000 -> 5000" rhema ai performance optimize
expect 0 "[change] slow_model (acme/slow-1)" rhema ai performance optimize
expect 0 "[change] cache (embedded): cache_ttl_seconds 3600 -> 14400" rhema ai performance optimize
expect 0 "[change] fallback_order (acme): acme.priority 1 -> 2" rhema ai performance optimize
expect 0 "acme failed 5 of 10 calls (50 %), openai 0 of 10 (0 %): try the steadier one first" rhema ai performance optimize
expect 0 "small: loading takes 1700 ms at the median (max 1900 ms) over 4 loads, 68 % of its median answer (2500 ms)" \
    rhema ai performance optimize
expect 0 "[change] memory (small): max_context_length 4096 -> 3072" rhema ai performance optimize
if rhema ai performance optimize | grep -q "not enough data: every check"; then bad "a full ledger called thin"; else ok; fi
expect 0 '"enough_data":true' rhema ai performance optimize --json
expect 0 '{"topic":"simple_max_tokens","subject":null,"status":"change","setting":"simple_max_tokens","current":"512","recommended":"1250","samples":20,"reason":"local answers take about 500 ms + 2.000 ms per prompt token' \
    rhema ai performance optimize --json
expect 0 '{"topic":"model_load","subject":"small","status":"change","setting":null,"current":null,"recommended":null,"samples":4,' \
    rhema ai performance optimize --json

# Load time and memory per model.
expect 0 '"p50_ms":2500,"loads":4,"load_p50_ms":1700,"load_max_ms":1900,"peak_rss_bytes":2621440,"model_bytes":1048576,"kv_cache_bytes":2097152' \
    rhema ai performance metrics --embedded --json
expect 0 '"model":"gpt-4o","requests":10,"failed_requests":0,"cached_requests":0,"timed_requests":10,"average_ms":1450,' \
    rhema ai performance metrics --external --json
expect 0 '"p50_ms":1400,"loads":0,"load_p50_ms":null,"load_max_ms":null,"peak_rss_bytes":null,"model_bytes":null,"kv_cache_bytes":null' \
    rhema ai performance metrics --external --json
expect 0 "small                             4       1700.0       1900.0           2.5        1.0        2.0" \
    rhema ai performance metrics --embedded
expect 0 '"models":[{"model":"small","loads":4,"load_p50_ms":1700,"load_max_ms":1900,"peak_rss_bytes":2621440,"model_bytes":1048576,"kv_cache_bytes":2097152}],"reserved_requests":0,"reserved_usd":0' \
    rhema ai service status --json
expect 0 "embedded model                loads  load p50 ms  load max ms  peak RSS MiB  model MiB     KV MiB" \
    rhema ai service status

# Real runs on a fixture model record their load time and memory.
fx="${RHEMA_FIXTURES:-}"
if [ -n "$fx" ] && [ -f "$fx/models/stories260K.gguf" ]; then
    mkdir -p real/.rhema && cd real || exit 1
    export RHEMA_MODEL="$fx/models/stories260K.gguf"
    printf 'ai_service:\n  embedded:\n    model_type: tiny\n    max_context_length: 256\n' >.rhema/ai-config.yaml
    for i in 1 2 3; do rhema ai tasks route --prompt "Once upon a time $i" --max-tokens 4 --no-cache >/dev/null 2>&1; done
    if [ "$(grep -c '^M1 ' .rhema/ai/usage.log)" -eq 3 ]; then ok; else bad "want 3 M1 lines: $(cat .rhema/ai/usage.log)"; fi
    # stories260K: 5 layers, 4 KV heads of 8 dims, F16: 2 x 5 x 256 x 32 x 2 bytes.
    expect 0 '"model":"tiny","loads":3,' rhema ai service status --json
    expect 0 '"model_bytes":1185376,"kv_cache_bytes":163840}' rhema ai service status --json
    if rhema ai performance metrics --embedded --json | grep -qE '"peak_rss_bytes":[1-9][0-9]{5,}'; then ok
    else bad "no peak RSS measured: $(rhema ai performance metrics --embedded --json)"; fi
    unset RHEMA_MODEL
    cd .. || exit 1
else
    echo "SKIP: RHEMA_FIXTURES not set; no measured run on a real model"
fi

finish
