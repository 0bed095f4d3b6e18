"""What is loaded from files: the contract of each profile, the admin contract, the fixtures and the
compiled scenario scripts, as one `Catalog`.

A catalog is never changed: a reload (``serve --watch``) loads a whole new one and swaps it in, or
keeps the old one when the new files do not load. Runs in flight hold their own script, so they
finish with the version they started with.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ..profiles import Specs, profile_named
from ..settings import Settings
from ..spec import ApiSpec
from ..streams.engine import Script
from .chaos import chaos_names
from .fixtures import Fixtures, load_fixtures
from .runs import compile_scripts


@dataclass(frozen=True)
class Catalog:
    """The specs (per profile), the admin spec (None when the admin API is off), the fixtures and
    the stream scenarios compiled once."""

    specs: Specs
    admin_spec: ApiSpec | None
    fixtures: Fixtures
    scripts: Mapping[str, Script]
    #: The fault scenarios seeded chaos picks from (`mockserver.state.chaos`), sorted.
    chaos: tuple[str, ...] = ()


def load_catalog(settings: Settings) -> Catalog:
    """Load and check everything the settings name; raises `SpecError`/`FixtureError` naming the file, and
    `ConfigError` for a ``chaos_scenarios`` name that is not a loaded fault scenario."""
    spec = ApiSpec(settings.spec)
    specs = Specs(settings.spec, spec)
    specs.of(profile_named(settings.profile))  # a broken overlay stops here, not at a request
    admin_spec = ApiSpec(settings.admin_spec) if settings.admin else None
    fixtures = load_fixtures(settings.fixtures, spec.chunk_schemas())
    chaos = chaos_names(fixtures.scenarios, settings.chaos_scenarios)
    return Catalog(specs, admin_spec, fixtures, compile_scripts(fixtures.scenarios), chaos)
