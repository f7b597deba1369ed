#!/usr/bin/env bash
# The seed's curl HMAC client, byte for byte: printf | openssl dgst -sha256 -hmac | base64.
#   BASE=http://127.0.0.1:7071 KEY=vvtv-pub-... SECRET=... hmac_client.sh METHOD TARGET [BODY]
# Optional: TS, NONCE (else now and a fresh UUID), SIG (send this signature instead),
# BODY_FILE (send and sign this file's bytes), CURL_OPTS (extra curl arguments).
# Prints the response body, then the HTTP status on the last line.
set -euo pipefail
METHOD=${1:?method}; TARGET=${2:?target}; BODY=${3:-}
if [[ -n "${BODY_FILE:-}" ]]; then BODY=$(cat "$BODY_FILE"); fi
TS=${TS:-$(date +%s%3N)}
NONCE=${NONCE:-$(uuidgen 2>/dev/null || cat /proc/sys/kernel/random/uuid)}

SIGNED=$(printf "%s|%s|%s|%s|%s" "$METHOD" "$TARGET" "$BODY" "$TS" "$NONCE" \
  | openssl dgst -sha256 -hmac "$SECRET" -binary | base64)

DATA=()
if [[ -n "${BODY_FILE:-}" ]]; then DATA=(--data-binary "@$BODY_FILE")
elif [[ -n "$BODY" ]]; then DATA=(--data-binary "$BODY"); fi
# shellcheck disable=SC2086
curl -sS -X "$METHOD" "$BASE$TARGET" ${CURL_OPTS:-} \
  -H "Content-Type: application/json" \
  -H "X-Api-Key: $KEY" \
  -H "X-Timestamp: $TS" \
  -H "X-Nonce: $NONCE" \
  -H "X-Signature: ${SIG:-$SIGNED}" \
  "${DATA[@]}" -w '\n%{http_code}\n'
