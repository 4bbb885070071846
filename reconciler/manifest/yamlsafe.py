"""A YAML loader that is safe against hostile input: bounded depth, bounded alias expansion,
no control characters, no huge integers, and YAML 1.2 booleans (only true/false).

Every refusal is a `yaml.MarkedYAMLError` carrying the position of the offending node, so the
manifest loader reports it as `file:line:col: ...` like any other syntax error.
"""

from __future__ import annotations

import re
from typing import Any

import yaml
from yaml.composer import Composer
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.error import Mark, MarkedYAMLError
from yaml.parser import Parser
from yaml.reader import Reader
from yaml.resolver import Resolver
from yaml.scanner import Scanner

# Manifests are a few levels deep; far past that is an attack or an accident, and would
# exhaust Python's recursion limit in the composer, the validators or the position indexer.
MAX_DEPTH = 64
# Nodes of a document once every alias is expanded. Walking the expansion (indexer, schema,
# models) is what made a 600-byte alias bomb cost seconds and gigabytes.
MAX_EXPANDED_NODES = 200_000
# Digits of an integer scalar: int("9"*5000) raises, and nothing in a manifest needs more.
MAX_INT_CHARS = 40

_NON_PRINTABLE = Reader.NON_PRINTABLE  # what the YAML reader refuses (controls, NUL, surrogates)


class YAMLLimitError(MarkedYAMLError):
    """Input that is syntactically YAML but refused by one of the limits above."""


def position(text: str, index: int) -> tuple[int, int]:
    """1-based (line, column) of character `index` in `text`."""
    line = text.count("\n", 0, index) + 1
    return line, index - (text.rfind("\n", 0, index) + 1) + 1


def _mark(text: str, index: int) -> Mark:
    line, column = position(text, index)
    return Mark("<input>", index, line - 1, column - 1, None, None)


def check_printable(text: str) -> None:
    """Refuse characters YAML does not allow, with their position (PyYAML's own error has none)."""
    found = _NON_PRINTABLE.search(text)
    if found:
        char = found.group()
        raise YAMLLimitError(
            None, None,
            f"control character U+{ord(char):04X} is not allowed in YAML; remove it or write it as an escape "
            'inside a double-quoted string ("\\x01")',
            _mark(text, found.start()),
        )


class _LimitedScanner(Scanner):
    """Refuses flow collections (`[`, `{`) nested past MAX_DEPTH as it reads them: while one is open,
    the scanner reads ahead and checks every open level per token, so `[` x 20000 cost seconds
    before the composer ever saw the depth."""

    def fetch_flow_collection_start(self, TokenClass: Any) -> None:  # noqa: N803 - PyYAML's name
        if self.flow_level >= MAX_DEPTH:
            raise YAMLLimitError(None, None, f"nesting deeper than {MAX_DEPTH} levels", self.get_mark())
        super().fetch_flow_collection_start(TokenClass)


class _LimitedComposer(Composer):
    _depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                event = self.peek_event()
                raise YAMLLimitError(None, None, f"nesting deeper than {MAX_DEPTH} levels", event.start_mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def check_expansion(root: yaml.Node) -> None:
    """Refuse a document that refers to itself through an alias, or whose expansion is too big.

    Sizes are memoised per node, so this costs the number of distinct nodes, not the expansion."""
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()

    def size(node: yaml.Node) -> int:
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in open_nodes:
            raise YAMLLimitError(None, None, "an alias refers to a node that contains it (a cycle)", node.start_mark)
        total = 1
        if isinstance(node, (yaml.MappingNode, yaml.SequenceNode)):
            open_nodes.add(key)
            children = (c for pair in node.value for c in pair) if isinstance(node, yaml.MappingNode) else node.value
            for child in children:
                total += size(child)
                if total > MAX_EXPANDED_NODES:
                    raise YAMLLimitError(
                        None, None,
                        f"aliases expand this document past {MAX_EXPANDED_NODES} nodes; write the values out",
                        node.start_mark,
                    )
            open_nodes.discard(key)
        sizes[key] = total
        return total

    size(root)


class _Yaml12Resolver(Resolver):
    """YAML 1.2 booleans: `yes`, `no`, `on`, `off` stay strings, so strict fields refuse them."""


_Yaml12Resolver.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in Resolver.yaml_implicit_resolvers.items()
}
_Yaml12Resolver.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


class _SafeConstructor(SafeConstructor):
    def construct_yaml_int(self, node: yaml.ScalarNode) -> int:
        if len(str(node.value)) > MAX_INT_CHARS:
            raise ConstructorError(
                None, None, f"integer of {len(str(node.value))} characters is too long (at most {MAX_INT_CHARS})",
                node.start_mark,
            )
        return super().construct_yaml_int(node)


_SafeConstructor.add_constructor("tag:yaml.org,2002:int", _SafeConstructor.construct_yaml_int)


class HardenedLoader(Reader, _LimitedScanner, Parser, _LimitedComposer, _SafeConstructor, _Yaml12Resolver):
    def __init__(self, text: str) -> None:
        check_printable(text)
        Reader.__init__(self, text)
        _LimitedScanner.__init__(self)
        Parser.__init__(self)
        _LimitedComposer.__init__(self)
        _SafeConstructor.__init__(self)
        _Yaml12Resolver.__init__(self)
