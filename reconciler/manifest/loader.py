"""Load manifests from files, directories (recursive) and stdin, with line numbers for every field.

Loading is all-or-nothing: every problem in every document is collected, and if there is any,
`ManifestError` is raised and nothing is returned. Each problem names the file, line, column,
field path and what was expected, like a compiler error.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import yaml
from pydantic import ValidationError

from ..errors import UsageError
from .models import (
    BRANCH_PATTERN,
    ENV_NAME_PATTERN,
    ISSUE_PATTERN,
    NAME_PATTERN,
    WORKER_NAME_PATTERN,
    ProjectManifest,
)
from .schema import validator
from .yamlsafe import HardenedLoader, YAMLLimitError, check_expansion, position

STDIN = "-"
STDIN_NAME = "<stdin>"
MANIFEST_SUFFIXES = (".yaml", ".yml")

FieldPath = tuple[str | int, ...]


@dataclass(frozen=True)
class ManifestIssue:
    """One problem found in a manifest, with where it is."""

    source: str
    line: int
    column: int
    path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.source}:{self.line}:{self.column}" if self.line else self.source
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


class ManifestError(UsageError):
    """One or more documents are invalid; nothing was applied."""

    code = "MANIFEST_INVALID"

    def __init__(self, issues: list[ManifestIssue]) -> None:
        self.issues = issues
        count = len(issues)
        summary = f"{count} problem{'s' if count != 1 else ''} in manifests; nothing was applied"
        super().__init__("\n".join([*map(str, issues), summary]))


@dataclass
class Marks:
    """Where each field of one YAML document starts: value positions and key positions."""

    values: dict[FieldPath, tuple[int, int]] = field(default_factory=dict)
    keys: dict[FieldPath, tuple[int, int]] = field(default_factory=dict)

    def at(self, path: FieldPath, *, key: bool = False) -> tuple[int, int]:
        """Position of `path`, or of its nearest ancestor that exists in the document."""
        probe = tuple(path)
        while True:
            table = self.keys if key and probe in self.keys else self.values
            if probe in table:
                return table[probe]
            if not probe:
                return (0, 0)
            probe = probe[:-1]


@dataclass(frozen=True)
class LoadedProject:
    """A valid project manifest and the file it came from."""

    manifest: ProjectManifest
    source: str
    base_dir: Path
    marks: Marks

    @property
    def name(self) -> str:
        return self.manifest.name

    def issue(self, path: FieldPath, message: str, *, key: bool = False) -> ManifestIssue:
        line, column = self.marks.at(path, key=key)
        return ManifestIssue(self.source, line, column, dotted(path), message)

    def repo_path(self) -> Path:
        """spec.repo, with `~` expanded and relative paths resolved against the manifest's folder."""
        repo = Path(self.manifest.spec.repo).expanduser()
        return repo if repo.is_absolute() else (self.base_dir / repo).resolve()


def dotted(path: Iterable[str | int]) -> str:
    text = ""
    for part in path:
        if not isinstance(part, int):
            part = str(part)
            # Keys are user text too: show controls escaped, and long keys cut.
            part = cut(part if part.isprintable() else repr(part)[1:-1], 40)
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


# ---------------------------------------------------------------- discovery


def _is_manifest_file(path: Path) -> bool:
    # Editors leave backups and swap files next to manifests (foo.yaml~, .foo.yaml.swp, .#foo.yaml).
    return path.suffix in MANIFEST_SUFFIXES and not path.name.startswith((".", "#"))


def expand_paths(paths: Iterable[str]) -> tuple[list[str], list[ManifestIssue]]:
    """Files as given, directories walked recursively in sorted order (hidden entries skipped)."""
    found: list[str] = []
    issues: list[ManifestIssue] = []
    for raw in paths:
        if raw == STDIN:
            found.append(STDIN)
            continue
        path = Path(raw)
        if path.is_dir():
            children = sorted(
                p
                for p in path.rglob("*")
                if p.is_file()
                and _is_manifest_file(p)
                and not any(part.startswith(".") for part in p.relative_to(path).parts[:-1])
            )
            if not children:
                issues.append(ManifestIssue(raw, 0, 0, "", "directory holds no *.yaml or *.yml files"))
            found.extend(str(p) for p in children)
        elif path.is_file():
            found.append(raw)
        else:
            issues.append(ManifestIssue(raw, 0, 0, "", "no such file or directory"))
    return found, issues


# ---------------------------------------------------------------- YAML with marks


