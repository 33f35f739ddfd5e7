"""A real control plane on loopback: etcd, kube-apiserver, kube-controller-manager,
kube-scheduler, kwok (fake node and pods), Metacontroller out of cluster, and several hook
servers (`zen-flow serve`) behind HAProxy.

    with Cluster(Binaries.build()) as cluster:
        cluster.kube.kubectl("get", "jobflows", "-A")

Every component logs to its own file under ``<work>/logs/``; ``<work>`` is ``e2e/.work`` unless
``ZEN_FLOW_E2E_WORK`` says otherwise.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import yaml

from e2e.flows import step
from e2e.kube import Kube, Obj, condition, wait_for
from e2e.processes import Process, Supervisor, free_port, wait_port

ROOT = Path(__file__).resolve().parent.parent
E2E = ROOT / "e2e"
WORK = Path(os.environ.get("ZEN_FLOW_E2E_WORK", E2E / ".work"))
VENV_BIN = Path(sys.executable).parent

# The controllers the scenarios need: Jobs (and what a cluster does for them: CronJobs, Job
# TTLs), garbage collection of children, namespaces and their default ServiceAccounts,
# PersistentVolumeClaims binding to the static PersistentVolumes made here (there is no
# provisioner), and the aggregated role `edit` given to a namespace user. Not the node
# lifecycle controller: it would want kubelet heartbeats from the fake node.
CONTROLLERS = (
    "clusterrole-aggregation-controller",
    "job-controller",
    "cronjob-controller",
    "ttl-after-finished-controller",
    "garbage-collector-controller",
    "namespace-controller",
    "serviceaccount-controller",
    "persistentvolume-binder-controller",
    "persistentvolumeclaim-protection-controller",
    "persistentvolume-protection-controller",
)
NODE = "kwok-node-0"
STATIC_VOLUMES = 24
SMOKE_NAMESPACE = "e2e-smoke"
LEADER_ELECTION_NAMESPACE = "metacontroller"
LEADER_ELECTION_ID = "zen-flow-e2e"


@dataclass(frozen=True)
class Binaries:
    """The executables of the control plane, built and cached by e2e/build.sh."""

    kubernetes: Path  # kube-apiserver, kube-controller-manager, kube-scheduler, kubectl
    etcd: Path
    kwok: Path
    metacontroller: Path
    metacontroller_manifests: Path  # manifests/production of Metacontroller's source

    @classmethod
    def build(cls) -> Binaries:
        """Run e2e/build.sh (instant when cached); raise with its message when it fails.

        `make e2e` runs it first, in the open, so that a first build shows its progress.
        """
        result = subprocess.run(
            ["bash", str(E2E / "build.sh")], capture_output=True, text=True, check=False
        )
        if result.returncode != 0:
            raise RuntimeError(f"e2e/build.sh failed:\n{result.stderr[-3000:].strip()}")
        found = dict(
            line.split("=", 1) for line in result.stdout.splitlines() if "=" in line.strip()
        )
        return cls(
            kubernetes=Path(found["KUBERNETES_BIN_DIR"]),
            etcd=Path(found["ETCD_BIN"]),
            kwok=Path(found["KWOK_BIN"]),
            metacontroller=Path(found["METACONTROLLER_BIN"]),
            metacontroller_manifests=Path(found["METACONTROLLER_MANIFESTS"]),
        )


# --- certificates ----------------------------------------------------------------------------


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_certificates(directory: Path) -> None:
    """A CA, the API server's serving pair, an admin client pair and a ServiceAccount key."""
    directory.mkdir(parents=True, exist_ok=True)
    days = "7"
    _openssl(
        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", days,
        "-keyout", "ca.key", "-out", "ca.crt", "-subj", "/CN=zen-flow-e2e-ca",
        cwd=directory,
    )  # fmt: skip
    pairs = {
        "apiserver": (
            "/CN=kube-apiserver",
            "subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes.default.svc\n"
            "extendedKeyUsage=serverAuth\n",
        ),
        "admin": ("/O=system:masters/CN=zen-flow-e2e-admin", "extendedKeyUsage=clientAuth\n"),
    }
    for name, (subject, extensions) in pairs.items():
        (directory / f"{name}.ext").write_text(extensions)
        _openssl(
            "req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key",
            "-out", f"{name}.csr", "-subj", subject,
            cwd=directory,
        )  # fmt: skip
        _openssl(
            "x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
            "-CAcreateserial", "-days", days, "-out", f"{name}.crt", "-extfile", f"{name}.ext",
            cwd=directory,
        )  # fmt: skip
    _openssl("genrsa", "-out", "sa.key", "2048", cwd=directory)
    _openssl("rsa", "-in", "sa.key", "-pubout", "-out", "sa.pub", cwd=directory)


