#!/usr/bin/env python3
"""Helper of ``bench/peers/slurm.sh``: waits, Slurm measurements, corral CLI latency, report.

Subcommands (the shell script calls them; each prints a clear error and exits 2 on bad input):

* ``free-ports``: prints ``CTLD SLURMD``: two consecutive free TCP ports on 127.0.0.1 for
  slurmctld's port range and one more for slurmd.
* ``wait-path --path P``, ``wait-cmd -- CMD...``, ``wait-idle``: poll a condition until a
  deadline (a socket file exists; a command exits 0; every Slurm node is idle).
* ``cpu-busy --seconds S``: the share of all CPUs busy over S seconds (other sessions' load).
* ``measure``: against the running Slurm (``$SLURM_CONF``), in this order:

  - ``srun -n1 true`` called M times one after another (wall time of each call, after two
    unmeasured calls);
  - N x ``sbatch --wrap true`` submitted in a loop, one ``sbatch`` process per job, as a user's
    shell loop would;
  - one ``sbatch --array=0-(N-1) --wrap true``;

  the loop and the array are repeated ``--repeat`` times (alternating); the median run of each
  is reported, with every run's rate.

  A batch is complete when the job-completion log (``JobCompType=jobcomp/filetxt``) holds a
  record for each of its N jobs; every record must say ``JobState=COMPLETED`` and
  ``ExitCode=0:0``. Rate = N / (first submit -> last record seen). The log is polled every
  10 ms, so completion is seen at most ~10 ms late. It also reports the CPU time that
  slurmctld, slurmd and munged used per job (their own user+system time from /proc).
* ``corral-run``: a ``LocalCluster`` (one agent, process containerizer) and M sequential
  ``python -m corral run -- true`` calls: a new client per task, the counterpart of ``srun``.
* ``report``: the table, from the JSON files of ``measure``, ``bench/launch.py --json`` and
  ``corral-run``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

now = time.perf_counter


class BenchError(Exception):
    """A failure with a message meant for the user (printed without a traceback)."""


# ====================================================================== small utilities
def wait_for(pred: Callable[[], bool], timeout: float, what: str, interval: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise BenchError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(interval)


def run(argv: list[str], timeout: float = 60.0) -> str:
    try:
        p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        raise BenchError(f"{' '.join(argv)} did not finish within {timeout:g}s") from exc
    if p.returncode != 0:
        raise BenchError(f"{' '.join(argv)} exited {p.returncode}: {p.stderr.strip()[-500:]}")
    return p.stdout


def pct(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100), as bench/launch.py computes it."""
    s = sorted(values)
    return s[max(0, min(len(s) - 1, math.ceil(q / 100.0 * len(s)) - 1))]


def lat_summary(ms: list[float]) -> dict[str, float]:
    return {
        "n": len(ms),
        "p50_ms": round(pct(ms, 50), 2),
        "p99_ms": round(pct(ms, 99), 2),
        "min_ms": round(min(ms), 2),
        "max_ms": round(max(ms), 2),
        "mean_ms": round(statistics.fmean(ms), 2),
    }


def port_free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_ports() -> tuple[int, int]:
    """Two consecutive free ports (slurmctld's range) and a third one (slurmd)."""
    for _ in range(200):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            base = int(s.getsockname()[1])
        if base + 2 >= 65536:
            continue
        if port_free(base) and port_free(base + 1) and port_free(base + 2):
            return base, base + 2
    raise BenchError("could not find three consecutive free ports on 127.0.0.1")


