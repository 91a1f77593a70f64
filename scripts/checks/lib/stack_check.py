"""Cross-object checks of the whole rendered stack (scripts/checks/25-stack.sh).

    stack_check.py refs RENDER... [--operator-doc docs/how-to-run.md]
    stack_check.py endpoints RENDER... [--operator-doc ...]
    stack_check.py tls RENDER... [--operator-doc ...]
    stack_check.py metrics RENDER... --binaries F --kps-values F --adapter F --queries F...
    stack_check.py netpol RENDER... --flows F
    stack_check.py pss RENDER...
    stack_check.py values-keys --ours F --chart-values F
    stack_check.py same-image RENDER... --image REPOSITORY
    stack_check.py gitops RENDER --env dev|prod --deploy-script ci/deploy.sh --pins F...

Each exits non-zero with every problem it found.
"""

import argparse
import sys

from stack import endpoints, gitops, images, metrics, netpol, pss, refs, tls, values_keys
from stack.model import Stack


def main(argv):
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    for name in ("refs", "endpoints", "tls", "metrics", "netpol", "pss", "gitops"):
        p = sub.add_parser(name)
        p.add_argument("renders", nargs="+")
        p.add_argument("--operator-doc", nargs="*", default=[],
                       help="the doc with the operator-created table first, then scripts that create them")
        p.add_argument("--binaries")
        p.add_argument("--kps-values")
        p.add_argument("--adapter")
        p.add_argument("--queries", nargs="*", default=[])
        p.add_argument("--flows")
        p.add_argument("--env")
        p.add_argument("--deploy-script")
        p.add_argument("--pins", nargs="*", default=[])
    vk = sub.add_parser("values-keys")
    vk.add_argument("--ours", required=True)
    vk.add_argument("--chart-values", required=True)
    si = sub.add_parser("same-image")
    si.add_argument("renders", nargs="+")
    si.add_argument("--image", required=True)
    a = ap.parse_args(argv)
    if a.cmd == "values-keys":
        return values_keys.check(a.ours, a.chart_values)
    stack = Stack(a.renders)
    if a.cmd == "same-image":
        return images.check(stack, a.image)
    if a.cmd == "refs":
        return refs.check(stack, a.operator_doc)
    if a.cmd == "endpoints":
        return endpoints.check(stack, a.operator_doc)
    if a.cmd == "tls":
        return tls.check(stack, a.operator_doc)
    if a.cmd == "metrics":
        return metrics.check(stack, a.binaries, a.kps_values, a.adapter, a.queries)
    if a.cmd == "netpol":
        return netpol.check(stack, a.flows)
    if a.cmd == "pss":
        return pss.check(stack)
    return gitops.check(stack, a.env, a.deploy_script, a.pins)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
