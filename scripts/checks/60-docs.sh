#!/usr/bin/env bash
# Checks of the documentation: every relative link in docs/*.md and README.md
# (and every link to this repository's GitHub URLs) reaches an existing file and
# heading, every problem type the gateway returns (services/api/src/error.rs) has
# its section in docs/errors.md, the architecture diagram's Graphviz source
# renders, and docs/architecture.md keeps its Mermaid diagram. Each check is also
# run once against a broken input to prove it can fail.
set -euo pipefail
cd "$(dirname "$0")/../.."

step() { printf '\n--- %s\n' "$*"; }
failures=0
fail() { printf 'FAIL: %s\n' "$*"; failures=$((failures + 1)); }

step "installing tools"
# Graphviz is a system package (Debian/Ubuntu apt); its exact version does not
# matter for a syntax and render check, so it is not pinned.
if ! command -v dot >/dev/null 2>&1; then
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends graphviz >/dev/null 2>&1 || {
    "${sudo_cmd[@]}" apt-get update -qq
    "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends graphviz >/dev/null
  }
fi
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
if out=$("${LINKS[@]}" links "$work/bad/docs/troubleshooting.md"); then
  fail "doc_links.py accepted a link to a missing file and a missing anchor"
else
  for expect in "no-such-file.md" "#no-such-heading"; do
    grep -qF -- "$expect" <<<"$out" || fail "doc_links.py did not report $expect"
  done
  echo "negative: a missing file and a missing anchor are reported"
fi

step "every problem type in services/api/src/error.rs has its section in docs/errors.md"
"${LINKS[@]}" errors services/api/src/error.rs docs/errors.md || fail "errors.md out of step with error.rs"
# negative: a renamed section, and a section whose status is wrong
sed -e 's/^## rate-limited$/## rate-limit/' -e 's/^\*\*503 Service Unavailable\*\*, with `Retry-After: 2`\. The result store/**500 Internal Server Error.** The result store/' \
  docs/errors.md > "$work/bad/errors.md"
if out=$("${LINKS[@]}" errors services/api/src/error.rs "$work/bad/errors.md"); then
  fail "doc_links.py accepted errors.md without a rate-limited section"
else
  for expect in "no section '## rate-limited'" "section #rate-limit documents a problem type" "errors.md#store-unavailable: does not start by stating status 503"; do
    grep -qF -- "$expect" <<<"$out" || fail "doc_links.py did not report: $expect"
  done
  echo "negative: a missing section, a stale section and a wrong status are reported"
fi

step "architecture diagrams"
dot -Tsvg architecture/tasklane.dot -o "$work/tasklane.svg" || fail "dot could not render architecture/tasklane.dot"
[ -s "$work/tasklane.svg" ] && echo "rendered $work/tasklane.svg ($(wc -c <"$work/tasklane.svg") bytes)"
printf 'digraph { a -> ; }\n' > "$work/bad/broken.dot"
if dot -Tsvg "$work/bad/broken.dot" -o /dev/null 2>/dev/null; then
  fail "dot accepted a broken graph"
else
  echo "negative: dot rejects a broken graph"
fi
grep -q '^```mermaid$' docs/architecture.md || fail "docs/architecture.md lost its Mermaid diagram"

if [ "$failures" -gt 0 ]; then
  printf '\n60-docs: %d check(s) failed\n' "$failures"
  exit 1
fi
printf '\n60-docs: all checks passed\n'
