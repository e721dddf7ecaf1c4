"""Stand-ins for a small lab network, for tests of workers on several hosts.

- `Network`: a Linux bridge in the root network namespace with an address of its own, and one
  network namespace per "host", each joined to the bridge by a veth pair. A host sees the bridge
  address and the other hosts, never the root namespace's loopback.
- `PrivateRedis`, `PrivatePostgres`: servers bound to the bridge address only, on free ports,
  with passwords, in temporary folders: the machine's own Redis and PostgreSQL listen on loopback,
  which no host namespace can reach. PostgreSQL runs as an unprivileged user (it refuses root).

Everything here needs root (CAP_NET_ADMIN) and iproute2; `Network.create` raises `Unavailable`,
with the reason, where namespaces, veths or bridges cannot be made, so a test can skip. Every
`close`/`stop` is safe to call twice and after a half-finished start.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import redis

IP = shutil.which("ip")
REDIS_SERVER = shutil.which("redis-server")
RUNUSER = shutil.which("runuser")


class Unavailable(Exception):
    """What this machine lacks for the multi-host stand-in (the message says what)."""


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    assert IP
    done = subprocess.run([IP, *args], capture_output=True, text=True, timeout=30)
    if check and done.returncode != 0:
        raise subprocess.CalledProcessError(done.returncode, done.args, done.stdout, done.stderr)
    return done


def _free_subnet() -> str:
    """A 10.213.N.0/24 prefix ("10.213.N") that no interface or route of this machine uses."""
    used = _ip("-4", "-o", "addr", "show").stdout + _ip("-4", "route", "show").stdout
    start = os.getpid() % 200
    for k in range(200):
        prefix = f"10.213.{(start + k) % 200 + 20}"
        if f"{prefix}." not in used:
            return prefix
    raise Unavailable("no free 10.213.N.0/24 subnet for the test network")


@dataclass
class Network:
    """A bridge (root side, `address`) and host namespaces joined to it (`hosts`: name -> ip)."""

    tag: str
    prefix: str
    bridge: str
    hosts: dict[str, str] = field(default_factory=dict)
    namespaces: list[str] = field(default_factory=list)

    @property
    def address(self) -> str:
        return f"{self.prefix}.1"

    @classmethod
    def create(cls, hosts: int) -> Network:
        if os.geteuid() != 0:
            raise Unavailable("network namespaces need root (CAP_NET_ADMIN); run as root")
        if IP is None:
            raise Unavailable("iproute2's `ip` is not installed")
        tag = f"{os.getpid() % 100000}"
        net = cls(tag=tag, prefix=_free_subnet(), bridge=f"cnnl{tag}br")
        try:
            _ip("link", "add", net.bridge, "type", "bridge")
            _ip("addr", "add", f"{net.address}/24", "dev", net.bridge)
            _ip("link", "set", net.bridge, "up")
            for k in range(hosts):
                net._add_host(k)
        except (subprocess.CalledProcessError, OSError) as exc:
            net.close()
            detail = getattr(exc, "stderr", "") or str(exc)
            raise Unavailable(
                f"cannot make network namespaces, veth pairs and a bridge here ({detail.strip()}); "
                "they need root with CAP_NET_ADMIN"
            ) from exc
        return net

    def _add_host(self, k: int) -> None:
        ns, outside, inside = f"cnnl{self.tag}h{k}", f"cnnl{self.tag}v{k}", f"cnnl{self.tag}p{k}"
        _ip("netns", "add", ns)
        self.namespaces.append(ns)
        _ip("link", "add", outside, "type", "veth", "peer", "name", inside)
        _ip("link", "set", inside, "netns", ns)
        _ip("link", "set", outside, "master", self.bridge)
        _ip("link", "set", outside, "up")
        address = f"{self.prefix}.{k + 2}"
        _ip("-n", ns, "link", "set", inside, "name", "eth0")
        _ip("-n", ns, "addr", "add", f"{address}/24", "dev", "eth0")
        _ip("-n", ns, "link", "set", "eth0", "up")
        _ip("-n", ns, "link", "set", "lo", "up")
        self.hosts[ns] = address

    def exec_prefix(self, ns: str) -> list[str]:
        """Prepended to a command line, runs it inside host `ns` (`ip netns exec` execs it: the
        process keeps the pid it was started with)."""
        assert IP
        return [IP, "netns", "exec", ns]

    def free_port(self) -> int:
        with socket.socket() as s:
            s.bind((self.address, 0))
            return s.getsockname()[1]

    def close(self) -> None:
        # A namespace's veth end goes with it, and takes its peer on the bridge along.
        for ns in self.namespaces:
            _ip("netns", "del", ns, check=False)
        for k in range(len(self.namespaces)):
            _ip("link", "del", f"cnnl{self.tag}v{k}", check=False)
        _ip("link", "del", self.bridge, check=False)
        self.namespaces.clear()


def can_connect(host: str, port: int, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _wait(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} (after {timeout:g} s)")
        time.sleep(0.1)


class PrivateRedis:
    """redis-server on one address, with a password, without persistence."""

    def __init__(self, address: str, port: int, folder: Path, password: str):
        if REDIS_SERVER is None:
            raise Unavailable("redis-server is not installed")
        self.address, self.port, self.folder, self.password = address, port, folder, password
        self.url = f"redis://:{password}@{address}:{port}/0"
        self.proc: subprocess.Popen | None = None

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url, socket_timeout=2, socket_connect_timeout=2)

    def start(self) -> None:
        assert REDIS_SERVER
        self.folder.mkdir(parents=True, exist_ok=True)
        log = self.folder / "redis.log"
        args = [REDIS_SERVER, "--bind", self.address, "--port", str(self.port)]
        args += ["--requirepass", self.password, "--save", "", "--appendonly", "no"]
        args += ["--dir", str(self.folder), "--logfile", str(log)]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _wait(self._answers, 15, f"redis-server did not start: {self._log(log)}")

    @staticmethod
    def _log(path: Path) -> str:
        return path.read_text()[-1500:] if path.exists() else "(no log)"

    def _answers(self) -> bool:
        try:
            return bool(self.client().ping())
        except redis.RedisError:
            return False

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.kill()  # nothing to save
        self.proc.wait(timeout=10)


def require_servers() -> None:
    """Raise Unavailable unless redis-server, PostgreSQL's server and runuser are installed."""
    if REDIS_SERVER is None:
        raise Unavailable("redis-server is not installed")
    if RUNUSER is None:
        raise Unavailable("runuser (util-linux) is not installed")
    postgres_bin()
    unprivileged_user()


