"""A polling adapter: drive the ci framework from any CI system's queue.

    python -m corral.frameworks.ci.adapter --ci-url http://127.0.0.1:5060 --source jenkins \\
        --queue-command 'CMD' [--agents-command 'CMD'] [--interval 10] [--once]

Every ``--interval`` seconds it runs ``--queue-command`` (a shell command) and reports what
it prints as the demand of ``--source`` (``POST /v1/demand``): labels no longer printed are
set back to 0. The command prints either JSON, ``[{"labels": ["linux"], "count": 3}, ...]``,
or one line per label set, ``linux,docker 3`` (no labels: ``- 3``).

``--agents-command`` prints how many executors each agent has busy, JSON
``{"linux-1": 1, "linux-2": 0}`` or lines ``linux-1 1``; each is reported
(``POST /v1/agents/<name>/report``), so idle agents are removed after idle-termination and
busy ones are never. A failing command or an unreachable framework is logged and the
previous demand stands until the next poll.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from urllib.parse import quote

import aiohttp

log = logging.getLogger("corral.ci.adapter")

Queue = dict[frozenset[str], int]


class ParseError(ValueError):
    pass


def parse_queue(text: str) -> Queue:
    """The queue command's output: JSON or ``labels count`` lines."""
    out: Queue = {}
    stripped = text.strip()
    if stripped.startswith("["):
        try:
            items = json.loads(stripped)
        except json.JSONDecodeError as exc:
            raise ParseError(f"queue: not JSON: {exc}") from None
        for i, item in enumerate(items):
            if not isinstance(item, dict) or not isinstance(item.get("count"), int):
                raise ParseError(f"queue[{i}]: needs an integer count, got {item!r}")
            labels = item.get("labels", [])
            if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
                raise ParseError(f"queue[{i}].labels: must be a list of strings")
            key = frozenset(labels)
            out[key] = out.get(key, 0) + item["count"]
        return out
    for n, line in enumerate(stripped.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        parts = line.split()
        if len(parts) != 2 or not parts[1].isdigit():
            raise ParseError(f"queue line {n}: expected 'label,label COUNT', got {line!r}")
        key = frozenset() if parts[0] == "-" else frozenset(x for x in parts[0].split(",") if x)
        out[key] = out.get(key, 0) + int(parts[1])
    return out


def parse_agents(text: str) -> dict[str, int]:
    stripped = text.strip()
    if stripped.startswith("{"):
        try:
            data = json.loads(stripped)
        except json.JSONDecodeError as exc:
            raise ParseError(f"agents: not JSON: {exc}") from None
        if not all(isinstance(v, int) for v in data.values()):
            raise ParseError("agents: every value must be a number of busy executors")
        return {str(k): int(v) for k, v in data.items()}
    out = {}
    for n, line in enumerate(stripped.splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 2 or not parts[1].isdigit():
            raise ParseError(f"agents line {n}: expected 'NAME BUSY', got {line!r}")
        out[parts[0]] = int(parts[1])
    return out


def demand_posts(previous: Queue, now: Queue) -> list[tuple[list[str], int]]:
    """What to report: every label set now waiting, and 0 for those that no longer are."""
    keys = sorted(set(previous) | set(now), key=lambda k: sorted(k))
    return [(sorted(k), now.get(k, 0)) for k in keys]


async def run_command(command: str) -> str:
    proc = await asyncio.create_subprocess_shell(
        command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await proc.communicate()
    if proc.returncode != 0:
        raise ParseError(f"{command!r} exited with {proc.returncode}: {err.decode().strip()}")
    return out.decode()


async def poll_once(
    http: aiohttp.ClientSession, args: argparse.Namespace, previous: Queue
) -> Queue:
    queue = parse_queue(await run_command(args.queue_command))
    for labels, count in demand_posts(previous, queue):
        body = {"labels": labels, "count": count, "source": args.source}
        async with http.post(args.ci_url + "/v1/demand", json=body) as resp:
            if resp.status != 200:
                log.warning("demand %s: %s %s", labels, resp.status, await resp.text())
    if args.agents_command:
        for name, busy in parse_agents(await run_command(args.agents_command)).items():
            url = f"{args.ci_url}/v1/agents/{quote(name, safe='')}/report"
            async with http.post(url, json={"busy": busy}) as resp:
                if resp.status not in (200, 404):  # 404: not one of ours
                    log.warning("report %s: %s %s", name, resp.status, await resp.text())
    return queue


async def main_async(args: argparse.Namespace) -> int:
    previous: Queue = {}
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http:
        while True:
            try:
                previous = await poll_once(http, args, previous)
            except (ParseError, aiohttp.ClientError, OSError) as exc:
                log.warning("poll failed: %s", exc)
                if args.once:
                    return 1
            if args.once:
                return 0
            await asyncio.sleep(args.interval)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m corral.frameworks.ci.adapter")
    ap.add_argument("--ci-url", required=True, help="the ci framework, http://HOST:5060")
    ap.add_argument("--queue-command", required=True, help="prints the waiting builds")
    ap.add_argument("--agents-command", default="", help="prints busy executors per agent")
    ap.add_argument("--source", default="adapter", help="names this CI system's demand")
    ap.add_argument("--interval", type=float, default=10.0, help="seconds between polls")
    ap.add_argument("--once", action="store_true", help="poll once and exit")
    args = ap.parse_args(argv)
    args.ci_url = args.ci_url.rstrip("/")
    if args.interval <= 0:
        ap.error("--interval must be positive")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    return asyncio.run(main_async(args))


if __name__ == "__main__":
    sys.exit(main())
