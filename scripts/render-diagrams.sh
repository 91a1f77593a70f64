#!/usr/bin/env bash
# Renders architecture/tasklane.dot to architecture/diagrams.png and records the
# source's SHA-256 next to the image (architecture/diagrams.png.source-sha256).
# Graphviz output differs between versions, so scripts/checks/60-docs.sh compares
# that recorded hash with the source, not the image with a fresh render: run this
# after every edit of the source and commit both files.
set -euo pipefail
cd "$(dirname "$0")/.."

# shellcheck source=scripts/lib/tools.sh
source scripts/lib/tools.sh
ensure_graphviz

dot -Tpng -Gdpi=110 architecture/tasklane.dot -o architecture/diagrams.png
sha256sum architecture/tasklane.dot | cut -d' ' -f1 > architecture/diagrams.png.source-sha256
echo "rendered architecture/diagrams.png ($(dot -V 2>&1))"
