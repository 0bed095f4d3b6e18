"""Merge the five upstream OpenAPI 3.1 subsets of the Recoup API into one document, ``merged.json``.

    python tests/data/upstream/merge.py DIRECTORY [--output PATH]

DIRECTORY holds the upstream files (``shared/reference/openapi-upstream`` beside the checkout);
PATH defaults to ``merged.json`` next to this script. The standard library only, and the same bytes
for the same files (sorted keys where the order carries no meaning, two-space JSON, one final newline).

The rules:

- **Files** are the five of `SOURCES`, in that order, and only those: a missing one, or another
  ``*.json`` in DIRECTORY, is an error (a new file needs its place in the order). Each must be
  OpenAPI 3.1.
- **Operations.** Every operation (path and method) of every file is kept. One that two files define
  is taken from the file earlier in `SOURCES`: ``research.chat-subset.json``'s ``POST /api/chat``
  (the sandbox-driven stream) wins over ``chats.legacy-chat-subset.json``'s (the legacy
  prompt/messages stream), whose other operation (``POST /api/chat/generate``) is kept. Each
  operation says where it came from (``x-upstream-file``).
- **Security.** A file's top-level ``security`` is copied into each of its operations that has none
  of its own (the merged document has no top-level ``security``: the files disagree).
  ``components.securitySchemes`` are unioned by name; the same name with other content is an error.
- **Components** of the same kind and name in several files: kept once when their content is the
  same (after the renaming below, so a schema that refers to a renamed one is itself different);
  otherwise each file's version is renamed ``<Prefix>_<Name>`` (the prefix of its file in `SOURCES`)
  and every ``$ref`` of that file to it is rewritten. A file may refer to a component it does not
  define (the workflow-path subset uses the research document's): that reference is to the merged
  component of that name, and an error when that name was renamed (it would be ambiguous) or does
  not exist.
- **Dropped:** ``servers`` (top level, path items, operations): the merged document is test data,
  not an API to call. Path-item ``parameters`` move into the operations (an operation's own
  parameter of the same name and place wins), as they may come from several files.
- ``info`` is the merged document's own; ``x-upstream-sources`` lists each file: its title, its
  SHA-256, its operations, and those taken from an earlier file instead (``superseded``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

#: The files, in precedence order (an operation two of them define is taken from the earlier one), and
#: the prefix their components get when another file has a different component of the same name.
SOURCES: tuple[tuple[str, str], ...] = (
    ("research.chat-subset.json", "Research"),
    ("research.chat-workflow-path-2026-05.subset.json", "ResearchWorkflowPath"),
    ("sessions.json", "Sessions"),
    ("sandbox.json", "Sandbox"),
    ("chats.legacy-chat-subset.json", "LegacyChat"),
)
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
#: Component kinds, in the order OpenAPI 3.1 lists them.
KINDS = ("schemas", "responses", "parameters", "examples", "requestBodies", "headers", "securitySchemes", "links",
         "callbacks", "pathItems")
REF = re.compile(r"^#/components/([^/]+)/([^/]+)(/.*)?$")
TOP_LEVEL = {"openapi", "info", "servers", "security", "paths", "components", "tags"}
PATH_ITEM = {*METHODS, "parameters", "servers", "summary", "description"}
OUTPUT = Path(__file__).resolve().with_name("merged.json")


class MergeError(Exception):
    """The files cannot be merged by these rules; the message says which file and what."""


def merge(directory: Path) -> dict[str, Any]:
    """The merged document of the files in ``directory``."""
    files = _read(directory)
    renamed = _conflicts(files)
    merged_components: dict[str, dict[str, Any]] = {}
    for name, _prefix in SOURCES:
        document = files[name]
        for kind, items in (document.get("components") or {}).items():
            for component, content in items.items():
                target = _renamed_name(renamed, name, kind, component)
                value = _rewrite(content, name, renamed, files)
                existing = merged_components.setdefault(kind, {}).setdefault(target, value)
                if existing != value:
                    raise MergeError(f"{name}: components.{kind}.{target} differs from another file's "
                                     + ("(security schemes are unioned by name, and must agree)"
                                        if kind == "securitySchemes" else "(a bug of the renaming)"))
    paths: dict[str, dict[str, Any]] = {}
    sources: list[dict[str, Any]] = []
    for name, _prefix in SOURCES:
        document = files[name]
        defined, superseded = [], []
        for path, item in document["paths"].items():
            for method, operation in _operations(name, path, item, document):
                defined.append(f"{method.upper()} {path}")
                if method in paths.setdefault(path, {}):
                    superseded.append(f"{method.upper()} {path}")
                    continue
                paths[path][method] = _rewrite(operation, name, renamed, files)
        sources.append({"file": name, "title": document["info"]["title"],
                        "sha256": hashlib.sha256((directory / name).read_bytes()).hexdigest(),
                        "operations": defined, "superseded": superseded})
    merged: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {
            "title": "Recoup API (upstream subsets, merged)",
            "version": " + ".join(sorted({str(files[name]["info"]["version"]) for name, _ in SOURCES})),
            "summary": "Test data: five upstream OpenAPI 3.1 documents of the Recoup API, merged into one.",
            "description": "Made by tests/data/upstream/merge.py (see its docstring for the rules) from the files "
                           "listed in x-upstream-sources. Not recoup-mock's contract: that is openapi/chat.yaml.",
            "license": {"name": "MIT"},
        },
        "paths": {path: {method: paths[path][method] for method in METHODS if method in paths[path]}
                  for path in sorted(paths)},
        "components": {kind: dict(sorted(merged_components[kind].items())) for kind in KINDS
                       if kind in merged_components},
        "x-upstream-sources": sources,
    }
    tags: dict[str, Any] = {}
    for name, _prefix in SOURCES:
        for tag in files[name].get("tags", []):
            tags.setdefault(tag["name"], tag)  # the first file's description of a tag wins
    if tags:
        merged["tags"] = list(tags.values())
    _check_references(merged)
    return merged


def render(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


# ---------------------------------------------------------------------------------------- reading
def _read(directory: Path) -> dict[str, dict[str, Any]]:
    if not directory.is_dir():
        raise MergeError(f"{directory} is not a directory (expected the one holding {', '.join(_names())})")
    present = {path.name for path in directory.glob("*.json")}
    missing = [name for name in _names() if name not in present]
    unknown = sorted(present - set(_names()))
    if missing:
        raise MergeError(f"{directory}: missing {', '.join(missing)} (expected {', '.join(_names())})")
    if unknown:
        raise MergeError(f"{directory}: {', '.join(unknown)} is not one of the merged files; give it a place in "
                         "SOURCES (merge.py) first")
    files: dict[str, dict[str, Any]] = {}
    for name in _names():
        try:
            document = json.loads((directory / name).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise MergeError(f"{name}: cannot be read as JSON ({exc})") from None
        if not isinstance(document, dict) or not str(document.get("openapi", "")).startswith("3.1."):
            raise MergeError(f"{name}: expected an OpenAPI 3.1 document, it says openapi: {document.get('openapi')!r}")
        extra = set(document) - TOP_LEVEL
        if extra:
            raise MergeError(f"{name}: top-level {', '.join(sorted(extra))} not handled by merge.py")
        files[name] = document
    return files


def _names() -> list[str]:
    return [name for name, _ in SOURCES]


def _operations(name: str, path: str, item: dict[str, Any], document: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    """The operations of a path item, each with the file's security and the item's parameters moved in."""
    extra = set(item) - PATH_ITEM
    if extra:
        raise MergeError(f"{name}: path {path} has {', '.join(sorted(extra))}, not handled by merge.py")
    shared = item.get("parameters", [])
    for method in METHODS:
        if method not in item:
            continue
        operation = {key: value for key, value in item[method].items() if key != "servers"}
        if "security" not in operation and "security" in document:
            operation["security"] = document["security"]
        if shared:
            own = {(p.get("name"), p.get("in")) for p in operation.get("parameters", []) if "$ref" not in p}
            operation["parameters"] = [*(p for p in shared if (p.get("name"), p.get("in")) not in own),
                                       *operation.get("parameters", [])]
        operation["x-upstream-file"] = name
        yield method, operation


# ---------------------------------------------------------------------------------------- components
def _conflicts(files: dict[str, dict[str, Any]]) -> set[tuple[str, str]]:
    """The (kind, name) of every component two files define differently, renaming included: a component
    whose references point at renamed ones differs too, so this runs until nothing changes."""
    defined: dict[tuple[str, str], list[str]] = {}
    for name in _names():
        for kind, items in (files[name].get("components") or {}).items():
            for component in items:
                defined.setdefault((kind, component), []).append(name)
    shared = {key: owners for key, owners in defined.items() if len(owners) > 1 and key[0] != "securitySchemes"}
    renamed: set[tuple[str, str]] = set()
    while True:
        found = set()
        for (kind, component), owners in shared.items():
            versions = {json.dumps(_rewrite(files[owner]["components"][kind][component], owner, renamed, files),
                                   sort_keys=True) for owner in owners}
            if (kind, component) not in renamed and len(versions) > 1:
                found.add((kind, component))
        if not found:
            return renamed
        renamed |= found


def _prefix(name: str) -> str:
    return dict(SOURCES)[name]


def _renamed_name(renamed: set[tuple[str, str]], name: str, kind: str, component: str) -> str:
    return f"{_prefix(name)}_{component}" if (kind, component) in renamed else component


def _rewrite(node: Any, name: str, renamed: set[tuple[str, str]], files: dict[str, dict[str, Any]]) -> Any:
    """A copy of ``node`` (from file ``name``) whose component references follow the renaming."""
    own = files[name].get("components") or {}

    def ref(value: str) -> str:
        match = REF.match(value)
        if match is None:
            return value
        kind, component, rest = match.group(1), match.group(2), match.group(3) or ""
        if (kind, component) not in renamed:
            return value
        if component not in (own.get(kind) or {}):
            raise MergeError(f"{name} refers to components.{kind}.{component}, which it does not define and which "
                             "other files define differently: which one it means is not known")
        return f"#/components/{kind}/{_renamed_name(renamed, name, kind, component)}{rest}"

    if isinstance(node, dict):
        copied = {key: _rewrite(value, name, renamed, files) for key, value in node.items()}
        if isinstance(node.get("$ref"), str):
            copied["$ref"] = ref(node["$ref"])
        mapping = node.get("discriminator", {}).get("mapping") if isinstance(node.get("discriminator"), dict) else None
        if isinstance(mapping, dict):
            copied["discriminator"]["mapping"] = {key: ref(value) for key, value in mapping.items()}
        return copied
    if isinstance(node, list):
        return [_rewrite(value, name, renamed, files) for value in node]
    return node


def _check_references(document: dict[str, Any]) -> None:
    """Every ``#/components/...`` reference of the merged document resolves, and every security requirement
    names a scheme it has."""
    components = document.get("components", {})
    schemes = components.get("securitySchemes", {})

    def walk(node: Any, where: str) -> None:
        if isinstance(node, dict):
            value = node.get("$ref")
            if isinstance(value, str) and (match := REF.match(value)) is not None \
                    and match.group(2) not in components.get(match.group(1), {}):
                raise MergeError(f"{where}: {value} does not resolve in the merged document")
            for key, child in node.items():
                walk(child, f"{where}/{key}")
        elif isinstance(node, list):
            for index, child in enumerate(node):
                walk(child, f"{where}/{index}")

    walk(document, "#")
    for path, item in document["paths"].items():
        for method, operation in item.items():
            for requirement in operation.get("security", []):
                unknown = set(requirement) - set(schemes)
                if unknown:
                    raise MergeError(f"{method.upper()} {path} ({operation['x-upstream-file']}) requires "
                                     f"{', '.join(sorted(unknown))}, which no file defines")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Merge the upstream OpenAPI subsets of the Recoup API.")
    parser.add_argument("directory", type=Path, help="the directory holding the upstream files")
    parser.add_argument("--output", type=Path, default=OUTPUT, help=f"where to write (default: {OUTPUT.name} "
                                                                      "next to this script)")
    args = parser.parse_args(argv)
    try:
        text = render(merge(args.directory))
    except MergeError as exc:
        print(f"merge.py: {exc}", file=sys.stderr)
        return 2
    args.output.write_text(text, encoding="utf-8")
    print(f"merge.py: wrote {args.output} ({text.count(chr(10))} lines)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
