"""The checked-in JSON Schema: no drift from the pydantic models, and the same verdicts as pydantic."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from pydantic import ValidationError

from reconciler.manifest.loader import load_paths
from reconciler.manifest.models import ProjectManifest
from reconciler.manifest.schema import SCHEMA_FILE, schema_text
from reconciler.manifest.schema import validator as loader_validator

ROOT = Path(__file__).resolve().parents[2]
SCHEMA_PATH = ROOT / "manifests" / "schema" / "ao-v1.schema.json"
EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))

REGENERATE = "ao schema > manifests/schema/ao-v1.schema.json"


@pytest.fixture(scope="module")
def checked_in() -> dict[str, Any]:
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def validator(checked_in: dict[str, Any]) -> jsonschema.Draft202012Validator:
    """The checked-in schema, applied as the loader applies it.

    That is Draft 2020-12 with ECMA-262 `pattern` semantics (`$` is the very end of the text, as in
    editors), not Python's `re`, where `$` also matches before a final newline.
    """
    return type(loader_validator())(checked_in)


# ====================================================================== drift


def test_checked_in_schema_matches_the_models() -> None:
    assert SCHEMA_PATH.read_text(encoding="utf-8") == schema_text(), (
        f"{SCHEMA_FILE} is out of date with reconciler/manifest/models.py; regenerate it with:\n    {REGENERATE}"
    )


def test_schema_file_constant_names_the_checked_in_file() -> None:
    assert ROOT / SCHEMA_FILE == SCHEMA_PATH
    assert SCHEMA_FILE in REGENERATE


def test_ao_schema_prints_exactly_the_generated_schema(capsys: pytest.CaptureFixture[str]) -> None:
    # The regeneration command in the drift message must produce the file byte for byte.
    from reconciler.cli.system import schema

    schema()

    assert capsys.readouterr().out == schema_text()


def test_the_loader_validates_against_the_checked_in_schema(checked_in: dict[str, Any]) -> None:
    # So the verdicts below (taken with the checked-in file) are the loader's verdicts.
    assert loader_validator().schema == checked_in
    assert type(loader_validator()).META_SCHEMA == jsonschema.Draft202012Validator.META_SCHEMA


def test_checked_in_schema_is_a_valid_draft_2020_12_schema(checked_in: dict[str, Any]) -> None:
    assert checked_in["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(checked_in)
    assert jsonschema.validators.validator_for(checked_in) is jsonschema.Draft202012Validator


# ====================================================================== pydantic and jsonschema agree

MINIMAL = """\
apiVersion: ao/v1
kind: Project
metadata:
  name: shop
spec:
  repo: ../shop
"""

FULL = """\
apiVersion: ao/v1
kind: Project
metadata:
  name: online-shop
spec:
  repo: ~/src/shop
  defaultBranch: release/1.x
  sessionPrefix: shop
  runtime: zellij
  workspace: none
  agent:
    preset: claude-code
    command: [claude, --dangerously-skip-permissions]
    env: {ANTHROPIC_MODEL: opus, _PRIVATE: "1"}
  restartPolicy: Never
  orchestrator:
    enabled: false
    rules: |
      Keep workers small.
    agent: {preset: codex}
    restartPolicy: OnFailure
  workers:
    - name: login-bug
      issue: 123
      prompt: Fix the login redirect loop
      branch: fix/login
      agent: {command: [aider, --yes]}
      restartPolicy: Always
    - name: docs_v2.1
      issue: PROJ-7
      branch: null
      agent: null
      restartPolicy: null
"""


def raw(text: str) -> Any:
    """A raw document, exactly as the loader's YAML parser produces it."""
    return yaml.safe_load(text)


def with_spec(fragment: str) -> Any:
    """The minimal document with the YAML `fragment` merged into `spec`."""
    document = raw(MINIMAL)
    document["spec"].update(raw(fragment))
    return document


def with_top(**fields: Any) -> Any:
    """The minimal document with top-level fields replaced."""
    document = raw(MINIMAL)
    document.update(copy.deepcopy(fields))
    return document


def without(*path: str) -> Any:
    document = raw(MINIMAL)
    parent = document
    for key in path[:-1]:
        parent = parent[key]
    del parent[path[-1]]
    return document


def worker(fields: str) -> Any:
    """The minimal document with one worker `{name: w, <fields>}` (fields in YAML flow style)."""
    return with_spec(f"workers: [{{name: w, {fields}}}]" if fields else "workers: [{name: w}]")


