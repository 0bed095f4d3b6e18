"""tests/data/upstream/merged.json, the five upstream OpenAPI 3.1 subsets merged by merge.py: a valid
3.1 document with every operation of the five, the same bytes when regenerated from the upstream
files (when ../shared/reference/openapi-upstream is beside the checkout), the merge rules on small
made-up files, and the suite reading it with ``--spec``."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from openapi_spec_validator import OpenAPIV31SpecValidator, validate

from mockserver.contracts.document import SCHEMAS, builtin_stream_schemas, load_schema
from mockserver.contracts.options import ContractOptions
from mockserver.contracts.phases import flow_config

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data" / "upstream"
MERGED = DATA / "merged.json"
#: Where CI (and a machine laid out like it) has the upstream files: beside the checkout, read-only.
UPSTREAM = ROOT.parent / "shared" / "reference" / "openapi-upstream"


def _merge_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("upstream_merge", DATA / "merge.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


merge_py = _merge_module()


def merged() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(MERGED.read_text(encoding="utf-8"))
    return document


def _labels(document: dict[str, Any]) -> set[str]:
    return {f"{method.upper()} {path}" for path, item in document["paths"].items() for method in item
            if method in merge_py.METHODS}


def test_merged_json_is_valid_openapi_3_1_with_every_operation_of_the_five_files() -> None:
    document = merged()
    validate(document, cls=OpenAPIV31SpecValidator)
    assert document["openapi"] == "3.1.0" and "servers" not in document and "security" not in document
    sources = document["x-upstream-sources"]
    assert [source["file"] for source in sources] == [name for name, _ in merge_py.SOURCES]
    for source in sources:
        for label in source["operations"]:
            method, path = label.split(" ", 1)
            operation = document["paths"][path][method.lower()]
            if label not in source["superseded"]:
                assert operation["x-upstream-file"] == source["file"], label
    assert _labels(document) == {label for source in sources for label in source["operations"]}
    # research.chat-subset.json's POST /api/chat (the sandbox-driven stream) wins over the legacy one.
    assert document["paths"]["/api/chat"]["post"]["x-upstream-file"] == "research.chat-subset.json"
    assert [source["superseded"] for source in sources] == [[], [], [], [], ["POST /api/chat"]]
    assert "POST /api/chat/generate" in _labels(document)


@pytest.mark.skipif(not UPSTREAM.is_dir(), reason=f"no upstream files in {UPSTREAM}")
def test_regenerating_merged_json_from_the_upstream_files_gives_the_same_bytes(tmp_path: Path) -> None:
    output = tmp_path / "merged.json"
    done = subprocess.run([sys.executable, str(DATA / "merge.py"), str(UPSTREAM), "--output", str(output)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert output.read_bytes() == MERGED.read_bytes(), "run tests/data/upstream/merge.py and commit merged.json"
    # Every path of the five files, read from them here.
    for name, _ in merge_py.SOURCES:
        upstream = json.loads((UPSTREAM / name).read_text(encoding="utf-8"))
        assert _labels(upstream) <= _labels(merged()), name


# ---------------------------------------------------------------------------------------- the rules
def _file(title: str, schemas: dict[str, Any], paths: dict[str, Any] | None = None,
          security: list[Any] | None = None) -> dict[str, Any]:
    document: dict[str, Any] = {"openapi": "3.1.0", "info": {"title": title, "version": "1.0.0"},
                                "servers": [{"url": "https://example.com"}], "paths": paths or {},
                                "components": {"schemas": schemas}}
    if security is not None:
        document["security"] = security
    return document


def _get(ref: str, parameters: list[Any] | None = None) -> dict[str, Any]:
    operation: dict[str, Any] = {"responses": {"200": {"description": "ok", "content": {
        "application/json": {"schema": {"$ref": f"#/components/schemas/{ref}"}}}}}}
    if parameters:
        operation["parameters"] = parameters
    return {"get": operation}


def _write(directory: Path, files: dict[str, dict[str, Any]]) -> Path:
    directory.mkdir(exist_ok=True)
    for name, document in files.items():
        (directory / name).write_text(json.dumps(document), encoding="utf-8")
    return directory


def _five(**overrides: dict[str, Any]) -> dict[str, dict[str, Any]]:
    names = [name for name, _ in merge_py.SOURCES]
    files = {name: _file(name, {}) for name in names}
    for key, document in overrides.items():
        files[names[int(key[1:])]] = document
    return files


def test_components_are_kept_once_or_renamed_with_every_reference(tmp_path: Path) -> None:
    error_a = {"type": "object", "properties": {"message": {"type": "string"}}}
    error_b = {"type": "object", "properties": {"error": {"type": "string"}}}
    shared = {"type": "string"}
    # Same text in both, but it refers to Error, which differs: it must be renamed too.
    wrapper = {"type": "object", "properties": {"error": {"$ref": "#/components/schemas/Error"}}}
    files = _five(
        f0=_file("first", {"Error": error_a, "Shared": shared, "Wrapper": wrapper},
                 {"/a": _get("Wrapper"), "/same": _get("Shared")}, security=[{"key": []}]),
        f1=_file("subset of the first", {}, {"/b": _get("Shared")}),  # refers to what it does not define
        f2=_file("second", {"Error": error_b, "Shared": shared, "Wrapper": wrapper},
                 {"/c": _get("Wrapper", parameters=[{"name": "q", "in": "query", "schema": {"type": "string"}}]),
                  "/a": _get("Error")}),
    )
    files[merge_py.SOURCES[0][0]]["components"]["securitySchemes"] = {"key": {"type": "apiKey", "in": "header",
                                                                             "name": "x-api-key"}}
    document = merge_py.merge(_write(tmp_path / "upstream", files))
    first, second = merge_py.SOURCES[0][1], merge_py.SOURCES[2][1]
    schemas = document["components"]["schemas"]
    assert set(schemas) == {"Shared", f"{first}_Error", f"{second}_Error", f"{first}_Wrapper", f"{second}_Wrapper"}
    assert schemas[f"{first}_Wrapper"]["properties"]["error"] == {"$ref": f"#/components/schemas/{first}_Error"}
    assert schemas[f"{second}_Wrapper"]["properties"]["error"] == {"$ref": f"#/components/schemas/{second}_Error"}
    body = document["paths"]["/a"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert body == {"$ref": f"#/components/schemas/{first}_Wrapper"}  # /a: the first file wins
    assert document["paths"]["/b"]["get"]["x-upstream-file"] == merge_py.SOURCES[1][0]
    assert document["paths"]["/a"]["get"]["security"] == [{"key": []}]  # its file's top-level security, moved in
    assert "security" not in document["paths"]["/c"]["get"] and "servers" not in document
    assert document["x-upstream-sources"][2]["superseded"] == ["GET /a"]


@pytest.mark.parametrize(("change", "message"), [
    ("dangling", "refers to components.schemas.Error, which it does not define"),
    ("schemes", "components.securitySchemes.key differs"),
    ("missing", "missing sandbox.json"),
    ("extra", "extra.json is not one of the merged files"),
    ("version", "expected an OpenAPI 3.1 document"),
])
def test_what_cannot_be_merged_is_said_and_nothing_is_written(tmp_path: Path, change: str, message: str) -> None:
    files = _five(f0=_file("first", {"Error": {"type": "object"}}),
                  f2=_file("second", {"Error": {"type": "string"}}))
    names = [name for name, _ in merge_py.SOURCES]
    if change == "dangling":
        files[names[1]] = _file("subset", {}, {"/b": _get("Error")})
    elif change == "schemes":
        for index, kind in ((0, "apiKey"), (2, "http")):
            files[names[index]]["components"]["securitySchemes"] = {"key": {"type": kind}}
    elif change == "missing":
        del files["sandbox.json"]
    elif change == "extra":
        files["extra.json"] = _file("extra", {})
    else:
        files[names[3]]["openapi"] = "3.0.3"
    directory = _write(tmp_path / "upstream", files)
    output = tmp_path / "merged.json"
    done = subprocess.run([sys.executable, str(DATA / "merge.py"), str(directory), "--output", str(output)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.startswith("merge.py: ") and message in done.stderr, done.stderr
    assert "Traceback" not in done.stderr and not output.exists()


# ---------------------------------------------------------------------------------------- the suite
def test_the_suite_reads_merged_json() -> None:
    options = ContractOptions(api_key="recoup_sk_test_alice", spec=MERGED, include=("patchSessionById",),
                              exclude=("POST /api/chat/generate",))
    assert len(options.spec_operations()) == 20 and options.include == ("patchSessionById",)
    assert options.exclude == ("generate",)  # named 'METHOD /path', known by its operationId
    schema = load_schema(MERGED, flow_config(options, "http://127.0.0.1:9", 1))
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {operation.label for operation in operations} == _labels(merged())
    # Its event streams are text; the suite judges them against chat.yaml's event schema.
    event = builtin_stream_schemas()[0]
    chat = schema["/api/chat"]["POST"].definition.raw["responses"]["200"]["content"]["text/event-stream"]
    assert chat == {"schema": {"$ref": SCHEMAS + event}}
