"""The OpenAPI documents in openapi/: valid 3.2, complete, and right about UI message chunks."""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator
from openapi_core import OpenAPI
from openapi_core.testing import MockRequest
from openapi_spec_validator import validate
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012
from support import chunks_of

from mockserver.profiles import derived_document, profile_named

OPENAPI_DIR = Path(__file__).resolve().parents[2] / "openapi"
CHAT = OPENAPI_DIR / "chat.yaml"
ADMIN = OPENAPI_DIR / "admin.yaml"
SERVER = "http://127.0.0.1:4010"
UUID = "3c90c3cc-0d44-4b50-8888-8dd25736052a"
HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace", "query"}

CHAT_OPERATIONS = {
    ("post", "/api/chat"): "postChat",
    ("post", "/api/chat/workflow"): "postChatWorkflow",
    ("get", "/api/chat/{chatId}/stream"): "resumeChatStream",
    ("post", "/api/chat/{chatId}/stop"): "stopChat",
    ("post", "/api/chat/runs"): "startChatRun",
    ("get", "/api/chat/runs/{runId}"): "getChatRunStatus",
    ("post", "/api/sessions"): "createSession",
    ("get", "/api/sessions/{sessionId}"): "getSession",
    ("patch", "/api/sessions/{sessionId}"): "patchSession",
    ("get", "/api/sessions/{sessionId}/chats"): "listSessionChats",
    ("post", "/api/sessions/{sessionId}/chats"): "createSessionChat",
    ("get", "/api/sessions/{sessionId}/chats/{chatId}"): "getSessionChat",
    ("patch", "/api/sessions/{sessionId}/chats/{chatId}"): "patchSessionChat",
    ("delete", "/api/sessions/{sessionId}/chats/{chatId}"): "deleteSessionChat",
    ("post", "/api/sessions/{sessionId}/chats/{chatId}/read"): "markSessionChatRead",
    ("post", "/api/sandbox"): "createSandbox",
    ("get", "/api/sandbox/status"): "getSandboxStatus",
    ("get", "/api/sandbox/reconnect"): "reconnectSandbox",
    ("get", "/api/chats"): "listChats",
    ("post", "/api/chats"): "createChat",
    ("patch", "/api/chats"): "updateChat",
    ("delete", "/api/chats"): "deleteChat",
    ("post", "/api/chats/compact"): "compactChats",
    ("get", "/api/chats/{id}/messages"): "getChatMessages",
    ("post", "/api/chats/{id}/messages/copy"): "copyChatMessages",
    ("delete", "/api/chats/{id}/messages/trailing"): "deleteTrailingChatMessages",
    ("get", "/api/chats/{id}/artist"): "getChatArtist",
    ("post", "/legacy/api/chat"): "legacyChat",
    ("options", "/legacy/api/chat"): "legacyChatOptions",
}
ADMIN_OPERATIONS = {
    ("post", "/__mock/reset"): "resetMock",
    ("get", "/__mock/requests"): "listRequests",
    ("get", "/__mock/scenarios"): "listScenarios",
    ("post", "/__mock/scenarios/next"): "queueScenarios",
    ("get", "/__mock/scenarios/next"): "listQueuedScenarios",
    ("get", "/__mock/status"): "getStatus",
    ("get", "/__mock/worlds"): "listWorlds",
    ("post", "/__mock/worlds/{name}"): "configureWorld",
    ("get", "/__mock/clock"): "getClock",
    ("post", "/__mock/clock"): "advanceClock",
    ("get", "/__mock/"): "inspectorPage",
    ("get", "/__mock/inspector/{file}"): "inspectorFile",
    ("get", "/__mock/events"): "watchEvents",
    ("get", "/__mock/requests/{seq}"): "getRequest",
    ("get", "/__mock/runs"): "listRuns",
    ("get", "/__mock/runs/{runId}"): "getRun",
    ("post", "/__mock/runs/{runId}/stop"): "stopRun",
    ("get", "/__mock/runs/{runId}/scenario"): "getRunScenario",
}
BOTH_SCHEMES: list[dict[str, list[str]]] = [{"apiKeyAuth": []}, {"bearerAuth": []}]

