"""wrk (Debian's package) as the load generator on loopback: the highest throughput at a fixed
number of connections, and latency at half that rate.

wrk has no fixed-rate mode (that is wrk2), so "half load" is paced: each connection waits
between requests (the Lua script's `delay()`), calibrated so the connections together send
half the measured maximum; the rate reached is reported beside the latencies.
"""

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent / "wrk" / "post.lua"


@dataclass(frozen=True)
class WrkResult:
    requests: int
    seconds: float
    errors: int  # non-2xx/3xx answers, and socket errors
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def wrk_binary() -> str:
    found = shutil.which("wrk")
    if found is None:
        raise SystemExit(
            "wrk is not installed: `make bench` installs it "
            "(apt-get install -y --no-install-recommends wrk)"
        )
    return found


def run_wrk(
    url: str,
    *,
    body: Path,
    token: str | None,
    connections: int,
    seconds: float,
    delay_ms: int = 0,
    threads: int = 1,
) -> WrkResult:
    env = {
        **os.environ,
        "BENCH_BODY": str(body),
        "BENCH_TOKEN": token or "",
        "BENCH_DELAY_MS": str(delay_ms),
    }
    done = subprocess.run(
        [
            wrk_binary(),
            f"-t{threads}",
            f"-c{connections}",
            f"-d{max(1, round(seconds))}s",
            "--timeout",
            "10s",
            "-s",
            str(SCRIPT),
            url,
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=seconds + 60,
        check=True,
    )
    line = next(
        (x for x in done.stdout.splitlines() if x.startswith("BENCH_JSON ")),
        None,
    )
    if line is None:
        raise RuntimeError(f"wrk printed no figures:\n{done.stdout}\n{done.stderr}")
    raw = json.loads(line.removeprefix("BENCH_JSON "))
    errors = sum(
        raw[k]
        for k in ("status_errors", "connect_errors", "read_errors", "write_errors", "timeouts")
    )
    return WrkResult(
        requests=int(raw["requests"]),
        seconds=raw["duration_us"] / 1e6,
        errors=int(errors),
        p50_ms=raw["p50_us"] / 1000,
        p90_ms=raw["p90_us"] / 1000,
        p99_ms=raw["p99_us"] / 1000,
        max_ms=raw["max_us"] / 1000,
    )


def at_rate(
    url: str,
    *,
    body: Path,
    token: str | None,
    rate: float,
    seconds: float,
    connections: int = 8,
) -> WrkResult:
    """Latency at about `rate` requests per second: a short calibration run tells how long a
    request takes at this pace, and the measured run waits the rest of each interval. At low
    rates fewer connections are used, so that each still sends several requests."""
    connections = max(1, min(connections, int(rate * seconds / 5)))
    interval_ms = connections * 1000 / rate
    probe = run_wrk(
        url,
        body=body,
        token=token,
        connections=connections,
        seconds=min(4.0, seconds),
        delay_ms=max(1, round(interval_ms)),
    )
    # Each connection sends one request every (delay + time taken): wait the rest.
    delay = max(1, round(interval_ms - probe.p50_ms))
    return run_wrk(
        url, body=body, token=token, connections=connections, seconds=seconds, delay_ms=delay
    )
