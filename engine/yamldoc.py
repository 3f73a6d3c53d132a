"""YAML documents with line numbers: rule packs, clinic profiles and vignettes are read here.

One reading gives both the data and where each part of it was written:

- :func:`parse_yaml` parses safely (libyaml's safe loader when available; no Python objects,
  dates stay strings), refuses non-string and duplicate keys, bounds what aliases can expand to
  (:func:`check_yaml_node`), and returns mappings and lists that remember their lines.
- :func:`line_of` finds the line of a path (``["rules", 3, "when"]``) in such a document, or of
  its nearest enclosing entry; :func:`line_paths` lists the line of every path.
- :func:`check_schema` validates a document against a JSON Schema and raises
  :class:`RulesetError` at the line of the offending entry (of a stray key, when there is one).

Every problem is a :class:`RulesetError` naming the file and the line.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from .errors import RulesetError

__all__ = [
    "MAX_YAML_DEPTH",
    "MAX_YAML_VALUES",
    "LineDict",
    "LineList",
    "best_error",
    "check_schema",
    "check_yaml_node",
    "line_of",
    "line_paths",
    "line_table",
    "parse_yaml",
    "read_text",
    "read_yaml",
    "schema_message",
]


class LineDict(dict[str, Any]):
    """A mapping that remembers its own line and the line of each key (1-based)."""

    line: int = 0
    key_lines: dict[str, int]


class LineList(list[Any]):
    """A list that remembers its own line and the line of each item (1-based)."""

    line: int = 0
    item_lines: list[int]


class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """Safe loader (libyaml's when available) that records line numbers; no Python objects."""


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> LineDict:
    loader.flatten_mapping(node)
    out = LineDict()
    out.line = node.start_mark.line + 1
    out.key_lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, str):
            raise RulesetError(
                f"keys must be strings, got {key!r}", line=key_node.start_mark.line + 1
            )
        if key in out:
            raise RulesetError(f"duplicate key {key!r}", line=key_node.start_mark.line + 1)
        out[key] = loader.construct_object(value_node, deep=True)
        out.key_lines[key] = key_node.start_mark.line + 1
    return out


def _construct_sequence(loader: _Loader, node: yaml.SequenceNode) -> LineList:
    out = LineList(loader.construct_object(child, deep=True) for child in node.value)
    out.line = node.start_mark.line + 1
    out.item_lines = [child.start_mark.line + 1 for child in node.value]
    return out


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)
# Dates stay strings: the schemas check their format.
_Loader.yaml_implicit_resolvers = {
    k: [(tag, rx) for tag, rx in v if tag != "tag:yaml.org,2002:timestamp"]
    for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()
}

#: Deepest nesting of mappings and lists a pack or profile may have (the built-in packs need
#: 10; the rules core takes any/all 15 levels deep, about 40 YAML levels).
MAX_YAML_DEPTH = 64
#: Most values a document may hold once its aliases are expanded (built-in packs: < 10,000).
MAX_YAML_VALUES = 200_000


def check_yaml_node(root: yaml.Node, origin: str) -> None:
    """Refuse a composed YAML document whose aliases expand past :data:`MAX_YAML_VALUES`
    values ("billion laughs": 7 levels of aliases in 780 bytes make 10 million), an alias
    inside the node it names (a loop), or nesting deeper than :data:`MAX_YAML_DEPTH`.

    Aliases are the same node in the composed graph: each node's expanded size is counted once
    and reused, never expanded (linear in the text). Raises :class:`RulesetError` with the
    line. (The journal has its own check, which refuses every alias: ``adapters/journal.py``.)
    """
    sizes: dict[yaml.Node, int] = {}
    path: set[yaml.Node] = set()
    scalar, mapping = yaml.ScalarNode, yaml.MappingNode

    def fail(message: str, node: yaml.Node) -> RulesetError:
        return RulesetError(message, file=origin, line=node.start_mark.line + 1)

    def size(node: yaml.Node, depth: int) -> int:
        if type(node) is scalar:
            return 1
        if depth >= MAX_YAML_DEPTH:
            raise fail(f"nested more than {MAX_YAML_DEPTH} levels deep", node)
        known = sizes.get(node)
        if known is not None:
            return known
        if node in path:
            raise fail("a YAML alias refers to the node it is in (a loop)", node)
        path.add(node)
        children = [c for kv in node.value for c in kv] if type(node) is mapping else node.value
        total = 1 + sum(1 if type(c) is scalar else size(c, depth + 1) for c in children)
        path.discard(node)
        if total > MAX_YAML_VALUES:
            raise fail(
                f'YAML aliases expand this part past {MAX_YAML_VALUES:,} values (a "billion '
                'laughs"): write the entries out, or use fewer aliases',
                node,
            )
        sizes[node] = total
        return total

    size(root, 0)


