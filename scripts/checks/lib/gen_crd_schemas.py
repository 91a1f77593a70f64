"""Regenerates the JSON schemas of the custom resources the charts render.

The schemas are committed under infra/schemas/crds/ so the checks validate
offline and a schema change shows up in review. They come from the pydantic
models of pinned cloudcoil packages (generated from the upstream CRDs):

    python3 -m venv /tmp/crdgen
    /tmp/crdgen/bin/pip install cloudcoil-models-keda==2.16.1.0 \
        cloudcoil-models-prometheus-operator==0.80.1.0 \
        cloudcoil-models-cert-manager==1.17.1.0
    /tmp/crdgen/bin/python scripts/checks/lib/gen_crd_schemas.py

Objects are closed (additionalProperties: false) wherever the model lists its
fields, matching model_validate(extra="forbid"): a misspelt field is an error,
not a silently ignored key. Argo CD and External Secrets have no such
package; their schemas (argoproj.io_v1alpha1_application.json,
argoproj.io_v1alpha1_appproject.json, external-secrets.io_v1_externalsecret.json)
are maintained by hand and cover the fields infra/argocd and infra/helm/base
render, closed the same way.
"""

import json
import pathlib
import sys

OUT = pathlib.Path(__file__).resolve().parents[3] / "infra" / "schemas" / "crds"


def close_objects(node):
    if isinstance(node, dict):
        props = node.get("properties")
        if node.get("type") == "object" and props and "additionalProperties" not in node:
            node["additionalProperties"] = False
        for value in node.values():
            close_objects(value)
    elif isinstance(node, list):
        for value in node:
            close_objects(value)


def main():
    from cloudcoil.models.cert_manager.v1 import Certificate, Issuer
    from cloudcoil.models.keda.v1alpha1 import ScaledObject, TriggerAuthentication
    from cloudcoil.models.prometheus_operator.v1 import PodMonitor, ServiceMonitor

    models = {
        "keda.sh_v1alpha1_scaledobject.json": (ScaledObject, "keda.sh/v1alpha1", "ScaledObject"),
        "keda.sh_v1alpha1_triggerauthentication.json": (TriggerAuthentication, "keda.sh/v1alpha1", "TriggerAuthentication"),
        "monitoring.coreos.com_v1_servicemonitor.json": (ServiceMonitor, "monitoring.coreos.com/v1", "ServiceMonitor"),
        "monitoring.coreos.com_v1_podmonitor.json": (PodMonitor, "monitoring.coreos.com/v1", "PodMonitor"),
        "cert-manager.io_v1_certificate.json": (Certificate, "cert-manager.io/v1", "Certificate"),
        "cert-manager.io_v1_issuer.json": (Issuer, "cert-manager.io/v1", "Issuer"),
    }
    OUT.mkdir(parents=True, exist_ok=True)
    for name, (model, api_version, kind) in models.items():
        schema = model.model_json_schema(by_alias=True, mode="validation")
        close_objects(schema)
        schema["properties"]["apiVersion"] = {"const": api_version}
        schema["properties"]["kind"] = {"const": kind}
        schema["required"] = sorted(set(schema.get("required", [])) | {"apiVersion", "kind", "metadata", "spec"})
        schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
        (OUT / name).write_text(json.dumps(schema, indent=1, sort_keys=True) + "\n")
        print(f"wrote {OUT / name}", file=sys.stderr)


if __name__ == "__main__":
    main()
