"""What a host needs, given what it has (pure): `plan(desired, observed) -> [Action]`.

An empty plan is an unchanged host. The observation comes from `probe` (run on the host);
the actions are carried out, in order, by `remote`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from corral.deploy.render import SERVICE_ORDER, Desired, sha256


@dataclass(frozen=True)
class ServiceSeen:
    running: bool
    spec: str | None = None  # digest of the spec the running service was started from


@dataclass(frozen=True)
class Observed:
    """What a host has now."""

    systemd: bool = False
    wheel: str | None = None  # digest of the installed wheel
    files: dict[str, str | None] = field(default_factory=dict)  # path -> digest (None: absent)
    services: dict[str, ServiceSeen] = field(default_factory=dict)


@dataclass(frozen=True)
class InstallWheel:
    digest: str

    def describe(self) -> str:
        return f"install corral (wheel {self.digest[:12]})"


@dataclass(frozen=True)
class WriteFile:
    path: str
    content: str
    new: bool

    def describe(self) -> str:
        return f"{'create' if self.new else 'update'} {self.path}"


@dataclass(frozen=True)
class StartService:
    name: str
    restart: bool  # a running instance with another spec is stopped first
    why: str

    def describe(self) -> str:
        return f"{'restart' if self.restart else 'start'} {self.name} ({self.why})"


@dataclass(frozen=True)
class StopService:
    name: str

    def describe(self) -> str:
        return f"stop {self.name} (no longer in the inventory for this host)"


Action = InstallWheel | WriteFile | StartService | StopService


def plan(want: Desired, seen: Observed) -> list[Action]:
    """The actions that bring the host from `seen` to `want`; [] when it is there already."""
    out: list[Action] = []
    if seen.wheel != want.wheel:
        out.append(InstallWheel(want.wheel))
    wanted = {s.name for s in want.services}
    for name in SERVICE_ORDER:
        if name not in wanted and seen.services.get(name, ServiceSeen(False)).running:
            out.append(StopService(name))
    for path, content in sorted(want.files.items()):
        have = seen.files.get(path)
        if have != sha256(content):
            out.append(WriteFile(path, content, new=have is None))
    for service in want.services:
        spec = sha256(want.spec_text(service))
        now = seen.services.get(service.name, ServiceSeen(False))
        if not now.running:
            out.append(StartService(service.name, restart=False, why="not running"))
        elif now.spec != spec:
            out.append(StartService(service.name, restart=True, why="its spec changed"))
    return out


def paths_to_probe(want: Desired) -> list[str]:
    return sorted(want.files)


def restrict(actions: list[Action], want: Desired, services: frozenset[str]) -> list[Action]:
    """The part of a plan an upgrade step carries out: the wheel, the files no other
    service's spec is, and `services` (re)started, so that a host with several roles has
    each restarted in its own step. The other services keep running from their old specs
    (their spec files are left alone too: systemd's running spec is its unit file's digest),
    and their own step restarts them."""
    others = {want.spec_path(s.name) for s in want.services if s.name not in services}
    out: list[Action] = []
    for action in actions:
        if isinstance(action, StopService):
            continue
        if isinstance(action, WriteFile) and action.path in others:
            continue
        if isinstance(action, StartService) and action.name not in services:
            continue
        out.append(action)
    return out
