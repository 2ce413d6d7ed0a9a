"""The broker a flood runs on, as the parent sees it: when a consumer is listening, what the
broker holds for it (its backlog) and what it dropped.

- Redis: a private embedded redis-server; a consumer listens once it holds a pattern
  subscription; the backlog is the subscriber's output buffer (dropped past 32 MB by default).
- RabbitMQ (`--broker amqp://...`): a vhost of the run's own on the given server (made and
  deleted through the management API), so no other Celery's events mix in; a consumer listens
  once a queue is bound to Celery's event exchange with a consumer on it; the backlog is the
  deepest queue of events (messages ready + unacked, as the management API reports them every
  few seconds). Events that outlive the queue's TTL expire in the broker: the consumer's LOST.
"""

from __future__ import annotations

import base64
import contextlib
import json
import threading
import time
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any


class RedisSide:
    name = "redis"
    backlog_unit = "MB"

    def __init__(self, scratch: Path, unlimited_buffer: bool) -> None:
        import redis

        from desktop.core.broker.embedded import EmbeddedRedis
        from desktop.core.settings.secret_store import FileSecretStore

        self.server = EmbeddedRedis(scratch / "redis", FileSecretStore(scratch / "secrets.json"))
        status = self.server.start()
        self.url = self.server.url()
        self.client = redis.Redis.from_url(self.url)
        print(f"private redis-server {status.version} on port {status.port} (pid {status.pid})")
        if unlimited_buffer:
            self.client.config_set("client-output-buffer-limit", "pubsub 0 0 0")
        limit = self.client.config_get("client-output-buffer-limit")["client-output-buffer-limit"]
        print(f"client-output-buffer-limit: {limit}")

    def listeners(self) -> int:
        return int(self.client.pubsub_numpat())

    def backlog(self) -> float:
        """The deepest subscriber output buffer now, in MB."""
        entries = self.client.client_list(_type="pubsub")
        return max((int(e.get("omem", 0)) for e in entries), default=0) / 2**20

    def stats(self) -> dict[str, int]:
        """Bytes received so far, and subscribers dropped so far (from the server's log: Redis
        7.0 has no counter for output-buffer disconnections)."""
        info = self.client.info("stats")
        try:
            text = self.server.log_file.read_text(errors="replace")
            drops = text.count("overcoming of output buffer limits")
        except OSError:
            drops = 0
        return {"drops": drops, "net_in": int(info.get("total_net_input_bytes", 0))}

    def close(self) -> None:
        self.client.close()
        self.server.stop()


class RabbitSide:
    name = "rabbitmq"
    backlog_unit = "msgs"

    def __init__(self, url: str, management: str) -> None:
        parts = urllib.parse.urlsplit(url)
        self.user = urllib.parse.unquote(parts.username or "guest")
        password = urllib.parse.unquote(parts.password or "guest")
        token = base64.b64encode(f"{self.user}:{password}".encode()).decode()
        self._auth = {"Authorization": f"Basic {token}"}
        host = parts.hostname or "localhost"
        self.api = (management or f"http://{host}:15672").rstrip("/") + "/api"
        self.vhost = f"cd-bench-{uuid.uuid4().hex[:8]}"
        self._call("PUT", f"/vhosts/{self.vhost}", {})
        everything = {"configure": ".*", "write": ".*", "read": ".*"}
        self._call("PUT", f"/permissions/{self.vhost}/{urllib.parse.quote(self.user)}", everything)
        netloc = parts.netloc.rsplit("@", 1)
        self.url = urllib.parse.urlunsplit(
            (parts.scheme, "@".join(netloc), "/" + self.vhost, parts.query, "")
        )
        overview = self._call("GET", "/overview")
        print(f"RabbitMQ {overview.get('rabbitmq_version')}: vhost {self.vhost} of this run")

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.api + path, data=data, method=method)
        for key, value in {**self._auth, "content-type": "application/json"}.items():
            request.add_header(key, value)
        with urllib.request.urlopen(request, timeout=10) as response:
            text = response.read()
        return json.loads(text) if text else {}

    def _queues(self) -> list[dict[str, Any]]:
        return list(self._call("GET", f"/queues/{self.vhost}"))

    def listeners(self) -> int:
        """Queues bound to the event exchange with a consumer on them."""
        bound = self._call("GET", f"/exchanges/{self.vhost}/celeryev/bindings/source")
        names = {b["destination"] for b in bound if b.get("destination_type") == "queue"}
        return sum(1 for q in self._queues() if q["name"] in names and q.get("consumers"))

    def backlog(self) -> float:
        return float(max((q.get("messages", 0) or 0 for q in self._queues()), default=0))

    def stats(self) -> dict[str, int]:
        return {"drops": 0, "net_in": 0}

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._call("DELETE", f"/vhosts/{self.vhost}")


class BacklogWatch:
    """Samples the broker's backlog for the consumer while a flood runs; keeps the maximum."""

    def __init__(self, sample: Callable[[], float], every: float) -> None:
        self.sample = sample
        self.every = every
        self.most = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            with contextlib.suppress(Exception):
                self.most = max(self.most, self.sample())

    def stop(self) -> float:
        self._stop.set()
        self._thread.join(2)
        return self.most


def wait_listeners(side: Any, wanted: Callable[[int], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            if wanted(side.listeners()):
                return True
        time.sleep(0.05)
    return False
