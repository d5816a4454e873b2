#!/usr/bin/env bash
# The main job: build rhema, make sure an embedded model is there, then route
# a few sample prompts and show each decision and its answer.
#
# The embedded model, in this order: $RHEMA_MODEL (a GGUF path: the way on
# an offline machine), the catalogue's default model when it is installed
# under $RHEMA_HOME/models (default ~/.rhema/models), else that model is
# downloaded (progress bar, sha256 verified). External providers answer the
# complex prompts when OPENAI_API_KEY or ANTHROPIC_API_KEY is set; without
# one, or offline, everything is answered locally.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/deps.sh
[ -f build/build.ninja ] || meson setup build | tail -n 3
ninja -C build cli/rhema | tail -n 1
rhema=build/cli/rhema

if [ -n "${RHEMA_MODEL:-}" ]; then
    if [ ! -f "$RHEMA_MODEL" ]; then
        echo "RHEMA_MODEL=$RHEMA_MODEL: no such file." >&2
        exit 1
    fi
    echo "== embedded model: $RHEMA_MODEL (from RHEMA_MODEL)"
    "$rhema" ai models validate --model "$RHEMA_MODEL"
else
    read -r default installed < <("$rhema" ai models list --embedded --json | python3 -c '
import json, sys
d = json.load(sys.stdin)
m = next(m for m in d["models"] if m["name"] == d["default"])
print(d["default"], "yes" if m["installed"] else "no")')
    if [ "$installed" != yes ]; then
        echo "== installing the default embedded model '$default'"
        if ! "$rhema" ai models install --model "$default"; then
            cat >&2 <<NEXT

No embedded model is installed and the default could not be downloaded
(offline, or the download failed). Next step, either:
  - point rhema at a GGUF model file you have (the offline way):
        RHEMA_MODEL=/path/to/model.gguf tools/demo.sh
  - or install it on a machine with internet access and bring the file over:
        $rhema ai models install --model $default              # online machine
        $rhema ai models install --model $default --file FILE  # this machine
  ('$rhema ai models list --embedded --json' lists the catalogue with download URLs.)
NEXT
            exit 1
        fi
    fi
    echo "== embedded model: $default (installed)"
    "$rhema" ai models validate --model "$default"
fi

prompts=(
    "What is the context of the auth module?"
    "Validate this YAML: name: rhema"
    "My password is hunter2, summarize the deployment notes"
    "Write a function that parses a GGUF header, then analyze its complexity step by step and prove it handles truncated files"
)
for p in "${prompts[@]}"; do
    echo
    echo "== prompt: $p"
    "$rhema" ai tasks route --prompt "$p" --max-tokens 48 --explain
done
