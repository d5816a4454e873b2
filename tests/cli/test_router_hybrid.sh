#!/usr/bin/env bash
# Hybrid routing with a real local draft: the fixture model drafts, rhema
# measures the draft (mean token log-probability, cut at the token limit),
# and a weak draft goes to a stand-in OpenAI upstream (tests/net/ai_upstream.py,
# TLS on 127.0.0.1, model "echo" answers with what it was asked) with the
# draft in the request. Both are recorded in --json, the summary says why.
# Needs openssl, python3 and the fixture models, else exit 77 (skipped).
# Usage: test_router_hybrid.sh PATH/TO/rhema
set -u
rhema_bin=$(realpath "$1")
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../testlib.sh"
fx=$(fixtures)
need openssl python3
[ -f "$fx/models/stories260K.gguf" ] || { echo "SKIP: no fixture models at $fx"; exit 77; }
make_temp_dir hybrid
unset HTTPS_PROXY https_proxy RHEMA_MODEL RHEMA_AI_CONFIG ANTHROPIC_API_KEY
export HOME="$dir/home" RHEMA_HOME="$dir/home/.rhema" OPENAI_API_KEY=sk-test-hybrid-key
mkdir -p "$HOME" "$dir/srv" "$dir/work/.rhema"
start_ai_upstream "$dir/srv" "$OPENAI_API_KEY"
cd "$dir/work" || exit 1

# config [EMBEDDED-EXTRA]: a rule sends prompts with 'draft' to hybrid.
config() {
    printf 'ai_service:\n  routing:\n    rules:\n      - {name: mix, condition: "prompt contains '\''draft'\''", action: hybrid processing}\n  external:\n    provider: openai\n    base_url: https://localhost:%s/v1\n    ca_file: %s\n    models: [echo]\n    api_key: ${OPENAI_API_KEY}\n    timeout_seconds: 5\n  embedded:\n    model_path: %s\n    max_context_length: 256\n%s' \
        "$port" "$dir/srv/ca.pem" "$fx/models/stories260K.gguf" "${1:-}" >.rhema/ai-config.yaml
}
# check NAME JSON PYTHON-EXPRESSION: the expression over d (the parsed
# JSON) must hold; NAME and the numbers it prints go to the log.
check() {
    local name="$1" json="$2" expr="$3" msg
    if msg=$(python3 -c '
import json, math, sys
d = json.loads(sys.argv[1])
dr = d.get("draft") or {}
print("draft mean_logprob %s nats/token, confidence %s, tokens %s" % (dr.get("mean_logprob"), dr.get("confidence"), dr.get("tokens")))
sys.exit(0 if eval("(" + sys.argv[2] + ")") else 1)' "$json" "$expr" 2>&1); then
        echo "$name: $msg"
        ok
    else
        bad "$name: $expr does not hold ($msg): $(head -c 600 <<<"$json")"
    fi
}
calls() { grep -c "model=echo" "$dir/srv/server.log" 2>/dev/null; }

# The tiny model is unsure of its drafts: a finite negative mean
# log-probability far below the default threshold, and 8 tokens cut it off.
config
expect 0 '"route":"hybrid"' rhema ai tasks route --prompt "Write a draft story about a cat" --dry-run --json
out=$(rhema ai tasks route --prompt "Write a draft story about a cat" --max-tokens 8 --json 2>&1)
check "weak draft" "$out" 'isinstance(dr["mean_logprob"], float) and math.isfinite(dr["mean_logprob"]) and dr["mean_logprob"] < 0
    and abs(dr["confidence"] - math.exp(dr["mean_logprob"])) < 1e-9 and dr["confidence"] < 0.7 and dr["threshold"] == 0.7
    and dr["truncated"] and not dr["refused"] and dr["tokens"] == 8 and dr["needs_enhancement"] and not dr["cached"]'
check "enhanced by the upstream, with the draft" "$out" 'd["enhancement"]["ran"] and d["enhancement"]["answered"]
    and d["enhancement"]["provider"] == "openai" and d["enhancement"]["model"] == "echo"
    and d["enhancement"]["content"].startswith("Improved: Improve this draft answer")
    and d["enhancement"]["content"].endswith("Draft answer:\n" + d["draft"]["content"])
    and d["content"] == d["enhancement"]["content"] and d["served_by"] == "external"
    and d["enhancement"]["reason"].startswith("enhanced by openai/echo: the draft needed it (confidence 0.")'
check "every attempt carries its confidence" "$out" '[a["route"] for a in d["attempts"]] == ["embedded", "external"]
    and d["attempts"][0]["confidence"] == dr["confidence"] and d["attempts"][0]["mean_logprob"] == dr["mean_logprob"]
    and d["attempts"][0]["low_confidence"] and d["attempts"][1]["confidence"] is None'
if [ "$(calls)" = 1 ]; then ok; else bad "the upstream saw $(calls) enhancement calls, want 1"; fi

# The escalated draft was not cached: asked again, it is drafted again.
out=$(rhema ai tasks route --prompt "Write a draft story about a cat" --max-tokens 8 --json 2>&1)
check "weak draft not cached" "$out" 'not d["attempts"][0]["cached"] and not dr["cached"] and d["enhancement"]["ran"]'

# The plain summary says why in a line.
expect 0 "[hybrid: enhanced by openai/echo: the draft needed it (confidence 0." \
    rhema ai tasks route --prompt "Write a draft poem" --max-tokens 8 --no-cache

# Threshold 0 for this model: confidence alone never asks for help, but a
# draft cut at the token limit still does, and the reason says so.
config '    confidence_threshold: 0
'
out=$(rhema ai tasks route --prompt "Write a draft story about a dog" --max-tokens 8 --json 2>&1)
check "truncation alone" "$out" 'dr["threshold"] == 0 and dr["truncated"] and d["enhancement"]["answered"]
    and "at or above the threshold 0.00; cut at the length limit" in d["enhancement"]["reason"]'

# A private request never leaves: the decision keeps it local, no call.
before=$(calls)
expect 0 '"route":"embedded"' rhema ai tasks route --prompt "Write a draft story" --private --max-tokens 8 --json
if [ "$(calls)" = "$before" ]; then ok; else bad "a private request reached the upstream"; fi

finish