def _index(node: yaml.Node, path: FieldPath, marks: Marks, issues: list[str | tuple[FieldPath, str]]) -> None:
    marks.values[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
    if isinstance(node, yaml.MappingNode):
        seen: set[Any] = set()
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(key_node.value)
            child = (*path, key)
            marks.keys[child] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            if key in seen and key != "<<":
                issues.append((child, f"duplicate key {_describe(key)}"))
            seen.add(key)
            _index(value_node, child, marks, issues)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _index(item, (*path, index), marks, issues)


def read_documents(text: str, source: str) -> Iterator[tuple[Any, Marks, list[ManifestIssue]]]:
    """Yield (data, marks, issues) per YAML document; a syntax error or a refused document
    (see yamlsafe: depth, alias expansion, control characters, huge integers) becomes one issue."""
    loader = None
    try:
        loader = HardenedLoader(text)
        while loader.check_node():
            node = loader.get_node()
            check_expansion(node)
            marks = Marks()
            found: list[Any] = []
            _index(node, (), marks, found)
            data = loader.construct_document(node)
            issues = []
            for path, message in found:
                line, column = marks.at(path, key=True)
                issues.append(ManifestIssue(source, line, column, dotted(path), message))
            yield data, marks, issues
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        line, column = (mark.line + 1, mark.column + 1) if mark else (0, 0)
        prefix = "" if isinstance(exc, YAMLLimitError) else "invalid YAML: "
        yield None, Marks(), [ManifestIssue(source, line, column, "", f"{prefix}{cut(problem, 200)}")]
    except (RecursionError, ValueError, OverflowError) as exc:
        # Backstop: the limits in yamlsafe should make these unreachable.
        yield None, Marks(), [ManifestIssue(source, 0, 0, "", f"invalid YAML: {cut(str(exc), 200)}")]
    finally:
        if loader is not None:
            loader.dispose()


def decode(data: bytes, source: str) -> tuple[str | None, ManifestIssue | None]:
    """Manifests are UTF-8; anything else is reported at the first bad byte."""
    try:
        return data.decode("utf-8"), None
    except UnicodeDecodeError as exc:
        good = data[: exc.start].decode("utf-8", errors="replace")
        line, column = position(good, len(good))
        return None, ManifestIssue(
            source, line, column, "", f"not UTF-8 text (byte 0x{data[exc.start]:02x}); save the file as UTF-8"
        )


# ---------------------------------------------------------------- validation messages


ECHO_LIMIT = 80


def cut(text: str, limit: int = ECHO_LIMIT) -> str:
    """Echoed user values are cut, so a 10 MB value does not become 10 MB of error output."""
    return text if len(text) <= limit else text[:limit] + "…"


def _describe(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return f"a number ({cut(str(value))})"
    if isinstance(value, str):
        return repr(value) if len(value) <= ECHO_LIMIT else repr(value[:ECHO_LIMIT]) + "…"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


_PATTERNS = {
    NAME_PATTERN: "a name of lowercase letters, digits and inner dashes, at most 40 characters",
    WORKER_NAME_PATTERN: "a name of lowercase letters, digits, '.', '_' and '-', at most 64 characters",
    BRANCH_PATTERN: "a branch name (letters, digits, '.', '_', '-', '/')",
    ISSUE_PATTERN: "an issue number, key or URL (no spaces or control characters)",
    ENV_NAME_PATTERN: "an environment variable name (letters, digits, '_'; not starting with a digit)",
}

_TYPE_NAMES = {
    "object": "a mapping",
    "array": "a list",
    "string": "a string",
    "integer": "an integer",
    "boolean": "true or false",
    "null": "null",
    "number": "a number",
}


def _schema_issues(data: Any, marks: Marks, source: str) -> list[ManifestIssue]:
    from jsonschema.exceptions import best_match

    issues: list[ManifestIssue] = []

    def add(path: FieldPath, message: str, *, key: bool = False) -> None:
        line, column = marks.at(path, key=key)
        issues.append(ManifestIssue(source, line, column, dotted(path), message))

    def report(error: Any) -> None:
        path: FieldPath = tuple(error.absolute_path)
        kind, schema, value = error.validator, error.schema, error.instance
        if kind in ("anyOf", "oneOf") and error.context:
            # A nullable field: explain the non-null alternative, which is what the user meant.
            alternatives = [e for e in error.context if e.schema.get("type") != "null"]
            report(best_match(alternatives or error.context))
        elif kind == "additionalProperties" and isinstance(value, dict):
            allowed = sorted(schema.get("properties", {}))
            for extra in sorted(set(value) - set(allowed), key=str):
                add((*path, extra), f"unknown field {_describe(extra)}; expected one of: {', '.join(allowed)}", key=True)
        elif kind == "required":
            for missing in schema["required"]:
                if isinstance(value, dict) and missing not in value:
                    add((*path, missing), f"missing required field {missing!r}")
        elif kind == "enum":
            options = ", ".join(str(o) for o in schema["enum"] if o is not None)
            add(path, f"expected one of {options}; got {_describe(value)}")
        elif kind == "const":
            add(path, f"expected {schema['const']!r}; got {_describe(value)}")
        elif kind == "type":
            wanted = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
            names = " or ".join(_TYPE_NAMES.get(t, t) for t in wanted)
            add(path, f"expected {names}; got {_describe(value)}")
        elif kind == "pattern" and "propertyNames" in error.schema_path:
            # A key of a mapping (an env variable name): point at the key itself.
            add((*path, value), f"expected {_PATTERNS.get(schema['pattern'], 'a name')}; got {_describe(value)}",
                key=True)
        elif kind == "pattern":
            what = _PATTERNS.get(schema["pattern"], "a value")
            add(path, f"expected {what}, matching {schema['pattern']}; got {_describe(value)}")
        elif kind in ("maxLength", "minLength"):
            limit = "at most" if kind == "maxLength" else "at least"
            add(path, f"expected {limit} {schema[kind]} characters; got {len(value)}")
        else:
            add(path, cut(error.message, 200))

    for error in sorted(validator().iter_errors(data), key=lambda e: list(map(str, e.absolute_path))):
        report(error)
    return list(dict.fromkeys(issues))  # jsonschema reports `required` once per missing field


def _model_issues(exc: ValidationError, marks: Marks, source: str) -> list[ManifestIssue]:
    issues = []
    for error in exc.errors():
        path = tuple(error["loc"])
        line, column = marks.at(path, key=error["type"] == "extra_forbidden")
        issues.append(ManifestIssue(source, line, column, dotted(path), cut(error["msg"], 200)))
    return issues


def _check_document(data: Any, marks: Marks, source: str) -> tuple[ProjectManifest | None, list[ManifestIssue]]:
    if not isinstance(data, dict):
        line, column = marks.at(())
        return None, [ManifestIssue(source, line, column, "", f"expected a mapping (a Project document); got {_describe(data)}")]
    issues = _schema_issues(data, marks, source)
    if issues:
        return None, issues
    try:
        manifest = ProjectManifest.model_validate(data)
    except ValidationError as exc:
        return None, _model_issues(exc, marks, source)
    for index, worker in enumerate(manifest.spec.workers):
        first = next(i for i, w in enumerate(manifest.spec.workers) if w.name == worker.name)
        if first != index:
            line, column = marks.at(("spec", "workers", first, "name"))
            where = ("spec", "workers", index, "name")
            issues.append(
                ManifestIssue(
                    source, *marks.at(where), dotted(where),
                    f"duplicate worker name {worker.name!r} (first declared at line {line}); names must be unique in a project",
                )
            )
    return (None if issues else manifest), issues


def _cross_document_issues(projects: list[LoadedProject]) -> list[ManifestIssue]:
    issues: list[ManifestIssue] = []
    names: dict[str, LoadedProject] = {}
    prefixes: dict[str, LoadedProject] = {}
    for project in projects:
        first = names.setdefault(project.name, project)
        if first is not project:
            line, _ = first.marks.at(("metadata", "name"))
            issues.append(
                project.issue(
                    ("metadata", "name"),
                    f"project {project.name!r} is declared twice (also at {first.source}:{line})",
                )
            )
            continue
        owner = prefixes.setdefault(project.manifest.prefix, project)
        if owner is not project:
            issues.append(prefix_collision(project, owner.name, f"{owner.source}:{owner.marks.at(prefix_path(owner))[0]}"))
    return issues


def prefix_path(project: LoadedProject) -> FieldPath:
    return ("spec", "sessionPrefix") if project.manifest.spec.sessionPrefix else ("metadata", "name")


def prefix_collision(project: LoadedProject, other: str, where: str) -> ManifestIssue:
    return project.issue(
        prefix_path(project),
        f"session prefix {project.manifest.prefix!r} is already used by project {other!r} ({where}); "
        "set a distinct spec.sessionPrefix",
    )


# ---------------------------------------------------------------- entry points


def load_text(text: str, source: str, base_dir: Path) -> tuple[list[LoadedProject], list[ManifestIssue]]:
    projects: list[LoadedProject] = []
    issues: list[ManifestIssue] = []
    for data, marks, found in read_documents(text, source):
        issues.extend(found)
        if data is None or found:
            continue  # empty document (a stray `---`) or broken YAML
        manifest, problems = _check_document(data, marks, source)
        issues.extend(problems)
        if manifest is not None:
            projects.append(LoadedProject(manifest, source, base_dir, marks))
    return projects, issues


def load_paths(paths: Iterable[str], *, stdin: TextIO | None = None) -> list[LoadedProject]:
    """Load every document from `paths`; raise ManifestError listing all problems if any."""
    paths = list(paths)
    files, issues = expand_paths(paths)
    projects: list[LoadedProject] = []
    for name in files:
        if name == STDIN:
            stream = stdin or sys.stdin
            raw = stream.buffer.read() if hasattr(stream, "buffer") else stream.read()
            source, base = STDIN_NAME, Path.cwd()
        else:
            try:
                raw = Path(name).read_bytes()
            except OSError as exc:
                issues.append(ManifestIssue(name, 0, 0, "", f"cannot read: {exc.strerror or exc}"))
                continue
            source, base = name, Path(name).resolve().parent
        text, problem = (raw, None) if isinstance(raw, str) else decode(raw, source)
        if problem is not None or text is None:
            issues.append(problem or ManifestIssue(source, 0, 0, "", "cannot read"))
            continue
        loaded, found = load_text(text, source, base)
        projects.extend(loaded)
        issues.extend(found)
    issues.extend(_cross_document_issues(projects))
    if not projects and not issues:
        issues.append(ManifestIssue(", ".join(paths) or "-", 0, 0, "", "no Project documents found"))
    if issues:
        raise ManifestError(sorted(issues, key=lambda i: (i.source, i.line, i.column)))
    return projects
