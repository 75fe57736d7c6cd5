"""The sandbox is a boundary, on a real agent: archives that point out of it fail the task,
an output_file outside it is refused, and /files serves nothing outside the sandbox asked
about (``..``, absolute paths, symlinks)."""

from __future__ import annotations

import io
import tarfile
import urllib.error
import urllib.parse
from pathlib import Path

import pytest
from recorder import connected, sandbox_of, task

from corral.testing import LocalCluster, http_json
from corral.wire.tasks import URI

pytestmark = pytest.mark.integration


def status_of(cluster: LocalCluster, path: str) -> int:
    q = urllib.parse.urlencode({"path": path, "offset": 0})
    try:
        http_json(f"http://127.0.0.1:{cluster.agents[0].port}/files/read?{q}")
    except urllib.error.HTTPError as exc:
        return exc.code
    return 200


async def test_fetching_cannot_leave_the_sandbox(cluster: LocalCluster, tmp_path: Path) -> None:
    evil = tmp_path / "evil.tar"
    with tarfile.open(evil, "w") as tar:
        link = tarfile.TarInfo("etc")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc"
        tar.addfile(link)
        member = tarfile.TarInfo("etc/corral-was-here")
        member.size = 1
        tar.addfile(member, io.BytesIO(b"x"))
    plain = tmp_path / "plain.txt"
    plain.write_text("hi\n")
    async with connected(cluster.master) as (driver, rec):
        offer = await rec.next_offer()
        t = task("evil", offer, "true", uris=[str(evil)])
        await driver.launch([offer.id.value], [t])
        failed = await rec.wait_state("evil", "TASK_FAILED")
        assert "refused" in (failed.message or "") and "evil.tar" in (failed.message or "")
        assert not Path("/etc/corral-was-here").exists()

        offer = await rec.next_offer()
        t = task("out", offer, "true")
        assert t.command is not None
        t.command.uris = [URI(value=str(plain), output_file="../../plain.txt")]
        await driver.launch([offer.id.value], [t])
        failed = await rec.wait_state("out", "TASK_FAILED")
        assert "output_file" in (failed.message or "")


async def test_files_serves_only_the_sandbox_asked_about(cluster: LocalCluster) -> None:
    async with connected(cluster.master) as (driver, rec):
        offer = await rec.next_offer()
        await driver.launch([offer.id.value], [task("first", offer, "echo mine > secret")])
        await rec.wait_state("first", "TASK_FINISHED")
        first = sandbox_of(cluster, "first")
        offer = await rec.next_offer()
        cmd = f"ln -s /etc/passwd pw && ln -s {first} other && ln -s stdout out && echo ok"
        await driver.launch([offer.id.value], [task("second", offer, cmd)])
        await rec.wait_state("second", "TASK_FINISHED")
        second = sandbox_of(cluster, "second")
        assert status_of(cluster, f"{second}/out") == 200  # a link inside is fine
        assert status_of(cluster, f"{first}/secret") == 200
        for bad in (
            f"{second}/pw",
            f"{second}/other/secret",
            f"{second}/../../agent.id",
            str(Path(second).parent),
            "/etc/passwd",
            f"/frameworks/{driver.framework_id}/executors/second/runs/latest/other/secret",
            f"/frameworks/{driver.framework_id}/executors/second/runs/latest/../../x",
        ):
            assert status_of(cluster, bad) == 404, bad
