"""Our own rules for the delivery pipeline, on top of actionlint and the schema.

actionlint and the workflow JSON schema prove a workflow runs; these rules prove it
is the pipeline we promise in ci/README.md: actions pinned by commit SHA,
least-privilege permissions, OIDC instead of long-lived cloud keys, one deploy at a
time per environment, production behind an approval and after dev, images scanned
before they are pushed, deploys pinned to the pushed digests, a reviewed,
expiring scan ignore file; production credentials (cloud tokens, prod plans)
only behind the production approval and never for a pull request; a write token
only where the approved production deploy releases to the GitOps clusters; an
end-to-end kind job on every pull request; the whole-stack check on the real
upstream charts.

    python3 workflow_policy.py WORKFLOW TRIVYIGNORE     check, exit 1 on violations
    python3 workflow_policy.py --self-test WORKFLOW TRIVYIGNORE
        prove that each rule rejects a workflow broken in exactly its way
"""

import copy
import datetime
import re
import sys

import yaml

SHA_PIN = re.compile(r"^[^@\s]+@[0-9a-f]{40}$")
LONG_LIVED_KEYS = re.compile(r"secrets\.(AWS_ACCESS_KEY_ID|AWS_SECRET_ACCESS_KEY|"
                             r"AWS_SESSION_TOKEN|KUBECONFIG\w*)", re.I)
MAX_IGNORE_DAYS = 90
DIGEST_VARS = ("API_DIGEST", "WORKER_DIGEST")
NOT_FOR_PULL_REQUESTS = re.compile(r"event_name\s*(!=\s*'pull_request'|==\s*'push')")
PRODUCTION_SECRET = re.compile(r"secrets\.(?!GITHUB_TOKEN\b)\w+")
GITOPS_REF = "git/refs/heads/deploy/prod"
NEEDS_OUTPUT = re.compile(r"^\$\{\{\s*needs\.([\w-]+)\.outputs\.[\w-]+\s*\}\}$")


def load(path):
    with open(path) as f:
        text = f.read()
    return yaml.safe_load(text), text


def triggers(wf):
    # PyYAML reads the bare key `on` as boolean True.
    on = wf.get("on", wf.get(True, {}))
    if isinstance(on, str):
        return {on: None}
    if isinstance(on, list):
        return {k: None for k in on}
    return on or {}


def needs_of(job):
    needs = job.get("needs") or []
    return [needs] if isinstance(needs, str) else needs


def env_name(job):
    env = job.get("environment")
    return env.get("name") if isinstance(env, dict) else env


