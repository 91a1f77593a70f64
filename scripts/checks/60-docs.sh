#!/usr/bin/env bash
# Checks of the documentation: every relative link in docs/*.md and README.md
# (and every link to this repository's GitHub URLs) reaches an existing file and
# heading, every problem type the gateway returns (services/api/src/error.rs) has
# its section in docs/errors.md, the architecture diagram's Graphviz source
# renders, and docs/architecture.md keeps its Mermaid diagram. Our own checker
# (doc_links.py) is also fed broken docs and must reject them.
set -euo pipefail
cd "$(dirname "$0")/../.."

# shellcheck source=scripts/lib/tools.sh
source scripts/lib/tools.sh
# shellcheck source=scripts/lib/report.sh
source scripts/lib/report.sh

step "installing tools"
ensure_graphviz
dot -V 2>&1
python3 --version

work=build/docs
rm -rf "$work" && mkdir -p "$work/bad"
DOCS=(docs/*.md README.md)
LINKS=(python3 scripts/checks/lib/doc_links.py)

step "relative links and anchors in ${DOCS[*]}"
"${LINKS[@]}" links "${DOCS[@]}" || fail "broken links"
# negative: a link to a missing file and one to a missing heading
mkdir -p "$work/bad/docs"
cp docs/*.md "$work/bad/docs/"
printf '\nSee [gone](no-such-file.md) and [here](architecture.md#no-such-heading).\n' >> "$work/bad/docs/troubleshooting.md"
rejects "a link to a missing file and one to a missing heading" \
  "${LINKS[@]}" links "$work/bad/docs/troubleshooting.md"
says "no-such-file.md" "#no-such-heading"

step "every problem type in services/api/src/error.rs has its section in docs/errors.md"
"${LINKS[@]}" errors services/api/src/error.rs docs/errors.md || fail "errors.md out of step with error.rs"
# negative: a renamed section, and a section whose status is wrong
sed -e 's/^## rate-limited$/## rate-limit/' -e 's/^\*\*503 Service Unavailable\*\*, with `Retry-After: 2`\. The result store/**500 Internal Server Error.** The result store/' \
  docs/errors.md > "$work/bad/errors.md"
rejects "errors.md with a missing section, a stale one and a wrong status" \
  "${LINKS[@]}" errors services/api/src/error.rs "$work/bad/errors.md"
says "no section '## rate-limited'" "section #rate-limit documents a problem type" \
  "errors.md#store-unavailable: does not start by stating status 503"

step "architecture diagrams"
dot -Tsvg architecture/tasklane.dot -o "$work/tasklane.svg" || fail "dot could not render architecture/tasklane.dot"
[ -s "$work/tasklane.svg" ] && echo "rendered $work/tasklane.svg ($(wc -c <"$work/tasklane.svg") bytes)"
grep -q '^```mermaid$' docs/architecture.md || fail "docs/architecture.md lost its Mermaid diagram"

finish 60-docs
