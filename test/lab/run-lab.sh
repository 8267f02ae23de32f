#!/usr/bin/env bash
# Starts the lab Kamailio by hand, in the foreground, for debugging (Ctrl-C stops it).
#   test/lab/run-lab.sh [BASE] [--wsping]        BASE defaults to $CUFFIA_LAB_BASE or 25060
# Same config, defines, certificate layout and ports as kamailio.ts. Then, for example:
#   kamcmd -s unix:$DIR/run/kamailio_ctl ul.dump
#   baresip, SIPp or the daemon against 127.0.0.1:BASE (users in README.md)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
base=${CUFFIA_LAB_BASE:-25060}
defines=()
for arg in "$@"; do
  case $arg in
    --wsping) defines+=(-A WITH_WSPING) ;;
    *) base=$arg ;;
  esac
done

dir=$(mktemp -d /tmp/cuffia-lab-manual-XXXXXX)
mkdir -p "$dir/run"
cd "$dir"
ec=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
openssl req -x509 "${ec[@]}" -keyout ca.key -out ca.pem -days 30 -subj "/CN=Cuffia lab CA" \
  -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
openssl req "${ec[@]}" -keyout key.pem -out server.csr -subj "/CN=127.0.0.1" 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' >server.ext
openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out cert.pem -days 30 \
  -extfile server.ext 2>/dev/null
cat >tls.cfg <<TLS
[server:default]
method = TLSv1.2+
verify_certificate = no
require_certificate = no
private_key = $dir/key.pem
certificate = $dir/cert.pem

[client:default]
method = TLSv1.2+
verify_certificate = no
require_certificate = no
TLS

defines+=(-A "SIP_PORT=$base" -A "TLS_PORT=$((base + 1))" -A "WS_PORT=$((base + 20))"
  -A "WSS_PORT=$((base + 23))" -A "TLS_CFG=\"$dir/tls.cfg\"")
if ! check=$(kamailio -f "$here/kamailio.cfg" "${defines[@]}" -c 2>&1); then
  echo "$check" >&2
  exit 1
fi

cat <<INFO
Cuffia lab Kamailio (run dir $dir)
  SIP UDP+TCP  127.0.0.1:$base
  SIP TLS      127.0.0.1:$((base + 1))
  WS           ws://127.0.0.1:$((base + 20))
  WSS          wss://127.0.0.1:$((base + 23))   (NODE_EXTRA_CA_CERTS=$dir/ca.pem)
  kamcmd       kamcmd -s unix:$dir/run/kamailio_ctl ul.dump
  users        1017 1018 2001 2002 2003 3001 (password pw<user>), domain 127.0.0.1
INFO
exec kamailio -f "$here/kamailio.cfg" "${defines[@]}" -DD -E -Y "$dir/run" -P "$dir/run/kamailio.pid" -m 64 -M 8
