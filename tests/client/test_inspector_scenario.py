"""The inspector's "Scenario" button in headless Chromium: on a finished run it downloads the run as a scenario
file (what ``GET /__mock/runs/{runId}/scenario`` answers), which validates and, served by name, streams the
run's chunks again; on a live run and on the pinned one it is disabled and says why. The page is driven by
``inspector_drive.mjs`` (see test_inspector_page.py), one bounded step at a time."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import yaml
from support import ALICE, PINNED_RUN, chat_body, chunks_of, live_server
from test_inspector_page import RUN_ROW, Page, Stream, browser, page  # noqa: F401 (the fixtures)

from mockserver.settings import DEFAULT_FIXTURES

pytestmark = pytest.mark.live

#: The Scenario button of run ``runId``'s row: whether it can be clicked, and its tooltip.
SAVE_BUTTON = """([runId]) => {
  const button = document.querySelector(`#run-rows tr[data-run-id="${runId}"] button.save-scenario`);
  return button && { enabled: !button.disabled, title: button.title };
}"""
#: The row's button once it is enabled (the run is over and the page knows it).
SAVE_ENABLED = f"""([runId]) => {{
  const button = ({SAVE_BUTTON})([runId]);
  return button && button.enabled ? button : null;
}}"""


def test_the_scenario_button_downloads_a_finished_run_that_replays(page: Page, tmp_path: Path) -> None:  # noqa: F811
    fixtures = tmp_path / "fixtures"
    shutil.copytree(DEFAULT_FIXTURES, fixtures)
    with live_server(speed=1.0) as mock:
        page.open(mock.base_url + "/__mock/")
        pinned = page.wait(SAVE_BUTTON, PINNED_RUN)
        assert not pinned["enabled"] and "never served" in pinned["title"]
        stream = Stream(mock.base_url, "Save me", {"x-api-key": ALICE, "prefer": "scenario=slow"})
        run_id = stream.started()
        live = page.wait(f"([runId]) => {{ const row = ({RUN_ROW})([runId]); return row && row.live && row; }}",
                         run_id)
        assert live["live"]
        button = page.evaluate(SAVE_BUTTON, run_id)
        assert not button["enabled"] and "still going" in button["title"]
        served = chunks_of(stream.ended())
        enabled = page.wait(SAVE_ENABLED, run_id)
        assert f"/__mock/runs/{run_id}/scenario" in enabled["title"]
        target = tmp_path / "download.yaml"
        suggested = page.step("download", selector=f'#run-rows tr[data-run-id="{run_id}"] button.save-scenario',
                              path=str(target))
        notice = page.wait("() => { const n = document.querySelector('#notice'); "
                           "return !n.hidden && n.textContent; }")
        log = page.leave()
    assert log["pageErrors"] == [] and log["consoleErrors"] == [], log
    doc = yaml.safe_load(target.read_text())
    assert suggested == f"{doc['name']}.yaml" and doc["name"] in notice
    assert f"run {run_id}" in doc["description"] and "from scenario 'slow'" in doc["description"]
    assert [step["chunk"] for step in doc["steps"]] == served
    shutil.copyfile(target, fixtures / "scenarios" / suggested)
    checked = subprocess.run([sys.executable, "-m", "mockserver", "validate", "--fixtures", str(fixtures)],
                             capture_output=True, text=True, timeout=60)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    with live_server(speed=0.0, fixtures=fixtures) as mock:
        again = httpx.post(mock.base_url + "/api/chat", json=chat_body(), timeout=15,
                           headers={"x-api-key": ALICE, "prefer": f"scenario={doc['name']}"})
    assert chunks_of(again.content) == served