def cpu_seconds(pidfile: Path) -> float | None:
    """User + system CPU seconds of the process in ``pidfile`` (None if it is gone)."""
    try:
        pid = int(pidfile.read_text().strip())
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except (OSError, ValueError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# ====================================================================== Slurm measurements
ACTIVE = "PENDING,RUNNING,COMPLETING,CONFIGURING,SUSPENDED"
FIELD = re.compile(r"(\w+)=(\S*)")


class JobCompLog:
    """Reads the records jobcomp/filetxt appends, one line per finished job."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = path.stat().st_size if path.exists() else 0
        self.partial = ""

    def new_records(self) -> list[dict[str, str]]:
        try:
            with open(self.path) as f:
                f.seek(self.offset)
                data = f.read()
                self.offset = f.tell()
        except FileNotFoundError:
            return []
        data = self.partial + data
        lines = data.split("\n")
        self.partial = lines.pop()  # an unfinished last line waits for the next read
        return [dict(FIELD.findall(line)) for line in lines if line.strip()]


def wait_complete(
    log: JobCompLog, n: int, t0: float, deadline_s: float, what: str
) -> tuple[float, list[dict[str, str]]]:
    """Poll the completion log until ``n`` new records; returns (time last seen, records)."""
    records: list[dict[str, str]] = []
    while True:
        records.extend(log.new_records())
        if len(records) >= n:
            return now(), records
        if now() - t0 > deadline_s:
            raise BenchError(
                f"{what}: only {len(records)} of {n} jobs completed within {deadline_s:g}s"
            )
        time.sleep(0.01)


def check_records(records: list[dict[str, str]], what: str) -> dict[str, int]:
    states: dict[str, int] = {}
    for r in records:
        key = f"{r.get('JobState', '?')} exit {r.get('ExitCode', '?')}"
        states[key] = states.get(key, 0) + 1
    bad = {k: v for k, v in states.items() if k != "COMPLETED exit 0:0"}
    if bad:
        raise BenchError(f"{what}: not every job completed with exit code 0: {states}")
    return states


def queue_empty() -> bool:
    return not run(["squeue", "-h", "-t", ACTIVE, "-o", "%i"]).split()


def host_cpu() -> tuple[float, float]:
    """(busy, total) jiffies of all CPUs, from /proc/stat."""
    with open("/proc/stat") as f:
        vals = [int(x) for x in f.readline().split()[1:]]
    idle = vals[3] + vals[4]  # idle + iowait
    total = sum(vals[:8])  # guest time is already counted in user
    return total - idle, total


class DaemonCpu:
    """CPU seconds used by slurmctld, slurmd and munged between ``start`` and ``stop``."""

    def __init__(self, run_dir: Path) -> None:
        self.files = {
            "slurmctld": run_dir / "slurmctld.pid",
            "slurmd": run_dir / "slurmd.pid",
            "munged": run_dir / "munge" / "munged.pid",
        }
        self.t0: dict[str, float | None] = {}

    def start(self) -> None:
        self.t0 = {k: cpu_seconds(f) for k, f in self.files.items()}
        self.host0 = host_cpu()

    def host_busy(self) -> float:
        """Share of all CPUs' time that was busy since ``start`` (whole host, all users)."""
        busy, total = host_cpu()
        return round((busy - self.host0[0]) / max(1, total - self.host0[1]), 3)

    def per_job_ms(self, n: int) -> dict[str, float | None]:
        out: dict[str, float | None] = {}
        for k, f in self.files.items():
            a, b = self.t0.get(k), cpu_seconds(f)
            out[k] = None if a is None or b is None else round((b - a) / n * 1e3, 3)
        return out


def bench_srun(m: int) -> dict[str, Any]:
    for _ in range(2):  # unmeasured: first calls load plugins and warm caches
        run(["srun", "-n1", "true"])
    lat: list[float] = []
    for _ in range(m):
        t = now()
        run(["srun", "-n1", "true"])
        lat.append((now() - t) * 1e3)
    return lat_summary(lat)


def bench_sbatch_loop(n: int, log: JobCompLog, cpu: DaemonCpu, deadline: float) -> dict[str, Any]:
    wait_for(queue_empty, deadline, "the Slurm queue to drain before the sbatch loop")
    log.new_records()  # skip records of earlier jobs (srun)
    submit: list[float] = []
    cpu.start()
    t0 = now()
    for _ in range(n):
        t = now()
        run(["sbatch", "--parsable", "-o", "/dev/null", "-e", "/dev/null", "--wrap", "true"])
        submit.append((now() - t) * 1e3)
    t_sub = now()
    t_end, records = wait_complete(log, n, t0, deadline, "sbatch loop")
    return {
        "jobs": n,
        "states": check_records(records, "sbatch loop"),
        "submit_s": round(t_sub - t0, 3),
        "submits_per_s": round(n / (t_sub - t0), 1),
        "sbatch_call": lat_summary(submit),
        "end_to_end_s": round(t_end - t0, 3),
        "jobs_per_s": round(n / (t_end - t0), 1),
        "daemon_cpu_ms_per_job": cpu.per_job_ms(n),
        "host_cpu_busy": cpu.host_busy(),
    }


def bench_array(n: int, log: JobCompLog, cpu: DaemonCpu, deadline: float) -> dict[str, Any]:
    wait_for(queue_empty, deadline, "the Slurm queue to drain before the job array")
    log.new_records()
    cpu.start()
    t0 = now()
    array_id = (
        run(
            [
                "sbatch",
                "--parsable",
                f"--array=0-{n - 1}",
                "-o",
                "/dev/null",
                "-e",
                "/dev/null",
                "--wrap",
                "true",
            ]
        )
        .strip()
        .split(";")[0]
    )
    t_sub = now()
    t_end, records = wait_complete(log, n, t0, deadline, "job array")
    foreign = [r.get("JobId") for r in records if r.get("ArrayJobId", array_id) != array_id]
    if foreign:
        raise BenchError(f"job array: records of other jobs in the completion log: {foreign[:5]}")
    return {
        "jobs": n,
        "array_job_id": array_id,
        "states": check_records(records, "job array"),
        "submit_s": round(t_sub - t0, 3),
        "end_to_end_s": round(t_end - t0, 3),
        "jobs_per_s": round(n / (t_end - t0), 1),
        "daemon_cpu_ms_per_job": cpu.per_job_ms(n),
        "host_cpu_busy": cpu.host_busy(),
    }


def median_run(runs: list[dict[str, Any]], key: str) -> dict[str, Any]:
    """The run whose ``key`` is the median (the lower middle one for an even count)."""
    return sorted(runs, key=lambda r: float(r[key] or 0))[(len(runs) - 1) // 2]


def rates(runs: list[dict[str, Any]], key: str = "jobs_per_s") -> list[float]:
    return [round(float(r[key] or 0), 1) for r in runs]


def cmd_measure(a: argparse.Namespace) -> dict[str, Any]:
    conf = Path(a.conf)
    if not conf.is_file():
        raise BenchError(f"--conf: no such file: {conf}")
    run_dir = conf.parent.parent
    log = JobCompLog(Path(a.jobcomp))
    cpu = DaemonCpu(run_dir)
    res: dict[str, Any] = {
        "date": time.strftime("%a %b %d %H:%M:%S %Z %Y"),
        "uptime": a.uptime,
        "background_cpu_busy": a.background,
        "slurm_version": a.version,
        "slurm_conf": conf.read_text(),
        "jobs": a.jobs,
    }
    print(f"slurm: {a.sruns} x srun -n1 true", file=sys.stderr)
    res["srun"] = bench_srun(a.sruns)
    loops: list[dict[str, Any]] = []
    arrays: list[dict[str, Any]] = []
    for i in range(a.repeat):
        print(f"slurm: {a.jobs} x sbatch --wrap true (loop) [{i + 1}/{a.repeat}]", file=sys.stderr)
        loops.append(bench_sbatch_loop(a.jobs, log, cpu, a.deadline))
        print(
            f"slurm: sbatch --array=0-{a.jobs - 1} --wrap true [{i + 1}/{a.repeat}]",
            file=sys.stderr,
        )
        arrays.append(bench_array(a.jobs, log, cpu, a.deadline))
    # The run with the median rate stands for each mode; every run's rate is kept too.
    res["sbatch_loop"] = {**median_run(loops, "jobs_per_s"), "all_jobs_per_s": rates(loops)}
    res["array"] = {**median_run(arrays, "jobs_per_s"), "all_jobs_per_s": rates(arrays)}
    res["sbatch_loop_runs"], res["array_runs"] = loops, arrays
    res["sdiag"] = run(["sdiag"])
    Path(a.out).write_text(json.dumps(res, indent=1))
    return res


# ====================================================================== corral CLI latency
def cmd_corral_run(a: argparse.Namespace) -> dict[str, Any]:
    from corral.testing.cluster import LocalCluster

    argv_tail = ["--cpus", "0.01", "--mem", "1", "--", "true"]
    with (
        tempfile.TemporaryDirectory(prefix="corral-peer-run-") as work,
        LocalCluster(1, work_dir=work, agent_resources="cpus:64;mem:65536;disk:10000") as c,
    ):
        argv = [sys.executable, "-m", "corral", "run", "--master", c.master, *argv_tail]
        for _ in range(2):  # unmeasured, as for srun
            run(argv)
        lat: list[float] = []
        for _ in range(a.n):
            t = now()
            run(argv)
            lat.append((now() - t) * 1e3)
        t = now()
        run([sys.executable, "-c", "import corral.cli.main"])
        import_ms = (now() - t) * 1e3
    res = {
        "command": "python -m corral run " + " ".join(argv_tail),
        **lat_summary(lat),
        "python_import_cli_ms": round(import_ms, 1),
    }
    Path(a.out).write_text(json.dumps(res, indent=1))
    return res


# ====================================================================== report
def load(path: str, flag: str) -> dict[str, Any]:
    try:
        data: Any = json.loads(Path(path).read_text())
    except FileNotFoundError as exc:
        raise BenchError(f"{flag}: no such file: {path}") from exc
    except json.JSONDecodeError as exc:
        raise BenchError(f"{flag}: not JSON: {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise BenchError(f"{flag}: expected a JSON object in {path}")
    return data


def corral_run(path: str, flag: str) -> dict[str, Any]:
    """The median measured run of a ``bench/launch.py --json`` output (all tasks must finish)."""
    runs: list[dict[str, Any]] = load(path, flag).get("launch") or []
    if not runs:
        raise BenchError(f"{flag}: no measured run in the bench/launch.py output {path}")
    for r in runs:
        if r["finished"] != r["tasks"]:
            raise BenchError(f"{flag}: only {r['finished']} of {r['tasks']} tasks finished")
    return {**median_run(runs, "tasks_per_s"), "all_tasks_per_s": rates(runs, "tasks_per_s")}


def lat_line(label: str, p50: float, p99: float, note: str = "") -> str:
    return f"  {label:<48} p50 {p50:7.1f} ms  p99 {p99:7.1f} ms  {note}".rstrip()


def cmd_report(a: argparse.Namespace) -> dict[str, Any]:
    s = load(a.slurm, "--slurm")
    cp = corral_run(a.corral, "--corral")
    cl = corral_run(a.corral_linux, "--corral-linux") if a.corral_linux else None
    lat = corral_run(a.corral_latency, "--corral-latency")
    cr = load(a.corral_run, "--corral-run")
    n = s["jobs"]
    loop, arr, srun = s["sbatch_loop"], s["array"], s["srun"]
    ver = s["slurm_version"]
    best_slurm = max(loop["jobs_per_s"], arr["jobs_per_s"])

    def runs_note(r: dict[str, Any], key: str) -> str:
        return f"runs: {', '.join(f'{x:.1f}' for x in r[key])}; " if len(r[key]) > 1 else ""

    def subscribe_note(r: dict[str, Any]) -> str:
        return f"{r['tasks_per_s_incl_subscribe']:.0f}/s counting the framework's subscription"

    rows: list[tuple[str, float, str]] = [
        (
            "corral, process containerizer (bench/launch.py)",
            cp["tasks_per_s"],
            runs_note(cp, "all_tasks_per_s") + subscribe_note(cp),
        ),
    ]
    if cl is not None:
        rows.append(
            (
                "corral, linux containerizer (bench/launch.py)",
                cl["tasks_per_s"],
                runs_note(cl, "all_tasks_per_s") + subscribe_note(cl),
            )
        )
    rows += [
        (
            f"Slurm {ver}: {n} x sbatch --wrap true",
            loop["jobs_per_s"],
            runs_note(loop, "all_jobs_per_s")
            + f"the loop alone submits {loop['submits_per_s']:.0f}/s",
        ),
        (
            f"Slurm {ver}: sbatch --array=0-{n - 1}",
            arr["jobs_per_s"],
            runs_note(arr, "all_jobs_per_s") + f"submitted in {arr['submit_s'] * 1e3:.0f} ms",
        ),
    ]
    ratios = {
        "process_vs_loop": cp["tasks_per_s"] / loop["jobs_per_s"],
        "process_vs_array": cp["tasks_per_s"] / arr["jobs_per_s"],
        "process_vs_best_slurm": cp["tasks_per_s"] / best_slurm,
    }
    if cl is not None:
        ratios["linux_vs_best_slurm"] = cl["tasks_per_s"] / best_slurm
    out = [
        f"\n== {n} trivial jobs (`true`) on {os.cpu_count()} cores; "
        "rate = jobs / (first submit -> last completion)",
        f"{'system':<50} {'jobs/s':>8}  note (the median run is shown)",
    ]
    out += [f"{name:<50} {rate:8.1f}  {note}".rstrip() for name, rate, note in rows]
    out.append(
        f"\nratio corral (process) / Slurm: {ratios['process_vs_loop']:.1f}x the sbatch loop, "
        f"{ratios['process_vs_array']:.1f}x the job array"
    )
    if cl is not None:
        out.append(f"ratio corral (linux) / best Slurm: {ratios['linux_vs_best_slurm']:.1f}x")
    best = ratios["process_vs_best_slurm"]
    out.append(
        f"target corral >= 10x Slurm (its best mode): {best:.1f}x -> "
        + ("met" if best >= 10 else "NOT met")
    )
    sr, st = lat["submit_to_running_ms"], lat["submit_to_terminal_ms"]
    sb = loop["sbatch_call"]
    out += [
        "\n== latency of one job at a time",
        lat_line(
            "Slurm: srun -n1 true (a new client each)",
            srun["p50_ms"],
            srun["p99_ms"],
            f"n={srun['n']}",
        ),
        lat_line(
            "corral: corral run -- true (a new client each)",
            cr["p50_ms"],
            cr["p99_ms"],
            f"n={cr['n']}; importing the CLI alone: {cr['python_import_cli_ms']:.0f} ms",
        ),
        lat_line(
            "corral: framework submit -> RUNNING",
            sr["p50"],
            sr["p99"],
            f"bench/launch.py --agents 1 --concurrency 1, n={lat['tasks']}",
        ),
        lat_line("corral: framework submit -> FINISHED", st["p50"], st["p99"]),
        lat_line("Slurm: one sbatch call (submit only)", sb["p50_ms"], sb["p99_ms"]),
        "\n== daemon CPU per job, ms (own user+system time; Slurm's slurmstepd not included)",
    ]
    for mode in ("sbatch_loop", "array"):
        d = s[mode]["daemon_cpu_ms_per_job"]
        out.append(
            f"  Slurm {mode:<12} "
            + "  ".join(f"{k} {v}" for k, v in d.items())
            + f"   (host CPUs busy: {s[mode]['host_cpu_busy']:.0%})"
        )
    for label, L in (("process", cp), ("linux", cl)):
        if L is not None:
            c = L["cpu_ms_per_task"]
            out.append(
                f"  corral {label:<11} master {c['master']:.2f}  agents {c['agents']:.2f}  "
                f"launchers {c['launchers']:.2f}"
            )

    def load_line(name: str, up: str, bg: float | None) -> str:
        busy = "" if bg is None else f"; CPUs busy in the 2 s before (other work): {bg:.0%}"
        return f"load before {name}: {up.strip()}{busy}"

    out.append("\n" + load_line("Slurm", s["uptime"], s.get("background_cpu_busy")))
    out.append(load_line("corral", a.uptime_corral, a.background_corral))
    print("\n".join(out))
    summary = {
        "jobs": n,
        "slurm_version": ver,
        "corral_process_tasks_per_s": cp["tasks_per_s"],
        "corral_linux_tasks_per_s": cl["tasks_per_s"] if cl else None,
        "slurm_sbatch_loop_jobs_per_s": loop["jobs_per_s"],
        "slurm_array_jobs_per_s": arr["jobs_per_s"],
        "ratios": {k: round(v, 2) for k, v in ratios.items()},
        "srun_ms": srun,
        "corral_run_ms": cr,
        "corral_submit_to_running_ms": sr,
        "corral_submit_to_finished_ms": st,
        "uptime_slurm": s["uptime"],
        "uptime_corral": a.uptime_corral,
        "background_cpu_busy_slurm": s.get("background_cpu_busy"),
        "background_cpu_busy_corral": a.background_corral,
    }
    if a.json:
        Path(a.json).write_text(json.dumps({"summary": summary, "slurm": s}, indent=1))
    return summary


# ====================================================================== main
def positive_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {v}")
    return v


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("free-ports")
    p = sub.add_parser("cpu-busy", help="share of all CPUs busy over --seconds (other work)")
    p.add_argument("--seconds", type=float, default=2.0)
    p = sub.add_parser("wait-path")
    p.add_argument("--path", required=True)
    p.add_argument("--timeout", type=float, default=10.0)
    p = sub.add_parser("wait-cmd")
    p.add_argument("--timeout", type=float, default=30.0)
    p.add_argument("--what", default="a command to succeed")
    p.add_argument("argv", nargs="+")
    p = sub.add_parser("wait-idle")
    p.add_argument("--timeout", type=float, default=60.0)
    p = sub.add_parser("measure")
    p.add_argument("--jobs", type=positive_int, default=1000)
    p.add_argument("--sruns", type=positive_int, default=50)
    p.add_argument("--jobcomp", required=True, help="JobCompLoc of the running Slurm")
    p.add_argument("--conf", required=True, help="its slurm.conf (in <run>/etc/)")
    p.add_argument("--deadline", type=float, default=600.0, help="seconds per batch")
    p.add_argument("--repeat", type=positive_int, default=1, help="loop + array rounds")
    p.add_argument("--version", default="?")
    p.add_argument("--uptime", default="")
    p.add_argument("--background", type=float, help="host CPU busy share just before (cpu-busy)")
    p.add_argument("--out", required=True)
    p = sub.add_parser("corral-run")
    p.add_argument("--n", type=positive_int, default=50)
    p.add_argument("--out", required=True)
    p = sub.add_parser("report")
    p.add_argument("--slurm", required=True)
    p.add_argument("--corral", required=True)
    p.add_argument("--corral-linux")
    p.add_argument("--corral-latency", required=True)
    p.add_argument("--corral-run", required=True)
    p.add_argument("--uptime-corral", default="")
    p.add_argument("--background-corral", type=float)
    p.add_argument("--json")
    a = ap.parse_args(argv)
    try:
        if a.cmd == "free-ports":
            ctld, slurmd = free_ports()
            print(ctld, slurmd)
        elif a.cmd == "cpu-busy":
            if not 0 < a.seconds <= 60:
                raise BenchError(f"--seconds must be in (0, 60], got {a.seconds:g}")
            b0, t0 = host_cpu()
            time.sleep(a.seconds)  # a sampling window, not synchronisation
            b1, t1 = host_cpu()
            print(f"{(b1 - b0) / max(1, t1 - t0):.3f}")
        elif a.cmd == "wait-path":
            wait_for(lambda: os.path.exists(a.path), a.timeout, a.path, 0.02)
        elif a.cmd == "wait-cmd":

            def ok() -> bool:
                return subprocess.run(a.argv, capture_output=True).returncode == 0

            wait_for(ok, a.timeout, a.what, 0.1)
        elif a.cmd == "wait-idle":

            def idle() -> bool:
                out = run(["sinfo", "-h", "-o", "%t"]).split()
                return bool(out) and all(t.startswith("idle") for t in out)

            wait_for(idle, a.timeout, "the Slurm node to be idle", 0.1)
        elif a.cmd == "measure":
            cmd_measure(a)
        elif a.cmd == "corral-run":
            cmd_corral_run(a)
        elif a.cmd == "report":
            cmd_report(a)
    except BenchError as exc:
        print(f"slurm_bench.py {a.cmd}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"slurm_bench.py {a.cmd}: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
