"""A TCP server on loopback for the health tests (host and kernel)."""

from __future__ import annotations

import socket
import threading


class Listener:
    """A TCP server on 127.0.0.1 that accepts and closes; stop() and
    start() again on the same port."""

    def __init__(self) -> None:
        self.port = 0
        self.sock: socket.socket | None = None
        self.start()

    def start(self) -> None:
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", self.port))
        s.listen(64)
        self.port = s.getsockname()[1]
        self.sock = s
        threading.Thread(target=self._accept, args=(s,), daemon=True).start()

    def _accept(self, s: socket.socket) -> None:
        while True:
            try:
                c, _ = s.accept()
            except OSError:
                return
            c.close()

    def stop(self) -> None:
        assert self.sock is not None
        # shutdown wakes the thread blocked in accept(), which otherwise keeps
        # the listening socket open after close().
        self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()
        self.sock = None
