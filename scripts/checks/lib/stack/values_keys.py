"""Every key of our values for an upstream chart is a key that chart reads.

A chart ignores a key it does not know, silently: that is how values once
configured a Sentinel and an HAProxy the Valkey chart never had. The chart's
own default values.yaml lists what it reads; below an empty map (merge, env,
aclUsers: free-form by design) or a scalar, anything goes.
"""

from __future__ import annotations

import yaml

from .model import Problems

# Kubernetes objects a chart copies into its manifests as they are: any field
# of the object's own schema is read.
PASSED_THROUGH = {"securityContext", "podSecurityContext", "resources", "affinity", "tolerations",
                  "nodeSelector", "topologySpreadConstraints", "annotations", "labels"}


def unknown(ours, theirs, path=""):
    if not isinstance(ours, dict) or not isinstance(theirs, dict) or not theirs:
        return
    for key, value in ours.items():
        where = f"{path}.{key}" if path else key
        if key not in theirs:
            yield where
        elif key not in PASSED_THROUGH:
            yield from unknown(value, theirs[key], where)


def check(ours_path: str, chart_values_path: str) -> int:
    problems = Problems()
    ours = yaml.safe_load(open(ours_path)) or {}
    theirs = yaml.safe_load(open(chart_values_path)) or {}
    for where in unknown(ours, theirs):
        problems.add(f"{ours_path}: {where} is not a value of the chart ({chart_values_path}); it would be ignored")
    return problems.finish(f"values keys of {ours_path}", f"against {chart_values_path}")
