"""The api and worker charts share their templates (infra/helm/tasklane-lib), but
each chart's values.schema.json must stay whole: Helm validates a chart's values
against that one file and resolves no `$ref` to a file beside it. So the check is
here instead: a key both charts have must be described the same way in both
schemas (descriptions may differ), and a key only one chart has must be listed
below as that chart's own.

    python3 chart_schemas.py API_SCHEMA WORKER_SCHEMA
"""

import json
import sys

# Values only one chart has, by dotted path; everything else is shared.
OWN = {
    "api": {
        "ingress",
        "preStopSleepSeconds",
        "autoscaling.enabled",
        "autoscaling.targetCPUUtilizationPercentage",
        "config.api",
        "config.auth",
        # Tenant quotas are the gateway's; the task guardrails are shared.
        "config.limits.tenantRate",
        "config.limits.tenantBurst",
        "config.limits.tenantMaxOutstanding",
        "tests.tokenSecret",
        "networkPolicy.ingressNamespaces",
        "networkPolicy.ingressPodLabels",
        "podDisruptionBudget.minAvailable",
        # The gateway's probes and metrics move off its public port.
        "service.opsPort",
    },
    "worker": {
        "drainMarginSeconds",
        "autoscaling.mode",
        "autoscaling.lagThreshold",
        "autoscaling.keda",
        "autoscaling.hpa",
        "config.worker",
        # The worker declares the streams; the gateway reads only the duplicate
        # window (how long an unconfirmed publish may be retried).
        "config.stream.replicas",
        "config.stream.maxBytes",
        "config.stream.maxMsgs",
        "config.dlq",
        # The one-shot topology setup Job (a hook of the worker chart).
        "topologySetup",
        # http tasks run on workers only: their settings and their egress.
        "config.http",
        "networkPolicy.httpEgress",
        "podDisruptionBudget.maxUnavailable",
        "tests.gatewayUrl",
        "tests.gatewayPort",
        "tests.gatewayPodLabels",
    },
}
# Words for people, free to differ per chart.
PROSE = {"description", "title"}


def without_prose(node):
    if isinstance(node, dict):
        return {k: without_prose(v) for k, v in node.items() if k not in PROSE}
    if isinstance(node, list):
        return [without_prose(v) for v in node]
    return node


def compare(api, worker, path, problems, seen_own):
    """Appends a line to `problems` for every way the two (sub)schemas differ."""
    where = path or "(top level)"
    a_props, w_props = api.get("properties", {}), worker.get("properties", {})
    own = {"api": set(), "worker": set()}
    for name in sorted(set(a_props) | set(w_props)):
        key = f"{path}.{name}" if path else name
        if name in a_props and name in w_props:
            compare(a_props[name], w_props[name], key, problems, seen_own)
            continue
        chart = "api" if name in a_props else "worker"
        other = "worker" if chart == "api" else "api"
        if key in OWN[chart]:
            own[chart].add(name)
            seen_own.add((chart, key))
        else:
            problems.append(f"{key}: only in the {chart} schema; add it to the {other} "
                            f"schema too, or list it as the {chart} chart's own in {__file__}")
    a_req = set(api.get("required", [])) - own["api"]
    w_req = set(worker.get("required", [])) - own["worker"]
    if a_req != w_req:
        problems.append(f"{where}: required differs: api {sorted(a_req)}, worker {sorted(w_req)}")
    a_rest = without_prose({k: v for k, v in api.items() if k not in ("properties", "required")})
    w_rest = without_prose({k: v for k, v in worker.items() if k not in ("properties", "required")})
    if a_rest != w_rest:
        problems.append(f"{where}: api {json.dumps(a_rest, sort_keys=True)} "
                        f"!= worker {json.dumps(w_rest, sort_keys=True)}")


def main(argv):
    with open(argv[0]) as f:
        api = json.load(f)
    with open(argv[1]) as f:
        worker = json.load(f)
    problems, seen_own = [], set()
    compare(api, worker, "", problems, seen_own)
    for chart, keys in OWN.items():
        for key in sorted(keys):
            if (chart, key) not in seen_own:
                problems.append(f"{key}: listed as the {chart} chart's own but not only in its schema")
    for p in problems:
        print(f"  FAIL {p}")
    if problems:
        return 1
    shared = len(api.get("properties", {}).keys() & worker.get("properties", {}).keys())
    print(f"  {shared} top-level keys shared and described alike; "
          f"{sum(map(len, OWN.values()))} keys are one chart's own")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
