"""A throwaway PostgreSQL cluster of the tests' own, on a free loopback port, to stop and start
at will (never the shared server on 5432). Needs the server binaries (initdb, pg_ctl); as root
it runs them as the `postgres` user, since PostgreSQL refuses to run as root."""

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from tests.faults.servers import HOST, free_port

VERSIONED_BINARIES = Path("/usr/lib/postgresql")


def find_binaries() -> Path | None:
    """ICX_PG_BIN, else the newest /usr/lib/postgresql/<version>/bin, else pg_ctl on PATH."""
    for candidate in filter(None, [os.environ.get("ICX_PG_BIN")]):
        if (Path(candidate) / "pg_ctl").exists():
            return Path(candidate)
    if VERSIONED_BINARIES.is_dir():
        versions = sorted(
            (p for p in VERSIONED_BINARIES.iterdir() if (p / "bin" / "pg_ctl").exists()),
            key=lambda p: int(p.name) if p.name.isdigit() else 0,
        )
        if versions:
            return versions[-1] / "bin"
    found = shutil.which("pg_ctl")
    return Path(found).parent if found else None


def why_not_runnable(binaries: Path | None) -> str | None:
    if binaries is None or not (binaries / "initdb").exists():
        return (
            "PostgreSQL server binaries (initdb, pg_ctl) not found: install the postgresql "
            "server package or set ICX_PG_BIN to their directory"
        )
    if os.geteuid() == 0 and (shutil.which("runuser") is None or _uid("postgres") is None):
        return "running as root, and there is no `postgres` user (or no runuser) to run it as"
    return None


def _uid(user: str) -> int | None:
    import pwd

    try:
        return pwd.getpwnam(user).pw_uid
    except KeyError:
        return None


@dataclass
class Cluster:
    binaries: Path
    directory: Path
    port: int

    @classmethod
    def create(cls, binaries: Path) -> "Cluster":
        directory = Path(tempfile.mkdtemp(prefix="icx-fault-pg-"))
        uid = _uid("postgres") if os.geteuid() == 0 else None
        if uid is not None:
            os.chown(directory, uid, -1)
        cluster = cls(binaries, directory, free_port())
        cluster._run(
            "initdb",
            "-D",
            str(cluster.data),
            "-A",
            "trust",
            "-U",
            "postgres",
            "--no-sync",
            "-E",
            "UTF8",
        )
        return cluster

    @property
    def data(self) -> Path:
        return self.directory / "data"

    @property
    def url(self) -> str:
        return f"postgresql://postgres@{HOST}:{self.port}/postgres"

    def start(self) -> None:
        # Its own socket directory and port; fsync off: the tests restart it, not the machine.
        options = f"-p {self.port} -k {self.directory} -c listen_addresses={HOST} -c fsync=off"
        self._run(
            "pg_ctl",
            "-D",
            str(self.data),
            "-o",
            options,
            "-l",
            str(self.directory / "server.log"),
            "-w",
            "-t",
            "30",
            "start",
        )

    def stop(self, mode: str = "fast") -> None:
        """fast: open transactions are aborted and connections closed, as in a failover;
        immediate: like a crash (recovery on the next start)."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "30", "stop")

    def running(self) -> bool:
        status = self._run("pg_ctl", "-D", str(self.data), "status", check=False)
        return status == 0

    def destroy(self) -> None:
        if self.data.exists() and self.running():
            self.stop("immediate")
        shutil.rmtree(self.directory, ignore_errors=True)

    def _run(self, program: str, *args: str, check: bool = True) -> int:
        command = [str(self.binaries / program), *args]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        # Output to a file, never a pipe: the server inherits pg_ctl's descriptors and would
        # hold a pipe open for its whole life.
        with (self.directory / "pg_ctl.out").open("ab") as out:
            done = subprocess.run(
                command,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                timeout=60,
                check=False,
                cwd=self.directory,
            )
        if check and done.returncode != 0:
            log = (self.directory / "pg_ctl.out").read_text(errors="replace")[-2000:]
            raise RuntimeError(f"{program} {' '.join(args)} failed ({done.returncode}):\n{log}")
        return done.returncode
