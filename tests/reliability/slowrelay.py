"""A mail relay that never finishes its greeting: it sends one continuation line ("220-...") a
second, so every read gets a byte before any per-read timeout and only a wall-clock deadline
ends the delivery. A tiny asyncio server on 127.0.0.1, in a thread, bounded (each connection
stops after ``max_lines`` lines; the server stops with ``stop()``)."""

from __future__ import annotations

import asyncio
import threading


class SlowRelay:
    def __init__(self, *, interval: float = 1.0, max_lines: int = 120):
        self.interval, self.max_lines = interval, max_lines
        self.port = 0
        self.connections = 0
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._main, name="slow-relay", daemon=True)

    async def _greet(self, reader, writer):
        self.connections += 1
        try:
            for i in range(self.max_lines):
                writer.write(f"220-slow.relay greeting line {i}\r\n".encode())
                await writer.drain()
                await asyncio.sleep(self.interval)
        except (ConnectionError, OSError, asyncio.CancelledError):
            pass                    # the client left, or the relay is stopping
        finally:
            writer.close()

    def _main(self):
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(
            asyncio.start_server(self._greet, "127.0.0.1", 0))
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        try:
            self._loop.run_forever()
        finally:
            server.close()
            tasks = asyncio.all_tasks(self._loop)
            for t in tasks:
                t.cancel()
            self._loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
            self._loop.close()

    def start(self) -> "SlowRelay":
        self._thread.start()
        self._ready.wait(10)
        return self

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