def check_workflow(wf, text):
    errors = []
    jobs = wf.get("jobs") or {}

    if "pull_request_target" in triggers(wf):
        errors.append("pull_request_target runs untrusted code with secrets: not allowed")

    top = wf.get("permissions")
    if top is None:
        errors.append("no top-level permissions: the default token would be broad")
    elif top == "write-all" or (isinstance(top, dict) and any(v == "write" for v in top.values())):
        errors.append("top-level permissions grant write: grant per job instead")

    for m in LONG_LIVED_KEYS.finditer(text):
        errors.append("long-lived credential %s used: use OIDC (id-token) instead" % m.group(0))

    for name, job in jobs.items():
        perms = job.get("permissions")
        if perms is None:
            errors.append("job %s: no permissions block" % name)
            perms = {}
        if perms in ("write-all", "read-all"):
            errors.append("job %s: permissions %s is not least privilege" % (name, perms))
            perms = {}
        steps = job.get("steps") or []
        uses = [s.get("uses", "") for s in steps]
        for u in uses:
            if u and not u.startswith("./") and not u.startswith("docker://") and not SHA_PIN.match(u):
                errors.append("job %s: action %s is not pinned to a full commit SHA" % (name, u))
        for s in steps:
            if s.get("uses", "").startswith("actions/checkout@") and \
                    (s.get("with") or {}).get("persist-credentials") is not False:
                errors.append("job %s: checkout must set persist-credentials: false" % name)
        oidc = any(u.startswith("aws-actions/configure-aws-credentials@") for u in uses)
        if oidc and perms.get("id-token") != "write":
            errors.append("job %s: assumes a cloud role without id-token: write (OIDC)" % name)
        if not oidc and perms.get("id-token") == "write":
            errors.append("job %s: id-token: write without a cloud login" % name)
        for s in steps:
            w = s.get("with") or {}
            if oidc and s.get("uses", "").startswith("aws-actions/") and \
                    ("aws-access-key-id" in w or "role-to-assume" not in w):
                errors.append("job %s: cloud login must assume a role through OIDC" % name)

        env = env_name(job)
        runs_deploy = any("ci/deploy.sh" in (s.get("run") or "") for s in steps)
        if runs_deploy:
            if not env:
                errors.append("job %s: deploys without a GitHub environment" % name)
            conc = job.get("concurrency")
            if not isinstance(conc, dict) or not conc.get("group"):
                errors.append("job %s: deploy without a concurrency group" % name)
            elif conc.get("cancel-in-progress") is not False:
                errors.append("job %s: a deploy must never be cancelled half-way" % name)
            elif env and env not in str(conc["group"]):
                errors.append("job %s: concurrency group does not name environment %s" % (name, env))
            errors += check_digests(name, job, jobs)

        for s in steps:
            if s.get("uses", "").startswith("aquasecurity/trivy-action@") and \
                    (s.get("with") or {}).get("format") is None:
                w = s.get("with") or {}
                sev = set(str(w.get("severity", "")).split(","))
                if not {"HIGH", "CRITICAL"} <= sev or str(w.get("exit-code")) != "1":
                    errors.append("job %s: image scan must fail (exit-code 1) on HIGH,CRITICAL" % name)
                if not w.get("trivyignores"):
                    errors.append("job %s: image scan without the reviewed ignore file" % name)

    deploys = {n: j for n, j in jobs.items()
               if any("ci/deploy.sh" in (s.get("run") or "") for s in j.get("steps") or [])}
    prod = [n for n, j in deploys.items() if env_name(j) == "production"]
    dev = [n for n, j in deploys.items() if env_name(j) == "dev"]
    if not prod:
        errors.append("no deploy job in the `production` environment (manual approval)")
    if not dev:
        errors.append("no deploy job in the `dev` environment")
    for p in prod:
        if not any(d in needs_of(jobs[p]) for d in dev):
            errors.append("job %s: production deploy does not wait for dev" % p)
    groups = [str((j.get("concurrency") or {}).get("group")) for j in deploys.values()]
    if len(groups) != len(set(groups)):
        errors.append("deploy jobs share a concurrency group: one per environment")

    # Scan before push: within a job the push step must come after a scan step.
    for name, job in jobs.items():
        steps = job.get("steps") or []
        scanned = False
        for s in steps:
            w = s.get("with") or {}
            if s.get("uses", "").startswith("aquasecurity/trivy-action@") and w.get("format") is None:
                scanned = True
            if s.get("uses", "").startswith("docker/build-push-action@") and w.get("push") is True \
                    and not scanned:
                errors.append("job %s: step %r pushes an image before any scan"
                              % (name, s.get("name")))

    errors += check_production_gates(jobs)

    if not any(".ci/run" in (s.get("run") or "") or "scripts/test.sh" in (s.get("run") or "")
               for j in jobs.values() for s in j.get("steps") or []):
        errors.append("no job runs .ci/run / scripts/test.sh (the tests developers run)")
    # The NATS/Valkey values are only schema-checked offline; the pipeline is the one
    # place the pinned upstream charts are rendered with them, by the same script a
    # developer runs.
    upstream = jobs.get("upstream-charts") or {}
    if not any("scripts/render-upstream.sh" in (s.get("run") or "") for s in upstream.get("steps") or []):
        errors.append("job upstream-charts does not run scripts/render-upstream.sh")
    if not any("scripts/checks/25-stack.sh" in (s.get("run") or "") and (s.get("env") or {}).get("UPSTREAM_RENDERS")
               for s in upstream.get("steps") or []):
        errors.append("job upstream-charts does not run scripts/checks/25-stack.sh on its renders (UPSTREAM_RENDERS)")
    e2e = [n for n, j in jobs.items() if any("ci/e2e-kind.sh" in (s.get("run") or "") for s in j.get("steps") or [])]
    if not e2e:
        errors.append("no job runs ci/e2e-kind.sh (build, kind, helm test, upgrade, rollback)")
    for name in e2e:
        job = jobs[name]
        if NOT_FOR_PULL_REQUESTS.search(str(job.get("if", ""))):
            errors.append("job %s: the end-to-end job must run on pull requests too" % name)
        perms = job.get("permissions")
        if (isinstance(perms, dict) and perms.get("id-token")) or PRODUCTION_SECRET.search(yaml.safe_dump(job)):
            errors.append("job %s: the end-to-end job needs no cloud login and no secret" % name)
    return errors


