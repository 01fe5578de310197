"""The intake ceiling: a bare FastAPI endpoint that echoes the request body, served exactly as
`liaison api` serves Liaison (uvicorn, one process, same options), so the difference between
the two is what Liaison does with a recommendation."""

import argparse
from typing import Any

import uvicorn
from fastapi import Body, FastAPI


def create_app() -> FastAPI:
    app = FastAPI(title="intake ceiling")

    # A plain `def`, as Liaison's handler is: both run in the same thread pool.
    @app.post("/v1/recommendations", status_code=202)
    def echo(body: dict[str, Any] = Body(...)) -> dict[str, Any]:
        return body

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    # The options `liaison api` passes (gateway/cli.py).
    uvicorn.run(
        "bench.ceiling_app:create_app",
        factory=True,
        host="127.0.0.1",
        port=args.port,
        log_level="warning",
        log_config=None,
        access_log=False,
    )


if __name__ == "__main__":
    main()
