"""examples/sleepers.py's decisions against the fake master (the docs' example test)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

from corral.scheduler_client import FrameworkCore
from corral.scheduler_client.testing import FakeMaster

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "sleepers.py"


def load_example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("sleepers_example", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def test_keeps_three() -> None:
    sleepers = load_example()
    fake = FakeMaster(FrameworkCore(sleepers.Sleepers(3), store=None))
    fake.add_agent("cpus:4;mem:4096", rack="a")
    await fake.subscribe()
    await fake.offer()
    assert len(fake.launched()) == 3
    await fake.start_all()
    await fake.set_state(fake.running()[0], "TASK_FAILED")
    await fake.offer()
    assert len(fake.running()) == 3
    assert len(fake.launched()) == 4
    assert all(c.accept is not None for c in fake.calls_of("ACCEPT"))


def test_bad_flags_name_the_flag(capsys: pytest.CaptureFixture[str]) -> None:
    sleepers = load_example()
    with pytest.raises(SystemExit) as exited:
        sleepers.main(["--master", "m:1", "--state", "/tmp/x", "--constraint", "rack:NEAR"])
    assert exited.value.code == 2
    assert "--constraint: constraint rack: unknown operator 'NEAR'" in capsys.readouterr().err
