"""A stand-in for the ``kubectl`` executable: answers the plugin's tests as a cluster would.

The tests put it first on PATH under the name ``kubectl``. It serves the few commands the
plugin runs, from a cluster kept in ``$FAKE_KUBECTL_DIR/cluster.json``:

    {"namespace": "",             the kubeconfig context's namespace ("" means default)
     "jobflows": [...],           JobFlow objects, each with metadata.namespace
     "statuses": {"ns/name": [...]}, statuses a flow goes through: each read takes the next
     "pods": [...],               Pod objects with their labels
     "logs": {"pod": "text"},     what `kubectl logs` prints per pod
     "errors": {"verb": {"stderr": "...", "code": 1}}}   a verb that fails

and appends every call to ``$FAKE_KUBECTL_DIR/calls.jsonl``: its arguments and the
``KUBECONFIG`` variable it saw. A command it does not know exits 99, so that a test fails.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

JOBFLOWS = "jobflows.workflow.zen.io"
GLOBAL_FLAGS = ("--kubeconfig", "--context", "--namespace", "-n")
VALUE_FLAGS = ("-o", "-l", "--container", "-c")


class Fail(Exception):
    def __init__(self, stderr: str, code: int = 1) -> None:
        super().__init__(stderr)
        self.stderr = stderr
        self.code = code


def main() -> int:
    directory = Path(os.environ["FAKE_KUBECTL_DIR"])
    argv = sys.argv[1:]
    with (directory / "calls.jsonl").open("a") as calls:
        calls.write(json.dumps({"argv": argv, "KUBECONFIG": os.environ.get("KUBECONFIG")}) + "\n")
    state_file = directory / "cluster.json"
    cluster = json.loads(state_file.read_text())
    try:
        output = answer(cluster, argv)
    except Fail as failure:
        sys.stderr.write(failure.stderr + "\n")
        return failure.code
    state_file.write_text(json.dumps(cluster))
    sys.stdout.write(output)
    return 0


def answer(cluster: dict[str, Any], argv: list[str]) -> str:
    connection, rest = split_globals(argv)
    namespace = connection.get("--namespace") or connection.get("-n")
    namespace = namespace or cluster.get("namespace") or "default"
    verb, args, flags, bools = parse(rest)
    failure = cluster.get("errors", {}).get(verb)
    if failure:
        raise Fail(failure["stderr"], failure.get("code", 1))
    if verb == "config" and args == ["view"] and flags.get("-o") == "jsonpath={..namespace}":
        return str(cluster.get("namespace", ""))
    if verb == "get" and args[:1] == [JOBFLOWS] and flags.get("-o") == "json":
        return get_jobflows(cluster, namespace, args[1:], bools)
    if verb == "get" and args == ["pods"] and flags.get("-o") == "json" and "-l" in flags:
        pods = [p for p in cluster.get("pods", []) if selected(p, namespace, flags["-l"])]
        return json.dumps({"apiVersion": "v1", "kind": "List", "items": pods})
    if verb == "annotate" and args[:1] == [JOBFLOWS] and len(args) > 2:
        flow = find_flow(cluster, namespace, args[1])
        annotate(flow, args[2:], "--overwrite" in bools)
        return f"{JOBFLOWS}/{args[1]} annotated\n"
    if verb == "logs":
        return logs(cluster, namespace, args, flags)
    raise Fail(f"fake kubectl: unsupported command: {' '.join(argv)}", 99)


def split_globals(argv: list[str]) -> tuple[dict[str, str], list[str]]:
    """The connection flags before the verb, and the rest."""
    connection: dict[str, str] = {}
    index = 0
    while index < len(argv) and argv[index] in GLOBAL_FLAGS:
        connection[argv[index]] = argv[index + 1]
        index += 2
    return connection, argv[index:]


def parse(words: list[str]) -> tuple[str, list[str], dict[str, str], set[str]]:
    verb, args, flags, bools = (words[0] if words else ""), [], {}, set()
    index = 1
    while index < len(words):
        word = words[index]
        if word in VALUE_FLAGS:
            flags[word] = words[index + 1]
            index += 1
        elif word.startswith("--") and "=" in word:
            name, _, value = word.partition("=")
            flags[name] = value
        elif word.startswith("-"):
            bools.add(word)
        else:
            args.append(word)
        index += 1
    return verb, args, flags, bools


def get_jobflows(cluster: dict[str, Any], namespace: str, names: list[str], bools: set[str]) -> str:
    if names:
        flow = find_flow(cluster, namespace, names[0])
        key = f"{namespace}/{names[0]}"
        statuses = cluster.get("statuses", {}).get(key) or []
        if statuses:
            flow["status"] = statuses.pop(0)
        return json.dumps(flow)
    every = bool({"-A", "--all-namespaces"} & bools)
    items = [f for f in cluster["jobflows"] if every or f["metadata"]["namespace"] == namespace]
    return json.dumps({"apiVersion": "v1", "kind": "List", "items": items})


def find_flow(cluster: Mapping[str, Any], namespace: str, name: str) -> dict[str, Any]:
    flows: list[dict[str, Any]] = cluster["jobflows"]
    for flow in flows:
        meta = flow["metadata"]
        if meta["name"] == name and meta["namespace"] == namespace:
            return flow
    raise Fail(f'Error from server (NotFound): {JOBFLOWS} "{name}" not found')


def annotate(flow: dict[str, Any], changes: list[str], overwrite: bool) -> None:
    annotations = flow["metadata"].setdefault("annotations", {})
    for change in changes:
        key, equals, value = change.partition("=")
        if not equals:
            annotations.pop(change.removesuffix("-"), None)
        elif key in annotations and annotations[key] != value and not overwrite:
            raise Fail(
                f"error: --overwrite is false but found the following declared annotation(s): "
                f"'{key}' already has a value ({annotations[key]})"
            )
        else:
            annotations[key] = value


def selected(obj: Mapping[str, Any], namespace: str, selector: str) -> bool:
    meta = obj["metadata"]
    labels = meta.get("labels", {})
    wanted = dict(part.split("=", 1) for part in selector.split(","))
    return bool(
        meta["namespace"] == namespace and all(labels.get(k) == v for k, v in wanted.items())
    )


def logs(cluster: dict[str, Any], namespace: str, args: list[str], flags: dict[str, str]) -> str:
    texts: dict[str, str] = cluster.get("logs", {})
    pods = [p for p in cluster.get("pods", []) if p["metadata"]["namespace"] == namespace]
    if "-l" in flags:
        chosen = [p["metadata"]["name"] for p in pods if selected(p, namespace, flags["-l"])]
        return "".join(
            f"[pod/{pod}/main] {line}\n" for pod in chosen for line in texts[pod].splitlines()
        )
    pod = args[0].removeprefix("pod/")
    if not any(p["metadata"]["name"] == pod for p in pods):
        raise Fail(f'Error from server (NotFound): pods "{pod}" not found')
    return texts[pod]


if __name__ == "__main__":
    sys.exit(main())
