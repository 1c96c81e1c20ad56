"""Dockerfile policy, checked offline: a small parser and the rules every job image follows.

The rules (each problem is one sentence that says what to change):

- the final stage sets ``USER`` to a numeric, non-zero UID (Kubernetes' ``runAsNonRoot``
  can only verify a number);
- every base image is pinned to an exact version (``x.y.z`` in the tag, or a digest), never a
  bare name or ``latest``;
- every ``COPY``/``ADD`` source from the build context exists in the repository and is not
  dropped by ``.dockerignore``;
- nothing is installed after the package code arrives (so a code edit rebuilds only the code
  layers), and a stage that installs the package wheel installs the locked dependencies first.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

BASE_REPOSITORY = "retail-platform/base"
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)")
_EXACT_VERSION = re.compile(r"\d+\.\d+\.\d+")


@dataclass
class Instruction:
    line: int
    keyword: str
    args: str

    def flags_and_words(self) -> tuple[dict[str, str], list[str]]:
        """``--name=value`` flags and the remaining words (JSON or shell form)."""
        text = self.args.strip()
        words = [str(w) for w in json.loads(text)] if text.startswith("[") else shlex.split(text)
        flags = dict(w[2:].split("=", 1) for w in words if w.startswith("--") and "=" in w)
        return flags, [w for w in words if not w.startswith("--")]


@dataclass
class Stage:
    image: str  # as written after FROM, ARG defaults expanded
    alias: str | None
    line: int
    instructions: list[Instruction] = field(default_factory=list)


@dataclass
class Dockerfile:
    args: dict[str, str]  # defaults of the ARGs declared before the first FROM
    stages: list[Stage]


def logical_lines(text: str) -> list[tuple[int, str]]:
    """(first line number, joined text) per instruction: continuations joined, comments out."""
    out: list[tuple[int, str]] = []
    buf: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), 1):
        stripped = raw.strip()
        if stripped.startswith("#") or (not stripped and not buf):
            continue
        if not buf:
            start = number
        if stripped.endswith("\\"):
            buf.append(stripped[:-1])
            continue
        buf.append(stripped)
        out.append((start, " ".join(buf)))
        buf = []
    if buf:
        out.append((start, " ".join(buf)))
    return out


def parse(text: str) -> Dockerfile:
    """Global ``ARG`` defaults and the stages, with those defaults expanded in ``FROM``."""
    parsed = Dockerfile({}, [])
    for number, line in logical_lines(text):
        keyword, _, rest = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            words = rest.split()
            image = _VAR.sub(lambda m: parsed.args.get(m.group(1) or m.group(2), m.group(0)),
                             words[0])
            alias = words[2] if len(words) >= 3 and words[1].upper() == "AS" else None
            parsed.stages.append(Stage(image, alias, number))
        elif not parsed.stages and keyword == "ARG":
            name, _, default = rest.strip().partition("=")
            parsed.args[name] = default.strip('"')
        elif parsed.stages:
            parsed.stages[-1].instructions.append(Instruction(number, keyword, rest))
    return parsed


def locked_version(root: Path, package: str) -> str:
    """The version ``constraints.txt`` pins ``package`` to (what every image installs)."""
    for line in (root / "constraints.txt").read_text().splitlines():
        name, _, version = line.partition("==")
        if name.strip().lower() == package.lower():
            return version.strip()
    raise AssertionError(f"{package} is not pinned in constraints.txt")


def dockerignore_excludes(path: str, patterns: list[str]) -> bool:
    """Whether Docker leaves ``path`` out of the build context (last matching pattern wins;
    a pattern matching a parent folder matches everything in it)."""
    parts = path.strip("/").split("/")
    candidates = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
    excluded = False
    for pattern in patterns:
        negated = pattern.startswith("!")
        regex = _glob_regex(pattern.lstrip("!").strip("/"))
        if any(regex.fullmatch(c) for c in candidates):
            excluded = not negated
    return excluded


def _glob_regex(pattern: str) -> re.Pattern[str]:
    out, i = [], 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        else:
            ch = pattern[i]
            out.append("[^/]*" if ch == "*" else "[^/]" if ch == "?" else re.escape(ch))
            i += 1
    return re.compile("".join(out))


def read_dockerignore(root: Path) -> list[str]:
    path = root / ".dockerignore"
    if not path.exists():
        return []
    return [line.strip() for line in path.read_text().splitlines()
            if line.strip() and not line.strip().startswith("#")]


def user_problems(stages: list[Stage]) -> list[str]:
    users = [i for i in stages[-1].instructions if i.keyword == "USER"]
    if not users:
        return ["the final stage sets no USER, so the image runs as root: add USER 10001:10001"]
    value = users[-1].args.strip()
    uid = value.split(":")[0]
    if not uid.isdigit() or int(uid) == 0:
        return [f"line {users[-1].line}: USER {value} is root or not numeric: use a numeric "
                "non-root UID such as 10001:10001 (runAsNonRoot can only verify numbers)"]
    return []


def base_image_problems(stages: list[Stage]) -> list[str]:
    problems, aliases = [], set()
    for stage in stages:
        image = stage.image
        if image in aliases or image == "scratch":
            pass
        elif "$" in image:
            problems.append(f"line {stage.line}: FROM {image}: give the ARG a default")
        elif "@sha256:" not in image:
            tagged = ":" in image.split("/")[-1]
            name, tag = image.rsplit(":", 1) if tagged else (image, "")
            if not tag or tag == "latest" or not _EXACT_VERSION.search(tag):
                problems.append(f"line {stage.line}: FROM {image} is not pinned: use an exact "
                                f"version tag such as {name}:1.2.3 or a digest")
        if stage.alias:
            aliases.add(stage.alias)
    return problems


def copy_source_problems(stages: list[Stage], root: Path) -> list[str]:
    ignore = read_dockerignore(root)
    problems = []
    for stage in stages:
        for ins in stage.instructions:
            if ins.keyword not in ("COPY", "ADD"):
                continue
            flags, words = ins.flags_and_words()
            if "from" in flags:
                continue
            for source in words[:-1]:
                matches = sorted(root.glob(source.rstrip("/"))) if source.strip("/") else []
                if not matches:
                    problems.append(f"line {ins.line}: {ins.keyword} {source}: no such file "
                                    "in the repository (sources are relative to the repo root)")
                elif dockerignore_excludes(source, ignore):
                    problems.append(f"line {ins.line}: {ins.keyword} {source}: .dockerignore "
                                    "leaves it out of the build context")
    return problems


def _is_install(ins: Instruction) -> bool:
    return ins.keyword == "RUN" and bool(re.search(r"\b(pip install|apt-get install)\b",
                                                   ins.args))


def _brings_code(ins: Instruction, code_stages: set[str]) -> bool:
    if ins.keyword == "RUN":
        return ".whl" in ins.args
    if ins.keyword not in ("COPY", "ADD"):
        return False
    flags, words = ins.flags_and_words()
    if "from" in flags:
        return flags["from"] in code_stages
    return any(w.startswith("pkg/") and w != "pkg/pyproject.toml" for w in words[:-1])


def layer_order_problems(stages: list[Stage]) -> list[str]:
    problems: list[str] = []
    code_stages: set[str] = set()
    for stage in stages:
        from_code = (stage.image in code_stages
                     or stage.image.split(":")[0].endswith(BASE_REPOSITORY))
        code_at = stage.line if from_code else None
        deps_at = None
        for ins in stage.instructions:
            wheel = ins.keyword == "RUN" and ".whl" in ins.args
            if _is_install(ins) and not wheel and re.search(r"--constraint|\s-c\s", ins.args):
                deps_at = deps_at or ins.line
            if code_at is not None and _is_install(ins) and not wheel:
                problems.append(f"line {ins.line}: installs packages after the package code "
                                f"(line {code_at}): every code edit would redo it; install "
                                "dependencies before the code")
            if wheel and deps_at is None:
                problems.append(f"line {ins.line}: installs the package wheel with no locked "
                                "dependency layer before it (pip install --constraint "
                                "constraints.txt --requirement ...)")
            if code_at is None and _brings_code(ins, code_stages):
                code_at = ins.line
        if code_at is not None and stage.alias:
            code_stages.add(stage.alias)
    return problems


def policy_problems(text: str, root: Path) -> list[str]:
    """Every rule above applied to a Dockerfile's text; an empty list means it complies."""
    stages = parse(text).stages
    if not stages:
        return ["no FROM instruction: not a Dockerfile"]
    return (user_problems(stages) + base_image_problems(stages)
            + copy_source_problems(stages, root) + layer_order_problems(stages))
