#!/bin/sh
# Writes a throw-away PKI for the access-control tests into DIR:
#   ca.pem/ca.key              the farm's CA
#   server.pem/server.key      the coordinator (CN localhost, SAN 127.0.0.1)
#   gpu-01.pem/gpu-01.key      a node's client certificate, valid
#   expired.pem/expired.key    a node's client certificate that expired in 2020
#   rogue-ca.pem, rogue.pem/rogue.key   a node certificate from another CA
# Uses only the openssl command; keys are EC P-256 to keep it fast.
set -eu
dir=$1
mkdir -p "$dir"
cd "$dir"
key() { openssl ecparam -name prime256v1 -genkey -noout -out "$1.key"; }

key ca
openssl req -x509 -new -key ca.key -subj "/CN=AniFarm test CA" -days 30 -out ca.pem 2>/dev/null
key rogue-ca
openssl req -x509 -new -key rogue-ca.key -subj "/CN=Someone else's CA" -days 30 \
  -out rogue-ca.pem 2>/dev/null

printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' > server.ext
printf 'extendedKeyUsage=clientAuth\n' > client.ext
sign() {  # NAME CN CA EXT
  key "$1"
  openssl req -new -key "$1.key" -subj "/CN=$2" -out "$1.csr" 2>/dev/null
  openssl x509 -req -in "$1.csr" -CA "$3.pem" -CAkey "$3.key" -CAcreateserial -days 30 \
    -extfile "$4" -out "$1.pem" 2>/dev/null
}
sign server localhost ca server.ext
sign gpu-01 gpu-01 ca client.ext
sign rogue gpu-01 rogue-ca client.ext

# An expired certificate needs explicit dates, which only `openssl ca` takes.
key expired
openssl req -new -key expired.key -subj "/CN=gpu-old" -out expired.csr 2>/dev/null
mkdir -p ca-db
: > ca-db/index.txt
cat > ca.cnf <<CNF
[ca]
default_ca = test
[test]
database = ca-db/index.txt
new_certs_dir = ca-db
serial = ca-db/serial
default_md = sha256
policy = any
copy_extensions = none
[any]
commonName = supplied
[client]
extendedKeyUsage = clientAuth
CNF
echo 1000 > ca-db/serial
openssl ca -batch -config ca.cnf -cert ca.pem -keyfile ca.key -in expired.csr -out expired.pem \
  -startdate 20200101000000Z -enddate 20200201000000Z -extensions client -notext 2>/dev/null
rm -f ./*.csr