def parse_yaml(text: str, origin: str) -> Any:
    """Parse YAML safely; mappings and lists remember their lines. Bad YAML:
    :class:`RulesetError`.

    The document is composed, bounded (:func:`check_yaml_node`: aliases, loops, depth), and
    only then built.
    """
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        check_yaml_node(node, origin)
        return loader.construct_document(node)
    except RecursionError:
        raise RulesetError("nested too deeply", file=origin) from None
    except RulesetError as exc:
        raise RulesetError(exc.reason, file=origin, line=exc.line) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        raise RulesetError(
            f"not valid YAML: {exc.problem}", file=origin, line=mark.line + 1 if mark else None
        ) from None
    except yaml.YAMLError as exc:
        raise RulesetError(f"not valid YAML: {exc}", file=origin) from None
    finally:
        loader.dispose()


def read_text(path: Path) -> str:
    """A file's UTF-8 text; :class:`RulesetError` naming the file if it cannot be read."""
    try:
        return path.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RulesetError(f"cannot read: {exc}", file=str(path)) from None


def read_yaml(path: Path) -> Any:
    """Read and parse a YAML file (see :func:`parse_yaml`)."""
    return parse_yaml(read_text(path), str(path))


def line_of(doc: Any, path: Iterable[Any]) -> int | None:
    """The line of ``path`` in a parsed document, or of its nearest enclosing entry."""
    line = getattr(doc, "line", None)
    node = doc
    for part in path:
        if isinstance(node, LineDict) and isinstance(part, str) and part in node:
            line = node.key_lines.get(part, line)
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            if isinstance(node, LineList):
                line = node.item_lines[part]
            node = node[part]
        else:
            break
    return line


def line_paths(doc: Any) -> dict[tuple[Any, ...], int]:
    """The line of every key and list item of a parsed document, by path (keys and indexes)."""
    out: dict[tuple[Any, ...], int] = {}

    def walk(node: Any, path: tuple[Any, ...]) -> None:
        if isinstance(node, LineDict):
            for key, value in node.items():
                out[(*path, key)] = node.key_lines[key]
                walk(value, (*path, key))
        elif isinstance(node, LineList):
            for i, value in enumerate(node):
                out[(*path, i)] = node.item_lines[i]
                walk(value, (*path, i))

    walk(doc, ())
    return out


def line_table(doc: Any) -> dict[str, int]:
    """:func:`line_paths` keyed by ``/``-joined path (``"own_packs/0"``)."""
    return {"/".join(map(str, path)): line for path, line in line_paths(doc).items()}


def best_error(errors: list[Any]) -> Any:
    """The JSON Schema error most worth showing."""
    import jsonschema

    return jsonschema.exceptions.best_match(errors) or errors[0]


def schema_message(err: Any) -> str:
    """A JSON Schema error in a line or two."""
    msg = str(err.message)
    if err.validator == "oneOf" and isinstance(err.instance, dict):
        return f"not a valid entry here ({msg[:150]})"
    return msg[:300]


def check_schema(doc: Any, validator: Any, origin: str) -> None:
    """Validate a parsed document; the first error raises :class:`RulesetError` at its line
    (at the stray key itself when the error is an unknown key)."""
    errors = sorted(validator.iter_errors(doc), key=lambda e: len(list(e.absolute_path)))
    if not errors:
        return
    err = best_error(errors)
    path = list(err.absolute_path)
    where = "/".join(str(p) for p in path) or "(top level)"
    line = line_of(doc, path)
    if err.validator == "additionalProperties" and isinstance(err.instance, dict):
        known = err.schema.get("properties", {})
        extra = [k for k in err.instance if k not in known]
        line = line_of(doc, [*path, extra[0]]) if extra else line  # point at the stray key
    raise RulesetError(f"{where}: {schema_message(err)}", file=origin, line=line)
