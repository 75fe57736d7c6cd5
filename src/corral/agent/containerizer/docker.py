"""The docker containerizer: tasks whose ``ContainerInfo.type`` is DOCKER run through dockerd.

The agent talks to the Docker Engine API with the docker SDK. Short calls (ping, inspect,
pull, create, start, kill, remove) run in the default thread pool through
``asyncio.to_thread``; each running container also has one watcher thread (a daemon thread,
so an agent that stops leaves its containers running, as it leaves its launcher's tasks) that
copies the container's stdout and stderr into the sandbox files, waits for the exit, reads
the exit code and ``State.OOMKilled``, removes the container and hands the result to the event
loop.

Containers are named ``corral-<container id>`` and labelled with the agent's work dir, its id,
the container, framework and task ids, and how long the sandbox's stdout/stderr files were
when the container was created. A restarted agent finds its containers by the work-dir label:
it re-adopts the running ones (log copying resumes where the files end, since dockerd keeps
the whole log), reports the ones that exited meanwhile, and removes the ones it does not know.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from corral.agent.containerizer.base import (
    ContainerEventSink,
    Exited,
    LaunchCancelled,
    LaunchFailed,
    LaunchSpec,
    Lost,
    Recoverable,
    Recovered,
    RecoverySummary,
    Started,
    Statistics,
)
from corral.agent.docker_spec import (
    SANDBOX,
    LaunchError,
    container_info,
    create_kwargs,
    docker_statistics,
)
from corral.agent.environment import environment
from corral.resources import Resources
from corral.wire.tasks import DockerInfo

log = logging.getLogger("corral.agent.docker")

LABEL_WORK_DIR = "corral.work_dir"
LABEL_AGENT_ID = "corral.agent_id"
LABEL_CONTAINER_ID = "corral.container_id"
LABEL_FRAMEWORK_ID = "corral.framework_id"
LABEL_TASK_ID = "corral.task_id"
LABEL_STDOUT_BASE = "corral.stdout_base"
LABEL_STDERR_BASE = "corral.stderr_base"
PING_TIMEOUT = 5.0
API_TIMEOUT = 60.0


async def _in_daemon_thread(fn: Callable[..., Any], *args: Any) -> Any:
    """Run a call that may block for long (an image pull) in a daemon thread of its own: unlike
    the default executor's threads, it does not hold up the agent's exit."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[Any] = loop.create_future()

    def settle(result: Any, exc: BaseException | None) -> None:
        if future.done():
            return
        if exc is not None:
            future.set_exception(exc)
        else:
            future.set_result(result)

    def run() -> None:
        try:
            result, exc = fn(*args), None
        except BaseException as e:
            result, exc = None, e
        with contextlib.suppress(RuntimeError):  # the loop closed: the agent stopped
            loop.call_soon_threadsafe(settle, result, exc)

    threading.Thread(target=run, name="docker-pull", daemon=True).start()
    return await future


def _explain(exc: BaseException) -> str:
    explanation = getattr(exc, "explanation", None)
    return str(explanation or exc).strip()


@dataclass
class Watch:
    """One container this agent runs."""

    container_id: str
    docker_id: str
    sandbox: Path
    exited: asyncio.Event = field(default_factory=asyncio.Event)
    stopping: bool = False