def write_kubeconfig(path: Path, server: str, certs: Path) -> None:
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "e2e",
                "cluster": {"server": server, "certificate-authority": str(certs / "ca.crt")},
            }
        ],
        "users": [
            {
                "name": "admin",
                "user": {
                    "client-certificate": str(certs / "admin.crt"),
                    "client-key": str(certs / "admin.key"),
                },
            }
        ],
        "contexts": [{"name": "e2e", "context": {"cluster": "e2e", "user": "admin"}}],
        "current-context": "e2e",
    }
    path.write_text(yaml.safe_dump(config))


# --- hook servers behind HAProxy -------------------------------------------------------------


@dataclass
class HookReplica:
    index: int
    port: int
    process: Process


HAPROXY_CONFIG = """\
global
    log stdout format raw local0 info
    maxconn 1024

defaults
    mode http
    log global
    option httplog
    timeout connect 1s
    timeout client 60s
    timeout server 60s
    retries 3
    option redispatch 1

frontend hooks
    bind 127.0.0.1:{port}
    default_backend zen-flow-hooks

# Round robin over the hook servers; a server that fails two /healthz checks in a row is
# taken out, and put back at its first good answer.
backend zen-flow-hooks
    balance roundrobin
    option httpchk GET /healthz
    http-check expect status 200
    default-server inter 500ms fastinter 250ms downinter 500ms fall 2 rise 1
{servers}

listen stats
    bind 127.0.0.1:{stats_port}
    stats enable
    stats uri /stats
"""


class HookPool:
    """``replicas`` hook servers (`zen-flow serve`) behind one HAProxy, round robin."""

    def __init__(self, supervisor: Supervisor, run: Path, logs: Path, replicas: int) -> None:
        self.supervisor = supervisor
        self.run = run
        self.logs = logs
        self.port = free_port()
        self.stats_port = free_port()
        self.replicas = [self._replica(i) for i in range(replicas)]
        self.haproxy = Process(
            "haproxy",
            ["haproxy", "-db", "-f", str(run / "haproxy.cfg")],
            logs / "haproxy.log",
        )
        self._starts = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _replica(self, index: int) -> HookReplica:
        port = free_port()
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "ZEN_FLOW_BIND": f"127.0.0.1:{port}",
            "ZEN_FLOW_WORKERS": os.environ.get("ZEN_FLOW_E2E_HOOK_WORKERS", "2"),
            "ZEN_FLOW_LOG_LEVEL": "debug",  # answered calls are logged at debug (sync_calls)
        }
        process = Process(
            f"hooks-{index}",
            [str(VENV_BIN / "zen-flow"), "serve"],
            self.logs / f"hooks-{index}.log",
            env=env,
        )
        return HookReplica(index, port, process)

    def start(self) -> None:
        for replica in self.replicas:
            self.start_replica(replica.index)
        servers = "\n".join(
            f"    server hooks-{r.index} 127.0.0.1:{r.port} check" for r in self.replicas
        )
        (self.run / "haproxy.cfg").write_text(
            HAPROXY_CONFIG.format(port=self.port, stats_port=self.stats_port, servers=servers)
        )
        self.supervisor.start(self.haproxy)
        self.wait_all_up()

    def start_replica(self, index: int) -> None:
        """Start one replica (again), each start with fresh metric files."""
        replica = self.replicas[index]
        self._starts += 1
        metrics = self.run / "metrics" / f"hooks-{index}-{self._starts}"
        metrics.mkdir(parents=True)
        assert replica.process.env is not None
        replica.process.env["PROMETHEUS_MULTIPROC_DIR"] = str(metrics)
        self.supervisor.start(replica.process)

    def kill(self, index: int) -> None:
        """SIGKILL one replica, gunicorn master and workers: a crashed pod."""
        self.replicas[index].process.kill()

    def kill_all(self) -> None:
        for replica in self.replicas:
            replica.process.kill()

    def wait_all_down(self, timeout: float = 30) -> None:
        """HAProxy has taken every replica out (it answers 503 now)."""
        wait_for(
            "HAProxy to see every hook server DOWN",
            lambda: all(s.startswith("DOWN") for s in self.haproxy_view().values()),
            timeout,
            detail=self.haproxy_view,
        )

    def sync_calls(self, namespace: str, name: str) -> int:
        """Sync calls about one flow answered 200 so far, over every replica's log."""
        count = 0
        for replica in self.replicas:
            if not replica.process.log.exists():
                continue
            for line in replica.process.log.read_text(errors="replace").splitlines():
                if not line.startswith("{"):
                    continue
                try:
                    entry = json.loads(line)
                except ValueError:
                    continue
                if (
                    entry.get("hook") == "sync"
                    and entry.get("code") == 200
                    and entry.get("flow") == {"namespace": namespace, "name": name}
                ):
                    count += 1
        return count

    def healthy(self, replica: HookReplica) -> bool:
        return local_get(replica.port, "/healthz") is not None

    def haproxy_view(self) -> dict[str, str]:
        """Server name → status (UP, DOWN, ...) as HAProxy sees them."""
        with urllib.request.urlopen(
            f"http://127.0.0.1:{self.stats_port}/stats;csv", timeout=2
        ) as reply:
            lines = reply.read().decode().splitlines()
        header = lines[0].lstrip("# ").split(",")
        view = {}
        for line in lines[1:]:
            row = dict(zip(header, line.split(","), strict=False))
            if row.get("pxname") == "zen-flow-hooks" and row.get("svname") not in (
                "FRONTEND",
                "BACKEND",
            ):
                view[row["svname"]] = row["status"]
        return view

    def wait_all_up(self, timeout: float = 60) -> None:
        """Every replica answers /healthz and HAProxy routes to every one of them."""
        for replica in self.replicas:
            wait_for(
                f"hook server {replica.index} to answer /healthz",
                lambda r=replica: self._healthy_or_dead(r),  # type: ignore[misc]
                timeout,
            )
        wait_for(
            "HAProxy to see every hook server UP",
            lambda: all(status.startswith("UP") for status in self.haproxy_view().values()),
            timeout,
            detail=self.haproxy_view,
        )

    def _healthy_or_dead(self, replica: HookReplica) -> bool:
        why = replica.process.crashed()
        if why:
            raise AssertionError(f"hook server {replica.index} {why}; see {replica.process.log}")
        return self.healthy(replica)


