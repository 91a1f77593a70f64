"""Validates rendered Kubernetes manifests offline, and fails on any error.

Usage: validate_manifests.py KUBE_VERSION FILE...

- Core kinds against the Kubernetes OpenAPI schemas of KUBE_VERSION
  (kubernetes-validate, strict: unknown fields are errors).
- Custom resources (KEDA, Prometheus Operator, Argo CD, cert-manager, External
  Secrets) against the JSON
  schemas committed in infra/schemas/crds/; a kind with no schema is an error.
- KEDA trigger metadata is a free string map to the CRD, so the keys of the
  nats-jetstream scaler are checked here.
- tasklane's own rules for what the charts render: restricted pod security,
  probes and resources on every container, a worker grace period above its
  drain time, and never two autoscalers on one Deployment.
"""

import json
import pathlib
import sys

import jsonschema
import kubernetes_validate
import yaml

SCHEMAS = pathlib.Path(__file__).resolve().parents[3] / "infra" / "schemas" / "crds"
CRD_SCHEMAS = {
    ("keda.sh/v1alpha1", "ScaledObject"): "keda.sh_v1alpha1_scaledobject.json",
    ("keda.sh/v1alpha1", "TriggerAuthentication"): "keda.sh_v1alpha1_triggerauthentication.json",
    ("monitoring.coreos.com/v1", "ServiceMonitor"): "monitoring.coreos.com_v1_servicemonitor.json",
    ("monitoring.coreos.com/v1", "PodMonitor"): "monitoring.coreos.com_v1_podmonitor.json",
    ("argoproj.io/v1alpha1", "Application"): "argoproj.io_v1alpha1_application.json",
    ("argoproj.io/v1alpha1", "AppProject"): "argoproj.io_v1alpha1_appproject.json",
    ("cert-manager.io/v1", "Certificate"): "cert-manager.io_v1_certificate.json",
    ("cert-manager.io/v1", "Issuer"): "cert-manager.io_v1_issuer.json",
    ("external-secrets.io/v1", "ExternalSecret"): "external-secrets.io_v1_externalsecret.json",
}
# keda.sh/docs/scalers/nats-jetstream
NATS_JETSTREAM_REQUIRED = {"natsServerMonitoringEndpoint", "account", "stream", "consumer", "lagThreshold"}
NATS_JETSTREAM_OPTIONAL = {"activationLagThreshold", "useHttps"}
WORKLOAD_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "Job"}


