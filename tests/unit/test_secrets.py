"""Secret environment variables: checked at launch by the master, resolved by the agent,
redacted from the views."""

from __future__ import annotations

import base64

import pytest
from master_builders import Harness, launch, task
from test_master_core_offers import offered, task_errors

from corral.wire import secrets
from corral.wire.base import ID
from corral.wire.tasks import CommandInfo, Environment, EnvironmentVariable, ExecutorInfo


def secret_var(name: str, secret: dict[str, object]) -> EnvironmentVariable:
    return EnvironmentVariable(name=name, type="SECRET", secret=secret)


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def command(*variables: EnvironmentVariable) -> CommandInfo:
    return CommandInfo(value="true", environment=Environment(variables=list(variables)))


def test_a_value_secret_is_its_decoded_data() -> None:
    var = secret_var("TOKEN", {"type": "VALUE", "value": {"data": b64("s3cret")}})
    assert secrets.value(var) == "s3cret"
    assert secrets.problem(command(var)) is None


@pytest.mark.parametrize(
    ("secret", "says"),
    [
        ({"type": "REFERENCE", "reference": {"name": "db", "key": "pw"}}, "secret resolver"),
        ({"type": "VALUE"}, "secret.value.data is missing"),
        ({"type": "VALUE", "value": {"data": "***"}}, "not base64"),
    ],
)
def test_unusable_secrets_are_named(secret: dict[str, object], says: str) -> None:
    message = secrets.problem(command(secret_var("TOKEN", secret)))
    assert message is not None and "'TOKEN'" in message and says in message


def test_redaction_hides_only_secrets_and_copies() -> None:
    plain = EnvironmentVariable(name="MODE", value="prod")
    hidden = secret_var("TOKEN", {"type": "VALUE", "value": {"data": b64("s3cret")}})
    info = ExecutorInfo(executor_id=ID("e"), command=command(plain, hidden))
    shown = secrets.redact_executor(info)
    assert shown.command is not None and shown.command.environment is not None
    got = {v.name: v for v in shown.command.environment.variables}
    assert got["MODE"].value == "prod"
    assert got["TOKEN"].secret == {"type": "VALUE", "value": {"data": secrets.REDACTED}}
    assert b64("s3cret") not in repr(shown)
    assert info.command is not None and info.command.environment is not None
    assert info.command.environment.variables[1].secret == hidden.secret  # original kept
    bare = ExecutorInfo(executor_id=ID("e"), command=command(plain))
    assert secrets.redact_executor(bare) is bare


def test_the_master_refuses_a_secret_reference_with_task_error() -> None:
    h = Harness()
    fid, st, aid, (oid,) = offered(h)
    t = task("t", aid)
    ref = secret_var("DB", {"type": "REFERENCE", "reference": {"name": "db"}})
    assert t.command is not None
    t.command.environment = Environment(variables=[ref])
    h.accept(fid, st, [oid], launch(t))
    (err,) = task_errors(h, st)
    assert "secret resolver" in err and "'DB'" in err
    assert h.state.frameworks[fid].tasks == {}
