"""What a host has now: a small Python program run on the host over SSH (with the host's own
python3, so it works before corral is installed), and the parsing of its answer (pure)."""

from __future__ import annotations

import json
from typing import Any

from corral.deploy.plan import Observed, ServiceSeen
from corral.deploy.render import SERVICE_ORDER, Layout

PROBE = r"""
import hashlib, json, os, subprocess, sys
ask = json.loads(sys.argv[1])
def digest(path):
    try:
        with open(path, "rb") as f:
            return hashlib.sha256(f.read()).hexdigest()
    except OSError:
        return None
def read(path):
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return None
systemd = os.path.isdir("/run/systemd/system")
out = {"systemd": systemd, "wheel": read(ask["installed"]) if os.access(ask["python"], os.X_OK)
       else None, "files": {p: digest(p) for p in ask["files"]}, "services": {}}
for name, paths in ask["services"].items():
    seen = {"running": False, "spec": None}
    if systemd:
        r = subprocess.run(["systemctl", "is-active", "--quiet", "corral-" + name + ".service"])
        if r.returncode == 0:
            seen = {"running": True, "spec": digest(paths["unit"])}
    else:
        try:
            with open(paths["state"]) as f:
                state = json.load(f)
            with open("/proc/%d/cmdline" % state["pid"], "rb") as f:
                cmd = f.read().split(b"\0")
            if b"supervise" in cmd and paths["spec"].encode() in cmd:
                seen = {"running": True, "spec": state.get("spec")}
        except (OSError, ValueError, KeyError, TypeError):
            pass
    out["services"][name] = seen
print(json.dumps(out))
"""


def request(layout: Layout, files: list[str]) -> str:
    """The probe's argument: what to look at."""
    return json.dumps(
        {
            "python": layout.python,
            "installed": layout.installed,
            "files": files,
            "services": {
                name: {
                    "spec": layout.spec(name),
                    "state": layout.state(name),
                    "unit": layout.unit(name),
                }
                for name in SERVICE_ORDER
            },
        }
    )


def parse(answer: str) -> Observed:
    doc: dict[str, Any] = json.loads(answer)
    return Observed(
        systemd=bool(doc["systemd"]),
        wheel=doc.get("wheel") or None,
        files=dict(doc["files"]),
        services={
            name: ServiceSeen(bool(s["running"]), s.get("spec"))
            for name, s in doc["services"].items()
        },
    )
