"""The front end's shell: jobs and updates carried out on the services and jobs frameworks
through their public APIs, quota asked of the master, state kept in a file.

Every command and every poll runs under one lock: read the state, call the pure parts
(spec, quota, update engine), carry out their effects, save the state.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from corral.frameworks.aurora import update as eng
from corral.frameworks.aurora.clients import ApiError, Http, Jobs, Master, Services
from corral.frameworks.aurora.quota import add, shortfall
from corral.frameworks.aurora.spec import (
    INSTANCE_LABEL,
    VERSION_LABEL,
    JobKey,
    JobSpec,
    chronos_job,
    marathon_app,
    parse_key,
    total_resources,
    version_of,
)
from corral.frameworks.aurora.state import FrontState, JobRecord, StateFile

log = logging.getLogger("corral.frameworks.aurora")
RESEND_AFTER = 10.0  # seconds an instance may show another version than the one it was sent


def observe(app: dict[str, Any]) -> tuple[int, eng.Observed, dict[str, Any] | None] | None:
    """What one instance's app shows: (instance, observation, its last task failure if
    that failure is of the app's current definition)."""
    labels = app.get("labels") or {}
    try:
        instance = int(labels.get(INSTANCE_LABEL, ""))
    except ValueError:
        return None
    version = str(labels.get(VERSION_LABEL, ""))
    # tasks and failures of the current definition: a scale stamps a new app version but
    # keeps the tasks, so compare with the last change of the definition itself
    config = str((app.get("versionInfo") or {}).get("lastConfigChangeAt") or app.get("version"))
    checked = bool(app.get("healthChecks"))
    task_id, healthy = "", False
    for t in app.get("tasks") or []:
        if t.get("state") != "TASK_RUNNING" or str(t.get("version") or "") < config:
            continue
        results = t.get("healthCheckResults") or []
        task_id = str(t.get("id", ""))
        healthy = all(r.get("alive") for r in results) and bool(results) if checked else True
        break
    failure = app.get("lastTaskFailure")
    if not isinstance(failure, dict) or str(failure.get("version") or "") < config:
        failure = None
    return instance, eng.Observed(instance, version, task_id, healthy), failure