# --- Metacontroller --------------------------------------------------------------------------


@dataclass
class MetacontrollerInstance:
    process: Process
    metrics_port: int
    health_port: int
    leader_election: bool

    def metric(self, name: str) -> float | None:
        """The value of a metric line that starts with ``name`` (labels included), if any."""
        body = local_get(self.metrics_port, "/metrics")
        if body is None:
            return None
        for line in body.decode().splitlines():
            if line.startswith(name):
                return float(line.rsplit(" ", 1)[1])
        return None

    def is_leader(self) -> bool:
        value = self.metric(f'leader_election_master_status{{name="{LEADER_ELECTION_ID}"}}')
        return value == 1.0

    def ready(self) -> bool:
        why = self.process.crashed()
        if why:
            raise AssertionError(f"{self.process.name} {why}; see {self.process.log}")
        return local_get(self.health_port, "/readyz") is not None


class Metacontrollers:
    """Metacontroller processes out of cluster: one normally, two for leader election."""

    def __init__(self, supervisor: Supervisor, binary: Path, kubeconfig: Path, logs: Path) -> None:
        self.supervisor = supervisor
        self.binary = binary
        self.kubeconfig = kubeconfig
        self.logs = logs
        self.running: list[MetacontrollerInstance] = []
        self._count = 0

    def start(self, leader_election: bool = False) -> MetacontrollerInstance:
        self._count += 1
        metrics_port, health_port = free_port(), free_port()
        argv = [
            str(self.binary),
            f"--kubeconfig={self.kubeconfig}",
            "--discovery-interval=2s",
            # The defaults (5 / 10) throttle every flow; the install raises them too.
            "--client-go-qps=100",
            "--client-go-burst=200",
            f"--metrics-address=127.0.0.1:{metrics_port}",
            f"--health-probe-bind-address=127.0.0.1:{health_port}",
            "--pprof-address=0",
        ]
        if leader_election:
            argv += [
                "--leader-election",
                "--leader-election-resource-lock=leases",
                f"--leader-election-namespace={LEADER_ELECTION_NAMESPACE}",
                f"--leader-election-id={LEADER_ELECTION_ID}",
            ]
        process = Process(
            f"metacontroller-{self._count}",
            argv,
            self.logs / f"metacontroller-{self._count}.log",
            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
        )
        instance = MetacontrollerInstance(process, metrics_port, health_port, leader_election)
        self.supervisor.start(process)
        self.running.append(instance)
        wait_for(f"{process.name} to be ready", instance.ready, 60)
        return instance

    def stop(self, instance: MetacontrollerInstance) -> None:
        instance.process.stop()
        self.running.remove(instance)

    def kill(self, instance: MetacontrollerInstance) -> None:
        instance.process.kill()
        self.running.remove(instance)

    def leader(self, timeout: float = 60) -> MetacontrollerInstance:
        """The instance that holds the lease (waiting until one does)."""

        def probe() -> MetacontrollerInstance | None:
            leaders = [i for i in self.running if i.is_leader()]
            assert len(leaders) <= 1, f"two leaders at once: {leaders}"
            return leaders[0] if leaders else None

        return wait_for("a Metacontroller leader", probe, timeout)

    def reset(self) -> MetacontrollerInstance:
        """Back to the usual set-up: exactly one instance, no leader election."""
        usual = [i for i in self.running if not i.leader_election and i.process.alive()]
        if len(usual) == 1 and len(self.running) == 1:
            return usual[0]
        for instance in list(self.running):
            self.stop(instance)
        return self.start()


