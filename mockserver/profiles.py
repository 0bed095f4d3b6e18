"""Profiles: the mock as the documents describe the API, or as the deployed server behaves.

A profile is data, in two parts:

- a **spec overlay** (OpenAPI Overlay 1.0, ``openapi/deployed.overlay.yaml``) that derives the
  profile's contract from ``openapi/chat.yaml``: which routes exist, what requests are valid, what
  responses may say. Applied by the ``oas-patch`` library. Each action names its drift row.
- a **behaviour table** (`Behaviour`): one switch per behavioural row of ``docs/drift.md`` that no
  document can express (a POST that replays a live run, a disconnect that cancels it, ...). The
  handlers read the switches of the request's world; there is no ``if profile == ...`` anywhere.

``documented`` is the contract as written (the default); ``deployed`` reproduces every row a
single server can show. `DRIFT_ROWS` says which row each switch implements; docs/drift.md has a
column saying, per row, whether and how ``deployed`` reproduces it.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import importlib.util
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from starlette.responses import HTMLResponse, Response

from .errors import DOCUMENTED_ERRORS, ApiError, ConfigError, ErrorStyle, SpecError, UnknownPath, error_response
from .settings import DEFAULT_SPEC
from .spec import ApiSpec, load_document, template_regex
from .state.lifecycle import DOCUMENTED_RULES, Rules
from .types import PROFILE_NAMES, ProfileName
from .yamlfile import read_yaml

OVERLAY_FILE = "deployed.overlay.yaml"

#: What of a request the spec checks before the credentials: ``request``, all of it (the body and
#: every parameter); ``path``, its path parameters (the rest after the credentials).
CheckedFirst = Literal["request", "path"]
#: How a body that is not a JSON object is read: ``malformed``, any body that does not parse (an
#: empty one included) is ``{}``; ``not-an-object``, that or a JSON value that is not an object is
#: ``{}``; ``blank``, only an empty or blank body is ``{}``, anything else unparseable is a 400.
LenientJson = Literal["malformed", "not-an-object", "blank"]


@dataclass(frozen=True)
class Behaviour:
    """What a profile changes in how requests are answered. Each field is one drift row (`DRIFT_ROWS`)."""

    #: The shape of every error body.
    errors: ErrorStyle = DOCUMENTED_ERRORS
    #: ``POST /api/chat`` on a chat whose run is live answers 200 with that run replayed from chunk 0
    #: (its ``x-workflow-run-id``) instead of 409.
    post_replays_live_run: bool = False
    #: A client dropping the stream of ``POST /api/chat`` or of a resume cancels the run.
    disconnect_cancels_run: bool = False
    #: Operations (by the project's operationId) whose request, or its path, is checked (400) before the
    #: credentials (401): `CheckedFirst`.
    checked_before_auth: Mapping[str, CheckedFirst] = field(default_factory=dict)
    #: Operations whose remaining checks (reading the body included) wait until the handler has found
    #: what the path names, so that an unknown or foreign id is a 404/403 whatever the body: the
    #: handler says where (`mockserver.pipeline.Call.checked`).
    checked_after_lookup: frozenset[str] = frozenset()
    #: Operations that read a body that is not a JSON object as ``{}`` (`LenientJson`).
    lenient_json: Mapping[str, LenientJson] = field(default_factory=dict)
    #: Read a body as JSON whatever its ``Content-Type`` (no 415): the deployed server calls ``request.json()``.
    json_whatever_content_type: bool = False
    #: ``GET /api/chat/runs/{runId}`` answers any account, not only the run's owner.
    any_account_reads_runs: bool = False
    #: Preflight statuses by path, where not 200.
    preflight_statuses: Mapping[str, int] = field(default_factory=dict)
    #: The page a path the profile lacks answers with (404, HTML), instead of the JSON error body.
    not_found_page: str | None = None
    #: The rooms of ``/api/chats`` are a store of their own (`mockserver.state.rooms.SeparateRooms`),
    #: not the session chats.
    separate_rooms: bool = False
    #: How the sandbox lifecycle is read and written (`mockserver.state.lifecycle.Rules`).
    sandbox: Rules = DOCUMENTED_RULES
    #: The model of every chat and the sessions' ``defaultModelId``, instead of the fixture world's.
    default_model: str | None = None


#: Which row of docs/drift.md each switch implements (a test checks every name is a row there).
DRIFT_ROWS: dict[str, tuple[str, ...]] = {
    "errors": ("Error body field", "Validation-error body", "Error texts"),
    "post_replays_live_run": ("POST on a chat whose run is live", "When 409 happens"),
    "disconnect_cancels_run": ("Client disconnect",),
    "checked_before_auth": ("Body validation vs auth order", "Validation order on the surface"),
    "checked_after_lookup": ("Validation order on the surface",),
    "lenient_json": ("Malformed JSON bodies",),
    "json_whatever_content_type": ("Request content type",),
    "any_account_reads_runs": ("`GET /api/chat/runs/{runId}` responses",),
    "preflight_statuses": ("`OPTIONS /api/sandbox`",),
    "not_found_page": ("`POST /api/chat/workflow`", "Legacy path"),
    "separate_rooms": ("Two chat stores", "`POST /api/chats` answer"),
    "sandbox": ("Sandbox status of a hibernated sandbox", "`GET /api/sandbox/reconnect`",
                "`PATCH /api/sessions/{id}`"),
    "default_model": ("`POST /api/sessions`",),
}
#: The one model of the deployed server (``DEFAULT_MODEL``, ``lib/const.ts``).
SERVER_MODEL = "moonshotai/kimi-k3"
#: Next.js's default 404 page, what the deployed server answers on a path it has no route for.
NEXT_NOT_FOUND = ("<!DOCTYPE html><html><head><title>404: This page could not be found.</title></head>"
                  "<body><h1>404</h1><h2>This page could not be found.</h2></body></html>")


@dataclass(frozen=True)
class Profile:
    """A profile: its name, whether its contract is the overlaid one, and its behaviour."""

    name: ProfileName
    overlaid: bool
    behaviour: Behaviour


PROFILES: dict[ProfileName, Profile] = {
    "documented": Profile("documented", overlaid=False, behaviour=Behaviour()),
    "deployed": Profile("deployed", overlaid=True, behaviour=Behaviour(
        errors=ErrorStyle(key="error", message_statuses=frozenset({401}), missing_fields=True, terse=True),
        post_replays_live_run=True,
        disconnect_cancels_run=True,
        checked_before_auth={
            # zod before validateAuthContext (RSB section 4, 7; recoup-surface.md sections 3, 4).
            "postChat": "request", "startChatRun": "request", "createSession": "request", "listChats": "request",
            "createChat": "request", "updateChat": "request", "deleteChat": "request", "compactChats": "request",
            "copyChatMessages": "request",
            # validateChatAccess: the id's UUID check, then auth.
            "getChatMessages": "path", "getChatArtist": "path", "deleteTrailingChatMessages": "path",
        },
        checked_after_lookup=frozenset({"createSessionChat", "patchSessionChat", "deleteTrailingChatMessages"}),
        lenient_json={"createSession": "malformed", "createChat": "malformed", "updateChat": "malformed",
                      "deleteChat": "malformed", "compactChats": "malformed", "createSessionChat": "not-an-object",
                      "patchSession": "blank"},
        json_whatever_content_type=True,
        any_account_reads_runs=True,
        preflight_statuses={"/api/sandbox": 204, "/api/sandbox/status": 204, "/api/sandbox/reconnect": 204},
        not_found_page=NEXT_NOT_FOUND,
        separate_rooms=True,
        sandbox=Rules(runtime_by_name=True, expiry_margin_ms=10_000, reconnect_probes=True, unarchive_conflicts=True),
        default_model=SERVER_MODEL,
    )),
}


def profile_named(name: str) -> Profile:
    """The profile called ``name``; a `ConfigError` naming the choices for any other name."""
    if name not in PROFILES:
        raise ConfigError(f"Unknown profile {name!r}; choose one of {', '.join(PROFILE_NAMES)}")
    return PROFILES[name]


def overlay_path(spec: Path, document: Mapping[str, Any] | None = None) -> Path | None:
    """The overlay beside ``spec`` if there is one (a custom spec brings its own), else the bundled one
    for a version of the project's contract (it names the project's operations: ``postChat``); None for
    a spec of another origin (an upstream document), which the bundled overlay's targets do not fit:
    its deployed profile changes behaviour only."""
    beside = spec.parent / OVERLAY_FILE
    if beside.is_file():
        return beside
    document = load_document(spec) if document is None else document
    ours = any(isinstance(op, Mapping) and op.get("operationId") == "postChat"
               for item in document.get("paths", {}).values() if isinstance(item, Mapping) for op in item.values())
    return DEFAULT_SPEC.parent / OVERLAY_FILE if ours else None


def derived_document(spec: Path, profile: Profile, document: dict[str, Any] | None = None) -> dict[str, Any]:
    """The contract of ``profile``: the document in ``spec`` (``document`` when it is already loaded),
    with the profile's overlay applied (to a copy)."""
    document = load_document(spec) if document is None else document
    if not profile.overlaid:
        return document
    apply_overlay = overlay_applier()
    path = overlay_path(spec, document)
    if path is None:
        return document
    overlay = read_yaml(path, lambda why: SpecError(f"Cannot read the overlay {path}: {why}"))
    if not isinstance(overlay, Mapping) or not isinstance(overlay.get("actions"), list):
        raise SpecError(f"{path} is not an OpenAPI Overlay (no 'actions' list)")
    try:
        derived: dict[str, Any] = apply_overlay(copy.deepcopy(document), overlay)
    except Exception as exc:  # the overlay library raises what jsonpath raises
        raise SpecError(f"{path}: cannot apply the overlay to {spec}: {exc}") from None
    return derived


