#!/usr/bin/env bash
# rhema ai chat and ai tasks route against a stand-in OpenAI / Anthropic
# upstream (tests/net/ai_upstream.py) over TLS with a test CA made here, on
# 127.0.0.1: success, 401, 429 + Retry-After, 500/529, a cut body, a slow
# server, broken JSON, an oversized answer and the content filter, each
# for both APIs, streamed and not; then routing to the upstream, a 429
# falling back to the embedded model, and an offline provider. The API key
# must appear in no output and no file the runs write. Loopback only.
# Needs openssl and python3 (Debian: openssl, python3), else exit 77.
# The routing cases need the fixture models (RHEMA_FIXTURES, else
# ../shared/fixtures beside the source tree; skipped with a message without).
# Usage: ai_tls_test.sh PATH/TO/rhema
set -u
rhema_bin="$1"
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../testlib.sh"
need openssl python3
rhema_bin=$(cd "$(dirname "$rhema_bin")" && pwd)/$(basename "$rhema_bin")
make_temp_dir ai-tls
unset HTTPS_PROXY https_proxy RHEMA_MODEL RHEMA_AI_CONFIG OPENAI_API_KEY ANTHROPIC_API_KEY
# Everything rhema writes (ledger, cache, config) lands under this HOME.
export HOME="$dir/home" RHEMA_HOME="$dir/home/.rhema"
mkdir -p "$HOME" "$dir/srv" "$dir/work"

KEY=sk-test-SECRET-1234
start_ai_upstream "$dir/srv" "$KEY"
ca="$dir/srv/ca.pem"
# A port nothing listens on: bound, then released.
dead=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cd "$dir/work" || exit 1

# Every output is kept in transcript for the key check at the end.
# run CMD...: sets rc, out (stdout) and err (stderr).
run() {
    "$@" >out.txt 2>err.txt
    rc=$?
    out=$(cat out.txt) err=$(cat err.txt)
    { echo "\$ ${*//$KEY/KEY}"; cat out.txt err.txt; } >>"$dir/transcript"
}
# want CODE STDOUT-PATTERN STDERR-PATTERN (fixed strings; "" matches anything).
want() {
    local what="$1 $2 $3: ${last[*]}"
    if [ "$rc" != "$4" ]; then bad "$what -> exit $rc, want $4: $(tail -c 300 <<<"$err")"; return; fi
    if ! grep -qF -- "$5" <<<"$out"; then bad "$what -> stdout lacks '$5': $(head -c 300 <<<"$out")"; return; fi
    if ! grep -qF -- "$6" <<<"$err"; then bad "$what -> stderr lacks '$6': $(tail -c 300 <<<"$err")"; return; fi
    ok
}
# chat PROVIDER MODE MODEL [ARGS...]: MODE is stream or full.
chat() {
    local provider="$1" mode="$2" model="$3" base="https://localhost:$port"
    shift 3
    [ "$provider" = openai ] && base="$base/v1"
    last=(--provider "$provider" --model "$model" --base-url "$base" --ca-file "$ca")
    [ "$mode" = stream ] && last+=(--stream)
    last+=("$@")
    local var=OPENAI_API_KEY
    [ "$provider" = anthropic ] && var=ANTHROPIC_API_KEY
    run env "$var=$KEY" "${wrapper[@]}" "$rhema_bin" ai chat "${last[@]}"
}
# expect_chat MODEL CODE STDOUT STDERR [ARGS...]: every provider and mode.
expect_chat() {
    local model="$1" code="$2" sout="$3" serr="$4"
    shift 4
    for provider in openai anthropic; do
        for mode in full stream; do
            chat "$provider" "$mode" "$model" "$@" "tell me something"
            want "$provider" "$mode" "$model" "$code" "$sout" "${serr//PROVIDER/$provider}"
        done
    done
}

t0=$(date +%s)
# Success: the answer on stdout, usage and latency on stderr.
expect_chat ok 0 "Hello from upstream" "11 input + 5 output tokens"
for provider in openai anthropic; do
    chat "$provider" full ok "hi"
    want "$provider" full "ok latency" 0 "Hello from upstream" " ms]"
    chat "$provider" stream ok "hi"
    want "$provider" stream "ok latency" 0 "Hello from upstream" " ms, first text after "
