"""Start-up refuses a spec whose routes do not give the handlers the parameters they read."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from mockserver import Settings, create_app
from mockserver.errors import SpecError
from mockserver.settings import DEFAULT_SPEC


def test_a_path_template_that_lacks_a_declared_parameter_is_refused(tmp_path: Path) -> None:
    # The stop route's template says {cid} while its parameter is still declared chatId: routing would
    # fill path_params["cid"], and the handler reads "chatId".
    folder = tmp_path / "openapi"
    shutil.copytree(DEFAULT_SPEC.parent, folder)
    document = yaml.safe_load(DEFAULT_SPEC.read_text(encoding="utf-8"))
    document["paths"]["/api/chat/{cid}/stop"] = document["paths"].pop("/api/chat/{chatId}/stop")
    (folder / "chat.yaml").write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    with pytest.raises(SpecError) as refused:
        create_app(Settings(spec=folder / "chat.yaml", access_log=False))
    message = str(refused.value)
    assert "stopChat (POST /api/chat/{cid}/stop)" in message and "'chatId'" in message
    assert "path template /api/chat/{cid}/stop lacks" in message and "path 'chatId'" in message