class DockerContainerizer:
    name = "docker"

    def __init__(
        self,
        sink: ContainerEventSink,
        endpoint: str,
        work_dir: Path,
        *,
        hard_cpu_limit: bool = False,
        pull_timeout: float = 60.0,
    ) -> None:
        self.sink = sink
        self.endpoint = endpoint
        self.work_dir = work_dir
        self.hard_cpu_limit = hard_cpu_limit  # --cgroups-enable-cfs
        self.pull_timeout = pull_timeout
        self.client: Any = None
        self.watches: dict[str, Watch] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._background: set[asyncio.Task[None]] = set()
        self._closed = False  # the agent is stopping: exits are for the next agent to report

    # ------------------------------------------------------------------ lifecycle
    async def connect(self) -> str | None:
        """Ping dockerd; None when it answers, else why it cannot be used."""
        self._loop = asyncio.get_running_loop()
        try:
            import docker
        except ImportError:
            return "the docker SDK (PyPI 'docker') is not installed"

        def ping() -> Any:
            client = docker.DockerClient(base_url=self.endpoint, timeout=PING_TIMEOUT)
            try:
                client.ping()
                version = client.version().get("Version", "?")
            except Exception:
                client.close()
                raise
            client.api.timeout = API_TIMEOUT
            return client, version

        try:
            self.client, version = await asyncio.to_thread(ping)
        except Exception as exc:
            return f"cannot reach dockerd at {self.endpoint}: {_explain(exc)}"
        log.info("docker containerizer: dockerd %s at %s", version, self.endpoint)
        return None

    async def close(self, kill: bool) -> None:
        """Agent stop: with ``kill``, stop and remove every container (grace 1 s) and report
        them; without, leave them running for the next agent to re-adopt."""
        if not kill:
            self._closed = True  # watcher threads die with the process; nothing is reported
            return
        if self.watches:
            await asyncio.gather(
                *(self._stop(w, 1.0) for w in list(self.watches.values())),
                return_exceptions=True,
            )
            waits = [w.exited.wait() for w in self.watches.values()]
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.gather(*waits), 10)
        for t in list(self._background):
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await asyncio.wait_for(t, 5)
        self._closed = True
        if self.client is not None:
            with contextlib.suppress(Exception):
                self.client.close()

    def owns(self, container_id: str | None) -> bool:
        return container_id is not None and container_id in self.watches

    # ------------------------------------------------------------------ launch
    async def launch(self, spec: LaunchSpec) -> None:
        cid, sandbox, task = spec.container_id, spec.sandbox, spec.task
        try:
            if task is None:
                raise LaunchError("the docker containerizer runs tasks, not custom executors")
            ci, dinfo = container_info(task)
            assert spec.framework.id is not None
            labels = {
                LABEL_WORK_DIR: str(self.work_dir),
                LABEL_AGENT_ID: spec.agent.agent_id,
                LABEL_CONTAINER_ID: cid,
                LABEL_FRAMEWORK_ID: spec.framework.id.value,
                LABEL_TASK_ID: task.task_id.value,
            }
            env = environment(
                base={},
                framework=spec.framework,
                task=task,
                executor=None,
                sandbox=Path(SANDBOX),
                executor_id=spec.executor_id,
                agent_id=spec.agent.agent_id,
                agent_address=spec.agent.address,
                hostname=spec.agent.hostname,
                ip=spec.agent.ip,
                shutdown_grace=spec.shutdown_grace,
            )
            kwargs = create_kwargs(
                info=task,
                ci=ci,
                docker=dinfo,
                env=env,
                sandbox=sandbox,
                name=f"corral-{cid}",
                labels=labels,
                hard_cpu_limit=self.hard_cpu_limit,
                user=f"{spec.user.uid}:{spec.user.gid}" if spec.user is not None else None,
            )
            timeout = self.pull_timeout
            try:
                await asyncio.wait_for(self._ensure_image(dinfo, sandbox), timeout)
            except TimeoutError:
                raise LaunchError(
                    f"Pulling image {dinfo.image!r} took longer than "
                    f"--executor-registration-timeout ({timeout:g}s)"
                ) from None
            if spec.kill_requested():
                self.sink(LaunchCancelled(cid))
                return
            for name in ("stdout", "stderr"):
                (sandbox / name).touch()
            labels[LABEL_STDOUT_BASE] = str((sandbox / "stdout").stat().st_size)
            labels[LABEL_STDERR_BASE] = str((sandbox / "stderr").stat().st_size)
            docker_id, pid = await asyncio.to_thread(self._create_and_start, kwargs)
        except Exception as exc:  # LaunchError, OSError, or dockerd gone mid-launch
            message = str(exc) if isinstance(exc, LaunchError) else f"docker: {_explain(exc)}"
            self.sink(LaunchFailed(cid, message))
            return
        watch = Watch(container_id=cid, docker_id=docker_id, sandbox=sandbox)
        self.watches[cid] = watch
        self.sink(Started(cid, pid))  # a kill asked for meanwhile follows at once
        self._start_watcher(watch, sandbox, 0, 0)

    async def _ensure_image(self, dinfo: DockerInfo, sandbox: Path) -> None:
        image = dinfo.image or ""  # container_info() made sure there is one
        local = await asyncio.to_thread(self._has_image, image)
        if local and not dinfo.force_pull_image:
            return
        try:
            await _in_daemon_thread(self._pull, image)
        except LaunchError as exc:
            if not local:
                raise
            note = f"corral: force_pull_image: {exc}; using the local image {image!r}\n"
            log.warning("%s", note.strip())
            with open(sandbox / "stderr", "a") as f:
                f.write(note)

    def _has_image(self, image: str) -> bool:
        import docker.errors

        try:
            self.client.images.get(image)
            return True
        except docker.errors.ImageNotFound:
            return False
        except docker.errors.APIError as exc:
            raise LaunchError(f"Invalid image {image!r}: {_explain(exc)}") from None

    def _pull(self, image: str) -> None:
        import docker.errors
        from docker.utils import parse_repository_tag

        repo, tag = parse_repository_tag(image)
        try:
            self.client.images.pull(repo, tag=tag or "latest")
        except docker.errors.APIError as exc:
            raise LaunchError(f"Failed to pull image {image!r}: {_explain(exc)}") from None

    def _create_and_start(self, kwargs: dict[str, Any]) -> tuple[str, int]:
        import docker.errors

        image = kwargs.pop("image")
        try:
            container = self.client.containers.create(image, **kwargs)
        except docker.errors.APIError as exc:
            raise LaunchError(f"Failed to create container: {_explain(exc)}") from None
        try:
            container.start()
            container.reload()
        except Exception as exc:  # APIError, or the transport (a timeout, dockerd gone)
            with contextlib.suppress(Exception):
                container.remove(force=True)
            raise LaunchError(f"Failed to start container: {_explain(exc)}") from None
        return str(container.id), int(container.attrs["State"].get("Pid") or 0)

    # ------------------------------------------------------------------ watching
    def _start_watcher(self, watch: Watch, sandbox: Path, skip_out: int, skip_err: int) -> None:
        loop = asyncio.get_running_loop()

        def deliver(fn: Callable[..., None], *args: Any) -> None:
            with contextlib.suppress(RuntimeError):  # the loop closed: the agent stopped
                loop.call_soon_threadsafe(fn, *args)

        thread = threading.Thread(
            target=self._watch,
            args=(watch, sandbox, skip_out, skip_err, deliver),
            name=f"docker-{watch.container_id[:8]}",
            daemon=True,
        )
        thread.start()

    def _copy(self, docker_id: str, stream: str, path: Path, skip: int) -> None:
        """Copy one of the container's output streams (from the start of its log, skipping
        what an earlier agent already copied) into a sandbox file, until the container ends."""
        api = self.client.api
        out = stream == "stdout"
        try:
            chunks: Iterable[bytes] = api.logs(
                docker_id, stdout=out, stderr=not out, stream=True, follow=True
            )
            with open(path, "ab") as f:
                for chunk in chunks:
                    if skip:
                        drop = min(skip, len(chunk))
                        chunk, skip = chunk[drop:], skip - drop
                    if chunk:
                        f.write(chunk)
                        f.flush()
        except Exception as exc:
            log.warning("copying %s of container %s: %s", stream, docker_id[:12], exc)

    def _watch(
        self,
        watch: Watch,
        sandbox: Path,
        skip_out: int,
        skip_err: int,
        deliver: Callable[..., None],
    ) -> None:
        api = self.client.api
        copiers = [
            threading.Thread(
                target=self._copy, args=(watch.docker_id, name, sandbox / name, skip), daemon=True
            )
            for name, skip in (("stdout", skip_out), ("stderr", skip_err))
        ]
        for c in copiers:
            c.start()
        try:
            api.wait(watch.docker_id, timeout=None)
            for c in copiers:
                c.join(10)
            state = api.inspect_container(watch.docker_id)["State"]
        except Exception as exc:
            deliver(self._lost, watch, _explain(exc))
            return
        if self._closed:
            return  # the agent is stopping: the next one reports this exit (and removes it)
        with contextlib.suppress(Exception):
            api.remove_container(watch.docker_id, v=True, force=True)
        deliver(
            self._exited,
            watch,
            int(state.get("ExitCode") or 0),
            bool(state.get("OOMKilled")),
            str(state.get("Error") or ""),
        )

    def _exited(self, watch: Watch, code: int, oom: bool, error: str) -> None:
        if self._closed:
            return
        self.watches.pop(watch.container_id, None)
        watch.exited.set()
        text = f"Container exited with status {code}"
        if error:
            text += f": {error}"
        limitation = "memory" if oom else None
        self.sink(Exited(watch.container_id, (code & 0xFF) << 8, code == 0, text, limitation))

    def _lost(self, watch: Watch, why: str) -> None:
        if self._closed:
            return
        # Reported as ended: it must not go on running unaccounted for.
        self._spawn(asyncio.to_thread(self._remove, watch.docker_id))
        self.watches.pop(watch.container_id, None)
        watch.exited.set()
        self.sink(Lost(watch.container_id, f"Lost track of the docker container: {why}"))

    # ------------------------------------------------------------------ killing
    def kill(self, container_id: str, grace: float) -> None:
        watch = self.watches.get(container_id)
        if watch is None:
            return
        self._spawn(self._stop(watch, grace))

    def destroy(self, container_id: str) -> None:
        self.kill(container_id, 0)

    def update(self, container_id: str, resources: Resources) -> None:
        return None  # docker containers run tasks only; a task's resources do not change

    def _spawn(self, coro: Any) -> None:
        t: asyncio.Task[None] = asyncio.get_running_loop().create_task(coro)
        self._background.add(t)
        t.add_done_callback(self._background.discard)

    async def _stop(self, watch: Watch, grace: float) -> None:
        """SIGTERM, then SIGKILL once the grace period passes (``docker stop``, with
        sub-second grace periods); the watcher reports the exit and removes the container."""
        if watch.stopping:
            return
        watch.stopping = True
        await self._signal(watch, "SIGTERM")
        try:
            await asyncio.wait_for(watch.exited.wait(), max(grace, 0.0))
        except TimeoutError:
            await self._signal(watch, "SIGKILL")

    async def _signal(self, watch: Watch, sig: str) -> None:
        try:
            await asyncio.to_thread(self.client.api.kill, watch.docker_id, sig)
        except Exception as exc:  # already exited: the watcher reports it
            log.debug("kill %s %s: %s", watch.docker_id[:12], sig, _explain(exc))

    # ------------------------------------------------------------------ recovery
    def _ours(self) -> list[dict[str, Any]]:
        work_dir = str(self.work_dir)
        found: list[dict[str, Any]] = self.client.api.containers(
            all=True, filters={"label": f"{LABEL_WORK_DIR}={work_dir}"}
        )
        return found

    async def cleanup(self) -> int:
        """``--recover cleanup``: remove every container an earlier run of this agent left."""
        leftovers = await asyncio.to_thread(self._ours)
        for c in leftovers:
            await asyncio.to_thread(self._remove, c["Id"])
        if leftovers:
            log.info("--recover cleanup: removed %d leftover docker containers", len(leftovers))
        return len(leftovers)

    async def usage(self, container_ids: Collection[str]) -> dict[str, Statistics]:
        """Usage of those running docker containers (container id -> ResourceStatistics
        fields), from dockerd's one-shot stats; a container whose stats fail is left out."""
        watches = [self.watches[c] for c in container_ids if c in self.watches]

        async def one(w: Watch) -> dict[str, int] | None:
            try:
                return await asyncio.wait_for(
                    asyncio.to_thread(self._statistics, w.docker_id), PING_TIMEOUT
                )
            except Exception:
                return None

        stats = await asyncio.gather(*(one(w) for w in watches))
        return {w.container_id: st for w, st in zip(watches, stats, strict=True) if st}

    def _statistics(self, docker_id: str) -> dict[str, int]:
        raw = self.client.api.stats(docker_id, stream=False, one_shot=True)
        return docker_statistics(raw)

    def _remove(self, docker_id: str) -> None:
        with contextlib.suppress(Exception):
            self.client.api.remove_container(docker_id, v=True, force=True)

    async def recover(self, containers: Mapping[str, Recoverable]) -> RecoverySummary:
        """Re-adopt the agent's checkpointed docker containers (the running ones, and those
        that ended meanwhile: their watcher reports the exit and copies the rest of their
        output). Containers nobody owns any more are removed."""
        found = await asyncio.to_thread(self._ours)
        by_cid = {c.get("Labels", {}).get(LABEL_CONTAINER_ID, ""): c for c in found}
        summary = RecoverySummary()
        for cid, known in containers.items():
            c = by_cid.pop(cid, None)
            if c is None or c.get("State") == "created":
                summary.gone += 1
                if c is not None:
                    await asyncio.to_thread(self._remove, c["Id"])
                why = "The task's docker container was gone when the agent restarted"
                self.sink(Lost(cid, why))
                continue
            labels = c.get("Labels", {})
            skips = []
            for name, label in (("stdout", LABEL_STDOUT_BASE), ("stderr", LABEL_STDERR_BASE)):
                try:
                    size = (known.sandbox / name).stat().st_size
                except OSError:
                    size = 0
                skips.append(max(0, size - int(labels.get(label, "0") or 0)))
            watch = Watch(container_id=cid, docker_id=c["Id"], sandbox=known.sandbox)
            self.watches[cid] = watch
            if c.get("State") == "running":
                summary.running += 1
                pid = 0
                with contextlib.suppress(Exception):
                    attrs = await asyncio.to_thread(self.client.api.inspect_container, c["Id"])
                    pid = int(attrs["State"].get("Pid") or 0)
                self.sink(Recovered(cid, pid))
            else:
                summary.ended += 1
            self._start_watcher(watch, known.sandbox, skips[0], skips[1])
        for c in by_cid.values():
            await asyncio.to_thread(self._remove, c["Id"])
        summary.unknown = len(by_cid)
        if containers or by_cid:
            log.info(
                "recovered docker containers: %d running adopted, %d ended while down, "
                "%d gone, %d unknown removed",
                summary.running,
                summary.ended,
                summary.gone,
                summary.unknown,
            )
        return summary
