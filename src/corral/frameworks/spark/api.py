"""The spark framework's small HTTP API: its status, and the ``spark://`` URL for scripts."""

from __future__ import annotations

from aiohttp import web

from corral.frameworks.spark.framework import SparkFramework


def build_app(fw: SparkFramework) -> web.Application:
    """``GET /v1/status`` (JSON: the ``spark://`` URL, the Spark master's UI, workers,
    applications, decisions), ``GET /v1/spark-url`` (the URL as text; 503 with the reason
    while the Spark master is not up), ``GET /ping``."""
    app = web.Application()

    async def status(request: web.Request) -> web.Response:
        return web.json_response(fw.status())

    async def spark_url(request: web.Request) -> web.Response:
        url = fw.status()["spark_url"]
        if not isinstance(url, str):
            return web.json_response({"message": fw.view_error or "not up yet"}, status=503)
        return web.Response(text=url + "\n")

    async def ping(request: web.Request) -> web.Response:
        return web.Response(text="pong")

    app.router.add_get("/", status)
    app.router.add_get("/v1/status", status)
    app.router.add_get("/v1/spark-url", spark_url)
    app.router.add_get("/ping", ping)
    return app


__all__ = ["build_app"]
