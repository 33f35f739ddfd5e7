"""Just enough of a Kubernetes API server for kubectl to send what it would send a real one:
discovery of ConfigMaps, an OpenAPI v3 document that says ``fieldValidation`` is supported
(so kubectl asks for server-side strict validation), and a record of every request body."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

_OPERATION = {
    "parameters": [{"name": "fieldValidation", "in": "query", "schema": {"type": "string"}}],
    "x-kubernetes-group-version-kind": {"group": "", "version": "v1", "kind": "ConfigMap"},
    "responses": {"200": {"description": "OK"}},
}
_DOCUMENTS: dict[str, Any] = {
    "/api": {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []},
    "/apis": {"kind": "APIGroupList", "apiVersion": "v1", "groups": []},
    "/api/v1": {
        "kind": "APIResourceList",
        "groupVersion": "v1",
        "resources": [
            {
                "name": "configmaps",
                "singularName": "configmap",
                "namespaced": True,
                "kind": "ConfigMap",
                "verbs": ["create", "get", "list", "patch", "update", "delete"],
            }
        ],
    },
    "/openapi/v3": {"paths": {"api/v1": {"serverRelativeURL": "/openapi/v3/api/v1?hash=1"}}},
    "/openapi/v3/api/v1": {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "v1.34.0"},
        "paths": {
            "/api/v1/namespaces/{namespace}/configmaps": {
                verb: _OPERATION for verb in ("get", "post", "put", "patch")
            }
        },
        "components": {"schemas": {}},
    },
}


class _Handler(BaseHTTPRequestHandler):
    received: list[tuple[str, bytes]]

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _answer(self, code: int, body: bytes) -> None:
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        document = _DOCUMENTS.get(self.path.split("?")[0])
        if document is None:
            self._answer(404, b'{"kind":"Status","apiVersion":"v1","code":404}')
        else:
            self._answer(200, json.dumps(document).encode())

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.received.append((self.path, body))
        self._answer(201, body)


@contextmanager
def fake_api_server(directory: Path) -> Iterator[tuple[Path, list[tuple[str, bytes]]]]:
    """A kubeconfig that points at a fake API server, and the (path, body) of every POST."""
    received: list[tuple[str, bytes]] = []
    handler = type("Handler", (_Handler,), {"received": received})
    server = HTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    kubeconfig = directory / "kubeconfig"
    kubeconfig.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [
                    {"name": "c", "cluster": {"server": f"http://127.0.0.1:{server.server_port}"}}
                ],
                "contexts": [{"name": "c", "context": {"cluster": "c", "namespace": "default"}}],
                "current-context": "c",
                "users": [{"name": "u", "user": {}}],
            }
        )
    )
    try:
        yield kubeconfig, received
    finally:
        server.shutdown()
        server.server_close()
