#!/usr/bin/env bash
# Build a SoftHSM token for p11agent tests: keys generated on the token
# (alice RSA-2048 id 01, bob RSA-3072 id 02, carol EC P-256 id 03,
# dave EC P-384 id 04), a test CA and S/MIME certificates, all in DIR.
#
# usage: mktoken.sh DIR [--force] [--label L] [--pin PIN] [--so-pin SOPIN]
# Then: . DIR/env   (see README.md). Exit 77 if a needed tool is missing.
set -eu
set -o pipefail

here=$(CDPATH='' cd -- "$(dirname -- "$0")" && pwd -P)
# shellcheck source=lib.sh
. "$here/lib.sh"

p11f_mktoken single "$@"