class FrontEnd:
    def __init__(
        self,
        *,
        services_url: str,
        jobs_url: str,
        master: str,
        work_dir: Path,
        poll_interval: float = 1.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.http = Http()
        self.services = Services(self.http, services_url)
        self.jobs = Jobs(self.http, jobs_url)
        self.master = Master(self.http, master)
        self.file = StateFile(work_dir / "aurora-state.json")
        self.state = FrontState()
        self.poll_interval = poll_interval
        self.clock = clock
        self.lock = asyncio.Lock()
        self.stopping = asyncio.Event()

    async def start(self) -> None:
        self.state = self.file.load()
        await self.http.start()
        active = [k for k, u in self.state.updates.items() if u.status not in eng.TERMINAL]
        for name in active:  # time spent down counts neither as watched nor as waiting
            eng.handle(self.state.updates[name], eng.Recovered(), self.clock())
        if active:
            self.save()
        log.info("aurora: %d job(s), %d update(s) under way", len(self.state.jobs), len(active))

    async def close(self) -> None:
        await self.http.close()

    def save(self) -> None:
        self.file.save(self.state)

    # ------------------------------------------------------------------ helpers
    def job(self, key: JobKey) -> JobRecord:
        record = self.state.jobs.get(str(key))
        if record is None:
            raise ApiError(404, f"no job {key}")
        return record

    async def check_quota(self, key: JobKey, spec: JobSpec) -> None:
        """Refuse (409) a spec the role's quota limit has no room for."""
        quota = (await self.master.quotas()).get(key.role)
        used: dict[str, float] = {}
        for other in self.state.jobs.values():
            if other.key != str(key) and parse_key(other.key).role == key.role:
                used = add(used, total_resources(other.spec))
        why = shortfall(key.role, total_resources(spec), used, quota)
        if why:
            raise ApiError(409, why)

    # ------------------------------------------------------------------ commands
    async def create(self, key: JobKey, spec: JobSpec) -> dict[str, Any]:
        async with self.lock:
            if str(key) in self.state.jobs:
                raise ApiError(409, f"job {key} exists (change it with `job update start`)")
            await self.check_quota(key, spec)
            version = version_of(spec)
            kind: Literal["service", "cron"] = "cron" if spec.cron_schedule else "service"
            if kind == "cron":
                await self.jobs.put(chronos_job(key, spec))
            else:
                apps = [marathon_app(key, spec, i, version) for i in range(spec.instances)]
                await self.services.put_apps(apps)
            self.state.jobs[str(key)] = JobRecord(
                key=str(key),
                kind=kind,
                version=version,
                specs={version: spec},
                created=self.clock(),
            )
            self.state.updates.pop(str(key), None)
            self.save()
            return {"job": str(key), "kind": kind, "version": version}

    async def killall(self, key: JobKey) -> dict[str, Any]:
        async with self.lock:
            record = self.job(key)
            if record.kind == "cron":
                await self.jobs.delete(key.cron_name)
            else:
                await self.services.delete_group(key.group)
            del self.state.jobs[str(key)]
            self.state.updates.pop(str(key), None)
            self.save()
            return {"job": str(key), "killed": True}

    async def status(self, key: JobKey) -> dict[str, Any]:
        async with self.lock:
            record = self.job(key)
            upd = self.state.updates.get(str(key))
            out: dict[str, Any] = {
                "job": str(key),
                "kind": record.kind,
                "version": record.version,
                "spec": record.spec,
                "tier": record.spec.tier_for(key),
                "update": eng.summary(upd) if upd else None,
            }
            if record.kind == "cron":
                out["cron"] = await self.jobs.view(key.cron_name)
                return out
            rows = []
            for app in sorted(await self.services.apps_under(key.group), key=_instance_of):
                seen = observe(app)
                if seen is None:
                    continue
                i, obs, failure = seen
                tasks = app.get("tasks") or []
                state = "STOPPED" if not app.get("instances") else "PENDING"
                if tasks:
                    state = str(tasks[0].get("state", state))
                rows.append(
                    {
                        "instance": i,
                        "app": app.get("id"),
                        "version": obs.version,
                        "state": "FAILED" if i in record.stopped else state,
                        "healthy": obs.healthy,
                        "host": tasks[0].get("host") if tasks else None,
                        "ports": tasks[0].get("ports") if tasks else [],
                        "failures": len(record.failures.get(i, [])),
                        "last_failure": (failure or {}).get("message"),
                    }
                )
            out["instances"] = rows
            return out

    async def update_start(self, key: JobKey, spec: JobSpec) -> dict[str, Any]:
        async with self.lock:
            record = self.job(key)
            old = self.state.updates.get(str(key))
            if old is not None and old.status not in eng.TERMINAL:
                raise ApiError(409, f"an update of {key} is under way ({old.status})")
            if bool(spec.cron_schedule) != (record.kind == "cron"):
                raise ApiError(
                    422,
                    "cron_schedule: a job cannot change between cron and service in an "
                    "update; killall it and create it again",
                )
            version = version_of(spec)
            if version == record.version:
                raise ApiError(409, f"job {key} already runs this spec (version {version})")
            await self.check_quota(key, spec)
            record.specs = {record.version: record.spec, version: spec}
            if record.kind == "cron":  # a cron job's next runs simply use the new spec
                await self.jobs.put(chronos_job(key, spec))
                record.version = version
                self.save()
                return {"job": str(key), "status": "rolled_forward", "version": version}
            upd = eng.new_update(
                str(key),
                from_version=record.version,
                to_version=version,
                from_instances=record.spec.instances,
                to_instances=spec.instances,
                config=spec.update,
                now=self.clock(),
            )
            previous_specs = dict(record.specs)
            self.state.updates[str(key)] = upd
            try:
                await self.feed(key, upd, eng.Tick())
            except ApiError as exc:
                if not 400 <= exc.status < 500:
                    raise  # unreachable: the update stands, its requests are sent again
                # the services framework refused the new spec: there is no update
                if old is None:
                    del self.state.updates[str(key)]
                else:
                    self.state.updates[str(key)] = old
                record.specs = {k: v for k, v in previous_specs.items() if k == record.version}
                self.save()
                raise
            return eng.summary(upd)

    async def update_command(self, key: JobKey, command: eng.Event) -> dict[str, Any]:
        async with self.lock:
            self.job(key)
            upd = self.state.updates.get(str(key))
            if upd is None:
                raise ApiError(404, f"no update of {key}")
            try:
                await self.feed(key, upd, command)
            except eng.CommandRefused as exc:
                raise ApiError(409, str(exc)) from None
            return eng.summary(upd)

    def update_info(self, key: JobKey) -> dict[str, Any]:
        self.job(key)
        upd = self.state.updates.get(str(key))
        if upd is None:
            raise ApiError(404, f"no update of {key}")
        info = eng.summary(upd)
        info["log"] = [{"at": at, "event": text} for at, text in upd.log[-50:]]
        return info

    # ------------------------------------------------------------------ the engine's effects
    async def feed(self, key: JobKey, upd: eng.UpdateState, event: eng.Event) -> None:
        """One event into the engine; its effects carried out; the state saved."""
        effects = eng.handle(upd, event, self.clock())
        self.save()  # the engine's decision is durable before it is acted on
        await self.execute(key, effects)

    async def execute(self, key: JobKey, effects: list[eng.Effect]) -> None:
        record = self.state.jobs[str(key)]
        apps = []
        for e in effects:
            if isinstance(e, eng.SetInstance):
                apps.append(marathon_app(key, record.specs[e.version], e.instance, e.version))
                record.failures.pop(e.instance, None)
                if e.instance in record.stopped:
                    record.stopped.remove(e.instance)
            elif isinstance(e, eng.RemoveInstance):
                await self.services.delete_app(key.app_id(e.instance))
            elif isinstance(e, eng.Finished):
                record.version = e.version
                log.info("aurora: update of %s ended: %s", key, e.status)
        if apps:
            await self.services.put_apps(apps)
        self.save()

    # ------------------------------------------------------------------ the poll loop
    async def run(self) -> None:
        while not self.stopping.is_set():
            try:
                await self.poll()
            except ApiError as exc:
                log.warning("aurora: %s", exc.message)
            except Exception:
                log.exception("aurora: poll failed")
            try:
                await asyncio.wait_for(self.stopping.wait(), self.poll_interval)
            except TimeoutError:
                pass

    async def poll(self) -> None:
        async with self.lock:
            for name, record in list(self.state.jobs.items()):
                if record.kind == "service":
                    await self.poll_job(parse_key(name), record)

    async def poll_job(self, key: JobKey, record: JobRecord) -> None:
        apps = await self.services.apps_under(key.group)
        upd = self.state.updates.get(str(key))
        active = upd is not None and upd.status not in eng.TERMINAL
        in_update = set(upd.instances) if upd is not None and active else set()
        resend = []
        for app in apps:
            seen = observe(app)
            if seen is None:
                continue
            i, obs, failure = seen
            if upd is not None and active and i in in_update:
                inst = upd.instances.get(i)
                target = upd.target(i)
                if (
                    inst is not None
                    and inst.phase in ("updating", "watching")
                    and target != obs.version
                    and self.clock() - inst.since > RESEND_AFTER
                ):
                    resend.append((i, target))  # a lost PUT (or a restart between): again
                if failure is not None and obs.version:
                    why = f"{failure.get('state', 'ended')}: {failure.get('message', '')}"
                    event = eng.TaskFailed(i, obs.version, str(failure.get("taskId", "")), why)
                    await self.feed(key, upd, event)
                await self.feed(key, upd, obs)
            elif failure is not None and obs.version == record.version:
                await self.count_failure(key, record, i, str(failure.get("taskId", "")))
        if upd is not None and active:
            await self.feed(key, upd, eng.Tick())
            apps_again = [
                marathon_app(key, record.specs[v], i, v)
                for i, v in resend
                if v is not None and v in record.specs and upd.target(i) == v
            ]
            if apps_again:
                await self.services.put_apps(apps_again)

    async def count_failure(self, key: JobKey, record: JobRecord, i: int, task_id: str) -> None:
        """max_task_failures: an instance whose tasks failed that many times at its current
        version is stopped (FAILED in status) until an update changes it."""
        seen = record.failures.setdefault(i, [])
        if not task_id or task_id in seen:
            return
        seen.append(task_id)
        limit = record.spec.max_task_failures
        if limit >= 0 and len(seen) >= limit and i not in record.stopped:
            record.stopped.append(i)
            log.warning("aurora: %s instance %d failed %d time(s): stopped", key, i, len(seen))
            await self.services.scale(key.app_id(i), 0)
        self.save()


def _instance_of(app: dict[str, Any]) -> int:
    try:
        return int((app.get("labels") or {}).get(INSTANCE_LABEL, 0))
    except ValueError:
        return 0
