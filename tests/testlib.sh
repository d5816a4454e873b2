# Shared by the shell tests: source it, then call the checks.
#   rhema ARGS...          the binary named by $rhema_bin, through meson's
#                          MESON_EXE_WRAPPER under a cross build
#   ok / bad MSG           count a pass / report and count a failure
#   expect CODE TEXT CMD   run CMD; its exit code must be CODE and its
#                          stdout+stderr must contain TEXT
#   need TOOL...           exit 77 (skipped) unless every TOOL is installed
#   fixtures               print $RHEMA_FIXTURES, else ../shared/fixtures
#                          beside the source tree (as tests/testutil.c does)
#   make_temp_dir NAME     $dir: a new folder ${TMPDIR:-/tmp}/rhema-NAME.XXXXXX,
#                          removed when the test ends, with the server
#                          start_server started
#   make_test_ca DIR       a CA (ca.pem) and a localhost server certificate
#                          (srv.pem, srv.key) signed by it, in DIR
#   start_server DIR CMD...  CMD in the background in DIR (its output in
#                          DIR/setup.log) until the test ends; once it has
#                          written its port to DIR/port, $port
#   start_ai_upstream DIR KEY  make_test_ca DIR, then the stand-in OpenAI /
#                          Anthropic upstream (tests/net/ai_upstream.py)
#                          with it, taking KEY, on 127.0.0.1:$port; it logs
#                          requests to DIR/server.log
#   ledger_line FIELDS...  a usage ledger line with its FNV-1a check, as the
#                          router writes it (router/ledger.c)
#   finish                 print the tally; exit status 1 on any failure
read -r -a wrapper <<<"${MESON_EXE_WRAPPER:-}"
testlib_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
pass=0 failed=0 dir="" spid=""

rhema() { "${wrapper[@]}" "$rhema_bin" "$@"; }
ok() { pass=$((pass + 1)); }
bad() { failed=$((failed + 1)); echo "FAIL: $*"; }

expect() {
    local code="$1" pat="$2"; shift 2
    local out rc
    out=$("$@" 2>&1); rc=$?
    if [ "$rc" != "$code" ]; then bad "$* -> exit $rc, want $code: $(echo "$out" | head -5)"; return; fi
    if ! grep -qF -- "$pat" <<<"$out"; then bad "$* -> output lacks '$pat': $(echo "$out" | head -5)"; return; fi
    ok
}

need() {
    local tool
    for tool in "$@"; do
        command -v "$tool" >/dev/null 2>&1 || { echo "SKIP: $tool not found; $(basename "$0") skipped"; exit 77; }
    done
}

fixtures() { echo "${RHEMA_FIXTURES:-$testlib_dir/../../shared/fixtures}"; }

remove_temp_dir() {
    [ -n "$spid" ] && kill "$spid" 2>/dev/null
    rm -rf "$dir"
}

make_temp_dir() {
    dir=$(mktemp -d "${TMPDIR:-/tmp}/rhema-$1.XXXXXX") || { echo "FAIL: could not make a temporary folder"; exit 1; }
    trap remove_temp_dir EXIT INT TERM
}

make_test_ca() {
    local d="$1"
    (
        cd "$d" || exit 1
        openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.pem \
            -days 30 -subj "/CN=rhema test CA" \
            -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" &&
        openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout srv.key -out srv.csr \
            -subj "/CN=localhost" &&
        printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=DNS:localhost\n' >srv.ext &&
        openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 30 -sha256 \
            -extfile srv.ext -out srv.pem
    ) >>"$d/setup.log" 2>&1 || { echo "FAIL: could not make the test CA"; cat "$d/setup.log"; exit 1; }
}

start_server() {
    local d="$1"
    shift
    (cd "$d" && exec "$@") >>"$d/setup.log" 2>&1 &
    spid=$!
    for _ in $(seq 100); do [ -s "$d/port" ] && break; sleep 0.1; done
    [ -s "$d/port" ] || { echo "FAIL: the server did not start: $*"; cat "$d/setup.log"; exit 1; }
    port=$(cat "$d/port")
}

start_ai_upstream() {
    make_test_ca "$1"
    start_server "$1" python3 "$testlib_dir/net/ai_upstream.py" srv.pem srv.key port server.log "$2"
}

ledger_line() {
    local s="$*" h=2166136261 i c
    for ((i = 0; i < ${#s}; i++)); do printf -v c '%d' "'${s:i:1}"; h=$(( ((h ^ c) * 16777619) & 0xffffffff )); done
    printf '%s %08x\n' "$s" "$h"
}

finish() {
    echo "$pass passed, $failed failed"
    [ "$failed" -eq 0 ]
}