def duration_seconds(text):
    text = str(text)
    for suffix, factor in (("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600)):
        if text.endswith(suffix) and text[: -len(suffix)].isdigit():
            return int(text[: -len(suffix)]) * factor
    raise ValueError(f"not a duration: {text!r}")


def pod_spec(doc):
    if doc["kind"] == "Pod":
        return doc["spec"]
    if doc["kind"] in WORKLOAD_KINDS:
        return doc["spec"]["template"]["spec"]
    return None


def check_pod(name, spec, errors, long_running):
    psc = spec.get("securityContext", {})
    if spec.get("automountServiceAccountToken") is not False:
        errors.append(f"{name}: automountServiceAccountToken must be false")
    if psc.get("seccompProfile", {}).get("type") != "RuntimeDefault":
        errors.append(f"{name}: pod seccompProfile must be RuntimeDefault")
    for c in spec.get("containers", []) + spec.get("initContainers", []):
        where = f"{name}/{c['name']}"
        sc = c.get("securityContext", {})
        if not (sc.get("runAsNonRoot") or psc.get("runAsNonRoot")):
            errors.append(f"{where}: runAsNonRoot missing")
        if sc.get("allowPrivilegeEscalation") is not False:
            errors.append(f"{where}: allowPrivilegeEscalation must be false")
        if sc.get("readOnlyRootFilesystem") is not True:
            errors.append(f"{where}: readOnlyRootFilesystem must be true")
        if "ALL" not in sc.get("capabilities", {}).get("drop", []):
            errors.append(f"{where}: capabilities must drop ALL")
        res = c.get("resources", {})
        if not res.get("requests") or not res.get("limits", {}).get("memory"):
            errors.append(f"{where}: resource requests and a memory limit are required")
        if long_running:
            for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
                if probe not in c:
                    errors.append(f"{where}: {probe} missing")


def main():
    kube_version = sys.argv[1]
    errors, count = [], 0
    docs = []
    for path in sys.argv[2:]:
        with open(path) as fh:
            for doc in yaml.safe_load_all(fh):
                if doc:
                    docs.append((path, doc))
    scaled_targets, hpa_targets = {}, {}
    configmaps = {(p, d["metadata"]["name"]): d for p, d in docs if d.get("kind") == "ConfigMap"}
    for path, doc in docs:
        count += 1
        api_version, kind = doc.get("apiVersion"), doc.get("kind")
        name = f"{path}: {kind}/{doc.get('metadata', {}).get('name')}"
        schema_file = CRD_SCHEMAS.get((api_version, kind))
        try:
            if schema_file:
                schema = json.loads((SCHEMAS / schema_file).read_text())
                validator = jsonschema.Draft202012Validator(schema)
                for err in sorted(validator.iter_errors(doc), key=lambda e: list(e.path)):
                    errors.append(f"{name}: {'/'.join(map(str, err.path))}: {err.message}")
            elif "." in api_version.split("/")[0] and not api_version.split("/")[0].endswith("k8s.io"):
                errors.append(f"{name}: no schema for custom resource {api_version} {kind}")
            else:
                kubernetes_validate.validate(doc, kube_version, strict=True)
        except kubernetes_validate.ValidationError as err:
            errors.append(f"{name}: {'/'.join(map(str, err.path))}: {err.message}")
        except (kubernetes_validate.SchemaNotFoundError, kubernetes_validate.InvalidSchemaError) as err:
            errors.append(f"{name}: {err}")

        if kind == "ScaledObject":
            scaled_targets[(path, doc["spec"]["scaleTargetRef"]["name"])] = name
            if "fallback" not in doc["spec"]:
                errors.append(f"{name}: a fallback is required so an unreadable lag cannot drive scaling")
            for trig in doc["spec"].get("triggers", []):
                if trig.get("type") != "nats-jetstream":
                    continue
                meta = trig.get("metadata", {})
                missing = NATS_JETSTREAM_REQUIRED - meta.keys()
                unknown = meta.keys() - NATS_JETSTREAM_REQUIRED - NATS_JETSTREAM_OPTIONAL
                if missing:
                    errors.append(f"{name}: nats-jetstream trigger lacks {sorted(missing)}")
                if unknown:
                    errors.append(f"{name}: nats-jetstream trigger has unknown keys {sorted(unknown)}")
        if kind == "HorizontalPodAutoscaler":
            hpa_targets[(path, doc["spec"]["scaleTargetRef"]["name"])] = name

        spec = pod_spec(doc) if kind in WORKLOAD_KINDS | {"Pod"} else None
        if spec is not None:
            check_pod(name, spec, errors, long_running=kind in {"Deployment", "StatefulSet", "DaemonSet"})
            for ref in (e.get("configMapRef", {}).get("name") for c in spec["containers"] for e in c.get("envFrom", [])):
                grace = configmaps.get((path, ref), {}).get("data", {}).get("TASKLANE_WORKER__SHUTDOWN_GRACE")
                if grace and spec.get("terminationGracePeriodSeconds", 30) <= duration_seconds(grace):
                    errors.append(f"{name}: terminationGracePeriodSeconds must exceed the worker drain time {grace}")

    # Each file is one release's render: two scalers on one target there is a bug.
    for target in scaled_targets.keys() & hpa_targets.keys():
        errors.append(f"Deployment {target[1]} has both {scaled_targets[target]} and {hpa_targets[target]}")

    for e in errors:
        print(f"  ERROR {e}")
    print(f"  {count} objects checked against Kubernetes {kube_version}, {len(errors)} errors")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