done
expect_chat ok 0 "Hello from upstream [system: be terse]" "finish " --system "be terse" --max-tokens 50
chat anthropic full ok "hi"
want anthropic full "ok (no --max-tokens: 1024 sent)" 0 "Hello from upstream" "[ok: 11 input + 5 output tokens, finish end_turn"

# Failures by kind; the server's 401 message quotes the key.
expect_chat auth 1 "" "rhema: ai chat: PROVIDER: auth (HTTP 401): Incorrect API key provided: [redacted]."
expect_chat ratelimit 1 "" "PROVIDER: rate-limited (HTTP 429, retry after 7 s): Rate limit reached"
expect_chat error500 1 "" "PROVIDER: overloaded (HTTP 500): The server had an error"
chat anthropic full overloaded "hi"
want anthropic full overloaded 1 "" "anthropic: overloaded (HTTP 529): Overloaded"
chat openai stream overloaded "hi"
want openai stream overloaded 1 "" "openai: overloaded (HTTP 503)"
expect_chat cut 1 "" "PROVIDER: protocol: localhost: HTTP response: connection closed before the end of the body"
expect_chat slow 1 "" "PROVIDER: timeout: TLS with localhost: timed out after 1000 ms" --timeout 1
for provider in openai anthropic; do
    chat "$provider" full badjson "hi"
    want "$provider" full badjson 1 "" "$provider: protocol: answer is not valid JSON: JSON line 1"
    chat "$provider" stream badjson "hi"
    want "$provider" stream badjson 1 "" "$provider: protocol: bad JSON in the stream: JSON"
    chat "$provider" full huge "hi"
    want "$provider" full huge 1 "" "$provider: protocol: answer larger than 16777216 bytes"
    chat "$provider" stream huge "hi"
    want "$provider" stream huge 1 "" "$provider: protocol: SSE: line longer than 1048576 bytes"
done
expect_chat filtered 1 "" "PROVIDER: content-filtered"
# A streamed answer cut half-way keeps what arrived.
chat openai stream cut "hi"
want openai stream "cut (partial answer)" 1 "Hello from" "openai: protocol"
chat anthropic stream slow "hi" --timeout 1
want anthropic stream "slow (partial answer)" 1 "Hello " "anthropic: timeout"

# Wrong requests: the upstream's own checks answer, rhema reports them.
expect_chat nosuchmodel 1 "" "PROVIDER: bad-request (HTTP 404): model nosuchmodel does not exist"
for provider in openai anthropic; do
    last=(--provider "$provider" --model ok --base-url "https://localhost:$port/v1" --ca-file "$ca" "hi")
    [ "$provider" = anthropic ] && last[5]="https://localhost:$port"
    run rhema ai chat "${last[@]}"
    want "$provider" full "no key" 1 "" "$provider: auth (HTTP 401): missing or wrong"
    last=(--provider "$provider" --model ok --base-url "https://localhost:$port/v2" --ca-file "$ca" "hi")
    run env OPENAI_API_KEY=$KEY ANTHROPIC_API_KEY=$KEY "${wrapper[@]}" "$rhema_bin" ai chat "${last[@]}"
    want "$provider" full "wrong path" 1 "" "$provider: bad-request (HTTP 404)"
    last=(--provider "$provider" --model ok --base-url "https://localhost:$port/v1" "hi")
    run env OPENAI_API_KEY=$KEY ANTHROPIC_API_KEY=$KEY "${wrapper[@]}" "$rhema_bin" ai chat "${last[@]}"
    want "$provider" full "system CAs" 1 "" "$provider: tls: "
    last=(--provider "$provider" --model ok --base-url "https://localhost:$dead/v1" --ca-file "$ca" "hi")
    run env OPENAI_API_KEY=$KEY ANTHROPIC_API_KEY=$KEY "${wrapper[@]}" "$rhema_bin" ai chat "${last[@]}"
    want "$provider" full offline 1 "" "$provider: offline: "
