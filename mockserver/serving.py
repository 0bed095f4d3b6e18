"""An ASGI app on a real uvicorn in a background thread: for tests, the pytest plugin and the
contract suite. It binds its own socket first (port 0: any free one), so there is no race for the
port between choosing it and listening on it, and it shuts down without waiting on open streams.
It leaves the process's logging alone: uvicorn's loggers propagate to whatever the host process
(pytest, a user's script) configured, instead of uvicorn installing its own handlers and levels.
"""

from __future__ import annotations

import socket
import threading
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import uvicorn


def graceful_server(config: uvicorn.Config) -> uvicorn.Server:
    """uvicorn's server, ending the mock's endless streams (the inspector's events) as its shutdown
    begins: uvicorn waits for open responses before it tells the app (lifespan) it is stopping."""
    import uvicorn

    class Server(uvicorn.Server):
        async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
            state = getattr(getattr(self.config.app, "state", None), "mock", None)
            if state is not None:
                state.bus.close()
            await super().shutdown(sockets)

    return Server(config)


class ServedApp:
    """``with ServedApp(app) as served: httpx.get(served.base_url + ...)``."""

    def __init__(self, app: Any, *, host: str = "127.0.0.1", port: int = 0, **config: Any) -> None:
        self.app = app
        self.host = host
        self.requested_port = port
        #: More `uvicorn.Config` settings (``date_header=False`` for a proxy, which passes the target's on).
        self.config = config
        self._sock: socket.socket | None = None
        self._port: int | None = None
        self.server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The port it listens (or, once stopped, listened) on."""
        if self._port is None:
            raise RuntimeError("the server was never started")
        return self._port

    @property
    def base_url(self) -> str:
        return f"http://[{self.host}]:{self.port}" if ":" in self.host else f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 30.0) -> ServedApp:
        import uvicorn  # here, not at import: the pytest plugin imports this module in every session

        class HostedConfig(uvicorn.Config):
            def configure_logging(self) -> None:
                """Nothing: uvicorn's own set-up (handlers, levels, level names) would change the host
                process's logging; its loggers propagate to whatever that process configured."""

        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        self._sock = socket.socket(family, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((self.host, self.requested_port))
        self._port = int(self._sock.getsockname()[1])
        # A graceful-shutdown bound: uvicorn's default waits for open streams forever.
        config = HostedConfig(self.app, **{"lifespan": "on", "timeout_graceful_shutdown": 1, "server_header": False,
                                           **self.config})
        self.server = graceful_server(config)
        self._thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self._sock]},
                                        name=f"uvicorn-{self.port}", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"uvicorn on {self.host}:{self.requested_port} did not start within {timeout:g} s")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._sock is not None:
            self._sock.close()
        self.server = self._thread = None

    def __enter__(self) -> ServedApp:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
