# Shared by the shell tests: source it, then call the checks.
#   rhema ARGS...          the binary named by $rhema_bin, through meson's
#                          MESON_EXE_WRAPPER under a cross build
#   ok / bad MSG           count a pass / report and count a failure
#   expect CODE TEXT CMD   run CMD; its exit code must be CODE and its
#                          stdout+stderr must contain TEXT
#   make_test_ca DIR       a CA (ca.pem) and a localhost server certificate
#                          (srv.pem, srv.key) signed by it, in DIR
#   ledger_line FIELDS...  a usage ledger line with its FNV-1a check, as the
#                          router writes it (router/ledger.c)
#   finish                 print the tally; exit status 1 on any failure
read -r -a wrapper <<<"${MESON_EXE_WRAPPER:-}"
pass=0 failed=0

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

ledger_line() {
    local s="$*" h=2166136261 i c
    for ((i = 0; i < ${#s}; i++)); do printf -v c '%d' "'${s:i:1}"; h=$(( ((h ^ c) * 16777619) & 0xffffffff )); done
    printf '%s %08x\n' "$s" "$h"
}

finish() {
    echo "$pass passed, $failed failed"
    [ "$failed" -eq 0 ]
}