done
echo "ai chat: $(($(date +%s) - t0)) s"

# Routing: the external provider is the upstream (its CA from the config).
fx=$(fixtures)
if [ -n "$fx" ] && [ -f "$fx/models/stories260K.gguf" ]; then
    export RHEMA_MODEL="$fx/models/stories260K.gguf" OPENAI_API_KEY="$KEY" ANTHROPIC_API_KEY="$KEY"
    complex="Prove step by step that the algorithm terminates, then compare the two designs and analyze the trade-offs in depth"
    # config PROVIDER BASE_URL MODEL: the upstream's CA comes from ca_file.
    config() {
        local var=OPENAI_API_KEY
        [ "$1" = anthropic ] && var=ANTHROPIC_API_KEY
        printf 'ai_service:\n  routing:\n    routing_strategy: hybrid\n  external:\n    provider: %s\n    base_url: %s\n    ca_file: %s\n    models: [%s]\n    api_key: ${%s}\n    timeout_seconds: 2\n  embedded:\n    model_path: %s\n    max_context_length: 256\n' \
            "$1" "$2" "$ca" "$3" "$var" "$RHEMA_MODEL" >"$dir/work/ai-config.yaml"
    }
    route() { last=(ai tasks route --config "$dir/work/ai-config.yaml" --max-tokens 8 "$@"); run rhema "${last[@]}"; }
    config openai "https://localhost:$port/v1" ok
    route --prompt "$complex" --dry-run
    want route dry-run "complex goes external" 0 "route:      external -> openai/ok" ""
    route --prompt "$complex"
    want route run "complex answered by the upstream" 0 "Hello from upstream" "[external openai/ok, 1 attempt"
    config anthropic "https://localhost:$port" ok
    route --prompt "$complex"
    want route run "complex answered by the upstream (anthropic)" 0 "Hello from upstream" "[external anthropic/ok, 1 attempt"
    config openai "https://localhost:$port/v1" ratelimit
    route --prompt "$complex" --json
    want route run "429 falls back to embedded" 0 '"served_by":"embedded"' ""
    want route run "429 falls back to embedded" 0 '"error":"openai: rate-limited (HTTP 429, retry after 7 s): Rate limit reached' ""
    # The upstream's 401 quotes the key: the error is kept (ledger) but redacted.
    config openai "https://localhost:$port/v1" auth
    route --prompt "$complex" --json
    want route run "401 falls back to embedded" 0 '"error":"openai: auth (HTTP 401): Incorrect API key provided: [redacted]' ""
    run rhema ai service config --config "$dir/work/ai-config.yaml"
    want config show "ca_file shown, key masked" 0 "ca_file" ""
    config anthropic "https://localhost:$dead" ok
    route --prompt "$complex" --json
    want route run "offline falls back to embedded" 0 '"served_by":"embedded"' ""
    want route run "offline falls back to embedded" 0 '"error":"anthropic: offline: cannot connect to localhost' ""
    config openai "https://localhost:$port/v1" ok
    sed -i '/ca_file/d' "$dir/work/ai-config.yaml"
    # Another prompt: the first one's answer is in the cache.
    route --prompt "$complex, twice" --json
    want route run "without ca_file the test CA is unknown" 0 '"error":"openai: tls: ' ""
    unset OPENAI_API_KEY ANTHROPIC_API_KEY
else
    echo "SKIP: no fixture models at $fx; routing to the upstream skipped"
fi

# The key never shows: not in any output, not in any file rhema wrote.
if grep -qF "SECRET-1234" "$dir/transcript"; then bad "the API key appears in the output:"; grep -F "SECRET-1234" "$dir/transcript" | head -3; else ok; fi
if grep -rqF "SECRET-1234" "$HOME" "$dir/work"; then bad "the API key is in a file: $(grep -rlF "SECRET-1234" "$HOME" "$dir/work")"; else ok; fi
if grep -qF "SECRET-1234" "$dir/srv/server.log"; then bad "the upstream logged the key"; fi

echo "$pass passed, $failed failed ($(($(date +%s) - t0)) s)"
[ "$failed" -eq 0 ]
