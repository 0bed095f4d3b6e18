"""The suite on any version of the spec (``--spec FILE``): OpenAPI 3.1 or 3.2, operations without an
operationId (known by ``METHOD /path``), and event streams documented as ``type: string`` (checked
against the built-in UI message chunk schema of openapi/chat.yaml).

The live mock still serves openapi/chat.yaml; the suite is given a variant of it made here: 3.1.0,
every operationId removed (the links name their operation by ``operationRef`` instead), and every
event stream a ``schema: {type: string}``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from contract_variants import ALICE, BOB, InjectUnknownChunk, RenameErrorMessage, faithful

from mockserver.cli import main
from mockserver.contracts.document import PREFIX, SCHEMAS, builtin_stream_schemas, with_event_schemas
from mockserver.contracts.options import ContractOptions, OptionError
from mockserver.contracts.report import ContractReport, format_report
from mockserver.contracts.runner import run_contract
from mockserver.serving import ServedApp
from mockserver.settings import DEFAULT_SPEC
from mockserver.spec import check_document

SEED = 7
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
STOP = "POST /api/chat/{chatId}/stop"


def _pointer(path: str, method: str) -> str:
    return "#/paths/" + path.replace("~", "~0").replace("/", "~1") + "/" + method


def as_openapi_3_1(document: dict[str, Any]) -> dict[str, Any]:
    """chat.yaml as a 3.1 document would have it: no operationIds, streams as text."""
    pointers: dict[str, str] = {}
    for path, item in document["paths"].items():
        for method in METHODS:
            if method in item:
                pointers[item[method].pop("operationId")] = _pointer(path, method)

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for link in (node.get("links") or {}).values():
                if "operationId" in link:
                    link["operationRef"] = pointers[link.pop("operationId")]
            for content_type, media_type in (node.get("content") or {}).items():
                if content_type == "text/event-stream":
                    media_type.pop("itemSchema")
                    media_type["schema"] = {"type": "string", "description": "Server-Sent Events"}
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(document)
    document["openapi"] = "3.1.0"
    return document


@pytest.fixture(scope="module")
def variant(tmp_path_factory: pytest.TempPathFactory) -> Path:
    document = as_openapi_3_1(yaml.safe_load(DEFAULT_SPEC.read_text(encoding="utf-8")))
    path = tmp_path_factory.mktemp("spec") / "chat-3.1.json"
    path.write_text(json.dumps(document, indent=2), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def live_mock() -> Iterator[ServedApp]:
    """The mock as shipped, serving openapi/chat.yaml."""
    with ServedApp(faithful()) as served:
        yield served


def options(base_url: str, **config: Any) -> ContractOptions:
    defaults: dict[str, Any] = {"seed": SEED, "max_examples": 5, "max_streams": "unlimited", "request_timeout": 5.0,
                                "baseline": "none"}
    return ContractOptions(api_key=ALICE, other_api_key=BOB, base_url=base_url, **{**defaults, **config})


def test_the_variant_is_openapi_3_1_without_operation_ids_or_item_schemas(variant: Path) -> None:
    text = variant.read_text(encoding="utf-8")
    document = json.loads(text)
    check_document(variant, document)  # openapi-spec-validator, as 3.1
    assert document["openapi"] == "3.1.0"
    assert '"operationId"' not in text and '"itemSchema"' not in text
    assert text.count('"operationRef"') >= 5 and text.count('"description": "Server-Sent Events"') >= 3


def test_the_suite_runs_green_on_the_variant_with_the_same_checks(variant: Path, live_mock: ServedApp) -> None:
    as_written = run_contract(options(live_mock.base_url))
    assert as_written.passed, format_report(as_written)
    report = run_contract(options(live_mock.base_url, spec=variant))
    assert report.passed, format_report(report)
    assert set(report.check_runs) == set(as_written.check_runs), (report.check_runs, as_written.check_runs)
    for check in ("response_schema_conformance", "stream_ordering", "stream_closes", "workflow_run_id"):
        assert report.check_runs[check] > 0, check
    # Every phase and every flow ran, over every operation.
    assert {source for source, _ in report.groups} == {source for source, _ in as_written.groups}
    assert {label for _, label in report.groups} == {label for _, label in as_written.groups}


def test_a_chunk_the_built_in_schema_refuses_fails_the_variant_too(variant: Path) -> None:
    """The text streams are judged against chat.yaml's chunk schema: a chunk type no AI SDK has fails
    `response_schema_conformance`, as it does with chat.yaml's own itemSchema."""
    with ServedApp(InjectUnknownChunk(faithful())) as served:
        report = run_contract(options(served.base_url, spec=variant, flows=("chat_turn",), phases=()))
    failed = [finding for finding in report.new_findings if finding.check == "response_schema_conformance"]
    assert failed and {finding.operation for finding in failed} >= {"POST /api/chat", "POST /legacy/api/chat"}, \
        format_report(report)
    assert all("message-start" in finding.message for finding in failed), format_report(report)


