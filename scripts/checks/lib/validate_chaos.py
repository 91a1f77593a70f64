"""Validates the Chaos Mesh experiments in chaos/ offline.

    validate_chaos.py --crds DIR --rendered FILE... -- MANIFEST...

Each object is checked against the openAPIV3Schema of the version its CRD serves
(JSON Schema Draft 7). Objects are closed wherever the schema lists properties and
does not keep unknown fields: the API server would silently prune a misspelt
field, so a typo here is an error, as with `kubectl apply --validate=strict`.

Then tasklane's own rules:
- every selector (the chaos target, a network target, each workflow step) matches
  at least one pod the charts render (pod template labels, plus the
  `statefulset.kubernetes.io/pod-name` label the StatefulSet controller adds);
  pods of the upstream NATS and Valkey charts are only known when their render is
  given, otherwise the selector is reported as skipped;
- every object lives in the `tasklane` namespace; a standalone experiment is named
  like its file and starts with a `# Hypothesis:` comment;
- a Workflow's entry and children exist, each step's templateType names the spec it
  carries, every chaos step has a deadline, and its spec is the spec of one of the
  standalone experiments (so the sequence runs exactly what was reviewed).
"""

import argparse
import copy
import pathlib
import sys

import jsonschema
import yaml

NAMESPACE = "tasklane"
UPSTREAM_APPS = {"nats", "valkey"}
FLOW_TYPES = {"Serial", "Parallel", "Suspend", "Task", "Schedule", "StatusCheck"}