# ui-message-stream.md section 1, "Real server output": every line, in order. The elided
# "text-start/-delta/-end t2" lines of the reference are spelled out.
SAMPLE_STREAM = """\
data: {"type":"start"}
data: {"type":"start-step"}
data: {"type":"reasoning-start","id":"r1"}
data: {"type":"reasoning-delta","id":"r1","delta":"Thinking."}
data: {"type":"reasoning-end","id":"r1"}
data: {"type":"text-start","id":"t1"}
data: {"type":"text-delta","id":"t1","delta":"Let me "}
data: {"type":"text-end","id":"t1"}
data: {"type":"source-url","sourceId":"s1","url":"https://example.com","title":"Example"}
data: {"type":"tool-input-start","toolCallId":"call-1","toolName":"weather"}
data: {"type":"tool-input-delta","toolCallId":"call-1","inputTextDelta":"{\\"city\\":"}
data: {"type":"tool-input-available","toolCallId":"call-1","toolName":"weather","input":{"city":"Paris"}}
data: {"type":"tool-output-available","toolCallId":"call-1","output":{"city":"Paris","temp":21}}
data: {"type":"finish-step"}
data: {"type":"start-step"}
data: {"type":"text-start","id":"t2"}
data: {"type":"text-delta","id":"t2","delta":"It is 21 degrees."}
data: {"type":"text-end","id":"t2"}
data: {"type":"finish-step"}
data: {"type":"finish","finishReason":"stop","messageMetadata":{"done":true}}
data: [DONE]
"""
# The reference lists one event per line, leaving out the blank line that ends each.
SAMPLE_CHUNKS = chunks_of(SAMPLE_STREAM.replace("\n", "\n\n").encode())

REJECTED_CHUNKS = [
    {"type": "message-start"},
    {"type": "text-delta", "id": "a", "delta": "x", "foo": 1},
    {"type": "text-delta", "delta": "x"},
]

# ui-message-stream.md section 2: every chunk type (less the legacy early-5.0 `reasoning` and
# `reasoning-part-finish`) with every field it lists.
CHUNK_FIELDS: dict[str, set[str]] = {
    "start": {"messageId", "messageMetadata"},
    "start-step": set(),
    "finish-step": set(),
    "reset-step": set(),
    "text-start": {"id", "providerMetadata"},
    "text-delta": {"id", "delta", "providerMetadata"},
    "text-end": {"id", "providerMetadata", "citations"},
    "reasoning-start": {"id", "providerMetadata"},
    "reasoning-delta": {"id", "delta", "providerMetadata"},
    "reasoning-end": {"id", "providerMetadata"},
    "error": {"errorText"},
    "tool-input-start": {
        "toolCallId",
        "toolName",
        "providerExecuted",
        "dynamic",
        "title",
        "providerMetadata",
        "toolMetadata",
        "inputEncoding",
    },
    "tool-input-delta": {"toolCallId", "inputTextDelta"},
    "tool-input-available": {
        "toolCallId",
        "toolName",
        "input",
        "providerExecuted",
        "providerMetadata",
        "dynamic",
        "title",
        "toolMetadata",
    },
    "tool-input-error": {
        "toolCallId",
        "toolName",
        "input",
        "errorText",
        "providerExecuted",
        "providerMetadata",
        "dynamic",
        "title",
        "toolMetadata",
    },
    "tool-output-available": {
        "toolCallId",
        "output",
        "providerExecuted",
        "dynamic",
        "preliminary",
        "providerMetadata",
        "toolMetadata",
    },
    "tool-output-error": {
        "toolCallId",
        "errorText",
        "providerExecuted",
        "dynamic",
        "providerMetadata",
        "toolMetadata",
    },
    "tool-approval-request": {
        "approvalId",
        "toolCallId",
        "signature",
        "isAutomatic",
        "approvalDescriptor",
        "inputSchemaInput",
        "reason",
    },
    "tool-output-denied": {"toolCallId"},
    "tool-approval-response": {"approvalId", "approved", "reason", "providerExecuted", "providerMetadata"},
    "source-url": {"sourceId", "url", "title", "providerMetadata"},
    "source-document": {"sourceId", "mediaType", "title", "filename", "providerMetadata"},
    "file": {"url", "mediaType", "providerMetadata"},
    "reasoning-file": {"url", "mediaType", "providerMetadata"},
    "custom": {"kind", "providerMetadata"},
    "steering-message": {"id", "parts"},
    "data-*": {"id", "data", "transient"},
    "message-metadata": {"messageMetadata"},
    "finish": {"messageMetadata", "finishReason"},
    "abort": {"reason"},
}

