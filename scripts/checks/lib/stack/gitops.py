"""The Argo CD objects deploy what the push path deploys: the same releases,
charts, environment values files and upstream chart versions, inside a project
that is not `default` and limits sources and destinations; production follows
a ref other than main."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from .model import Problems, Stack


def check(stack: Stack, env: str, deploy_script: str, pins: list[str]) -> int:
    problems = Problems()
    apps, projects = stack.of("Application"), {p.name: p for p in stack.of("AppProject")}
    script = Path(deploy_script).read_text()
    pinned = {}
    for pin in pins:
        doc = yaml.safe_load(Path(pin).read_text())
        pinned[doc["chart"]] = (doc["repository"], str(doc["version"]), doc["release"])
    if not apps:
        problems.add("no Argo CD Application rendered")
    for app in apps:
        spec = app.spec
        project = projects.get(spec.get("project"))
        if project is None:
            problems.add(f"{app}: project {spec.get('project')!r} is not rendered here (never `default`)")
            repos = None
        else:
            repos = set(project.spec.get("sourceRepos") or [])
            dests = project.spec.get("destinations") or []
            if not any(d.get("namespace") == spec["destination"]["namespace"] and
                       d.get("server") == spec["destination"]["server"] for d in dests):
                problems.add(f"{app}: destination {spec['destination']} is outside project {project.name}")
            if project.spec.get("clusterResourceWhitelist"):
                problems.add(f"{project}: may create cluster-scoped objects")
        sources = spec.get("sources") or [spec.get("source")]
        for src in sources:
            if repos is not None and src["repoURL"] not in repos:
                problems.add(f"{app}: source {src['repoURL']} is not in project {project.name}'s sourceRepos")
            if env == "prod" and "chart" not in src and src.get("targetRevision") in ("main", "HEAD", "master"):
                problems.add(f"{app}: production follows {src['targetRevision']}, so any merge deploys without "
                             f"the production approval")
            if "chart" in src:
                repo, version, release = pinned.get(src["chart"], (None, None, None))
                if (src["repoURL"], str(src["targetRevision"])) != (repo, version):
                    problems.add(f"{app}: chart {src['chart']} {src['repoURL']} {src['targetRevision']}, "
                                 f"but the pinned one is {repo} {version}")
            helm = src.get("helm") or {}
            path = src.get("path") or ""
            m = re.fullmatch(r"infra/helm/(api|worker)", path)
            if m:
                want = f"../../environments/{env}/{m.group(1)}.yaml"
                if helm.get("valueFiles") != [want]:
                    problems.add(f"{app}: values {helm.get('valueFiles')}, but the pipeline deploys {want} "
                                 f"(ci/set-image.sh promotes into it)")
                release = f"tasklane-{m.group(1)}"
                if helm.get("releaseName") != release or release not in script:
                    problems.add(f"{app}: release {helm.get('releaseName')}, {deploy_script} deploys {release}")
            for vf in helm.get("valueFiles") or []:
                if "/ci/" in vf or vf.startswith("ci/"):
                    problems.add(f"{app}: values file {vf} is a lint fixture, not an environment")
    return problems.finish(f"gitops ({env})", f"{len(apps)} Applications, {len(projects)} projects")
