#!/usr/bin/env bash
# TLS client against a real TLS server on 127.0.0.1 (openssl s_server): a
# test CA and server certificates (valid, expired, wrong host name,
# self-signed) are made here; the client must accept the valid one and
# refuse each bad one with the right words. Loopback only.
# Usage: tls_test.sh PATH/TO/tls_probe
probe="$1"
# Under a cross build meson names the emulator in MESON_EXE_WRAPPER.
read -r -a wrapper <<<"${MESON_EXE_WRAPPER:-}"
if ! command -v openssl >/dev/null 2>&1; then
    echo "SKIP: openssl not found (Debian package: openssl); TLS tests skipped"
    exit 77
fi
[ -x "$probe" ] || { echo "FAIL: probe $probe missing"; exit 1; }
probe=$(cd "$(dirname "$probe")" && pwd)/$(basename "$probe")
dir=$(mktemp -d "${TMPDIR:-/tmp}/rhema-tls.XXXXXX")
pids=""
cleanup() {
    for p in $pids; do kill "$p" 2>/dev/null; done
    rm -rf "$dir"
}
trap cleanup EXIT INT TERM
cd "$dir" || exit 1
quiet() { "$@" >>log.txt 2>&1 || { echo "FAIL: $*"; cat log.txt; exit 1; }; }

# A CA, and `openssl ca` to sign with chosen validity dates.
quiet openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.pem \
    -days 30 -subj "/CN=rhema test CA" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"
mkdir newcerts && : > index.txt && echo 1000 > serial
cat > ca.cnf <<CNF
[ca]
default_ca = testca
[testca]
dir = .
database = index.txt
new_certs_dir = newcerts
serial = serial
default_md = sha256
policy = anything
unique_subject = no
[anything]
commonName = supplied
CNF
# sign NAME SAN_DNS [openssl ca date options]
sign() {
    name=$1 san=$2; shift 2
    printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=DNS:%s\n' "$san" > "$name.ext"
    quiet openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$name.key" \
        -out "$name.csr" -subj "/CN=$san"
    quiet openssl ca -batch -config ca.cnf -cert ca.pem -keyfile ca.key -in "$name.csr" -out "$name.pem" \
        -extfile "$name.ext" "$@"
}
sign valid localhost -days 30
sign expired localhost -startdate 20200101000000Z -enddate 20210101000000Z
sign wronghost wrong.example -days 30
quiet openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout selfsigned.key \
    -out selfsigned.pem -days 30 -subj "/CN=localhost" -addext "subjectAltName=DNS:localhost"
echo "hello over tls" > hello.txt

# serve NAME: start s_server with that certificate on a free port -> $port
serve() {
    for try in 1 2 3 4 5 6 7 8 9 10; do
        port=$(( 20000 + ($(od -An -N2 -tu2 /dev/urandom) % 40000) ))
        openssl s_server -accept "127.0.0.1:$port" -cert "$1.pem" -key "$1.key" -WWW -quiet \
            >>server.log 2>&1 &
        spid=$!
        for wait in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do
            if ! kill -0 "$spid" 2>/dev/null; then break; fi
            if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
                pids="$pids $spid"
                return 0
            fi
            sleep 0.1
        done
        kill "$spid" 2>/dev/null
    done
    echo "FAIL: could not start openssl s_server"; cat server.log; exit 1
}

failures=0
# expect NAME PATTERN: the probe's output must contain PATTERN.
expect() {
    name=$1 pattern=$2; shift 2
    out=$("${wrapper[@]}" "$probe" "$@" 2>>probe.log)
    case "$out" in
        *"$pattern"*) echo "ok   $name: $out" ;;
        *) echo "FAIL $name: got '$out', want '$pattern'"; failures=$((failures + 1)) ;;
    esac
}

serve valid
expect "valid certificate" "OK 200 hello over tls" "https://localhost:$port/hello.txt" --ca ca.pem
expect "valid, through CONNECT proxy" "OK 200 hello over tls" "https://localhost:$port/hello.txt" --ca ca.pem \
    --builtin-proxy
expect "NO_PROXY bypasses the proxy" "OK 200 hello over tls" "https://localhost:$port/hello.txt" --ca ca.pem \
    --builtin-proxy --no-proxy "example.org,localhost"
expect "system CAs do not know the test CA" "ERR tls: TLS with localhost: unknown CA" \
    "https://localhost:$port/hello.txt"
expect "missing CA file" "ERR ca: CA file $dir/nope.pem: No such file" "https://localhost:$port/hello.txt" \
    --ca "$dir/nope.pem"
serve expired
expect "expired certificate" "ERR tls: TLS with localhost: certificate expired" \
    "https://localhost:$port/hello.txt" --ca ca.pem
serve wronghost
expect "wrong host name" "ERR tls: TLS with localhost: wrong host" "https://localhost:$port/hello.txt" --ca ca.pem
serve selfsigned
expect "self-signed certificate" "ERR tls: TLS with localhost: unknown CA" "https://localhost:$port/hello.txt" \
    --ca ca.pem
expect "plain HTTP to a TLS port" "ERR " "http://localhost:$port/hello.txt"
for p in $pids; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done; pids=""
expect "nothing listening" "ERR connect: cannot connect to localhost port $port" "https://localhost:$port/" --ca ca.pem

if grep -q "PROXY localhost:" probe.log; then echo "ok   proxy saw the CONNECT"; else
    echo "FAIL proxy never saw a CONNECT"; failures=$((failures + 1)); fi
if [ "$(grep -c 'PROXY' probe.log)" -ne 1 ]; then
    echo "FAIL NO_PROXY request went through the proxy"; failures=$((failures + 1)); fi
[ "$failures" -eq 0 ] || exit 1
echo "all TLS checks passed"
