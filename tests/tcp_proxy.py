"""A loopback TCP forwarder that can be cut, for database-outage tests.

Seen from a client, a PostgreSQL restart is: every open connection is reset, and new
connections are refused until the server is back. `stop()` does exactly that in front of
the real server (nothing is mocked: every byte goes to PostgreSQL), `start()` brings the
same port back. Tests cannot restart the machine's shared PostgreSQL itself.
"""

from __future__ import annotations

import contextlib
import socket
import threading


class TcpProxy:
    def __init__(self, target_port: int, host: str = "127.0.0.1"):
        self.host, self.target_port = host, target_port
        with socket.socket() as probe:
            probe.bind((host, 0))
            self.port = int(probe.getsockname()[1])
        self._lock = threading.Lock()
        self._open: list[socket.socket] = []
        self._running = threading.Event()
        self._acceptor: threading.Thread | None = None

    def url(self, url: str) -> str:
        """`url` pointed at the proxy instead of the real port."""
        return url.replace(f":{self.target_port}/", f":{self.port}/")

    def start(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((self.host, self.port))
        listener.listen(64)
        listener.settimeout(0.1)
        self._running.set()
        self._acceptor = threading.Thread(target=self._accept, args=(listener,), daemon=True)
        self._acceptor.start()

    def stop(self) -> None:
        """Refuse new connections and reset every open one."""
        self._running.clear()
        if self._acceptor is not None:
            self._acceptor.join()  # the listening socket is closed when this returns
        with self._lock:
            for sock in self._open:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
            self._open.clear()

    def _accept(self, listener: socket.socket) -> None:
        with listener:
            while self._running.is_set():
                try:
                    client, _ = listener.accept()
                except TimeoutError:
                    continue
                except OSError:
                    return
                try:
                    upstream = socket.create_connection((self.host, self.target_port))
                except OSError:
                    client.close()
                    continue
                with self._lock:
                    self._open += [client, upstream]
                for source, sink in ((client, upstream), (upstream, client)):
                    threading.Thread(target=self._pipe, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
