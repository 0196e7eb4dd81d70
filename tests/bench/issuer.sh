#!/usr/bin/env bash
# A test OpenID issuer for the JWT targets of the benchmarks, as static files: an RSA-2048 key
# (KEY_FILE, never served), its JWKS (DOC_DIR/jwks.json) and a discovery document
# (DOC_DIR/.well-known/openid-configuration) for ISSUER, whose URL must serve DOC_DIR. Prints one
# RS256 JWT of that issuer: aud AUDIENCE, sub bench-user, roles ["developer"], a verified email
# (oauth2-proxy requires one), issued now, expiring in one day.
# Needs openssl and GNU coreutils (basenc). Usage: tests/bench/issuer.sh KEY_FILE DOC_DIR ISSUER AUDIENCE
set -euo pipefail
[ $# -eq 4 ] || { echo "usage: $0 KEY_FILE DOC_DIR ISSUER AUDIENCE" >&2; exit 2; }
key="$1" dir="$2" issuer="$3" audience="$4"
kid=bench-1

b64url() { basenc --base64url -w0 | tr -d '='; }

openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$key" 2>/dev/null
# The modulus as unsigned big-endian bytes (openssl prints it in upper-case hex, no leading zeros).
n=$(openssl rsa -in "$key" -noout -modulus | sed 's/^Modulus=//' | basenc --base16 -d | b64url)

mkdir -p "$dir/.well-known"
printf '{"keys":[{"kty":"RSA","use":"sig","alg":"RS256","kid":"%s","n":"%s","e":"AQAB"}]}\n' \
  "$kid" "$n" > "$dir/jwks.json"
cat > "$dir/.well-known/openid-configuration" <<JSON
{"issuer":"$issuer","jwks_uri":"$issuer/jwks.json","authorization_endpoint":"$issuer/authorize","token_endpoint":"$issuer/token","response_types_supported":["code"],"subject_types_supported":["public"],"id_token_signing_alg_values_supported":["RS256"]}
JSON

now=$(date +%s)
header=$(printf '{"alg":"RS256","typ":"JWT","kid":"%s"}' "$kid" | b64url)
payload=$(printf '{"iss":"%s","aud":"%s","sub":"bench-user","email":"bench@example.com","email_verified":true,"roles":["developer"],"iat":%d,"exp":%d}' \
  "$issuer" "$audience" "$now" $((now + 86400)) | b64url)
signature=$(printf '%s.%s' "$header" "$payload" | openssl dgst -sha256 -sign "$key" -binary | b64url)
echo "$header.$payload.$signature"
