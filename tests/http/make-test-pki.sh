#!/bin/sh
# A throwaway PKI for tests/http/tls_test.cpp, written into the (empty) folder given as $1:
#   ca.crt ca.crl                     the test CA (P-256) and its CRL (lists client-revoked)
#   server.crt server.key             for 127.0.0.1 (subjectAltName IP:127.0.0.1)
#   client-<name>.crt client-<name>.key, <name> among:
#     valid       signed by the CA; serialNumber = "8" + RPPS 10001234565 (IGC-Santé form)
#     expired     signed by the CA; valid 2020-01-01 .. 2021-01-01
#     revoked     signed by the CA, then revoked (in ca.crl)
#     foreign     signed by another CA (foreign-ca.crt), unknown to the server
#     selfsigned  self-signed
#     noid        signed by the CA; no serialNumber attribute
# Only the openssl command line (OpenSSL 3.0, Debian 12) is used; nothing outside $1 is
# touched. Exits non-zero on any failure.
set -eu

out=${1:?usage: make-test-pki.sh OUTPUT_DIR}
cd "$out"
export OPENSSL_CONF=/dev/null  # ignore the system configuration
# openssl's chatter goes to a log, shown only if a step fails.
exec 3>&2 2>pki.log
trap 'status=$?; [ "$status" -eq 0 ] || cat pki.log >&3; exit "$status"' EXIT

mkdir -p newcerts
: >index.txt
echo 1000 >serial
echo 1000 >crlnumber

cat >ca.cnf <<'EOF'
[ req ]
distinguished_name = req_dn
string_mask = utf8only
utf8 = yes
[ req_dn ]

[ ca ]
default_ca = test_ca
[ test_ca ]
dir = .
database = ./index.txt
new_certs_dir = ./newcerts
certificate = ./ca.crt
private_key = ./ca.key
serial = ./serial
crlnumber = ./crlnumber
default_md = sha256
default_days = 365
default_crl_days = 30
policy = policy_any
preserve = yes
unique_subject = no
copy_extensions = none
x509_extensions = client_ext
[ policy_any ]
countryName = optional
organizationName = optional
organizationalUnitName = optional
serialNumber = optional
commonName = supplied
surname = optional
givenName = optional

[ ca_ext ]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[ server_ext ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[ client_ext ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
EOF

newkey() {
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1"
}

# The CAs.
newkey ca.key
openssl req -config ca.cnf -new -x509 -key ca.key -out ca.crt -days 30 -sha256 \
    -extensions ca_ext -subj "/C=FR/O=Carnet Test/CN=Carnet Test CA"
newkey foreign-ca.key
openssl req -config ca.cnf -new -x509 -key foreign-ca.key -out foreign-ca.crt -days 30 -sha256 \
    -extensions ca_ext -subj "/C=FR/O=Elsewhere/CN=Foreign Test CA"

# issue NAME SUBJECT [openssl ca options...]: a key and a certificate signed by the test CA.
issue() {
    name=$1
    subject=$2
    shift 2
    newkey "$name.key"
    openssl req -config ca.cnf -new -key "$name.key" -out "$name.csr" -subj "$subject"
    openssl ca -config ca.cnf -batch -notext -in "$name.csr" -out "$name.crt" "$@"
}

issue server "/CN=127.0.0.1" -extensions server_ext
issue client-valid \
    "/C=FR/O=Carnet Test/serialNumber=810001234565/CN=Hélène Martin/SN=Martin/GN=Hélène"
issue client-expired "/C=FR/O=Carnet Test/serialNumber=810001234573/CN=Expired Card" \
    -startdate 20200101000000Z -enddate 20210101000000Z
issue client-revoked "/C=FR/O=Carnet Test/serialNumber=810001234581/CN=Revoked Card"
issue client-noid "/C=FR/O=Carnet Test/CN=Card Without Id"

openssl ca -config ca.cnf -batch -revoke client-revoked.crt -crl_reason keyCompromise
openssl ca -config ca.cnf -batch -gencrl -out ca.crl

newkey client-foreign.key
openssl req -config ca.cnf -new -key client-foreign.key -out client-foreign.csr \
    -subj "/C=FR/O=Elsewhere/serialNumber=810001234565/CN=Foreign Card"
openssl x509 -req -in client-foreign.csr -CA foreign-ca.crt -CAkey foreign-ca.key \
    -CAcreateserial -days 30 -sha256 -out client-foreign.crt

newkey client-selfsigned.key
openssl req -config ca.cnf -new -x509 -key client-selfsigned.key -out client-selfsigned.crt \
    -days 30 -sha256 -subj "/C=FR/O=Nobody/serialNumber=810001234565/CN=Self Signed Card"
