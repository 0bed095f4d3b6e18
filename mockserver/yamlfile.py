"""Reading one YAML file, the one way the package does it. Imports nothing else from the package.

libyaml's safe loader when PyYAML was built with it (ten times faster than the pure one), else the
pure safe loader. Every failure (missing file, bad encoding, bad YAML) becomes the caller's own
error, so each loader keeps its own error type and wording while the reading happens here.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

SAFE_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def read_yaml(path: Path, error: Callable[[str], Exception]) -> Any:
    """The document in ``path``; on any failure, raise ``error(reason)`` (the reason names the line
    and column for a YAML syntax error)."""
    try:
        return yaml.load(path.read_text(encoding="utf-8"), Loader=SAFE_LOADER)
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise error(str(exc)) from None
