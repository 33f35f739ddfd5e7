"""A watch on the API server, read in a thread: every event is seen, even an object that
lives for a millisecond, and timed as it arrives. ``Timings`` keeps, per object, when it
was first seen, when it finished, and the size of every version."""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
from collections.abc import Callable
from urllib.parse import urlsplit

from e2e.kube import Kube, Obj, condition

# (event type: ADDED, MODIFIED, DELETED; the object; time.monotonic() at arrival)
Handler = Callable[[str, Obj, float], None]


class Watch:
    """``GET ...?watch=1`` on one resource, in one namespace or all, until ``stop()``."""

    def __init__(self, kube: Kube, resource: str, namespace: str | None, handler: Handler) -> None:
        self.kube = kube
        self.resource = resource
        self.namespace = namespace
        self.handler = handler
        self._connection: http.client.HTTPSConnection | None = None
        self._thread: threading.Thread | None = None
        self._stopping = False

    def __enter__(self) -> Watch:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    def start(self) -> Watch:
        url = urlsplit(self.kube.server)
        self._connection = http.client.HTTPSConnection(
            url.hostname or "127.0.0.1", url.port, context=self.kube.ssl_context(), timeout=None
        )
        path = self.kube.path(self.resource, self.namespace) + "?watch=1&timeoutSeconds=7200"
        self._connection.request("GET", path, headers={"Accept": "application/json"})
        reply = self._connection.getresponse()
        assert reply.status == 200, f"watch {path}: HTTP {reply.status}"
        self._thread = threading.Thread(target=self._read, args=(reply,), daemon=True)
        self._thread.start()
        return self

    def _read(self, reply: http.client.HTTPResponse) -> None:
        while True:
            try:
                line = reply.readline()
            except Exception:
                if self._stopping:
                    return  # stop() closed the connection under the reader
                raise
            if not line:
                return
            arrived = time.monotonic()
            event = json.loads(line)
            if event.get("type") in ("ADDED", "MODIFIED", "DELETED"):
                self.handler(event["type"], event["object"], arrived)

    def alive(self) -> bool:
        """Whether the watch still runs: the API server ends watches it finds slow, or when
        the resource's definition changes."""
        return self._thread is not None and self._thread.is_alive()

    def stop(self) -> None:
        self._stopping = True
        if self._connection is not None and self._connection.sock is not None:
            self._connection.sock.shutdown(socket.SHUT_RDWR)
            self._connection.close()
        if self._thread is not None:
            self._thread.join(timeout=5)


class Timings:
    """When each object of a watch was first seen, and first seen finished (a Job Complete or
    Failed, a flow Succeeded or Failed), by name; its latest state, and the size of each
    version seen (JSON, as the API server stores it)."""

    def __init__(self, kube: Kube, resource: str, namespace: str) -> None:
        self.resource = resource
        self.created: dict[str, float] = {}
        self.completed: dict[str, float] = {}
        self.first_status: dict[str, float] = {}  # flows: when a status was first seen
        self.latest: dict[str, Obj] = {}
        self.sizes: dict[str, list[int]] = {}
        self.watch = Watch(kube, resource, namespace, self._event).start()

    def _event(self, kind: str, obj: Obj, arrived: float) -> None:
        name = obj["metadata"]["name"]
        self.created.setdefault(name, arrived)
        self.latest[name] = obj
        self.sizes.setdefault(name, []).append(len(json.dumps(obj, separators=(",", ":"))))
        if obj.get("status", {}).get("phase"):
            self.first_status.setdefault(name, arrived)
        if self._finished(obj):
            self.completed.setdefault(name, arrived)

    def _finished(self, obj: Obj) -> bool:
        if self.resource == "jobflows":
            return obj.get("status", {}).get("phase") in ("Succeeded", "Failed")
        found = condition(obj, "Complete") or condition(obj, "Failed")
        return bool(found and found.get("status") == "True")

    def stop(self) -> None:
        self.watch.stop()
