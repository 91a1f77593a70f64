#!/usr/bin/env bash
# Promotes a built image in Git for the GitOps path: writes image.tag and
# image.digest of one component into infra/environments/ENV/COMPONENT.yaml, keeping
# every comment, so ArgoCD deploys exactly the scanned image once the change is
# reviewed and merged.
#
#   ci/set-image.sh ENV COMPONENT TAG DIGEST     e.g. prod api 3f2c... sha256:...
set -euo pipefail
cd "$(dirname "$0")/.."

[ $# -eq 4 ] || { echo "usage: $0 dev|prod api|worker TAG sha256:DIGEST" >&2; exit 2; }
env_name=$1 component=$2 tag=$3 digest=$4
case "$env_name" in dev | prod) ;; *) echo "unknown environment '$env_name'" >&2; exit 2 ;; esac
case "$component" in api | worker) ;; *) echo "unknown component '$component'" >&2; exit 2 ;; esac
[[ "$tag" =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$ ]] || { echo "invalid tag '$tag'" >&2; exit 2; }
[[ "$digest" =~ ^sha256:[0-9a-f]{64}$ ]] || { echo "invalid digest '$digest'" >&2; exit 2; }

file=infra/environments/$env_name/$component.yaml
python3 - "$file" "$tag" "$digest" <<'PY'
import re, sys

path, tag, digest = sys.argv[1:]
lines = open(path).read().split("\n")
in_image, done = False, set()
for i, line in enumerate(lines):
    if re.match(r"^\S", line):
        in_image = line.startswith("image:")
        continue
    m = re.match(r"^(\s+)(tag|digest):", line) if in_image else None
    if m:
        lines[i] = '%s%s: "%s"' % (m.group(1), m.group(2), tag if m.group(2) == "tag" else digest)
        done.add(m.group(2))
if done != {"tag", "digest"}:
    sys.exit("%s: image.tag and image.digest must both be present" % path)
open(path, "w").write("\n".join(lines))
print("%s: image.tag=%s image.digest=%s" % (path, tag, digest))
PY
