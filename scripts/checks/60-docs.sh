#!/usr/bin/env bash
# Checks of the documentation: every relative link in docs/*.md and README.md
# (and every link to this repository's GitHub URLs) reaches an existing file and
# heading, every problem type the gateway returns (services/api/src/error.rs) has
# its section in docs/errors.md, the architecture diagram's Graphviz source
# renders and architecture/diagrams.png was rendered from its current source,
# every repository path the docs name exists, docs/openapi.json names exactly the
# problem types docs/errors.md explains, and docs/architecture.md keeps its
# Mermaid diagram. Our own checker
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
DOCS=(docs/*.md architecture/*.md README.md)
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

step "every repository path named in ${DOCS[*]} exists"
"${LINKS[@]}" paths "${DOCS[@]}" || fail "docs name paths that are not in the repository"
# negative: a path in prose, one in a command and one behind braces
printf '%s\n' 'See `services/worker/src/gone.rs`.' 'kubectl apply -f infra/helm/nowhere/values.yaml' \
  'The charts `infra/helm/{api,nowhere2}/values.yaml`.' > "$work/bad/paths.md"
rejects "docs naming missing files" "${LINKS[@]}" paths "$work/bad/paths.md"
says "names services/worker/src/gone.rs" "names infra/helm/nowhere/values.yaml" \
  "names infra/helm/nowhere2/values.yaml"

step "every problem type in services/api/src/error.rs has its section in docs/errors.md"
"${LINKS[@]}" errors services/api/src/error.rs docs/errors.md || fail "errors.md out of step with error.rs"
# negative: a renamed section, and a section whose status is wrong
sed -e 's/^## rate-limited$/## rate-limit/' -e 's/^\*\*503 Service Unavailable\*\*, with `Retry-After: 2`\. The result store/**500 Internal Server Error.** The result store/' \
  docs/errors.md > "$work/bad/errors.md"
rejects "errors.md with a missing section, a stale one and a wrong status" \
  "${LINKS[@]}" errors services/api/src/error.rs "$work/bad/errors.md"
says "no section '## rate-limited'" "section #rate-limit documents a problem type" \
  "errors.md#store-unavailable: does not start by stating status 503"

step "docs/openapi.json names exactly the problem types docs/errors.md explains"
problem_types_match() {  # problem_types_match OPENAPI ERRORS_MD
  python3 - "$1" "$2" <<'EOF'
import json, re, sys
described = {t.rsplit("#", 1)[1] for t in
             json.load(open(sys.argv[1]))["components"]["schemas"]["Problem"]["properties"]["type"]["enum"]}
explained = set(re.findall(r"^## ([a-z-]+)$", open(sys.argv[2]).read(), re.M))
for slug in sorted(described - explained):
    print(f"{sys.argv[1]}: problem type {slug} has no section in {sys.argv[2]}")
for slug in sorted(explained - described):
    print(f"{sys.argv[2]}: section {slug} is not a problem type in {sys.argv[1]}")
sys.exit(1 if described != explained else 0)
EOF
}
problem_types_match docs/openapi.json docs/errors.md || fail "docs/openapi.json and docs/errors.md disagree"
# negative: a description that lost a problem type
python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); e = d["components"]["schemas"]["Problem"]["properties"]["type"]["enum"]; e[:] = [t for t in e if not t.endswith("#queue-full")]; json.dump(d, open(sys.argv[2], "w"))' \
  docs/openapi.json "$work/bad/openapi.json"
rejects "a description without the queue-full type" problem_types_match "$work/bad/openapi.json" docs/errors.md
says "section queue-full is not a problem type"

step "architecture diagrams"
dot -Tsvg architecture/tasklane.dot -o "$work/tasklane.svg" || fail "dot could not render architecture/tasklane.dot"
[ -s "$work/tasklane.svg" ] && echo "rendered $work/tasklane.svg ($(wc -c <"$work/tasklane.svg") bytes)"
# Graphviz output is not byte-stable across versions, so the committed image is
# tied to its source by the source's hash recorded when it was rendered
# (scripts/render-diagrams.sh), not by comparing images.
diagram_current() {  # diagram_current SOURCE IMAGE
  local recorded actual
  [ "$(head -c 8 "$2" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ] \
    || { echo "$2 is missing or not a PNG"; return 1; }
  recorded=$(cat "$2.source-sha256" 2>/dev/null || true)
  actual=$(sha256sum "$1" | cut -d' ' -f1)
  [ "$recorded" = "$actual" ] \
    || { echo "$1 changed since $2 was rendered: run scripts/render-diagrams.sh and commit both"; return 1; }
  echo "$2 was rendered from the current $1"
}
diagram_current architecture/tasklane.dot architecture/diagrams.png || fail "stale architecture/diagrams.png"
# negative: the source edited, the image not rendered again
cp architecture/diagrams.png architecture/diagrams.png.source-sha256 "$work/bad/"
sed 's/label="HTTP clients"/label="clients"/' architecture/tasklane.dot > "$work/bad/tasklane.dot"
rejects "a diagram source edited without rendering the image again" \
  diagram_current "$work/bad/tasklane.dot" "$work/bad/diagrams.png"
says "changed since $work/bad/diagrams.png was rendered"
grep -q '^```mermaid$' docs/architecture.md || fail "docs/architecture.md lost its Mermaid diagram"

finish 60-docs
