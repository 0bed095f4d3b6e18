"""Reading one YAML file, the one way the package does it. Imports nothing else from the package.

libyaml's safe loader when PyYAML was built with it (ten times faster than the pure one), else the
pure safe loader. Every failure (missing file, bad encoding, bad YAML) becomes the caller's own
error, so each loader keeps its own error type and wording while the reading happens here.

libyaml parses, but PyYAML still builds each value in Python, through a generator per collection
and its bookkeeping: a third of reading the spec at start-up. `Loader` gives the same values faster:
a document of plain data (strings, numbers, booleans, nulls, timestamps, binary, lists and maps,
aliases included) is built by one walk of the parsed nodes; anything else (merge keys, sets,
ordered maps, a node inside itself, an unhashable key, a constructor someone registered for a plain
tag) is left to PyYAML's own construction, which gives its values and its errors.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

SAFE_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

_STR, _SEQ, _MAP = "tag:yaml.org,2002:str", "tag:yaml.org,2002:seq", "tag:yaml.org,2002:map"
#: The scalar tags whose safe constructor is a function of the node alone (no generator, no state). The
#: keys `SafeConstructor.flatten_mapping` rewrites (``<<``, ``=``) have other tags: their maps are PyYAML's.
_SCALARS = frozenset({"tag:yaml.org,2002:null", "tag:yaml.org,2002:bool", "tag:yaml.org,2002:int",
                      "tag:yaml.org,2002:float", "tag:yaml.org,2002:binary", "tag:yaml.org,2002:timestamp"})
#: The constructors the walk stands in for: with any other registered for these tags, PyYAML builds.
_STOCK = {_STR: SafeConstructor.construct_yaml_str, _SEQ: SafeConstructor.construct_yaml_seq,
          _MAP: SafeConstructor.construct_yaml_map}


class _LeftToPyYAML(Exception):
    """A node the plain walk does not build (PyYAML's own construction then builds the document)."""


class Loader(SAFE_LOADER):  # type: ignore[valid-type,misc]  # a class chosen at import
    """`SAFE_LOADER`, giving the same values (and errors) in less time: see the module's text."""

    def construct_document(self, node: Node) -> Any:
        if all(self.yaml_constructors.get(tag) is stock for tag, stock in _STOCK.items()):
            try:
                return self._plain(node, {}, set())
            except _LeftToPyYAML:
                pass
        return super().construct_document(node)

    def _plain(self, node: Node, built: dict[int, Any], open_nodes: set[int]) -> Any:
        """The value of ``node``, as PyYAML's safe constructor would build it; each node (an alias is the
        same node again) built once, so that aliases share their value as they do there."""
        tag = node.tag
        if tag == _STR and type(node) is ScalarNode:
            return node.value
        key = id(node)
        if key in built:
            return built[key]
        if key in open_nodes:  # a collection inside itself
            raise _LeftToPyYAML
        value: Any
        if type(node) is ScalarNode and tag in _SCALARS:
            value = self.yaml_constructors[tag](self, node)
        elif type(node) is SequenceNode and tag == _SEQ:
            open_nodes.add(key)
            value = [self._plain(item, built, open_nodes) for item in node.value]
            open_nodes.discard(key)
        elif type(node) is MappingNode and tag == _MAP:
            open_nodes.add(key)
            value = {}
            for key_node, value_node in node.value:
                name = self._plain(key_node, built, open_nodes)
                if not isinstance(name, Hashable):
                    raise _LeftToPyYAML
                value[name] = self._plain(value_node, built, open_nodes)
            open_nodes.discard(key)
        else:
            raise _LeftToPyYAML
        built[key] = value
        return value


def read_yaml(path: Path, error: Callable[[str], Exception]) -> Any:
    """The document in ``path``; on any failure, raise ``error(reason)`` (the reason names the line
    and column for a YAML syntax error)."""
    try:
        return yaml.load(path.read_text(encoding="utf-8"), Loader=Loader)
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise error(str(exc)) from None