def test_an_operation_without_an_operation_id_is_named_by_method_and_path(
        variant: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["contract", "--api-key", ALICE, "--spec", str(variant), "--dry-run", "--include", "post /api/chat",
                 "--include", "GET /api/sessions/{sessionId}", "--exclude", STOP])
    out = capsys.readouterr().out
    assert code == 0, out
    assert f"spec: {variant} (29 operations)" in out
    assert "on 2 of 29 operations; flows sandbox_active, chat_turn" in out and f"never called: {STOP}" in out
    assert "\n    POST /api/chat\n    GET /api/sessions/{sessionId}\n" in out
    # The operationIds of chat.yaml are not those of the variant, which has none.
    with pytest.raises(OptionError, match=r"^--include 'postChat': expected operations of chat-3\.1\.json, each its "
                                          r"operationId or 'METHOD /path': POST /api/chat, POST /api/chat/workflow"):
        ContractOptions(api_key=ALICE, spec=variant, include=("postChat",))
    # chat.yaml's operations keep their operationIds, whichever way they are named.
    named = ContractOptions(api_key=ALICE, include=("POST /api/chat", "stopChat"),
                            exclude=("get /api/sessions/{sessionId}",))
    assert (named.include, named.exclude) == (("postChat", "stopChat"), ("getSession",))


def test_an_excluded_operation_without_an_operation_id_is_never_called(variant: Path, live_mock: ServedApp) -> None:
    # The method in any case, as on the command line.
    report = run_contract(options(live_mock.base_url, spec=variant, exclude=("post /api/chat/{chatId}/stop",),
                                  flows=("resume_idle", "foreign_chat"), phases=("fuzzing",), max_examples=3))
    assert report.passed, format_report(report)
    assert not [group for group in report.groups if group[1] == STOP]
    assert f"flow resume_idle: 1 request(s) to {STOP} not sent (--exclude)" in report.notes
    assert any(label == "GET /api/chat/{chatId}/stream" for _, label in report.groups)


def test_a_baseline_names_operations_the_same_on_any_version(variant: Path, tmp_path: Path) -> None:
    """Baselines name an operation ``METHOD /path``: drift recorded against chat.yaml is known drift
    when the suite runs on the variant."""
    baseline = tmp_path / "baseline.json"
    config: dict[str, Any] = {"flows": ("credentials",), "phases": ()}
    with ServedApp(RenameErrorMessage(faithful())) as served:
        recorded = run_contract(options(served.base_url, update_baseline=baseline, **config))
        assert recorded.new_findings and (recorded.baseline_recorded or 0) > 0
        report = run_contract(options(served.base_url, spec=variant, **{**config, "baseline": baseline}))
    assert report.findings and report.passed, format_report(report)
    assert {finding.identity for finding in report.findings} == {finding.identity for finding in recorded.findings}


def test_a_flow_stops_where_the_spec_lacks_its_operation(tmp_path: Path, live_mock: ServedApp) -> None:
    document = yaml.safe_load(DEFAULT_SPEC.read_text(encoding="utf-8"))
    del document["paths"]["/legacy/api/chat"]
    spec = tmp_path / "no-legacy.yaml"
    spec.write_text(yaml.safe_dump(document), encoding="utf-8")
    report: ContractReport = run_contract(options(live_mock.base_url, spec=spec, flows=("chat_turn", "resume_idle"),
                                                  phases=()))
    assert report.passed, format_report(report)
    assert "flow chat_turn stopped at POST /legacy/api/chat, which no-legacy.yaml does not have" in report.notes
    assert ("flow:resume_idle", "GET /api/chat/{chatId}/stream") in report.groups  # the next flow still ran


# ---------------------------------------------------------------------------------------- the document
def _stream_document(version: str, schemas: dict[str, Any] | None = None) -> dict[str, Any]:
    stream = {"description": "a stream", "content": {"text/event-stream": {"schema": {"type": "string"}}}}
    json_body = {"description": "ok", "content": {"application/json": {"schema": {"type": "string"}}}}
    return {"openapi": version, "info": {"title": "t", "version": "1"},
            "paths": {"/s": {"get": {"responses": {"200": stream, "400": json_body}}}},
            "components": {"schemas": schemas or {}}}


def test_a_text_stream_gets_the_built_in_event_schema_as_its_version_says() -> None:
    event, closure = builtin_stream_schemas()
    assert "UIMessageChunk" in closure and event in closure
    for version, key in (("3.1.0", "schema"), ("3.2.0", "itemSchema")):
        original = _stream_document(version)
        prepared = with_event_schemas(original)
        media_type = prepared["paths"]["/s"]["get"]["responses"]["200"]["content"]["text/event-stream"]
        assert media_type == {key: {"$ref": SCHEMAS + event}}, version
        assert set(closure) <= set(prepared["components"]["schemas"])
        assert prepared["paths"]["/s"]["get"]["responses"]["400"] == original["paths"]["/s"]["get"]["responses"]["400"]
        assert original["components"]["schemas"] == {}  # the document read is left as it was
        check_document(DEFAULT_SPEC, prepared, name=f"the prepared {version} document")


def test_the_built_in_schemas_never_replace_a_component_of_the_same_name() -> None:
    theirs = {"UIMessageChunk": {"type": "object", "description": "their own"}}
    prepared = with_event_schemas(_stream_document("3.1.0", schemas=dict(theirs)))
    schemas = prepared["components"]["schemas"]
    assert schemas["UIMessageChunk"] == theirs["UIMessageChunk"]
    closure = builtin_stream_schemas()[1]
    assert set(schemas) == {"UIMessageChunk", *(PREFIX + name for name in closure)}
    refs = json.dumps({name: schema for name, schema in schemas.items() if name.startswith(PREFIX)})
    assert f'"{SCHEMAS}UIMessageChunk"' not in refs and f'"{SCHEMAS}{PREFIX}UIMessageChunk"' in refs
    # A document with only well-described streams (or none) is used as it is.
    document = yaml.safe_load(DEFAULT_SPEC.read_text(encoding="utf-8"))
    assert with_event_schemas(document) is document
