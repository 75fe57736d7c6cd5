"""What this host offers when ``--resources`` does not say: cpus, mem, disk, ports."""

from __future__ import annotations

import shutil

import psutil

from corral.resources import UNRESERVED, Resources, parse

DEFAULT_PORTS = ((31000, 32000),)


def detect(work_dir: str) -> Resources:
    """Mesos's rule: all cpus; memory and disk less a reserve for the system."""
    cpus = float(psutil.cpu_count() or 1)
    mem_mb = psutil.virtual_memory().total / (1 << 20)
    mem = mem_mb - min(1024.0, mem_mb / 2)
    disk_mb = shutil.disk_usage(work_dir).free / (1 << 20)
    disk = disk_mb - min(5120.0, disk_mb / 2)
    return Resources(
        {
            ("cpus", UNRESERVED): cpus,
            ("mem", UNRESERVED): round(mem),
            ("disk", UNRESERVED): round(disk),
        },
        {("ports", UNRESERVED): DEFAULT_PORTS},
    )


def resolve(flag: str | None, work_dir: str) -> Resources:
    """``--resources`` as given, with anything it leaves out (cpus, mem, disk, ports) detected."""
    detected = detect(work_dir)
    if not flag:
        return detected
    given = parse(flag)
    missing = detected
    names = given.names()
    for key in list(detected):
        if key[0] in names:
            missing = missing - Resources(
                {k: v for k, v in detected.scalars.items() if k == key},
                {k: v for k, v in detected.ranges.items() if k == key},
            )
    return given + missing