VALID: list[Any] = [
    pytest.param(raw(MINIMAL), id="minimal"),
    pytest.param(raw(FULL), id="full"),
    pytest.param(worker("issue: 123"), id="issue-int"),
    pytest.param(worker("issue: 0"), id="issue-zero"),
    pytest.param(worker("issue: PROJ-7"), id="issue-key"),
    pytest.param(worker("issue: null"), id="issue-null"),
    pytest.param(worker("issue: 1.0"), id="issue-integral-float"),
    pytest.param(worker("issue: " + "9" * 200), id="issue-200-digits"),
    pytest.param(worker("prompt: " + "x" * 20000), id="prompt-20000"),
    pytest.param(worker("branch: " + "b" * 200), id="branch-200"),
    pytest.param(worker("agent: {preset: null, command: [bash, -l]}"), id="worker-agent-command-only"),
    pytest.param(with_spec("sessionPrefix: null"), id="sessionPrefix-null"),
    pytest.param(with_spec("workers: []"), id="no-workers"),
    pytest.param(with_spec("workspace: worktree"), id="workspace-worktree"),
    pytest.param(with_spec("workspace: none"), id="workspace-none"),
    pytest.param(with_spec("agent: {}"), id="empty-agent"),
    pytest.param(with_spec("agent: {env: {}}"), id="empty-env"),
    pytest.param(with_spec("orchestrator: {}"), id="empty-orchestrator"),
    pytest.param(with_spec("orchestrator: {agent: null, rules: null}"), id="orchestrator-nulls"),
    pytest.param(with_top(metadata={"name": "a"}), id="name-one-char"),
    pytest.param(with_top(metadata={"name": "a" * 40}), id="name-40-chars"),
    pytest.param(with_top(metadata={"name": "0-9"}), id="name-digits"),
    pytest.param(with_spec("workers: [{name: " + "w" * 64 + "}]"), id="worker-name-64-chars"),
    pytest.param(with_spec("workers: [{name: a}, {name: a}]"), id="duplicate-workers-are-the-loaders-job"),
]

INVALID: list[Any] = [
    # required fields
    pytest.param(without("apiVersion"), id="missing-apiVersion"),
    pytest.param(without("kind"), id="missing-kind"),
    pytest.param(without("metadata"), id="missing-metadata"),
    pytest.param(without("metadata", "name"), id="missing-name"),
    pytest.param(without("spec"), id="missing-spec"),
    pytest.param(without("spec", "repo"), id="missing-repo"),
    pytest.param(with_spec("workers: [{prompt: x}]"), id="missing-worker-name"),
    # unknown keys, at every level
    pytest.param(with_top(status={}), id="unknown-top-level"),
    pytest.param(with_top(metadata={"name": "shop", "labels": {}}), id="unknown-metadata"),
    pytest.param(with_spec("replicas: 2"), id="unknown-spec"),
    pytest.param(with_spec("agent: {model: opus}"), id="unknown-agent"),
    pytest.param(with_spec("orchestrator: {count: 1}"), id="unknown-orchestrator"),
    pytest.param(worker("priority: high"), id="unknown-worker"),
    # constants
    pytest.param(with_top(apiVersion="ao/v2"), id="apiVersion-v2"),
    pytest.param(with_top(apiVersion="v1"), id="apiVersion-v1"),
    pytest.param(with_top(kind="Deployment"), id="kind-deployment"),
    pytest.param(with_top(kind="project"), id="kind-lowercase"),
    # whole sections of the wrong type
    pytest.param(raw("[]"), id="list-document"),
    pytest.param(raw("hello"), id="scalar-document"),
    pytest.param(with_top(metadata="shop"), id="metadata-string"),
    pytest.param(with_top(spec=None), id="spec-null"),
    pytest.param(with_spec("workers: {}"), id="workers-mapping"),
    pytest.param(with_spec("workers: null"), id="workers-null"),
    pytest.param(with_spec("workers: [login-bug]"), id="worker-string"),
    pytest.param(with_spec("agent: null"), id="spec-agent-null"),
    pytest.param(with_spec("orchestrator: null"), id="orchestrator-null"),
    # names and patterns
    pytest.param(with_top(metadata={"name": "Shop"}), id="name-uppercase"),
    pytest.param(with_top(metadata={"name": "shop_1"}), id="name-underscore"),
    pytest.param(with_top(metadata={"name": "-shop"}), id="name-leading-dash"),
    pytest.param(with_top(metadata={"name": "shop-"}), id="name-trailing-dash"),
    pytest.param(with_top(metadata={"name": ""}), id="name-empty"),
    pytest.param(with_top(metadata={"name": "a" * 41}), id="name-41-chars"),
    pytest.param(with_top(metadata={"name": "café"}), id="name-non-ascii"),
    pytest.param(with_top(metadata={"name": 42}), id="name-number"),
    pytest.param(with_spec("sessionPrefix: Shop"), id="prefix-uppercase"),
    pytest.param(with_spec("defaultBranch: -main"), id="defaultBranch-leading-dash"),
    pytest.param(with_spec("defaultBranch: null"), id="defaultBranch-null"),
    pytest.param(with_spec("workers: [{name: Login Bug}]"), id="worker-name-space"),
    pytest.param(with_spec("workers: [{name: " + "w" * 65 + "}]"), id="worker-name-65-chars"),
    pytest.param(worker("branch: 'a b'"), id="branch-space"),
    pytest.param(worker("branch: " + "b" * 201), id="branch-201"),
    # enums
    pytest.param(with_spec("restartPolicy: always"), id="restartPolicy-lowercase"),
    pytest.param(with_spec("restartPolicy: null"), id="restartPolicy-null"),
    pytest.param(with_spec("runtime: docker"), id="runtime-docker"),
    pytest.param(with_spec("agent: {preset: vim}"), id="preset-unknown"),
    pytest.param(with_spec("orchestrator: {restartPolicy: null}"), id="orchestrator-restartPolicy-null"),
    pytest.param(worker("restartPolicy: Sometimes"), id="worker-restartPolicy"),
    # scalars of the wrong type
    pytest.param(with_spec("repo: ''"), id="repo-empty"),
    pytest.param(with_spec("repo: null"), id="repo-null"),
    pytest.param(with_spec("repo: 5"), id="repo-number"),
    pytest.param(with_spec("agent: {command: claude}"), id="command-string"),
    pytest.param(with_spec("agent: {command: ['']}"), id="command-empty-arg"),
    pytest.param(with_spec("agent: {command: [claude, 1]}"), id="command-number-arg"),
    pytest.param(with_spec("agent: {env: {PORT: 8080}}"), id="env-number-value"),
    pytest.param(with_spec("agent: {env: {A: null}}"), id="env-null-value"),
    pytest.param(with_spec("agent: {env: {1BAD: x}}"), id="env-name-digit"),
    pytest.param(with_spec("agent: {env: {A-B: x}}"), id="env-name-dash"),
    pytest.param(with_spec("agent: {env: [A=1]}"), id="env-list"),
    pytest.param(with_spec("orchestrator: {enabled: maybe}"), id="enabled-maybe"),
    pytest.param(with_spec("orchestrator: {rules: 5}"), id="rules-number"),
    pytest.param(worker("issue: true"), id="issue-bool"),
    pytest.param(worker("issue: 1.5"), id="issue-float"),
    pytest.param(worker("issue: [1]"), id="issue-list"),
    pytest.param(worker("prompt: 5"), id="prompt-number"),
    pytest.param(worker("prompt: " + "x" * 20001), id="prompt-20001"),
    pytest.param(worker("prompt: 2024-01-01"), id="prompt-date"),
    # formerly disagreements between the two validators, now rejected by both
    pytest.param(worker("issue: ''"), id="issue-empty"),
    pytest.param(worker("issue: " + "x" * 201), id="issue-201-chars"),
    pytest.param(with_top(metadata=raw("name: |\n  shop\n")), id="name-trailing-newline"),
    pytest.param(worker("branch: \"main\\n\""), id="branch-trailing-newline"),
    pytest.param(with_spec("orchestrator: {enabled: 1}"), id="enabled-one"),
    pytest.param(with_spec("orchestrator: {enabled: 'yes'}"), id="enabled-quoted-yes"),
    pytest.param(worker("prompt: !!binary aGk="), id="prompt-binary"),
    pytest.param(with_spec("agent: {env: {1: x}}"), id="env-integer-name"),
    # workspace
    pytest.param(with_spec("workspace: copy"), id="workspace-unknown"),
    pytest.param(with_spec("workspace: None"), id="workspace-capitalised-none"),
    pytest.param(with_spec("workspace: null"), id="workspace-null"),
]