@functools.cache
def overlay_applier() -> Callable[[Any, Any], Any]:
    """oas-patch's ``apply_overlay``, loaded (when a profile first needs it) from its own module alone:
    the package's ``__init__`` also imports its command line, its overlay differ and its validator
    (click, rich, deepdiff, pydantic, jsonschema: a quarter of a second) that applying never uses. The
    same code runs; a layout this cannot load it from is imported the ordinary way."""
    package = importlib.util.find_spec("oas_patch")
    locations = list(package.submodule_search_locations or []) if package is not None else []
    spec = importlib.util.spec_from_file_location("mockserver.profiles._oas_patch_overlay",
                                                  Path(locations[0]) / "overlay.py") if locations else None
    if spec is not None and spec.loader is not None:
        module = importlib.util.module_from_spec(spec)
        try:
            spec.loader.exec_module(module)
            applier: Callable[[Any, Any], Any] = module.apply_overlay
            return applier
        except (ImportError, OSError, AttributeError):  # another layout (a relative import, no such file)
            pass
    from oas_patch.overlay import apply_overlay

    fallback: Callable[[Any, Any], Any] = apply_overlay
    return fallback


class Specs:
    """The chat spec of each profile, built on first use (the documented one at start-up), and the
    paths a profile lacks (the routes come from the documented spec, a superset)."""

    def __init__(self, path: Path, documented: ApiSpec) -> None:
        self.path = path
        self._specs: dict[str, ApiSpec] = {"documented": documented}
        self._lacking: dict[str, re.Pattern[str] | None] = {}

    def of(self, profile: Profile) -> ApiSpec:
        spec = self._specs.get(profile.name)
        if spec is None:
            documented = self._specs["documented"].document  # already read: overlay it, not the file again
            spec = self._specs[profile.name] = ApiSpec(self.path, derived_document(self.path, profile, documented))
        return spec

    def of_documented(self) -> ApiSpec:
        return self._specs["documented"]

    def lacks(self, profile: Profile, path: str) -> bool:
        """Whether ``path`` is a route of the documented contract that ``profile``'s contract removed."""
        if profile.name not in self._lacking:
            removed = set(self._specs["documented"].document["paths"]) - set(self.of(profile).document["paths"])
            templates = [template_regex(p)[0] for p in sorted(removed)]
            self._lacking[profile.name] = re.compile("|".join(templates)) if templates else None
        pattern = self._lacking[profile.name]
        return pattern is not None and pattern.fullmatch(path) is not None


def error_answer(exc: ApiError, behaviour: Behaviour, style: ErrorStyle | None = None) -> Response:
    """How an error leaves the server under a profile: the error body in the shape the operation
    documents for that status (``style``), else in the profile's shape, or the profile's not-found
    page for a path it has no operation at. The app's exception handler and the middleware both
    answer through here."""
    if isinstance(exc, UnknownPath) and behaviour.not_found_page is not None:
        return HTMLResponse(behaviour.not_found_page, status_code=404)
    chosen = style or behaviour.errors
    if behaviour.errors.terse and not chosen.terse:  # the profile's words, in the operation's shape
        chosen = dataclasses.replace(chosen, terse=True)
    return error_response(exc, chosen)
