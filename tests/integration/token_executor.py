"""A pymesos custom executor that sends the agent's executor token (pymesos 0.3.15 itself
sends none): ``Authorization: Bearer $MESOS_EXECUTOR_AUTHENTICATION_TOKEN`` on its SUBSCRIBE
and on every call. It writes its id and token to ``token.json`` in its sandbox for the test,
answers each task with TASK_RUNNING then TASK_FINISHED, and stops on SHUTDOWN."""

from __future__ import annotations

import json
import os
from typing import Any

from pymesos import Executor, MesosExecutorDriver

TOKEN = os.environ.get("MESOS_EXECUTOR_AUTHENTICATION_TOKEN", "")


class TokenDriver(MesosExecutorDriver):  # type: ignore[misc]
    def gen_request(self) -> bytes:
        request: bytes = super().gen_request()
        head, sep, body = request.partition(b"\r\n\r\n")
        return head + f"\r\nAuthorization: Bearer {TOKEN}".encode() + sep + body

    def _send(
        self,
        body: Any,
        path: str = "/api/v1/executor",
        method: str = "POST",
        headers: dict[str, str] | None = None,
    ) -> Any:
        with_token = {**(headers or {}), "Authorization": f"Bearer {TOKEN}"}
        return super()._send(body, path, method, with_token)


class Finisher(Executor):  # type: ignore[misc]
    def launchTask(self, driver: Any, task: Any) -> None:
        driver.sendStatusUpdate({"task_id": task["task_id"], "state": "TASK_RUNNING"})
        driver.sendStatusUpdate({"task_id": task["task_id"], "state": "TASK_FINISHED"})


if __name__ == "__main__":
    with open("token.json", "w") as f:
        json.dump({"executor_id": os.environ["MESOS_EXECUTOR_ID"], "token": TOKEN}, f)
    driver = TokenDriver(Finisher())
    driver.run()