def verdicts(document: Any, validator: jsonschema.Draft202012Validator) -> dict[str, bool]:
    try:
        ProjectManifest.model_validate(document)
        pydantic_ok = True
    except ValidationError:
        pydantic_ok = False
    return {"pydantic": pydantic_ok, "jsonschema": validator.is_valid(document)}


@pytest.mark.parametrize("document", VALID)
def test_valid_documents_are_accepted_by_both(document: Any, validator: jsonschema.Draft202012Validator) -> None:
    assert verdicts(document, validator) == {"pydantic": True, "jsonschema": True}, document


@pytest.mark.parametrize("document", INVALID)
def test_invalid_documents_are_rejected_by_both(document: Any, validator: jsonschema.Draft202012Validator) -> None:
    assert verdicts(document, validator) == {"pydantic": False, "jsonschema": False}, document


def test_the_tables_cover_both_outcomes() -> None:
    # Guards against a table silently becoming empty or one-sided.
    assert len(VALID) >= 10
    assert len(INVALID) >= 30


# ====================================================================== examples


def test_there_are_examples() -> None:
    assert EXAMPLES, "examples/*.yaml is empty"


@pytest.mark.parametrize("example", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_example_validates_against_the_checked_in_schema(
    example: Path, validator: jsonschema.Draft202012Validator
) -> None:
    documents = [d for d in yaml.safe_load_all(example.read_text(encoding="utf-8")) if d is not None]

    assert documents
    for document in documents:
        errors = [f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(document)]
        assert errors == []
        ProjectManifest.model_validate(document)


@pytest.mark.parametrize("example", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_example_loads(example: Path) -> None:
    assert load_paths([str(example)])
