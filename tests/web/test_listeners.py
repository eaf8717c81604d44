"""Each web worker listens on a socket of its own (web/listeners.py), and connections are shared out."""

from __future__ import annotations

import http.client
import os
import pickle
import select
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.servers import child_processes, free_port
from web import listeners

pytestmark = pytest.mark.skipif(not listeners.shares_out(), reason="the system has no SO_REUSEPORT")


def _accept_all(socks: list[socket.socket], expected: int) -> dict[int, int]:
    """Accept `expected` connections from the listening sockets; how many each one took."""
    taken = dict.fromkeys(range(len(socks)), 0)
    accepted: list[socket.socket] = []
    deadline = time.monotonic() + 10
    while sum(taken.values()) < expected and time.monotonic() < deadline:
        ready, _, _ = select.select(socks, [], [], 0.5)
        for sock in ready:
            connection, _address = sock.accept()
            accepted.append(connection)
            taken[socks.index(sock)] += 1
    for connection in accepted:
        connection.close()
    return taken


class TestWorkerSockets:
    def test_the_held_address_takes_no_connection(self) -> None:
        port = free_port()
        held = listeners.reserve("127.0.0.1", port)
        try:
            assert held.getsockname() == ("127.0.0.1", port)
            with pytest.raises(ConnectionRefusedError):
                socket.create_connection(("127.0.0.1", port), timeout=2).close()
        finally:
            held.close()

    def test_each_worker_gets_a_listening_socket_of_its_own_and_the_kernel_shares_connections(self) -> None:
        port = free_port()
        held = listeners.reserve("127.0.0.1", port)
        # What uvicorn's supervisor does with the socket it is given: pickled into each worker.
        workers = [pickle.loads(pickle.dumps(held)) for _ in range(2)]  # noqa: S301 (our own bytes)
        clients: list[socket.socket] = []
        try:
            assert all(type(sock) is socket.socket for sock in workers)
            assert {sock.fileno() for sock in workers}.isdisjoint({held.fileno()})
            for sock in workers:
                assert sock.getsockname() == ("127.0.0.1", port)
                sock.listen(64)
            clients = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(32)]
            taken = _accept_all(workers, 32)
            assert sum(taken.values()) == 32, taken
            # Shared by a hash of each connection's addresses: 32 all to one would be a 1 in 2^31 chance.
            assert min(taken.values()) > 0, taken
        finally:
            for sock in [*clients, *workers, held]:
                sock.close()

    def test_an_address_in_use_is_refused(self) -> None:
        with socket.socket() as other:
            other.bind(("127.0.0.1", 0))
            other.listen(1)
            with pytest.raises(OSError, match="in use"):
                listeners.reserve("127.0.0.1", other.getsockname()[1])


def _established_by(pid: int, port: int) -> int:
    """How many established TCP connections to `port` the process holds (Linux /proc)."""
    inodes = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local_port = int(fields[1].split(":")[1], 16)
        if local_port == port and fields[3] == "01":  # 01: ESTABLISHED
            inodes.add(fields[9])
    held = 0
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:[") and target[8:-1] in inodes:
            held += 1
    return held


@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="reads connections from Linux /proc")
class TestServeWithWorkers:
    def test_keep_alive_connections_opened_together_reach_both_workers(self, tmp_path: Path) -> None:
        env = {
            **os.environ,
            "FABLAB_DATABASE_URL": f"sqlite:///{tmp_path / 'center.db'}",
            "FABLAB_ENVIRONMENT": "test",
            "FABLAB_SECRET_KEY": "listeners-" + "x" * 40,
            "FABLAB_LOG_LEVEL": "warning",
        }
        upgrade = subprocess.run(
            [sys.executable, "-m", "web.cli", "db", "upgrade"], env=env, capture_output=True, timeout=120
        )
        assert upgrade.returncode == 0, upgrade.stderr
        port = free_port()
        log = tmp_path / "serve.log"
        with log.open("wb") as stderr:
            server = subprocess.Popen(
                [sys.executable, "-m", "web.cli", "serve", "--workers", "2", "--port", str(port)],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
            )
        connections: list[http.client.HTTPConnection] = []
        try:
            deadline = time.monotonic() + 60
            while len(_children_serving(server.pid, port)) < 2:
                assert server.poll() is None, log.read_text()
                assert time.monotonic() < deadline, "two web workers did not start listening"
                time.sleep(0.2)
            # Sixteen keep-alive connections opened at once, as a proxy or a load test opens them.
            connections = [http.client.HTTPConnection("127.0.0.1", port, timeout=10) for _ in range(16)]
            for connection in connections:
                connection.connect()
            for connection in connections:
                connection.request("GET", "/healthz")
                response = connection.getresponse()
                assert response.status == 200
                response.read()
            workers = _children_serving(server.pid, port)
            held = {pid: _established_by(pid, port) for pid in workers}
            assert sum(held.values()) == 16, held
            assert min(held.values()) > 0, held  # all sixteen on one worker: 1 in 2^15 by chance
            assert _established_by(server.pid, port) == 0  # the supervisor serves no connection
        finally:
            for connection in connections:
                connection.close()
            server.terminate()
            server.wait(timeout=60)


def _children_serving(pid: int, port: int) -> list[int]:
    """The worker processes of `pid` that have a socket listening on `port`."""
    listening = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if int(fields[1].split(":")[1], 16) == port and fields[3] == "0A":  # 0A: LISTEN
            listening.add(fields[9])
    serving = []
    for child in child_processes(pid):
        try:
            targets = {os.readlink(fd) for fd in Path(f"/proc/{child}/fd").iterdir()}
        except OSError:
            continue
        if any(t.startswith("socket:[") and t[8:-1] in listening for t in targets):
            serving.append(child)
    return serving
