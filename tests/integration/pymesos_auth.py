"""An unmodified pymesos scheduler that only subscribes, with or without credentials.

Usage: ``python pymesos_auth.py <master host:port> <principal|-> <secret|-> <timeout>``.
Prints one JSON line: ``{"subscribed": bool, "framework_id": ...}``; exit 0 when it subscribed."""

from __future__ import annotations

import getpass
import json
import sys
import threading
import time
from typing import Any

from pymesos import MesosSchedulerDriver, Scheduler


class OnlySubscribe(Scheduler):  # type: ignore[misc]
    def __init__(self) -> None:
        self.framework_id: str | None = None
        self.done = threading.Event()

    def registered(self, driver: Any, framework_id: Any, master_info: Any) -> None:
        self.framework_id = framework_id["value"]
        self.done.set()

    def resourceOffers(self, driver: Any, offers: Any) -> None:
        driver.declineOffer([o["id"] for o in offers])


def main() -> int:
    master, principal, secret, timeout = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
    sched = OnlySubscribe()
    framework = {"user": getpass.getuser(), "name": "pymesos-auth", "hostname": "localhost"}
    if principal != "-":
        framework["principal"] = principal
    driver = MesosSchedulerDriver(
        sched,
        framework,
        master,
        principal=None if principal == "-" else principal,
        secret=None if secret == "-" else secret,
    )
    error = None
    try:
        driver.start()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not sched.done.is_set() and not driver.aborted:
            sched.done.wait(0.1)
    except RuntimeError as exc:  # pymesos re-raises its thread's failure here (the HTTP status)
        error = str(exc)
    ok = sched.framework_id is not None
    result = {"subscribed": ok, "framework_id": sched.framework_id, "error": error}
    print(json.dumps(result), flush=True)
    if ok:
        driver.stop()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