def postgres_bin() -> Path:
    """The newest PostgreSQL server's bin folder (Debian keeps them under /usr/lib/postgresql)."""
    for folder in sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_major, reverse=True):
        if all(os.access(f"{folder}/{tool}", os.X_OK) for tool in ("initdb", "pg_ctl")):
            return Path(folder)
    found = shutil.which("initdb"), shutil.which("pg_ctl")
    if all(found):
        return Path(found[0]).parent  # type: ignore[arg-type]
    raise Unavailable("PostgreSQL's server (initdb, pg_ctl) is not installed")


def _major(folder: str) -> int:
    try:
        return int(Path(folder).parent.name.split(".")[0])
    except ValueError:
        return 0


def unprivileged_user() -> str:
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            pwd.getpwnam(name)
            return name
    raise Unavailable("no unprivileged user (postgres or nobody) to run PostgreSQL as")


class PrivatePostgres:
    """A throw-away PostgreSQL cluster listening on one address only, password login from the
    test network, run as an unprivileged user from a folder of its own (it never runs as root)."""

    def __init__(self, address: str, port: int, subnet: str, password: str):
        if RUNUSER is None:
            raise Unavailable("runuser (util-linux) is not installed")
        self.bin, self.user = postgres_bin(), unprivileged_user()
        self.address, self.port, self.subnet, self.password = address, port, subnet, password
        self.folder: Path | None = None
        self.url = f"postgresql://cnnlens:{password}@{address}:{port}/cnnlens"

    def _as_user(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
        assert RUNUSER
        return subprocess.run(
            [RUNUSER, "-u", self.user, "--", *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            env={"PATH": "/usr/bin:/bin", "PGPASSWORD": self.password, "LC_ALL": "C.UTF-8"},
        )

    def start(self) -> None:
        # Not under pytest's tmp_path: its parents are root's alone, and the server's user must
        # be able to walk into its own folder.
        import tempfile

        self.folder = Path(tempfile.mkdtemp(prefix="cnnlens-multihost-pg-"))
        uid = pwd.getpwnam(self.user).pw_uid
        os.chown(self.folder, uid, -1)
        secret = self.folder / "password"
        secret.write_text(self.password + "\n")
        os.chown(secret, uid, -1)
        data = self.folder / "data"
        self._checked(
            str(self.bin / "initdb"),
            "-D",
            str(data),
            "-U",
            "cnnlens",
            f"--pwfile={secret}",
            "--auth=scram-sha-256",
            "--encoding=UTF8",
            "--no-sync",
        )
        # Password logins from the test network only; no local socket logins beyond the owner's.
        (data / "pg_hba.conf").write_text(f"host all cnnlens {self.subnet} scram-sha-256\n")
        options = (
            f"-c listen_addresses={self.address} -p {self.port} -k {self.folder} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        self._checked(
            str(self.bin / "pg_ctl"),
            "-D",
            str(data),
            "-l",
            str(self.folder / "postgres.log"),
            "-o",
            options,
            "-w",
            "-t",
            "60",
            "start",
        )
        self._checked(
            str(self.bin / "createdb"),
            "-h",
            self.address,
            "-p",
            str(self.port),
            "-U",
            "cnnlens",
            "cnnlens",
        )

    def _checked(self, *args: str) -> None:
        done = self._as_user(*args)
        if done.returncode != 0:
            raise RuntimeError(f"{Path(args[0]).name} failed: {done.stdout}{done.stderr}")

    def stop(self) -> None:
        if self.folder is None:
            return
        data = self.folder / "data"
        if (data / "postmaster.pid").exists():
            stop = [str(self.bin / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"]
            done = self._as_user(*stop, timeout=30)
            if done.returncode != 0:  # last resort: the postmaster's pid, from its own file
                with contextlib.suppress(OSError, ValueError):
                    pid = int((data / "postmaster.pid").read_text().split()[0])
                    os.kill(pid, 9)
        shutil.rmtree(self.folder, ignore_errors=True)
        self.folder = None
