"""The JSON Schema of `ao/v1` manifests, generated from the pydantic models.

The generated schema is checked in under manifests/schema/ so that editors and CI can use it;
a test fails when the two drift apart. Nullable fields are written as `type: [T, "null"]`
rather than `anyOf`, which keeps validation messages short and readable.
"""

from __future__ import annotations

import functools
import json
from typing import Any

from pydantic.json_schema import GenerateJsonSchema

from .models import ProjectManifest

SCHEMA_ID = "https://ao.dev/schema/ao-v1.schema.json"
SCHEMA_FILE = "manifests/schema/ao-v1.schema.json"


class _Generator(GenerateJsonSchema):
    def nullable_schema(self, schema: Any) -> dict[str, Any]:
        inner = self.generate_inner(schema["schema"])
        kind = inner.get("type")
        if isinstance(kind, str):
            return {**inner, "type": [kind, "null"]}
        if isinstance(kind, list):
            return inner if "null" in kind else {**inner, "type": [*kind, "null"]}
        if "enum" in inner:
            return {**inner, "enum": [*inner["enum"], None]}
        return {"anyOf": [inner, {"type": "null"}]}

    def field_title_should_be_set(self, schema: Any) -> bool:
        return False


@functools.cache
def project_schema() -> dict[str, Any]:
    schema = ProjectManifest.model_json_schema(schema_generator=_Generator)
    schema.pop("title", None)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "ao Project manifest (apiVersion ao/v1)",
        **schema,
    }


def schema_text() -> str:
    return json.dumps(project_schema(), indent=2, sort_keys=True) + "\n"


def _pattern(validator: Any, pattern: str, instance: Any, schema: Any) -> Any:
    """`pattern` with ECMA-262 semantics, as editors apply it: `$` is the very end of the text.

    Python's `$` also matches before a final newline, which would accept "shop\n" as a name.
    """
    import re

    from jsonschema.exceptions import ValidationError

    if isinstance(instance, str) and not re.search(re.sub(r"\$$", r"\\Z", pattern), instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


@functools.cache
def validator() -> Any:
    import jsonschema

    checker = jsonschema.validators.extend(jsonschema.Draft202012Validator, {"pattern": _pattern})
    return checker(project_schema())
