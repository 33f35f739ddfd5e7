"""Hostile input through the real server (gunicorn, gevent workers, on a free port).

A namespace user who rewrites a child's bookkeeping annotation gets nothing created
outside the namespace; bodies over the limit are 413 however they are framed; slow
clients hold a greenlet each, never the workers: probes and syncs are answered meanwhile.
"""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.support.flows import T0, jobflow, step
from zen_flow.api.labels import ANNOTATION_LAST_APPLIED
from zen_flow.tools.sim.jobs import finish_job
from zen_flow.tools.sim.metacontroller import FakeMetacontroller
from zen_flow.tools.sim.transports import HttpTransport

MAX_BODY = 8 * 1024 * 1024  # the test server's ZEN_FLOW_MAX_BODY_BYTES
READ_TIMEOUT = 3  # the test server's ZEN_FLOW_READ_TIMEOUT


def address(server: str) -> tuple[str, int]:
    host, port = server.removeprefix("http://").split(":")
    return host, int(port)


def test_a_rewritten_annotation_creates_nothing_outside_the_namespace(
    http: HttpTransport, server_log: tuple[str, Path]
) -> None:
    flow = jobflow(
        "escalate",
        step("a"),
        resourceTemplates={"configMapTemplates": [{"metadata": {"name": "cfg"}, "data": {}}]},
    )
    cluster = FakeMetacontroller(flow, T0)
    cluster.call(http)
    cluster.call(http)
    finish_job(cluster, cluster.jobs()[0]["metadata"]["name"], succeeded=True)
    cluster.call(http)
    assert cluster.status["phase"] == "Succeeded"
    privileged = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "owned", "namespace": "kube-system"},
        "spec": {"template": {"spec": {"hostPID": True, "containers": [{"name": "x"}]}}},
    }
    configmap = cluster.children[("ConfigMap", "escalate-cfg")]
    configmap["metadata"]["annotations"][ANNOTATION_LAST_APPLIED] = json.dumps(privileged)
    answer = HttpTransport(server_log[0])(cluster.request(), cluster.now, False)
    found = {
        (c["kind"], c["metadata"].get("namespace"), c["metadata"]["name"])
        for c in answer["children"]
    }
    assert ("ConfigMap", "team-a", "escalate-cfg") in found
    assert all(namespace == "team-a" for _, namespace, _ in found)
    assert len(found) == len(cluster.children)
    log = server_log[1].read_text()
    assert "ConfigMap escalate-cfg" in log and "describe another object" in log
    with urllib.request.urlopen(server_log[0] + "/metrics", timeout=10) as metrics:
        text = metrics.read().decode()
    assert 'zen_flow_ignored_bookkeeping_total{kind="ConfigMap"}' in text


def test_a_chunked_body_over_the_limit_is_413(server: str) -> None:
    connection = http.client.HTTPConnection(*address(server), timeout=30)
    chunk = b" " * (1024 * 1024)
    connection.putrequest("POST", "/sync")
    connection.putheader("Content-Type", "application/json")
    connection.putheader("Transfer-Encoding", "chunked")
    connection.endheaders()
    try:
        for _ in range(MAX_BODY // len(chunk) + 2):
            connection.send(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        connection.send(b"0\r\n\r\n")
    except (BrokenPipeError, ConnectionResetError):
        pass  # the server may answer and close before the client has sent it all
    answer = connection.getresponse()
    assert answer.status == 413
    assert "larger than" in json.loads(answer.read())["error"]
    connection.close()


def test_a_chunked_body_within_the_limit_is_read_whole(server: str) -> None:
    body = json.dumps(FakeMetacontroller(jobflow("chunked", step("a")), T0).request()).encode()
    connection = http.client.HTTPConnection(*address(server), timeout=30)
    connection.request("POST", "/sync", body=iter([body[:100], body[100:]]), encode_chunked=True)
    answer = connection.getresponse()
    assert answer.status == 200, answer.read()
    assert json.loads(answer.read())["status"]["phase"] == "Running"


def test_invalid_utf8_is_a_400(http: HttpTransport) -> None:
    body = json.dumps(FakeMetacontroller(jobflow("bytes", step("a")), T0).request()).encode()
    code, answer = http.post("/sync", body.replace(b'"name": "bytes"', b'"name": "by\xfftes"'))
    assert code == 400
    assert "UTF-8" in json.loads(answer)["error"]


@contextmanager
def slow_clients(server: str, count: int) -> Iterator[list[bytes]]:
    """``count`` clients trickling headers and ``count`` trickling a body, a byte a second.
    Yields what each slow-body client finally got back."""
    stop = threading.Event()
    answers: list[bytes] = []

    def trickle(headers_only: bool) -> None:
        with socket.create_connection(address(server), timeout=60) as sock:
            head = b"POST /sync HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            if headers_only:
                data = head
            else:
                sock.sendall(head + b"Content-Length: 100000\r\n\r\n")
                data = b"{" + b" " * 200
            try:
                for byte in data:
                    if stop.is_set():
                        return
                    sock.sendall(bytes([byte]))
                    time.sleep(1)
            except OSError:
                pass  # cut off by the server: what we want
            if not headers_only:
                try:
                    answers.append(sock.recv(4096))
                except OSError:
                    answers.append(b"")

    threads = [
        threading.Thread(target=trickle, args=(kind,), daemon=True)
        for kind in (True, False)
        for _ in range(count)
    ]
    for thread in threads:
        thread.start()
    time.sleep(1.5)
    try:
        yield answers
    finally:
        time.sleep(READ_TIMEOUT + 1)
        stop.set()
        for thread in threads:
            thread.join(timeout=10)


def test_slow_clients_hold_neither_the_probes_nor_the_syncs(
    server: str, http: HttpTransport
) -> None:
    """Four clients trickling headers and four trickling bodies (the server has 2 workers):
    every probe and every sync is still answered. A slow body is cut off with 408."""
    request = FakeMetacontroller(jobflow("meanwhile", step("a")), T0).request()
    with slow_clients(server, 4) as answers:
        for _ in range(3):
            with urllib.request.urlopen(server + "/healthz", timeout=10) as probe:
                assert probe.status == 200
            assert http(request, T0, False)["status"]["phase"] == "Running"
    assert answers and all(b" 408 " in answer.split(b"\r\n")[0] for answer in answers), answers
