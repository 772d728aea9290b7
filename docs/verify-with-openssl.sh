#!/bin/sh
# Verify an auditor evidence pack with stock tools only: sh, sha256sum, openssl (3.x), base64,
# grep, sed, find, sort, comm. No auditor code runs.
#
#   docs/verify-with-openssl.sh RUN_FOLDER PUBLIC_KEY [TSA_CERTS]
#
# PUBLIC_KEY is the signer's public key as YOU obtained it (not from the pack): either the
# `.pub` file `auditor keygen` wrote ("Ed25519 <base64> SHA256:..."), or a PEM public key.
# Exit 0 when the signature is valid for that key, every listed file matches its SHA-256,
# and no file is missing or added; otherwise the first problem is printed and the exit is 1.
# (An archive: extract it first, e.g. `tar -xzf pack.tar.gz`, and pass the run folder.)
# TSA_CERTS (optional): the time-stamping authority's certificate and the CA certificates that
# issued it, PEM; then manifest.tsr (from `auditor run --timestamp-url`) must be a valid RFC 3161
# token over manifest.json signed by that TSA.
set -eu

run=${1:?usage: verify-with-openssl.sh RUN_FOLDER PUBLIC_KEY}
key=${2:?usage: verify-with-openssl.sh RUN_FOLDER PUBLIC_KEY [TSA_CERTS]}
tsa=${3:-}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# 1. The public key as PEM. A raw Ed25519 key becomes a SubjectPublicKeyInfo by a fixed
#    12-byte DER prefix (RFC 8410) in front of its 32 bytes.
if grep -q 'BEGIN PUBLIC KEY' "$key"; then
    cp "$key" "$work/pub.pem"
else
    raw=$(sed -n 's/^Ed25519 \([A-Za-z0-9+/=]*\).*/\1/p' "$key")
    [ -n "$raw" ] || { echo "FAIL: $key is neither a PEM public key nor an auditor .pub file"; exit 1; }
    { printf '\060\052\060\005\006\003\053\145\160\003\041\000'; printf '%s' "$raw" | base64 -d; } \
        > "$work/pub.der"
    openssl pkey -pubin -inform DER -in "$work/pub.der" -out "$work/pub.pem"
fi

# 2. The signature: manifest.sig is base64 of the Ed25519 signature of manifest.json's bytes.
[ -f "$run/manifest.sig" ] || { echo "FAIL: manifest.sig is missing (unsigned pack)"; exit 1; }
base64 -d "$run/manifest.sig" > "$work/sig.bin" || { echo "FAIL: manifest.sig is not base64"; exit 1; }
if ! openssl pkeyutl -verify -pubin -inkey "$work/pub.pem" -rawin -in "$run/manifest.json" \
        -sigfile "$work/sig.bin" > /dev/null; then
    echo "FAIL: the signature does not match manifest.json for this key"
    exit 1
fi

# 3. Every listed file's SHA-256. manifest.json is canonical JSON (sorted keys, no spaces), so
#    each artefact reads {"path":"...","sha256":"...","size":N}.
grep -o '{"path":"[^"]*","sha256":"[0-9a-f]\{64\}"' "$run/manifest.json" \
    | sed 's/^{"path":"\([^"]*\)","sha256":"\([0-9a-f]*\)"$/\2  \1/' > "$work/sums"
[ -s "$work/sums" ] || { echo "FAIL: manifest.json lists no files"; exit 1; }
if ! (cd "$run" && sha256sum --check --quiet --strict "$work/sums"); then
    echo "FAIL: a listed file is missing or altered (above)"
    exit 1
fi

# 4. No file the manifest does not list.
sed 's/^[0-9a-f]*  //' "$work/sums" | sort > "$work/listed"
(cd "$run" && find . -type f ! -name manifest.json ! -name manifest.sig ! -name manifest.tsr \
    | sed 's|^\./||' | sort) \
    > "$work/present"
added=$(comm -13 "$work/listed" "$work/present")
if [ -n "$added" ]; then
    echo "FAIL: not in the manifest: $added"
    exit 1
fi

# 5. (optional) The trusted timestamp: manifest.tsr stamps manifest.json's SHA-256, signed by the TSA.
stamped=""
if [ -n "$tsa" ]; then
    [ -f "$run/manifest.tsr" ] || { echo "FAIL: manifest.tsr is missing (the run was not timestamped)"; exit 1; }
    if ! openssl ts -verify -in "$run/manifest.tsr" -data "$run/manifest.json" -CAfile "$tsa" \
            -untrusted "$tsa" > /dev/null 2>&1; then
        echo "FAIL: manifest.tsr is not a valid timestamp of manifest.json by the TSA of $tsa"
        exit 1
    fi
    stamped="; timestamp valid ($(openssl ts -reply -in "$run/manifest.tsr" -text 2>/dev/null \
        | sed -n 's/^Time stamp: //p'))"
elif [ -f "$run/manifest.tsr" ]; then
    stamped="; manifest.tsr not checked (give the TSA's certificates as TSA_CERTS)"
fi
echo "OK: signature valid for $key; $(wc -l < "$work/sums") files match manifest.json$stamped"
