"""`icx serve` as an operator runs it: a process of its own, configured by environment variables
and a departments file, started, probed on /healthz, and stopped with SIGTERM or killed."""

import asyncio
import os
import signal
import socket
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import yaml

from tests import slack_requests
from tests.conftest import API_TOKEN, COMPANY, SECRET_KEY

HOST = "127.0.0.1"
ROOT = Path(__file__).resolve().parents[2]
# Importing Bolt, botbuilder and matplotlib takes seconds on a busy two-core machine.
START_WITHIN = 60.0
# Finance posts its weekly digest here (two-replica and shutdown tests count the posts).
DIGEST_CHANNEL = "C0FINANCE1"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def write_company(directory: Path) -> Path:
    """The test company, with a Slack digest channel for Finance."""
    company: dict[str, Any] = {**COMPANY, "departments": [dict(d) for d in COMPANY["departments"]]}
    company["departments"][0]["slack"] = {"digest_channel": DIGEST_CHANNEL}
    path = directory / "departments.yml"
    path.write_text(yaml.safe_dump(company), encoding="utf-8")
    return path


def environment(
    database_url: str, slack_api_url: str, config: Path, **extra: str
) -> dict[str, str]:
    """What an operator sets, and nothing of the developer's own Slack, Teams or proxies."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.upper().startswith(("SLACK_", "MICROSOFT_", "ICX_"))
        and name.upper()
        not in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "DATABASE_URL")
    }
    env.update(
        DATABASE_URL=database_url,
        SLACK_BOT_TOKEN="xoxb-fault-test-token",
        SLACK_SIGNING_SECRET=slack_requests.SIGNING_SECRET,
        SLACK_API_URL=slack_api_url,
        ICX_API_TOKEN=API_TOKEN,
        ICX_SECRET_KEY=SECRET_KEY,
        ICX_CONFIG=str(config),
        ICX_LOG_FORMAT="text",
        PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        **extra,
    )
    return env


@dataclass
class IcxServer:
    """One `icx serve` process; restartable on the same port (a load balancer's backend)."""

    env: dict[str, str]
    directory: Path
    name: str = "icx"
    port: int = field(default_factory=free_port)
    process: asyncio.subprocess.Process | None = None
    starts: int = 0

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def log_file(self) -> Path:
        return self.directory / f"{self.name}.log"

    async def start(self) -> None:
        # Else an old process still listening there would answer the health checks.
        with socket.socket() as probe:
            assert probe.connect_ex((HOST, self.port)) != 0, f"port {self.port} is taken"
        env = {**self.env, "HOST": HOST, "PORT": str(self.port)}
        self.starts += 1
        with self.log_file.open("ab") as log:
            log.write(f"--- start {self.starts} ---\n".encode())
            log.flush()
            self.process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "bots.cli",
                "serve",
                env=env,
                cwd=self.directory,
                stdout=log,
                stderr=asyncio.subprocess.STDOUT,
            )
        await self._until_healthy()

    async def _until_healthy(self) -> None:
        deadline = time.monotonic() + START_WITHIN
        timeout = aiohttp.ClientTimeout(total=2)
        async with aiohttp.ClientSession(timeout=timeout) as http:
            while time.monotonic() < deadline:
                assert self.process is not None
                if self.process.returncode is not None:
                    raise AssertionError(
                        f"{self.name} exited on start ({self.process.returncode}):\n{self.tail()}"
                    )
                try:
                    async with http.get(f"{self.url}/healthz") as r:
                        if r.status == 200:
                            return
                except (aiohttp.ClientError, TimeoutError):
                    pass
                await asyncio.sleep(0.05)
        raise AssertionError(f"{self.name} not healthy within {START_WITHIN} s:\n{self.tail()}")

    async def kill(self) -> None:
        """kill -9: no shutdown code runs at all."""
        assert self.process is not None
        self.process.kill()
        assert await self.process.wait() == -signal.SIGKILL, "the server was not killed"

    async def terminate(self, within: float) -> tuple[int, float]:
        """SIGTERM, as an orchestrator stops a container; the exit status and how long it took
        (the process is killed if it outlives `within`, and the status then says so)."""
        assert self.process is not None
        began = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        try:
            code = await asyncio.wait_for(self.process.wait(), within)
        except TimeoutError:
            await self.kill()
            code = -signal.SIGKILL
        return code, time.monotonic() - began

    async def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            await self.terminate(30)

    def tail(self, lines: int = 40) -> str:
        if not self.log_file.exists():
            return "(no log)"
        return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])

    def log_lines(self, marker: str) -> list[str]:
        text = self.log_file.read_text(errors="replace") if self.log_file.exists() else ""
        return [line for line in text.splitlines() if marker in line]


async def run_icx(env: dict[str, str], directory: Path, *args: str) -> tuple[int, str]:
    """A one-off `icx` command (e.g. `digest --post`, as an operator's cron job runs it)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bots.cli",
        *args,
        env=env,
        cwd=directory,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), START_WITHIN)
    return int(process.returncode or 0), output.decode(errors="replace")
