"""One operator API call from the CLI: POST to the master's ``/api/v1`` with the
environment's credentials and TLS; the answer, or exit 1 with the master's reason."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from corral.cli.common import EXIT_RUNTIME, authorized_request, fail


def operator_call(master: str, body: dict[str, Any]) -> bytes:
    """POST an operator call to the master; its answer, or exit 1 with the master's reason."""
    req, context = authorized_request(f"http://{master}/api/v1")
    req.data = json.dumps(body).encode()
    req.method = "POST"
    req.add_header("Content-Type", "application/json")
    req.add_header("Accept", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=10, context=context) as resp:
            return bytes(resp.read())
    except urllib.error.HTTPError as exc:
        reason = exc.read().decode(errors="replace").strip()
        fail(f"{body['type']}: HTTP {exc.code} {reason}", EXIT_RUNTIME)
    except (urllib.error.URLError, OSError) as exc:
        fail(f"cannot reach the master at {master}: {getattr(exc, 'reason', exc)}", EXIT_RUNTIME)
