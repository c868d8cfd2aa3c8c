"""YAML in, with bounded work: aliases may not expand a small file into a huge document.

PyYAML's `safe_load` shares an aliased node instead of copying it, so a 600-byte "billion
laughs" file loads at once; the cost comes later, when anything walks the data (a pydantic
dump, a JSON hash) and meets the same list 10^9 times. So the composed node graph is sized
here, counting every alias as the copy it will become, and refused before it is built.
"""

from __future__ import annotations

from typing import Any

import yaml

# nodes aliases may add on top of the document's own (a plain file is bounded by its size)
MAX_ALIAS_NODES = 10_000


class AliasBomb(yaml.YAMLError):
    """The document's aliases expand beyond `MAX_ALIAS_NODES` (or refer to themselves)."""


class BoundedLoader(yaml.SafeLoader):
    """`yaml.SafeLoader` that sizes the composed document before constructing it."""

    def get_single_node(self) -> Any:
        node = super().get_single_node()
        if node is not None:
            _check_expansion(node)
        return node


def _check_expansion(root: yaml.Node) -> None:
    expanded: dict[int, int] = {}  # id(node) -> nodes it becomes, aliases expanded
    open_: set[int] = set()

    def size(node: yaml.Node) -> int:
        key = id(node)
        if key in expanded:
            return expanded[key]
        if key in open_:
            raise AliasBomb("an alias refers to a node that contains it")
        open_.add(key)
        total = 1
        if isinstance(node, yaml.SequenceNode):
            total += sum(size(child) for child in node.value)
        elif isinstance(node, yaml.MappingNode):
            total += sum(size(k) + size(v) for k, v in node.value)
        open_.discard(key)
        expanded[key] = total
        return total

    # memoised: the walk costs the document's own nodes, whatever the aliases multiply
    if size(root) - len(expanded) > MAX_ALIAS_NODES:
        raise AliasBomb(f"aliases expand the document by more than {MAX_ALIAS_NODES} nodes")


def safe_load(text: str) -> Any:
    """`yaml.safe_load` with alias expansion bounded (raises `AliasBomb`, a YAMLError)."""
    return yaml.load(text, Loader=BoundedLoader)  # a SafeLoader subclass: no arbitrary tags
