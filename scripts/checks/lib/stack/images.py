"""Every container of the stack that runs a given image runs the same build:
Sentinel (infra/helm/valkey-sentinel) and the follow-sentinel init container
pin the tag the upstream valkey chart takes from its appVersion, so a chart
upgrade that moves the servers to a new Valkey must move Sentinel too."""

from __future__ import annotations

from .model import Problems, Stack


def without_registry(image: str) -> str:
    first, _, rest = image.partition("/")
    return rest if rest and ("." in first or ":" in first) else image


def check(stack: Stack, repository: str) -> int:
    problems = Problems()
    found: dict[str, list[str]] = {}
    for pod in stack.pods():
        for c in pod.containers():
            image = without_registry(c.get("image", ""))
            if image.split("@")[0].rsplit(":", 1)[0] == repository:
                where = f"{pod.owner} {c['name']}"
                if where not in found.setdefault(image, []):
                    found[image].append(where)
    if not found:
        problems.add(f"no container runs {repository}")
    elif len(found) > 1:
        for image, where in sorted(found.items()):
            problems.add(f"{image}: {', '.join(where)}")
        problems.add(f"{repository} runs in {len(found)} builds; pin one (the valkey chart's appVersion)")
    return problems.finish(f"images ({repository})", f"{sum(map(len, found.values()))} containers on {sorted(found)}")
