"""Launcher-only benchmark: N launches of ``/bin/sh -c true`` through a real launcher's socket.

No master, agent or framework: this isolates what the launcher and the tasks cost per launch,
which the end-to-end ``bench/launch.py`` mixes with everything else on a shared machine.
Modes: ``process`` (plain posix_spawn), ``cg`` (cgroups only), ``ns`` (namespaces only),
``linux`` (both, as the linux containerizer launches). Keeps ``--window`` launches in flight.

    python bench/launcher_spawn.py process,cg,ns,linux --tasks 1000

Prints launches/s and the launcher's CPU and its children's (the tasks') CPU per launch, read
from /proc/<launcher>/stat. Everything it starts is stopped (the launcher by a shutdown
request, then by pid).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from corral.agent import launcher_protocol as p

TCK = os.sysconf("SC_CLK_TCK")


def cpu(pid: int) -> tuple[float, float]:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    own = (int(fields[11]) + int(fields[12])) / TCK
    children = (int(fields[13]) + int(fields[14])) / TCK
    return own, children


async def run(mode: str, n: int, window: int) -> None:
    work = Path(tempfile.mkdtemp(prefix="corral-lb-"))
    sandbox = work / "sandbox"
    sandbox.mkdir()
    log = open(work / "launcher.log", "wb")  # noqa: SIM115 - handed to the child
    proc = subprocess.Popen(
        [sys.executable, "-m", "corral.agent.launcher", "--work-dir", str(work)],
        stdout=log,
        stderr=log,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 20
        while not (work / "launcher.sock").exists():
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError(f"launcher did not start; see {work / 'launcher.log'}")
            await asyncio.sleep(0.01)
        reader, writer = await asyncio.open_unix_connection(str(work / "launcher.sock"))
        env = dict(os.environ)
        limits = None
        if mode in ("cg", "linux"):
            limits = p.CgroupLimits(mem_bytes=32 << 20, cpu_shares=102, pids_max=4096)

        def request(i: int) -> bytes:
            req = p.LaunchRequest(
                id=f"c{i}",
                argv=["/bin/sh", "-c", "true"],
                path="/bin/sh",
                env=env,
                cwd=str(sandbox),
                stdout=str(sandbox / "stdout"),
                stderr=str(sandbox / "stderr"),
                cgroups=limits,
                namespaces=mode in ("ns", "linux"),
            )
            return p.encoder.encode(req) + b"\n"

        async def one_reply() -> p.Reply:
            return p.reply_decoder.decode(await reader.readline())

        writer.write(request(-1))  # warm up
        while not isinstance(await one_reply(), p.Exited):
            pass
        own0, kids0 = cpu(proc.pid)
        start = time.perf_counter()
        sent = done = 0
        while sent < min(window, n):
            writer.write(request(sent))
            sent += 1
        while done < n:
            reply = await one_reply()
            if isinstance(reply, p.Failed):
                raise RuntimeError(reply.error)
            if isinstance(reply, p.Exited):
                done += 1
                if sent < n:
                    writer.write(request(sent))
                    sent += 1
        elapsed = time.perf_counter() - start
        own1, kids1 = cpu(proc.pid)
        print(
            f"{mode:8} {n / elapsed:7.0f} launches/s   launcher {1000 * (own1 - own0) / n:.2f} ms"
            f"/launch   tasks {1000 * (kids1 - kids0) / n:.2f} ms/launch",
            flush=True,
        )
        writer.write(p.encoder.encode(p.ShutdownRequest(grace=1)) + b"\n")
        await writer.drain()
        proc.wait(20)
        writer.close()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.close()
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("modes", help="comma list of process, cg, ns, linux")
    ap.add_argument("--tasks", type=int, default=1000)
    ap.add_argument("--window", type=int, default=50, help="launches in flight")
    args = ap.parse_args()
    for mode in args.modes.split(","):
        if mode not in ("process", "cg", "ns", "linux"):
            ap.error(f"unknown mode {mode!r}")
        asyncio.run(run(mode, args.tasks, args.window))


if __name__ == "__main__":
    main()
