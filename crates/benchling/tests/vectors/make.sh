#!/usr/bin/env bash
# Makes the signature test vectors with the openssl CLI, an implementation independent of ours:
# two P-256 keys (the JWKS), and Benchling-style signatures of body.json under the first key.
# Run from this directory; the outputs are committed so tests need no openssl.
set -euo pipefail
id="msg_2YSnJBcHK2gm4DkYX5wLzV9y"
timestamp="1730000000"

for n in 1 2; do
  openssl ecparam -name prime256v1 -genkey -noout -out "key$n.pem"
  # The DER public key ends with the 65-byte uncompressed point 04||x||y.
  openssl ec -in "key$n.pem" -pubout -outform DER 2>/dev/null | tail -c 64 > "point$n.bin"
done
b64url() { base64 -w0 | tr '+/' '-_' | tr -d '='; }
jwk() { printf '{"kty":"EC","crv":"P-256","kid":"key%s","use":"sig","x":"%s","y":"%s"}' "$1" \
  "$(head -c 32 "point$1.bin" | b64url)" "$(tail -c 32 "point$1.bin" | b64url)"; }
printf '{"keys":[%s]}\n' "$(jwk 1)" > jwks-key1.json
printf '{"keys":[%s,%s]}\n' "$(jwk 2)" "$(jwk 1)" > jwks-both.json
printf '{"keys":[%s]}\n' "$(jwk 2)" > jwks-key2.json

{ printf '%s.%s.' "$id" "$timestamp"; cat body.json; } > message.bin
openssl dgst -sha256 -sign key1.pem -out signature.der message.bin
openssl dgst -sha256 -verify <(openssl ec -in key1.pem -pubout 2>/dev/null) -signature signature.der message.bin
printf '{"webhook-id":"%s","webhook-timestamp":"%s","webhook-signature":"v1bder,%s"}\n' \
  "$id" "$timestamp" "$(base64 -w0 signature.der)" > headers.json
rm -f key1.pem key2.pem point1.bin point2.bin message.bin signature.der