# --- the control plane -----------------------------------------------------------------------


@dataclass
class Ports:
    etcd: int = field(default_factory=free_port)
    etcd_peer: int = field(default_factory=free_port)
    apiserver: int = field(default_factory=free_port)
    controller_manager: int = field(default_factory=free_port)
    scheduler: int = field(default_factory=free_port)
    kwok: int = field(default_factory=free_port)


class Cluster:
    """The whole set-up, started by ``start()`` (or ``with``) and torn down by ``stop()``."""

    def __init__(self, binaries: Binaries, work: Path = WORK, hook_replicas: int = 3) -> None:
        self.binaries = binaries
        self.work = work
        self.logs = work / "logs"
        self.run = work / "run"
        self.certs = self.run / "certs"
        self.ports = Ports()
        self.supervisor = Supervisor()
        self.kubeconfig = self.run / "kubeconfig"
        self.kube = Kube(
            kubectl_binary=binaries.kubernetes / "kubectl",
            kubeconfig=self.kubeconfig,
            server=f"https://127.0.0.1:{self.ports.apiserver}",
            ca_file=self.certs / "ca.crt",
            cert_file=self.certs / "admin.crt",
            key_file=self.certs / "admin.key",
        )
        self.hooks = HookPool(self.supervisor, self.run, self.logs, hook_replicas)
        self.metacontrollers = Metacontrollers(
            self.supervisor, binaries.metacontroller, self.kubeconfig, self.logs
        )
        self.timings: dict[str, float] = {}

    def __enter__(self) -> Cluster:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.stop()

    # --- start ---------------------------------------------------------------------------------

    def _timed(self, what: str, started: float) -> None:
        self.timings[what] = time.monotonic() - started

    def start(self) -> None:
        for directory in (self.logs, self.run):
            shutil.rmtree(directory, ignore_errors=True)
            directory.mkdir(parents=True)
        (self.run / "home").mkdir()
        started = time.monotonic()
        make_certificates(self.certs)
        write_kubeconfig(self.kubeconfig, self.kube.server, self.certs)
        self._start_etcd()
        self._start_apiserver()
        self._timed("apiserver", started)
        self._start_controllers()
        self._install()
        self._timed("installed", started)
        self.hooks.start()
        self.metacontrollers.start()
        self._smoke_test()
        self._timed("ready", started)

    def _binary(self, name: str) -> str:
        return str(self.binaries.kubernetes / name)

    def _start_etcd(self) -> None:
        data = self.run / "etcd"
        client, peer = self.ports.etcd, self.ports.etcd_peer
        etcd = Process(
            "etcd",
            [
                str(self.binaries.etcd),
                "--name=e2e",
                f"--data-dir={data}",
                f"--listen-client-urls=http://127.0.0.1:{client}",
                f"--advertise-client-urls=http://127.0.0.1:{client}",
                f"--listen-peer-urls=http://127.0.0.1:{peer}",
                f"--initial-advertise-peer-urls=http://127.0.0.1:{peer}",
                f"--initial-cluster=e2e=http://127.0.0.1:{peer}",
                "--unsafe-no-fsync",
                "--log-level=warn",
            ],
            self.logs / "etcd.log",
        )
        self.supervisor.start(etcd)

        def healthy() -> bool:
            body = local_get(client, "/health")
            if body is None:
                self.supervisor.check()
                return False
            return b'"health":"true"' in body

        wait_for("etcd to be healthy", healthy, 60)

    def _start_apiserver(self) -> None:
        certs = self.certs
        apiserver = Process(
            "kube-apiserver",
            [
                self._binary("kube-apiserver"),
                f"--etcd-servers=http://127.0.0.1:{self.ports.etcd}",
                "--bind-address=127.0.0.1",
                "--advertise-address=127.0.0.1",
                f"--secure-port={self.ports.apiserver}",
                f"--cert-dir={certs}",
                f"--tls-cert-file={certs / 'apiserver.crt'}",
                f"--tls-private-key-file={certs / 'apiserver.key'}",
                f"--client-ca-file={certs / 'ca.crt'}",
                f"--service-account-key-file={certs / 'sa.pub'}",
                f"--service-account-signing-key-file={certs / 'sa.key'}",
                "--service-account-issuer=https://kubernetes.default.svc",
                "--authorization-mode=RBAC",
                "--service-cluster-ip-range=10.96.0.0/16",
                "--profiling=false",
                "--v=1",
            ],
            self.logs / "kube-apiserver.log",
        )
        self.supervisor.start(apiserver)
        wait_for("kube-apiserver to listen", lambda: _listening(self.ports.apiserver), 60)
        wait_for("kube-apiserver to be ready", self._apiserver_ready, 90)

    def _apiserver_ready(self) -> bool:
        self.supervisor.check()
        result = self.kube.kubectl("get", "--raw=/readyz", check=False, timeout=10)
        return result.returncode == 0 and result.stdout.strip() == "ok"

    def _start_controllers(self) -> None:
        kubeconfig = str(self.kubeconfig)
        common = [
            f"--kubeconfig={kubeconfig}",
            f"--authentication-kubeconfig={kubeconfig}",
            f"--authorization-kubeconfig={kubeconfig}",
            "--bind-address=127.0.0.1",
            "--leader-elect=false",
            "--v=1",
        ]
        self.supervisor.start(
            Process(
                "kube-controller-manager",
                [
                    self._binary("kube-controller-manager"),
                    *common,
                    f"--secure-port={self.ports.controller_manager}",
                    f"--controllers={','.join(CONTROLLERS)}",
                    f"--service-account-private-key-file={self.certs / 'sa.key'}",
                    f"--root-ca-file={self.certs / 'ca.crt'}",
                    "--use-service-account-credentials=false",
                    # Thousands of Jobs at once (the 5000-step flow): the defaults (20
                    # requests/s, 5 Jobs synced at a time) would make the Job controller,
                    # not the hooks, the bottleneck.
                    "--kube-api-qps=200",
                    "--kube-api-burst=400",
                    "--concurrent-job-syncs=20",
                ],
                self.logs / "kube-controller-manager.log",
            )
        )
        self.supervisor.start(
            Process(
                "kube-scheduler",
                [
                    self._binary("kube-scheduler"),
                    *common,
                    f"--secure-port={self.ports.scheduler}",
                    "--kube-api-qps=200",  # as for the controller-manager
                    "--kube-api-burst=400",
                ],
                self.logs / "kube-scheduler.log",
            )
        )
        self.supervisor.start(
            Process(
                "kwok",
                [
                    str(self.binaries.kwok),
                    f"--kubeconfig={kubeconfig}",
                    "--manage-all-nodes=true",
                    f"--config={E2E / 'kwok-stages.yaml'}",
                    f"--server-address=127.0.0.1:{self.ports.kwok}",
                    "--cidr=10.240.0.1/16",
                    "--node-ip=10.0.0.10",
                ],
                self.logs / "kwok.log",
            )
        )

    def _install(self) -> None:
        kube = self.kube
        kube.apply(node_manifest())
        kube.apply(static_volumes(self.run / "volumes", STATIC_VOLUMES))
        manifests = self.binaries.metacontroller_manifests
        kube.kubectl(
            "apply",
            "--server-side",
            "-f",
            str(manifests / "metacontroller-namespace.yaml"),
            "-f",
            str(manifests / "metacontroller-crds-v1.yaml"),
        )
        kube.kubectl("apply", "-k", str(ROOT / "crds"))
        for crd in kube.objects("customresourcedefinitions"):
            name = crd["metadata"]["name"]
            wait_for(
                f"CRD {name} to be Established",
                lambda n=name: _established(kube.get("customresourcedefinitions", n)),  # type: ignore[misc]
                60,
            )
        kube.apply(composite_controller(kube, self.hooks.url))
        wait_for(f"node {NODE} to be Ready (kwok)", self._node_ready, 60)
        # The API server taints every new node not-ready; the node lifecycle controller would
        # lift it, but it also wants kubelet heartbeats, which this fake node does not need.
        kube.kubectl("taint", "nodes", NODE, "node.kubernetes.io/not-ready:NoSchedule-")

    def _node_ready(self) -> bool:
        self.supervisor.check()
        return _node_ready(self.kube.get("nodes", NODE))

    def _smoke_test(self) -> None:
        """One flow end to end, so a broken set-up fails here, once, with a clear message."""
        create_namespace(self.kube, SMOKE_NAMESPACE)
        self.kube.apply(
            {
                "apiVersion": "workflow.zen.io/v1alpha1",
                "kind": "JobFlow",
                "metadata": {"name": "smoke", "namespace": SMOKE_NAMESPACE},
                "spec": {"steps": [step("only")]},
            }
        )
        self.kube.wait_flow(SMOKE_NAMESPACE, "smoke", timeout=120)

    # --- stop ----------------------------------------------------------------------------------

    def stop(self) -> None:
        self.supervisor.stop_all()
        shutil.rmtree(self.run / "etcd", ignore_errors=True)
        shutil.rmtree(self.run / "metrics", ignore_errors=True)


