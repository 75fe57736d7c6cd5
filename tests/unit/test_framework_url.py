"""Client commands find the built-in frameworks: the flag, the environment, what `corral up`
recorded in cluster.json, then the default port."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from corral.cli import common


def test_flag_then_environment_then_recorded_then_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    record = tmp_path / "cluster.json"
    monkeypatch.setattr(common, "CLUSTER_FILE", record)
    monkeypatch.delenv("CORRAL_SERVICES_URL", raising=False)
    default = "http://127.0.0.1:8080"
    assert common.framework_url(None, "CORRAL_SERVICES_URL", "services", default) == default
    record.write_text(json.dumps({"master": "127.0.0.1:15050", "services_url": "http://h:18080"}))
    assert common.framework_url(None, "CORRAL_SERVICES_URL", "services", default) == "http://h:18080"
    assert common.framework_url(None, "CORRAL_JOBS_URL", "jobs", "http://d:4400") == "http://d:4400"
    monkeypatch.setenv("CORRAL_SERVICES_URL", "http://env:1")
    assert common.framework_url(None, "CORRAL_SERVICES_URL", "services", default) == "http://env:1"
    assert common.framework_url("http://f:2", "CORRAL_SERVICES_URL", "services", default) == (
        "http://f:2"
    )
    record.write_text("not json")
    monkeypatch.delenv("CORRAL_SERVICES_URL")
    assert common.framework_url(None, "CORRAL_SERVICES_URL", "services", default) == default