def check_production_gates(jobs):
    """Production credentials and the write token stay behind the approval."""
    errors = []
    for name, job in jobs.items():
        steps = job.get("steps") or []
        plans_prod = any("terraform plan" in (s.get("run") or "") and
                         "environments/prod" in str(s.get("working-directory", "")) for s in steps)
        secrets = sorted(set(PRODUCTION_SECRET.findall(yaml.safe_dump(steps))))
        if plans_prod or secrets:
            what = "plans production" if plans_prod else "reads %s" % ", ".join(secrets)
            if env_name(job) != "production":
                errors.append("job %s: %s outside the production environment (no approval)" % (name, what))
            if not NOT_FOR_PULL_REQUESTS.search(str(job.get("if", ""))):
                errors.append("job %s: %s on pull requests too" % (name, what))
        perms = job.get("permissions")
        if perms == "write-all" or (isinstance(perms, dict) and perms.get("contents") == "write"):
            runs = [s.get("run") or "" for s in steps]
            deploy_at = next((i for i, r in enumerate(runs) if "ci/deploy.sh" in r), None)
            release_at = next((i for i, r in enumerate(runs) if GITOPS_REF in r), None)
            if env_name(job) != "production" or deploy_at is None or release_at is None:
                errors.append("job %s: contents: write outside the production deploy that releases %s"
                              % (name, GITOPS_REF))
            elif release_at < deploy_at:
                errors.append("job %s: releases to the GitOps clusters before ci/deploy.sh verified the commit"
                              % name)
    return errors


def check_digests(name, job, jobs):
    """A deploy runs the bytes that were scanned: each image digest comes from the
    outputs of a job it waits for. A matrix job has one set of outputs for all its
    legs (the last leg to finish wins), so it cannot be that job."""
    errors = []
    env = {}
    for s in job.get("steps") or []:
        if "ci/deploy.sh" in (s.get("run") or ""):
            env = s.get("env") or {}
    for var in DIGEST_VARS:
        m = NEEDS_OUTPUT.match(str(env.get(var, "")))
        if not m or m.group(1) not in needs_of(job):
            errors.append("job %s: %s is not an output of a job it needs" % (name, var))
        elif (jobs.get(m.group(1)) or {}).get("strategy", {}).get("matrix"):
            errors.append("job %s: %s comes from matrix job %s, whose outputs hold one leg's value"
                          % (name, var, m.group(1)))
    return errors


def check_ignorefile(doc, today=None):
    today = today or datetime.date.today()
    errors = []
    if not isinstance(doc, dict):
        return ["ignore file must be a mapping (trivy YAML ignore format)"]
    for kind in ("vulnerabilities", "misconfigurations", "secrets", "licenses"):
        for i, entry in enumerate(doc.get(kind) or []):
            where = "%s[%d]" % (kind, i)
            if not isinstance(entry, dict) or not entry.get("id"):
                errors.append("%s: no id" % where)
                continue
            where += " (%s)" % entry["id"]
            if "*" in str(entry["id"]):
                errors.append("%s: wildcards are not allowed" % where)
            if len(str(entry.get("statement", "")).strip()) < 20:
                errors.append("%s: no statement saying why it is ignored" % where)
            exp = entry.get("expired_at")
            if not isinstance(exp, datetime.date):
                errors.append("%s: no expired_at date" % where)
            elif exp < today:
                errors.append("%s: expired on %s, review it again" % (where, exp))
            elif (exp - today).days > MAX_IGNORE_DAYS:
                errors.append("%s: expires more than %d days ahead" % (where, MAX_IGNORE_DAYS))
    return errors


