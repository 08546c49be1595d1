#!/usr/bin/env bash
# Makes a private CA and two certificates signed by it, in ./certs (or $1):
#   front.crt/.key   barkeep's TLS listener, for localhost and 127.0.0.1
#   member.crt/.key  the https:// member, for 127.0.0.1
# For trying things out only: use your real CA for anything else.
set -euo pipefail
dir=${1:-certs}
mkdir -p "$dir"
cd "$dir"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
	-subj "/CN=barkeep example CA" -keyout ca.key -out ca.crt 2>/dev/null
for name in front member; do
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-subj "/CN=$name" -keyout "$name.key" -out "$name.csr" 2>/dev/null
	openssl x509 -req -in "$name.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days 30 \
		-extfile <(printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n') \
		-out "$name.crt" 2>/dev/null
	rm "$name.csr"
done
echo "certificates in $(pwd): ca.crt, front.crt/.key, member.crt/.key"
