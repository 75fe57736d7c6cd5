"""``CorralLatentWorker``: a Buildbot latent worker whose instances are corral ci agents.

In a Buildbot master's ``master.cfg``::

    from corral.frameworks.ci.buildbot import CorralLatentWorker
    c["workers"] = [
        CorralLatentWorker("w1", "secret", ci_url="http://ci-host:5060", template="bb",
                           build_wait_timeout=0, masterFQDN="buildbot-host"),
    ]

When Buildbot needs the worker (``start_instance``), it asks the ci framework for an agent
of ``template`` named after the worker (``POST /v1/agents``), with the environment the
``buildbot-worker`` process needs: ``BUILDMASTER``, ``BUILDMASTER_PORT``,
``BUILDMASTER_PROTOCOL``, ``WORKERNAME``, ``WORKERPASS`` (what Buildbot's Docker and Marathon
workers pass too). The template's command starts ``buildbot-worker``, which connects back.
While it waits for the worker to attach, ``check_instance`` asks the framework whether the
agent's task ended, so a crashed agent fails the substantiation at once rather than after
``missing_timeout``. Builds starting and finishing are reported to the framework (busy /
idle), and when the worker has idled ``build_wait_timeout`` seconds Buildbot calls
``stop_instance``, which releases the agent (``DELETE /v1/agents/<name>``); the framework
drains it first if it still runs a build.

HTTP goes through Buildbot's own client service (``buildbot.util.httpclientservice``), on
Twisted; nothing here blocks the reactor.
"""

from __future__ import annotations

import socket
from typing import Any
from urllib.parse import quote

from buildbot import config
from buildbot.interfaces import LatentWorkerFailedToSubstantiate
from buildbot.util.httpclientservice import HTTPSession
from buildbot.worker import AbstractLatentWorker
from twisted.internet import defer
from twisted.python import log


class CorralLatentWorker(AbstractLatentWorker):  # type: ignore[misc]
    """A latent worker run as an agent of the corral ci framework at ``ci_url``."""

    ci_url: str = ""
    template: str = ""
    masterFQDN: str = ""
    master_protocol: str = "pb"

    def checkConfig(
        self,
        name: str,
        password: str | None,
        ci_url: str | None = None,
        template: str | None = None,
        masterFQDN: str | None = None,
        master_protocol: str = "pb",
        **kwargs: Any,
    ) -> None:
        if not ci_url:
            config.error("CorralLatentWorker: ci_url is required (http://HOST:5060)")
        if not template:
            config.error("CorralLatentWorker: template is required (a [[template]] name)")
        super().checkConfig(name, password or "unset", **kwargs)

    @defer.inlineCallbacks
    def reconfigService(
        self,
        name: str,
        password: str | None,
        ci_url: str | None = None,
        template: str | None = None,
        masterFQDN: str | None = None,
        master_protocol: str = "pb",
        **kwargs: Any,
    ) -> Any:
        if password is None:
            password = self.getRandomPass()
        yield super().reconfigService(name, password, **kwargs)
        self.ci_url = str(ci_url).rstrip("/")
        self.template = str(template)
        self.masterFQDN = masterFQDN or socket.getfqdn()
        self.master_protocol = master_protocol
        self.ci_http = HTTPSession(self.master.httpservice, self.ci_url)

    def environment(self) -> dict[str, str]:
        env = {
            "BUILDMASTER": self.masterFQDN,
            "BUILDMASTER_PROTOCOL": self.master_protocol,
            "WORKERNAME": self.name,
            "WORKERPASS": self.password,
        }
        if self.registration is not None:
            env["BUILDMASTER_PORT"] = str(self.registration.getPBPort())
        if ":" in self.masterFQDN:
            env["BUILDMASTER"], env["BUILDMASTER_PORT"] = self.masterFQDN.rsplit(":", 1)
        return env

    def agent_path(self) -> str:
        return "/v1/agents/" + quote(self.name, safe="")

    @defer.inlineCallbacks
    def start_instance(self, build: Any) -> Any:
        body = {"name": self.name, "template": self.template, "env": self.environment()}
        try:
            res = yield self.ci_http.post("/v1/agents", json=body)
        except Exception as exc:
            raise LatentWorkerFailedToSubstantiate(
                self.name, f"cannot reach the corral ci framework at {self.ci_url}: {exc}"
            ) from exc
        if res.code not in (200, 201):
            answer = yield res.json()
            raise LatentWorkerFailedToSubstantiate(
                self.name, f"corral ci refused the agent: {res.code} {answer.get('message')}"
            )
        return True

    @defer.inlineCallbacks
    def check_instance(self) -> Any:
        try:
            res = yield self.ci_http.get(self.agent_path())
        except Exception as exc:  # the framework is away: not the instance's fault
            return (True, f"cannot ask the corral ci framework: {exc}")
        if res.code == 404:
            answer = yield res.json()
            return (False, str(answer.get("message")))
        return (True, "")

    @defer.inlineCallbacks
    def stop_instance(self, fast: bool = False) -> Any:
        try:
            res = yield self.ci_http.delete(self.agent_path())
        except Exception as exc:
            log.msg(f"CorralLatentWorker {self.name}: releasing the agent failed: {exc}")
            return False
        if res.code not in (200, 404):
            answer = yield res.json()
            log.msg(f"CorralLatentWorker {self.name}: release: {res.code} {answer}")
        return True

    def report(self) -> None:
        """Tell the framework how many builds run on the worker (fire and forget)."""
        d = self.ci_http.post(self.agent_path() + "/report", json={"busy": len(self.building)})
        d.addErrback(lambda f: log.msg(f"CorralLatentWorker {self.name}: report failed: {f}"))

    def buildStarted(self, wfb: Any) -> None:
        super().buildStarted(wfb)
        self.report()

    def buildFinished(self, wfb: Any) -> None:
        super().buildFinished(wfb)
        self.report()


__all__ = ["CorralLatentWorker"]