def local_get(port: int, path: str) -> bytes | None:
    """The body of ``GET http://127.0.0.1:PORT/PATH`` when it answers 200; None when it does
    not (not listening yet, or not ready)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2) as reply:
            return reply.read() if reply.status == 200 else None
    except (OSError, urllib.error.URLError):
        return None


def _listening(port: int) -> bool:
    try:
        wait_port(port, 0.2, "")
    except AssertionError:
        return False
    return True


def _established(crd: Obj | None) -> bool:
    found = condition(crd or {}, "Established")
    return bool(found and found.get("status") == "True")


def _node_ready(node: Obj | None) -> bool:
    found = condition(node or {}, "Ready")
    return bool(found and found.get("status") == "True")


# --- objects the set-up creates --------------------------------------------------------------


def node_manifest() -> Obj:
    """The one fake node; kwok makes it Ready (e2e/kwok-stages.yaml says with what room)."""
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": NODE,
            "labels": {"kubernetes.io/hostname": NODE, "type": "kwok"},
            "annotations": {"kwok.x-k8s.io/node": "fake"},
        },
        "spec": {},
    }


def static_volumes(directory: Path, count: int) -> list[Obj]:
    """hostPath PersistentVolumes for the claims of resourceTemplates (no provisioner here)."""
    return [
        {
            "apiVersion": "v1",
            "kind": "PersistentVolume",
            "metadata": {"name": f"e2e-volume-{i:02d}", "labels": {"e2e.zen-flow.io/static": ""}},
            "spec": {
                "capacity": {"storage": "1Gi"},
                "accessModes": ["ReadWriteOnce"],
                "persistentVolumeReclaimPolicy": "Retain",
                "hostPath": {"path": str(directory / f"{i:02d}")},
            },
        }
        for i in range(count)
    ]


def composite_controller(kube: Kube, hooks_url: str) -> list[Obj]:
    """metacontroller/ rendered by kustomize, each hook's URL pointed at HAProxy."""
    rendered = kube.kubectl("kustomize", str(ROOT / "metacontroller")).stdout
    objects = [o for o in yaml.safe_load_all(rendered) if o]
    for obj in objects:
        if obj["kind"] != "CompositeController":
            continue
        for name, hook in obj["spec"]["hooks"].items():
            webhook = hook["webhook"]
            webhook.pop("service", None)
            webhook["url"] = f"{hooks_url}/{name}"
    return objects


def create_namespace(kube: Kube, name: str, labels: dict[str, str] | None = None) -> None:
    """A namespace, ready for pods: its default ServiceAccount exists."""
    kube.apply(
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": name, "labels": labels or {}},
        }
    )
    wait_for(
        f"ServiceAccount default in namespace {name}",
        lambda: kube.get("serviceaccounts", "default", name),
        60,
    )
