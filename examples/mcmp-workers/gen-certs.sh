#!/usr/bin/env bash
# Makes a private CA and, signed by it, in ./certs (or $1):
#   manager.crt/.key  barkeep's manager listener (serverAuth; localhost, 127.0.0.1
#                     and $MANAGER_HOST if set)
#   worker.crt/.key   a worker's client certificate (clientAuth)
#   worker.p12        the same as a PKCS#12 keystore for Java (password: changeit)
# For trying things out only: use your real CA for anything else.
set -euo pipefail
dir=${1:-certs}
mkdir -p "$dir"
cd "$dir"
san="DNS:localhost,IP:127.0.0.1"
[ -n "${MANAGER_HOST:-}" ] && san="$san,DNS:$MANAGER_HOST"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
	-subj "/CN=barkeep example CA" -keyout ca.key -out ca.crt 2>/dev/null
sign() { # name extensions
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$1" \
		-keyout "$1.key" -out "$1.csr" 2>/dev/null
	openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days 30 \
		-extfile <(printf '%s\n' "$2") -out "$1.crt" 2>/dev/null
	rm "$1.csr"
}
sign manager "$(printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth' "$san")"
sign worker "extendedKeyUsage=clientAuth"
openssl pkcs12 -export -in worker.crt -inkey worker.key -certfile ca.crt -name worker \
	-passout pass:changeit -out worker.p12
echo "certificates in $(pwd): ca.crt, manager.crt/.key, worker.crt/.key, worker.p12"
