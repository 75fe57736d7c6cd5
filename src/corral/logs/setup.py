"""A component's log handlers from its ``--log-*`` flags: stderr as before, and with
``--log-dir`` a rotating ``<component>.log`` there (stderr then keeps WARNING and above)."""

from __future__ import annotations

import logging
import logging.handlers
import sys
from dataclasses import dataclass
from pathlib import Path

from corral.logs import control, jsonfmt, levels

DEFAULT_MAX_BYTES = 10 * 1024 * 1024
DEFAULT_BACKUPS = 5
FORMATS = ("text", "json")


@dataclass(frozen=True)
class LogOptions:
    log_dir: Path | None = None
    log_format: str = "text"
    max_bytes: int = DEFAULT_MAX_BYTES
    backups: int = DEFAULT_BACKUPS


def check(opts: LogOptions) -> str | None:
    """What is wrong with the flags, naming the flag; None when they are fine."""
    if opts.log_format not in FORMATS:
        return f"--log-format: expected one of {', '.join(FORMATS)}; got {opts.log_format!r}"
    if opts.max_bytes < 1024:
        return "--log-max-bytes must be at least 1024"
    if opts.backups < 1:
        return "--log-backups must be at least 1"
    return None


_current: tuple[str, LogOptions] | None = None


def log_file(component: str, opts: LogOptions) -> Path | None:
    return opts.log_dir / f"{component}.log" if opts.log_dir is not None else None


def current_log_file() -> Path | None:
    """This process's log file (None: no ``--log-dir``)."""
    if _current is None:
        return None
    return log_file(*_current)


def configure(component: str, level: int, opts: LogOptions) -> None:
    """Replace the root logger's handlers: stderr, and the rotating file with ``--log-dir``.
    Raises OSError when the log directory cannot be made."""
    global _current
    logging.addLevelName(levels.TRACE, "TRACE")
    root = logging.getLogger()
    for h in list(root.handlers):
        root.removeHandler(h)
        h.close()
    fmt = jsonfmt.formatter(opts.log_format)
    stderr = logging.StreamHandler(sys.stderr)
    stderr.setFormatter(fmt)
    root.addHandler(stderr)
    path = log_file(component, opts)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.handlers.RotatingFileHandler(
            path, maxBytes=opts.max_bytes, backupCount=opts.backups, encoding="utf-8"
        )
        handler.setFormatter(fmt)
        root.addHandler(handler)
        stderr.setLevel(logging.WARNING)
    root.setLevel(level)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    control.install(level)
    _current = (component, opts)


def child_args(opts: LogOptions | None = None) -> list[str]:
    """The ``--log-*`` flags that give a child process (the launcher) the same settings."""
    if opts is None:
        if _current is None or _current[1].log_dir is None:
            return []
        opts = _current[1]
    if opts.log_dir is None:
        return []
    return [
        "--log-dir", str(opts.log_dir), "--log-format", opts.log_format,
        "--log-max-bytes", str(opts.max_bytes), "--log-backups", str(opts.backups),
    ]  # fmt: skip