def self_test(wf, text, ignore):
    """Each mutation breaks one rule; the checker must notice every one."""
    def mutate(fn):
        w = copy.deepcopy(wf)
        fn(w)
        return w

    def first_job_with(w, pred):
        return next(j for j in w["jobs"].values() if pred(j))

    def deploy_job(w, env):
        return first_job_with(w, lambda j: env_name(j) == env and
                              any("ci/deploy.sh" in (s.get("run") or "") for s in j.get("steps") or []))

    def unpin(w):
        step = first_job_with(w, lambda j: True)["steps"][0]
        step["uses"] = step["uses"].split("@")[0] + "@v4"

    def mk_scan_soft(w):
        for j in w["jobs"].values():
            for s in j.get("steps") or []:
                if s.get("uses", "").startswith("aquasecurity/") and "format" not in s.get("with", {}):
                    s["with"]["exit-code"] = "0"

    def deploy_env(w, env):
        job = deploy_job(w, env)
        return next(s for s in job["steps"] if "ci/deploy.sh" in (s.get("run") or ""))["env"]

    def digest_from_matrix(w):
        deploy_env(w, "dev")["API_DIGEST"] = "${{ needs.images.outputs.api-digest }}"
        deploy_job(w, "dev")["needs"] = ["images", "image-digests"]

    def push_first(w):
        job = first_job_with(w, lambda j: any("build-push" in s.get("uses", "") for s in j["steps"]))
        push = [s for s in job["steps"] if (s.get("with") or {}).get("push") is True][0]
        job["steps"].remove(push)
        job["steps"].insert(1, push)

    def release_first(w):
        steps = deploy_job(w, "production")["steps"]
        release = next(s for s in steps if GITOPS_REF in (s.get("run") or ""))
        steps.remove(release)
        steps.insert(1, release)

    # name: (workflow, text, what the rejection must say)
    cases = {
        "unpinned action": (mutate(unpin), text, "not pinned to a full commit SHA"),
        "no top-level permissions": (mutate(lambda w: w.pop("permissions")), text, "no top-level permissions"),
        "job without permissions": (mutate(lambda w: first_job_with(w, lambda j: True).pop("permissions")), text,
                                    "no permissions block"),
        "write-all job": (mutate(lambda w: deploy_job(w, "dev").__setitem__("permissions", "write-all")), text,
                          "not least privilege"),
        "OIDC without id-token": (mutate(lambda w: deploy_job(w, "dev")["permissions"].pop("id-token")), text,
                                  "without id-token: write"),
        "deploy without concurrency": (mutate(lambda w: deploy_job(w, "dev").pop("concurrency")), text,
                                       "deploy without a concurrency group"),
        "cancellable deploy": (mutate(lambda w: deploy_job(w, "production")["concurrency"]
                                      .__setitem__("cancel-in-progress", True)), text, "never be cancelled"),
        "prod not after dev": (mutate(lambda w: deploy_job(w, "production").__setitem__("needs", ["image-digests"])),
                               text, "does not wait for dev"),
        "no production approval": (mutate(lambda w: deploy_job(w, "production").pop("environment")), text,
                                   "deploys without a GitHub environment"),
        "scan does not fail": (mutate(mk_scan_soft), text, "must fail (exit-code 1)"),
        "push before scan": (mutate(push_first), text, "pushes an image before any scan"),
        "deploy without a digest": (mutate(lambda w: deploy_env(w, "production").pop("WORKER_DIGEST")), text,
                                    "WORKER_DIGEST is not an output of a job it needs"),
        "digest from a matrix job": (mutate(digest_from_matrix), text, "comes from matrix job images"),
        "long-lived AWS key": (wf, text + "\n# ${{ secrets.AWS_SECRET_ACCESS_KEY }}\n", "long-lived credential"),
        "pull_request_target": (mutate(lambda w: triggers(w).__setitem__("pull_request_target", None)), text,
                                "pull_request_target"),
        "prod plan on pull requests": (mutate(lambda w: w["jobs"]["terraform-plan-prod"].pop("if")), text,
                                       "plans production on pull requests too"),
        "prod plan without approval": (mutate(lambda w: w["jobs"]["terraform-plan-prod"].__setitem__(
            "environment", "prod-plan")), text, "plans production outside the production environment"),
        "write token in another job": (mutate(lambda w: w["jobs"]["images"]["permissions"].__setitem__(
            "contents", "write")), text, "job images: contents: write outside the production deploy"),
        "GitOps release before verify": (mutate(release_first), text, "before ci/deploy.sh verified"),
        "no end-to-end job": (mutate(lambda w: w["jobs"].pop("e2e-kind")), text, "no job runs ci/e2e-kind.sh"),
        "end-to-end on push only": (mutate(lambda w: w["jobs"]["e2e-kind"].__setitem__(
            "if", "github.event_name == 'push'")), text, "must run on pull requests too"),
        "stack check not on real charts": (mutate(lambda w: w["jobs"]["upstream-charts"]["steps"].__setitem__(
            slice(None), [s for s in w["jobs"]["upstream-charts"]["steps"]
                          if "25-stack" not in (s.get("run") or "")])), text,
            "does not run scripts/checks/25-stack.sh"),
        "upstream charts not rendered": (mutate(lambda w: w["jobs"]["upstream-charts"]["steps"].__setitem__(
            slice(None), [s for s in w["jobs"]["upstream-charts"]["steps"]
                          if "render-upstream" not in (s.get("run") or "")])), text,
            "does not run scripts/render-upstream.sh"),
    }
    failures = 0
    for name, (w, t, expect) in cases.items():
        hits = [e for e in check_workflow(w, t) if expect in e]
        print("  %-28s %s" % (name, "rejected: " + hits[0] if hits else "NOT REJECTED for: " + expect))
        failures += not hits
    today = datetime.date(2026, 1, 1)
    bad_ignores = {
        "ignore without statement": {"vulnerabilities": [{"id": "CVE-2025-1", "expired_at": today}]},
        "ignore without expiry": {"vulnerabilities": [{"id": "CVE-2025-1", "statement": "x" * 30}]},
        "ignore expired": {"vulnerabilities": [{"id": "CVE-2025-1", "statement": "x" * 30,
                                                "expired_at": datetime.date(2025, 12, 1)}]},
        "ignore for a year": {"vulnerabilities": [{"id": "CVE-2025-1", "statement": "x" * 30,
                                                   "expired_at": datetime.date(2027, 1, 1)}]},
    }
    for name, doc in bad_ignores.items():
        errs = check_ignorefile(doc, today)
        print("  %-28s %s" % (name, "rejected: " + errs[0] if errs else "NOT REJECTED"))
        failures += not errs
    good = {"vulnerabilities": [{"id": "CVE-2025-1", "statement": "not reachable; reviewed by platform",
                                 "expired_at": datetime.date(2026, 2, 1)}]}
    if check_ignorefile(good, today):
        print("  a valid ignore entry was rejected: %s" % check_ignorefile(good, today))
        failures += 1
    return len(cases) + len(bad_ignores) + 1, failures


def main(argv):
    self_testing = argv[:1] == ["--self-test"]
    if self_testing:
        argv = argv[1:]
    wf, text = load(argv[0])
    ignore, _ = load(argv[1])
    if self_testing:
        cases, failures = self_test(wf, text, ignore)
        print("%d passed, %d failed" % (cases - failures, failures))
        return 1 if failures else 0
    errors = check_workflow(wf, text) + ["%s: %s" % (argv[1], e) for e in check_ignorefile(ignore)]
    for e in errors:
        print("  FAIL %s" % e)
    if not errors:
        print("  workflow policy: ok (%d jobs), ignore file: ok" % len(wf.get("jobs") or {}))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