# ui-message-stream.md section 3, "Baseline accepted by every version 5.0.0 -> 7.0.173": these
# types and fields must carry no client-version annotation.
BASELINE: dict[str, set[str]] = {
    "start": {"messageId", "messageMetadata"},
    "start-step": set(),
    "finish-step": set(),
    "text-start": {"id", "providerMetadata"},
    "text-delta": {"id", "delta", "providerMetadata"},
    "text-end": {"id", "providerMetadata"},
    "reasoning-start": {"id", "providerMetadata"},
    "reasoning-delta": {"id", "delta", "providerMetadata"},
    "reasoning-end": {"id", "providerMetadata"},
    "error": {"errorText"},
    "tool-input-start": {"toolCallId", "toolName", "providerExecuted", "dynamic"},
    "tool-input-delta": {"toolCallId", "inputTextDelta"},
    "tool-input-available": {
        "toolCallId",
        "toolName",
        "input",
        "providerExecuted",
        "providerMetadata",
        "dynamic",
    },
    "tool-output-available": {"toolCallId", "output", "providerExecuted", "dynamic"},
    "tool-output-error": {"toolCallId", "errorText", "providerExecuted", "dynamic"},
    "source-url": {"sourceId", "url", "title", "providerMetadata"},
    "source-document": {"sourceId", "mediaType", "title", "filename", "providerMetadata"},
    "file": {"url", "mediaType", "providerMetadata"},
    "data-*": {"id", "data", "transient"},
    "message-metadata": {"messageMetadata"},
    "finish": {"messageMetadata"},
    "abort": set(),
}

# Values fixed by the brief and the reference (section 3 probe table and strict/loose cut-offs).
EXPECTED_MIN = {
    ("tool-input-start", "title"): {"5": "5.0.217", "6": "6.0.0", "7": "7.0.0"},
    ("tool-approval-request", None): {"6": "6.0.0", "7": "7.0.0"},
    ("tool-output-denied", None): {"6": "6.0.0", "7": "7.0.0"},
    ("tool-approval-response", None): {"7": "7.0.0"},
    ("custom", None): {"7": "7.0.0"},
    ("reasoning-file", None): {"7": "7.0.0"},
    ("finish", "finishReason"): {"5": "5.0.92", "6": "6.0.0", "7": "7.0.0"},
    ("abort", "reason"): {"5": "5.0.217", "6": "6.0.231", "7": "7.0.0"},
    ("text-end", "citations"): {"5": "5.0.217", "6": "6.0.231", "7": "7.0.32"},
    # Where the reference gives no exact version, the ai package CHANGELOG (checked in its dist).
    ("reset-step", None): {"7": "7.0.70"},
    ("steering-message", None): {"7": "7.0.163"},
    ("tool-input-error", None): {"5": "5.0.7", "6": "6.0.0", "7": "7.0.0"},
    ("tool-output-available", "preliminary"): {"5": "5.0.11", "6": "6.0.0", "7": "7.0.0"},
}
VERSION_RE = re.compile(r"^(5|6|7)\.[0-9]+\.[0-9]+$")


@cache
def load(path: Path) -> dict[str, Any]:
    with path.open(encoding="utf-8") as f:
        document: dict[str, Any] = yaml.safe_load(f)
    return document


def operations(document: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (method, path): operation
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in HTTP_METHODS
    }