def closed(schema):
    """A copy of `schema` where objects with listed properties refuse others."""
    schema = copy.deepcopy(schema)
    stack = [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(node)
            continue
        if not isinstance(node, dict):
            continue
        keeps_unknown = node.get("x-kubernetes-preserve-unknown-fields") is True
        if "properties" in node and "additionalProperties" not in node and not keeps_unknown:
            node["additionalProperties"] = False
        stack.extend(node.values())
    return schema


def load_crds(folder):
    schemas = {}
    for path in sorted(pathlib.Path(folder).glob("*.yaml")):
        crd = yaml.safe_load(path.read_text())
        group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
        for version in crd["spec"]["versions"]:
            if version.get("served"):
                api_version = f"{group}/{version['name']}"
                schemas[(api_version, kind)] = closed(version["schema"]["openAPIV3Schema"])
    return schemas


def rendered_pods(paths):
    """Label sets of every pod the rendered charts would run, by namespace."""
    pods = []
    for path in paths:
        for doc in yaml.safe_load_all(pathlib.Path(path).read_text()):
            if not doc or doc.get("kind") not in ("Deployment", "StatefulSet"):
                continue
            labels = doc["spec"]["template"]["metadata"].get("labels", {})
            namespace = doc["metadata"].get("namespace", NAMESPACE)
            if doc["kind"] == "StatefulSet":
                for ordinal in range(doc["spec"].get("replicas", 1)):
                    name = f"{doc['metadata']['name']}-{ordinal}"
                    pods.append((namespace, {**labels, "statefulset.kubernetes.io/pod-name": name}))
            else:
                pods.append((namespace, labels))
    return pods


def matches(selector, namespace, labels):
    unsupported = set(selector) - {"namespaces", "labelSelectors", "expressionSelectors"}
    if unsupported:
        raise ValueError(f"selector fields this check does not evaluate: {sorted(unsupported)}")
    if namespace not in selector.get("namespaces", [namespace]):
        return False
    if any(labels.get(k) != v for k, v in selector.get("labelSelectors", {}).items()):
        return False
    for expression in selector.get("expressionSelectors", []):
        key, op, values = expression["key"], expression["operator"], expression.get("values", [])
        present = key in labels
        ok = {
            "In": present and labels[key] in values,
            "NotIn": not present or labels[key] not in values,
            "Exists": present,
            "DoesNotExist": not present,
        }[op]
        if not ok:
            return False
    return True


def selectors_of(spec, where):
    if "selector" in spec:
        yield where, spec["selector"]
    target = spec.get("target")
    if isinstance(target, dict) and "selector" in target:
        yield f"{where}.target", target["selector"]


def chaos_field(kind):
    return kind[0].lower() + kind[1:]


class Checker:
    def __init__(self, schemas, pods, upstream_rendered):
        self.schemas = schemas
        self.pods = pods
        self.upstream_rendered = upstream_rendered
        self.errors = []
        self.skipped = []
        self.experiments = {}

    def error(self, where, message):
        self.errors.append(f"{where}: {message}")

    def check_selector(self, where, selector):
        try:
            hit = [labels for ns, labels in self.pods if matches(selector, ns, labels)]
        except ValueError as e:
            self.error(where, str(e))
            return
        if hit:
            return
        app = selector.get("labelSelectors", {}).get("app.kubernetes.io/name")
        if app in UPSTREAM_APPS and not self.upstream_rendered:
            self.skipped.append(f"{where} (upstream chart {app} not rendered)")
        else:
            self.error(where, f"selector {selector} matches no pod the charts render")

    def check_object(self, path, doc):
        where = f"{path}:{doc.get('kind')}/{doc.get('metadata', {}).get('name')}"
        schema = self.schemas.get((doc.get("apiVersion"), doc.get("kind")))
        if schema is None:
            self.error(where, f"no served CRD for {doc.get('apiVersion')} {doc.get('kind')}")
            return
        validator = jsonschema.Draft7Validator(schema)
        for problem in sorted(validator.iter_errors(doc), key=lambda e: list(e.path)):
            location = ".".join(str(p) for p in problem.path) or "(root)"
            self.error(where, f"{location}: {problem.message}")
        if doc["metadata"].get("namespace") != NAMESPACE:
            self.error(where, f"metadata.namespace must be {NAMESPACE}")
        if doc["kind"] == "Workflow":
            self.check_workflow(where, doc["spec"])
        else:
            for at, selector in selectors_of(doc.get("spec", {}), f"{where} spec"):
                self.check_selector(at, selector)

    def check_experiment_file(self, path, text, doc):
        where = str(path)
        if not text.startswith("# Hypothesis:"):
            self.error(where, "an experiment starts with a '# Hypothesis:' comment")
        if doc.get("metadata", {}).get("name") != path.stem:
            self.error(where, "metadata.name must be the file name (run-experiment.sh deletes it by name)")
        spec = copy.deepcopy(doc.get("spec", {}))
        spec.pop("duration", None)
        self.experiments[path.stem] = (doc.get("kind"), spec)

    def check_workflow(self, where, spec):
        templates = {t["name"]: t for t in spec.get("templates", [])}
        if spec.get("entry") not in templates:
            self.error(where, f"entry {spec.get('entry')!r} is not a template")
        for name, template in templates.items():
            at = f"{where} template {name}"
            kind = template.get("templateType")
            for child in template.get("children", []):
                if child not in templates:
                    self.error(at, f"child {child!r} is not a template")
            if kind in FLOW_TYPES:
                continue
            field = chaos_field(kind or "")
            if field not in template:
                self.error(at, f"templateType {kind} without its {field!r} spec")
                continue
            if "deadline" not in template:
                self.error(at, "a chaos step needs a deadline")
            for selector_at, selector in selectors_of(template[field], at):
                self.check_selector(selector_at, selector)
            step = copy.deepcopy(template[field])
            step.pop("duration", None)
            if (kind, step) not in self.experiments.values():
                self.error(at, "its spec is not the spec of any experiment in chaos/experiments")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--crds", required=True)
    parser.add_argument("--rendered", nargs="*", default=[])
    parser.add_argument("--upstream-rendered", action="store_true")
    parser.add_argument("manifests", nargs="+")
    args = parser.parse_args()
    checker = Checker(load_crds(args.crds), rendered_pods(args.rendered), args.upstream_rendered)
    documents = []
    for name in args.manifests:
        path = pathlib.Path(name)
        text = path.read_text()
        docs = [d for d in yaml.safe_load_all(text) if d]
        if path.parent.name == "experiments":
            if len(docs) != 1:
                checker.error(str(path), "one experiment per file")
            for doc in docs:
                checker.check_experiment_file(path, text, doc)
        documents.extend((path, doc) for doc in docs)
    # Workflows last: their steps are compared with every standalone experiment.
    for path, doc in sorted(documents, key=lambda pd: pd[1].get("kind") == "Workflow"):
        checker.check_object(path, doc)
    for skipped in checker.skipped:
        print(f"skipped: {skipped}")
    if checker.errors:
        print("\n".join(checker.errors))
        print(f"{len(checker.errors)} problem(s)")
        sys.exit(1)
    print(f"{len(documents)} chaos objects valid against the Chaos Mesh CRDs and the rendered pods")


if __name__ == "__main__":
    main()
