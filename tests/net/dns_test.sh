#!/usr/bin/env bash
# Our resolver against a real DNS server: dnsmasq on 127.0.0.2:53 answering
# for example.test, plus hosts-file, literal, search-list and timeout cases.
set -u
probe="$1"
# Under a cross build meson names the emulator in MESON_EXE_WRAPPER.
read -r -a wrapper <<<"${MESON_EXE_WRAPPER:-}"
if ! command -v dnsmasq >/dev/null; then echo "SKIP: dnsmasq is not installed"; exit 77; fi
if [ "$(id -u)" -ne 0 ]; then echo "SKIP: binding port 53 needs root"; exit 77; fi
tmp=$(mktemp -d)
dnsmasq --keep-in-foreground --no-daemon --port=53 --listen-address=127.0.0.2 --bind-interfaces \
    --no-resolv --no-hosts --local=/example.test/ \
    --host-record=api.example.test,127.0.0.7,::7 \
    --host-record=v6only.example.test,fd00::7 --cname=alias.example.test,api.example.test \
    --log-facility=- --pid-file="$tmp/pid" >"$tmp/log" 2>&1 &
dpid=$!
trap 'kill $dpid 2>/dev/null; rm -rf "$tmp"' EXIT
for _ in $(seq 50); do grep -q "started" "$tmp/log" && break; sleep 0.1; done
printf 'nameserver 127.0.0.2\nsearch nowhere.test example.test\n' >"$tmp/resolv.conf"
printf '127.0.0.9 fromhosts.test alias2\n::9 fromhosts.test\n' >"$tmp/hosts"
export RHEMA_RESOLV_CONF="$tmp/resolv.conf" RHEMA_HOSTS_FILE="$tmp/hosts"
out=$("${wrapper[@]}" "$probe" api.example.test alias.example.test v6only.example.test missing.example.test \
      api fromhosts.test ALIAS2 localhost 192.0.2.1 "[2001:db8::1]" "bad..name" 2>&1)
pass=0 failed=0
check() {
    if grep -qxF -- "$1" <<<"$out"; then pass=$((pass + 1)); else failed=$((failed + 1)); echo "FAIL: want '$1'"; fi
}
check "api.example.test: 127.0.0.7 ::7"
check "alias.example.test: 127.0.0.7 ::7"
check "v6only.example.test: fd00::7"
check "missing.example.test: error: cannot resolve host missing.example.test: no such host"
check "api: 127.0.0.7 ::7"
check "fromhosts.test: 127.0.0.9 ::9"
check "ALIAS2: 127.0.0.9"
check "192.0.2.1: 192.0.2.1"
check "[2001:db8::1]: 2001:db8::1"
check "bad..name: error: cannot resolve host bad..name: the name is not a valid host name"
# localhost comes from the hosts file here (empty of it) or RFC 6761.
check "localhost: 127.0.0.1 ::1"
# A server that never answers: the caller's timeout bounds the wait.
printf 'nameserver 127.0.0.3\n' >"$tmp/resolv.conf"
start=$(date +%s%N)
out=$(DNS_TIMEOUT_MS=300 "${wrapper[@]}" "$probe" api.example.test)
ms=$(( ($(date +%s%N) - start) / 1000000 ))
check "api.example.test: error: cannot resolve host api.example.test: no answer from the name server"
if [ "$ms" -lt 2000 ]; then pass=$((pass + 1)); else failed=$((failed + 1)); echo "FAIL: timeout took $ms ms"; fi
[ "$failed" -eq 0 ] || echo "$out"
echo "$pass passed, $failed failed"
[ "$failed" -eq 0 ]