def resolve(document: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        target: Any = document
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


@cache
def chunk_validator(name: str = "UIMessageChunk") -> Draft202012Validator:
    document = load(CHAT)
    registry: Registry[Any] = Registry().with_resource(
        "urn:recoup-mock:chat", Resource.from_contents(document, default_specification=DRAFT202012)
    )
    reference = f"urn:recoup-mock:chat#/components/schemas/{name}"
    return Draft202012Validator({"$ref": reference}, registry=registry)


def chunk_schemas() -> dict[str, dict[str, Any]]:
    """Chunk type (``data-*`` for the data member) -> its schema, from UIMessageChunk.oneOf."""
    document = load(CHAT)
    members = document["components"]["schemas"]["UIMessageChunk"]["oneOf"]
    result = {}
    for member in members:
        schema = resolve(document, member)
        type_schema = schema["properties"]["type"]
        result["data-*" if "pattern" in type_schema else type_schema["const"]] = schema
    return result


def pascal(chunk_type: str) -> str:
    if chunk_type == "data-*":
        return "ChunkData"
    return "Chunk" + "".join(word.capitalize() for word in chunk_type.split("-"))


# ---------------------------------------------------------------- the documents


@pytest.mark.parametrize("path", [CHAT, ADMIN], ids=["chat", "admin"])
def test_document_is_valid_openapi_3_2(path: Path) -> None:
    document = load(path)
    assert document["openapi"] == "3.2.0"
    validate(document)
    OpenAPI.from_file_path(str(path))


@pytest.mark.parametrize("path", [CHAT, ADMIN], ids=["chat", "admin"])
def test_status_codes_are_quoted(path: Path) -> None:
    for key, operation in operations(load(path)).items():
        for status in operation["responses"]:
            assert isinstance(status, str), f"{key}: status {status!r} is not quoted"


def test_chat_operation_ids() -> None:
    found = {key: operation.get("operationId") for key, operation in operations(load(CHAT)).items()}
    assert found == CHAT_OPERATIONS


def test_admin_operation_ids() -> None:
    document = load(ADMIN)
    found = {key: operation.get("operationId") for key, operation in operations(document).items()}
    assert found == ADMIN_OPERATIONS
    assert document["info"]["title"] == "recoup-mock admin API"


def test_security_schemes_and_requirements() -> None:
    document = load(CHAT)
    schemes = document["components"]["securitySchemes"]
    api_key, bearer = schemes["apiKeyAuth"], schemes["bearerAuth"]
    assert (api_key["type"], api_key["in"], api_key["name"]) == ("apiKey", "header", "x-api-key")
    assert (bearer["type"], bearer["scheme"]) == ("http", "bearer")
    for key, operation in operations(document).items():
        expected = [] if operation["operationId"] == "legacyChatOptions" else BOTH_SCHEMES
        assert operation.get("security") == expected, key


def test_errors_use_error_response() -> None:
    for path in (CHAT, ADMIN):
        document = load(path)
        error = document["components"]["schemas"]["ErrorResponse"]
        assert error["required"] == ["status", "message"]
        assert error["properties"]["status"]["enum"] == ["error"]
        for key, operation in operations(document).items():
            for status, response in operation["responses"].items():
                if int(status) < 400:
                    continue
                content = resolve(document, response)["content"]
                assert list(content) == ["application/json"], (key, status)
                assert content["application/json"]["schema"] == {"$ref": "#/components/schemas/ErrorResponse"}


def test_event_streams_use_the_shared_item_schema() -> None:
    document = load(CHAT)
    streams = 0
    for key, operation in operations(document).items():
        for status, response in operation["responses"].items():
            content = resolve(document, response).get("content", {})
            if "text/event-stream" not in content:
                continue
            streams += 1
            media = content["text/event-stream"]
            assert "schema" not in media, key
            assert media["itemSchema"] == {"$ref": "#/components/schemas/UIMessageStreamEvent"}, key
            assert status == "200"
    assert streams == 4  # postChat, postChatWorkflow, resumeChatStream, legacyChat
    event = document["components"]["schemas"]["UIMessageStreamEvent"]
    assert "required" not in event
    assert event["properties"]["data"]["anyOf"][1]["contentSchema"] == {"$ref": "#/components/schemas/UIMessageChunk"}


def test_stream_headers() -> None:
    document = load(CHAT)
    ops = {operation["operationId"]: operation for operation in operations(document).values()}
    for name, headers in [
        ("postChat", {"x-workflow-run-id"}),
        ("postChatWorkflow", {"x-workflow-run-id"}),
        ("resumeChatStream", {"x-workflow-run-id", "x-workflow-stream-tail-index"}),
        ("legacyChat", set()),
    ]:
        response = resolve(document, ops[name]["responses"]["200"])
        declared = response.get("headers", {})
        assert set(declared) == headers, name
        for header in declared.values():
            assert resolve(document, header)["required"] is True
    assert "content" not in ops["resumeChatStream"]["responses"]["204"]
    accepted = ops["startChatRun"]["responses"]["202"]
    assert resolve(document, accepted["headers"]["Location"])["required"] is True


# ---------------------------------------------------------------- UI message chunks


@pytest.mark.parametrize("chunk", SAMPLE_CHUNKS, ids=lambda chunk: chunk["type"])
def test_reference_sample_chunks_are_valid(chunk: dict[str, Any]) -> None:
    chunk_validator().validate(chunk)


def test_sample_stream_was_read_whole() -> None:
    assert len(SAMPLE_CHUNKS) == 20


@pytest.mark.parametrize("chunk", REJECTED_CHUNKS, ids=["message-start", "extra-key", "missing-id"])
def test_invalid_chunks_are_rejected(chunk: dict[str, Any]) -> None:
    assert not chunk_validator().is_valid(chunk)


def test_stream_events() -> None:
    event = chunk_validator("UIMessageStreamEvent")
    assert event.is_valid({"data": "[DONE]", "event": "message"})
    assert event.is_valid({"event": "message"})  # what a comment-only event would look like
    assert event.is_valid({"data": json.dumps(SAMPLE_CHUNKS[0]), "event": "message", "id": "1", "retry": 10})
    assert not event.is_valid({"data": 1})


def test_every_chunk_type_with_every_field() -> None:
    schemas = chunk_schemas()
    assert set(schemas) == set(CHUNK_FIELDS)
    components = load(CHAT)["components"]["schemas"]
    for chunk_type, fields in CHUNK_FIELDS.items():
        schema = schemas[chunk_type]
        assert components[pascal(chunk_type)] is schema, chunk_type
        assert schema["additionalProperties"] is False, chunk_type
        assert set(schema["properties"]) == fields | {"type"}, chunk_type
        assert "type" in schema["required"], chunk_type


def test_finish_reasons() -> None:
    finish_reason = chunk_schemas()["finish"]["properties"]["finishReason"]
    assert set(finish_reason["enum"]) == {
        "stop",
        "length",
        "content-filter",
        "tool-calls",
        "error",
        "other",
        "unknown",
        "interrupted",
    }
    enum_min = finish_reason["x-ai-sdk-enum-min"]
    assert set(enum_min) == {"unknown", "interrupted"}
    assert enum_min["unknown"] == {"5": "5.0.0"}
    assert enum_min["interrupted"] == {"7": "7.0.149"}


def version_annotations() -> dict[tuple[str, str | None], dict[str, str]]:
    found: dict[tuple[str, str | None], dict[str, str]] = {}
    for chunk_type, schema in chunk_schemas().items():
        if "x-ai-sdk-min" in schema:
            found[(chunk_type, None)] = schema["x-ai-sdk-min"]
        for name, prop in schema["properties"].items():
            if "x-ai-sdk-min" in prop:
                found[(chunk_type, name)] = prop["x-ai-sdk-min"]
    return found


def test_annotations_are_well_formed() -> None:
    found = version_annotations()
    assert found
    for key, versions in found.items():
        assert versions, key
        for major, version in versions.items():
            assert major in {"5", "6", "7"}, key
            assert isinstance(version, str), key
            match = VERSION_RE.match(version)
            assert match is not None and match.group(1) == major, (key, version)
        chunk_type, field = key
        if field is not None:
            required = chunk_schemas()[chunk_type]["required"]
            assert field not in required, f"{key}: a required field is annotated"
            type_versions = found.get((chunk_type, None))
            if type_versions is not None:
                assert set(versions) <= set(type_versions), f"{key}: a line the chunk type itself lacks"


def test_expected_annotations() -> None:
    found = version_annotations()
    for key, versions in EXPECTED_MIN.items():
        assert found.get(key) == versions, key


def test_baseline_needs_no_annotation() -> None:
    found = version_annotations()
    for chunk_type, fields in BASELINE.items():
        assert (chunk_type, None) not in found, chunk_type
        for field in fields:
            assert (chunk_type, field) not in found, (chunk_type, field)


def test_everything_outside_the_baseline_is_annotated() -> None:
    found = version_annotations()
    for chunk_type, fields in CHUNK_FIELDS.items():
        if chunk_type not in BASELINE:
            assert (chunk_type, None) in found, chunk_type
            continue
        for field in fields - BASELINE[chunk_type]:
            assert (chunk_type, field) in found, (chunk_type, field)


# ---------------------------------------------------------------- request validation (openapi-core)


@cache
def chat_api() -> OpenAPI:
    return OpenAPI.from_file_path(str(CHAT))


def unmarshal(method: str, path: str, body: Any = None, headers: dict[str, str] | None = None) -> list[Exception]:
    request = MockRequest(
        SERVER,
        method,
        path,
        headers={"x-api-key": "recoup_sk_test"} if headers is None else headers,
        data=None if body is None else json.dumps(body).encode(),
        content_type="application/json",
    )
    return list(chat_api().unmarshal_request(request).errors)


def error_text(errors: list[Exception]) -> str:
    parts = []
    pending: list[BaseException] = list(errors)
    while pending:
        error = pending.pop()
        parts.append(str(error))
        parts.extend(str(e.message) for e in getattr(error, "schema_errors", ()) or ())
        if error.__cause__ is not None:
            pending.append(error.__cause__)
    return "\n".join(parts)


MESSAGES = [{"id": "m1", "role": "user", "parts": [{"type": "text", "text": "hi"}]}]


def test_post_chat_body() -> None:
    body = {"messages": MESSAGES, "chatId": UUID, "sessionId": UUID, "id": UUID, "trigger": "submit-message"}
    assert unmarshal("post", "/api/chat", body) == []
    missing = {"messages": MESSAGES, "sessionId": UUID}
    errors = unmarshal("post", "/api/chat", missing)
    assert errors
    assert "'chatId' is a required property" in error_text(errors)


@pytest.mark.parametrize("path", ["/api/chat/runs", "/legacy/api/chat"])
def test_exactly_one_of_prompt_and_messages(path: str) -> None:
    assert unmarshal("post", path, {"prompt": "hi"}) == []
    assert unmarshal("post", path, {"messages": MESSAGES}) == []
    assert unmarshal("post", path, {"prompt": "hi", "messages": MESSAGES})
    assert unmarshal("post", path, {})


def test_path_parameters() -> None:
    assert unmarshal("get", "/api/chat/runs/wrun_01KVWZNM82NA7XKNEWWHG8VPHJ") == []
    assert unmarshal("get", "/api/chat/runs/wrun_01kvwznm82na7xknewwhg8vphj")
    assert unmarshal("get", f"/api/chat/{UUID}/stream") == []
    assert unmarshal("get", "/api/chat/not-a-uuid/stream")
    assert unmarshal("options", "/legacy/api/chat", headers={}) == []


# ---------------------------------------------------------------- examples


def media_examples(document: dict[str, Any]) -> list[tuple[str, dict[str, Any], Any]]:
    """Every example of a JSON request or response body: (where, the media's schema, the value)."""
    found = []
    for (method, path), operation in operations(document).items():
        media = []
        body = resolve(document, operation.get("requestBody", {}))
        media.append(("request", body.get("content", {}).get("application/json")))
        for status, response in operation["responses"].items():
            media.append((status, resolve(document, response).get("content", {}).get("application/json")))
        for where, content in media:
            for name, example in ((content or {}).get("examples") or {}).items():
                found.append((f"{method.upper()} {path} {where} {name}", content["schema"],
                              resolve(document, example)["value"]))
    return found


@pytest.mark.parametrize("profile", ["documented", "deployed"])
def test_every_example_is_valid_against_its_schema(profile: str) -> None:
    """In the contract, and in the deployed one the overlay derives from it (its examples changed too)."""
    document = derived_document(CHAT, profile_named(profile), load(CHAT))
    registry: Registry[Any] = Registry().with_resource(
        "urn:recoup-mock:chat", Resource.from_contents(document, default_specification=DRAFT202012))
    examples = media_examples(document)
    assert len(examples) >= 30
    for where, schema, value in examples:
        ref = schema["$ref"].replace("#/", "urn:recoup-mock:chat#/") if "$ref" in schema else None
        validator = Draft202012Validator({"$ref": ref} if ref else schema, registry=registry,
                                         format_checker=Draft202012Validator.FORMAT_CHECKER)
        problems = [e.message for e in validator.iter_errors(value)]
        assert not problems, (where, problems)
