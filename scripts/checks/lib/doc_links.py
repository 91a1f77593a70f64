"""Links in tasklane's Markdown docs must lead somewhere, and every problem type
the gateway returns must be documented.

    python3 doc_links.py links FILE.md...          relative links and their anchors resolve
    python3 doc_links.py errors ERROR_RS ERRORS_MD  every slug in error.rs has its section
    python3 doc_links.py paths FILE.md...          every repository path they name exists

Anchors are computed the way GitHub renders headings (lowercase, punctuation
dropped, spaces to hyphens, -1/-2 for repeats). Links to this repository's own
GitHub URLs (https://github.com/tasklane/tasklane/blob/main/...) are checked as
relative links too: the alert runbook URLs and problem types use them.
"""

import re
import sys
from http import HTTPStatus
from pathlib import Path

REPO_URL = "https://github.com/tasklane/tasklane/blob/main/"
LINK = re.compile(r"(?<!\!)\[(?:[^\]\[]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
# Rust's StatusCode names that Python's HTTPStatus spells differently.
STATUS_ALIASES = {"PAYLOAD_TOO_LARGE": 413, "UNPROCESSABLE_ENTITY": 422}


def strip_code(text: str) -> str:
    """Fenced blocks and inline code are examples, not links."""
    text = re.sub(r"^(```|~~~).*?^\1[^\n]*$", "", text, flags=re.S | re.M)
    return re.sub(r"`[^`\n]*`", "", text)


def github_slug(heading: str) -> str:
    heading = re.sub(r"<[^>]+>", "", heading)           # inline html
    heading = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # links keep their text
    heading = heading.strip().lower().replace("`", "")
    heading = re.sub(r"[^\w\- ]", "", heading)
    return heading.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    found: set[str] = set()
    seen: dict[str, int] = {}
    text = re.sub(r"^(```|~~~).*?^\1[^\n]*$", "", path.read_text(), flags=re.S | re.M)
    for m in re.finditer(r"^#{1,6}\s+(.+?)\s*#*\s*$", text, re.M):
        slug = github_slug(m.group(1))
        n = seen.get(slug, 0)
        seen[slug] = n + 1
        found.add(slug if n == 0 else f"{slug}-{n}")
    found.update(re.findall(r'<a\s+(?:name|id)="([^"]+)"', text))
    return found


def check_links(files: list[str], root: Path) -> int:
    problems, count = [], 0
    for name in files:
        src = Path(name)
        for target in LINK.findall(strip_code(src.read_text())):
            if target.startswith(REPO_URL):
                path_part = target[len(REPO_URL):]
                base = root
            elif re.match(r"^[a-z][a-z0-9+.-]*:", target):
                continue  # other sites: not ours to check offline
            else:
                path_part, base = target, src.parent
            count += 1
            path_part, _, anchor = path_part.partition("#")
            dest = (base / path_part).resolve() if path_part else src.resolve()
            if not dest.exists():
                problems.append(f"{src}: link {target} -> {dest.relative_to(root.resolve()) if dest.is_relative_to(root.resolve()) else dest} does not exist")
                continue
            if anchor and dest.suffix == ".md" and anchor not in anchors(dest):
                problems.append(f"{src}: link {target}: no heading with anchor #{anchor} in {path_part or src.name}")
    for p in problems:
        print(f"  FAIL {p}")
    print(f"  {count} links in {len(files)} files checked, {len(problems)} broken")
    return 1 if problems else 0


def check_errors(error_rs: Path, errors_md: Path) -> int:
    source = error_rs.read_text()
    problems = []
    # The gateway's problems render through tasklane-core's one problem format.
    renderer = error_rs.parents[2] / "core" / "src" / "problem.rs"
    if f'"{REPO_URL}docs/errors.md#"' not in renderer.read_text():
        problems.append(f"{renderer}: the problem type base no longer points at {REPO_URL}docs/errors.md#")
    slugs = re.findall(r"StatusCode::(\w+),\s*\"([a-z0-9-]+)\"", source)
    if len(slugs) < 5:
        problems.append(f"{error_rs}: only {len(slugs)} problem types parsed; the parser is out of date")
    doc = errors_md.read_text()
    sections = {}
    for m in re.finditer(r"^## ([^\n]+)\n(.*?)(?=^## |\Z)", doc, re.M | re.S):
        sections[github_slug(m.group(1))] = m.group(2)
    for status_name, slug in slugs:
        code = STATUS_ALIASES.get(status_name) or HTTPStatus[status_name].value
        body = sections.get(slug)
        if body is None:
            problems.append(f"{errors_md}: no section '## {slug}' for the problem type in {error_rs}")
        elif f"**{code} " not in body:
            problems.append(f"{errors_md}#{slug}: does not start by stating status {code}")
    for stale in sorted(set(sections) - {s for _, s in slugs}):
        problems.append(f"{errors_md}: section #{stale} documents a problem type the gateway no longer returns")
    for p in problems:
        print(f"  FAIL {p}")
    print(f"  {len(slugs)} problem types in {error_rs}, {len(sections)} sections in {errors_md}")
    return 1 if problems else 0


# A repository path as the docs write it, in prose or in a command: it starts at a
# top-level folder and may list alternatives in braces (infra/helm/{api,worker}).
# Placeholders such as <env> end the match, so only the part before them is checked.
REPO_PATH = re.compile(
    r"(?<![\w./-])((?:services|infra|scripts|ci|docs|architecture|chaos|\.github|\.ci)/[\w./{},-]*[\w}])"
)


def expand_braces(path: str) -> list[str]:
    m = re.search(r"\{([^{}]*)\}", path)
    if not m:
        return [path]
    return [
        expanded
        for choice in m.group(1).split(",")
        for expanded in expand_braces(path[: m.start()] + choice + path[m.end():])
    ]


def check_paths(files: list[str], root: Path) -> int:
    problems, count = [], 0
    for name in files:
        for n, line in enumerate(Path(name).read_text().splitlines(), 1):
            for token in REPO_PATH.findall(line):
                for path in expand_braces(token.rstrip(".,")):
                    count += 1
                    if not (root / path).exists():
                        problems.append(f"{name}:{n}: names {path}, which is not in the repository")
    for p in problems:
        print(f"  FAIL {p}")
    print(f"  {count} repository paths named in {len(files)} files")
    return 1 if problems else 0


def main(argv: list[str]) -> int:
    root = Path.cwd()
    if argv[0] == "links":
        return check_links(argv[1:], root)
    if argv[0] == "paths":
        return check_paths(argv[1:], root)
    if argv[0] == "errors":
        return check_errors(Path(argv[1]), Path(argv[2]))
    sys.exit(__doc__)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
