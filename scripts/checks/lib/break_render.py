"""Writes a deliberately broken copy of a rendered worker release.

The check feeds it to validate_manifests.py and expects a failure, so a
validator that stopped looking would be noticed. Each fault is one the
validator must name: an unknown Deployment field, a writable root
filesystem, a grace period below the drain time, a misspelt ServiceMonitor
field, a misspelt KEDA trigger key, and a second autoscaler.

Usage: break_render.py IN OUT
"""

import sys

import yaml


def main():
    docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
    for d in docs:
        if d["kind"] == "Deployment":
            d["spec"]["replicass"] = 3
            pod = d["spec"]["template"]["spec"]
            pod["terminationGracePeriodSeconds"] = 20
            pod["containers"][0]["securityContext"]["readOnlyRootFilesystem"] = False
        elif d["kind"] == "ServiceMonitor":
            d["spec"]["endpoints"][0]["intervall"] = "5s"
        elif d["kind"] == "ScaledObject":
            meta = d["spec"]["triggers"][0]["metadata"]
            meta["lagTreshold"] = meta.pop("lagThreshold")
    docs.append({
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "second-scaler"},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "tasklane-worker"},
            "maxReplicas": 3,
        },
    })
    with open(sys.argv[2], "w") as fh:
        yaml.safe_dump_all(docs, fh)


if __name__ == "__main__":
    main()
