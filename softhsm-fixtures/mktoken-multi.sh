#!/usr/bin/env bash
# Like mktoken.sh, plus a second token (next slot), labelled p11agent-demo2,
# with the same PINs and its own key erin RSA-2048 (id 05) and certificate.
#
# usage: mktoken-multi.sh DIR [--force] [--label L] [--label2 L2]
#                             [--pin PIN] [--so-pin SOPIN]
# Then: . DIR/env   (see README.md). Exit 77 if a needed tool is missing.
set -eu
set -o pipefail

here=$(CDPATH='' cd -- "$(dirname -- "$0")" && pwd -P)
# shellcheck source=lib.sh
. "$here/lib.sh"

p11f_mktoken multi "$@"
