"""One listening socket per web worker, so that connections are shared out among the workers.

uvicorn's workers all accept from one socket, and each worker's event loop accepts every connection
waiting whenever it wakes: sixteen keep-alive connections opened together landed fifteen on one
worker and one on the other, which then idled while the first ran at a full core. Here each worker
listens on a socket of its own bound to the same address with SO_REUSEPORT, and the kernel hands
each new connection to one of them (by a hash of its addresses), as nginx's `reuseport` does.

The serving process holds the address with a socket that is bound but never listens (so no
connection is ever handed to it) and gives it to uvicorn's supervisor as the one to share; a worker
that receives it (pickled into the spawned process, as uvicorn passes sockets) gets instead a new
socket of its own, bound to the same address. A worker that dies and is started again binds its own
again. Only processes of the same user can join the address (the kernel's rule for SO_REUSEPORT).
"""

from __future__ import annotations

import socket
from typing import Any


class WorkerListener(socket.socket):
    """The serving address, held by a bound socket that does not listen; each process it is passed
    to binds a listening socket of its own there (`worker_socket`)."""

    def __reduce__(self) -> tuple[Any, ...]:
        return worker_socket, (self.family, self.getsockname())


def shares_out() -> bool:
    """Whether this system lets several sockets listen on one address (Linux, the BSDs, macOS)."""
    return hasattr(socket, "SO_REUSEPORT")


def reserve(host: str, port: int) -> WorkerListener:
    """The address for the workers, held by the serving process; OSError if it is taken."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = WorkerListener(family, socket.SOCK_STREAM)
    try:
        _share(sock)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


def worker_socket(family: socket.AddressFamily, address: tuple[Any, ...]) -> socket.socket:
    """A socket of this worker's own, bound to the shared address (uvicorn makes it listen)."""
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        _share(sock)
        sock.bind(address)
    except OSError:
        sock.close()
        raise
    return sock


def _share(sock: socket.socket) -> None:
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
