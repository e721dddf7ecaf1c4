"""The Kubernetes manifests (deploy/kubernetes/) validate offline and say what compose says.

Every Kubernetes object is checked against the API schemas that kubernetes-validate bundles
(strict: an unknown field is an error), for the oldest and the newest version we support. KEDA's
objects are not in those schemas, so their structure is checked here, field by field, against
what the rest of the deployment and shared/tasks.py name. Then the manifests are compared with
docker-compose.yml and the Dockerfile: the same images, commands, environment names and values,
queues, Redis flags and health checks, so that the two deployments cannot drift apart unseen.
"""

from __future__ import annotations

import copy
import json
import re
import shlex
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from shared import tasks
from shared.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
MANIFESTS = ROOT / "deploy" / "kubernetes"
NAMESPACE = "cnnlens"
SECRET = "cnnlens-secrets"
SECRET_KEYS = {"REDIS_PASSWORD", "POSTGRES_PASSWORD"}  # what must be in it
# The oldest Kubernetes these manifests promise to work on, and the newest schemas bundled.
VERSIONS = ("1.29", kubernetes_validate.latest_version())
KEDA_API = "keda.sh/v1alpha1"
# ScaledObject's spec fields (keda.sh/docs, "ScaledObject specification").
SCALED_OBJECT_FIELDS = {
    "scaleTargetRef",
    "pollingInterval",
    "cooldownPeriod",
    "initialCooldownPeriod",
    "idleReplicaCount",
    "minReplicaCount",
    "maxReplicaCount",
    "fallback",
    "advanced",
    "triggers",
}
# compose service -> (kind, name) of the workload that plays its part in Kubernetes.
WORKLOADS = {
    "dashboard": ("Deployment", "dashboard"),
    "worker": ("Deployment", "worker"),
    "extractor": ("Deployment", "extractor"),
    "analyzer": ("Deployment", "analyzer"),
    "redis": ("StatefulSet", "redis"),
    "postgres": ("StatefulSet", "postgres"),
}
WORKERS = ("worker", "extractor", "analyzer")
# Only there to spell the URLs out with $(VAR) (compose interpolates them from .env instead),
# and where the postgres image keeps its files on a volume.
KUBERNETES_ONLY_ENV = {"REDIS_PASSWORD", "POSTGRES_PASSWORD", "PGDATA"}


def load(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def manifest_files() -> list[Path]:
    return sorted(MANIFESTS.rglob("*.yaml"))


def all_objects() -> list[dict[str, Any]]:
    return [doc for path in manifest_files() for doc in load(path)]


def find(kind: str, name: str) -> dict[str, Any]:
    matches = [o for o in all_objects() if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(matches) == 1, f"{kind}/{name}: {len(matches)} found"
    return matches[0]


def container(workload: dict[str, Any]) -> dict[str, Any]:
    containers = workload["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1, workload["metadata"]["name"]
    return containers[0]


def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]


def dockerfile_cmd(target: str) -> list[str]:
    """The CMD of one stage of the Dockerfile (JSON form, continuation lines joined)."""
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    stage = re.split(r"^FROM .*$", text.split(f" AS {target}\n", 1)[1], flags=re.M)[0]
    (line,) = [ln for ln in stage.splitlines() if ln.startswith("CMD ")]
    return json.loads(line[4:])


def compose_command(service: dict[str, Any]) -> list[str]:
    command = service.get("command")
    if command is None:
        return dockerfile_cmd(service["build"]["target"])
    return shlex.split(command) if isinstance(command, str) else list(command)


def kubernetes_command(c: dict[str, Any], target: str) -> list[str]:
    """What the container runs: the images have no ENTRYPOINT, so command + args, else the
    image's CMD."""
    if "command" in c:
        return [*c["command"], *c.get("args", [])]
    return c.get("args") or dockerfile_cmd(target)


def placeholders(text: str) -> str:
    """Compose's ${VAR…} and Kubernetes' $(VAR) both as <VAR>, compose's $$ as $."""
    text = re.sub(r"\$\{([A-Z_]+)[^}]*\}", r"<\1>", text)
    return re.sub(r"\$\(([A-Z_]+)\)", r"<\1>", text).replace("$$", "$")


def compose_env(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    return {k: "" if v is None else str(v) for k, v in env.items()}


def compose_default(value: str) -> str:
    """`${VAR:-default}` -> default; anything else as written."""
    found = re.fullmatch(r"\$\{[A-Z_]+:-([^}]*)\}", value)
    return found.group(1) if found else value


def kubernetes_env(c: dict[str, Any]) -> dict[str, str | None]:
    """A container's environment: ConfigMap keys it loads (their values) and its own entries
    (their value, or None when it comes from a Secret)."""
    env: dict[str, str | None] = {}
    for source in c.get("envFrom", []):
        env.update(find("ConfigMap", source["configMapRef"]["name"])["data"])
    for entry in c.get("env", []):
        env[entry["name"]] = entry.get("value")
    return env


def option_pairs(argv: list[str]) -> dict[str, str]:
    return {argv[i]: argv[i + 1] for i in range(len(argv) - 1) if argv[i].startswith("--")}


def celery_argv(argv: list[str]) -> list[str]:
    """The `celery worker` command line a container ends up running: `python -m worker.commands
    KIND` execs the one worker/commands.py builds."""
    if argv[1:3] == ["-m", "worker.commands"]:
        from worker.commands import worker_command

        (kind,) = argv[3:]
        return worker_command(kind).argv
    return argv


def queue_of(argv: list[str]) -> str:
    argv = celery_argv(argv)
    return argv[argv.index("-Q") + 1]


# --- schemas ---------------------------------------------------------------------------------


@pytest.mark.parametrize("path", manifest_files(), ids=lambda p: str(p.relative_to(MANIFESTS)))
@pytest.mark.parametrize("version", VERSIONS)
def test_every_kubernetes_object_matches_the_api_schema(path, version):
    objects = load(path)
    assert objects, f"{path} holds no object"
    for obj in objects:
        if obj["apiVersion"] == KEDA_API:
            continue  # a custom resource: see test_the_scaled_object_* below
        kubernetes_validate.validate(obj, version, strict=True)


def test_the_validator_rejects_what_kubernetes_would():
    """The schema check above can fail: a typo'd field, a wrong type, a missing required field."""
    dashboard = find("Deployment", "dashboard")
    broken = []
    typo = copy.deepcopy(dashboard)
    container(typo)["readinesProbe"] = container(typo).pop("readinessProbe")
    broken.append(typo)
    wrong_type = copy.deepcopy(dashboard)
    wrong_type["spec"]["replicas"] = "one"
    broken.append(wrong_type)
    no_name = copy.deepcopy(dashboard)
    del container(no_name)["name"]
    broken.append(no_name)
    for obj in broken:
        with pytest.raises(kubernetes_validate.ValidationError):
            kubernetes_validate.validate(obj, VERSIONS[-1], strict=True)


def test_objects_live_in_one_namespace_and_no_secret_is_checked_in():
    objects = all_objects()
    assert find("Namespace", NAMESPACE)
    for obj in objects:
        assert obj["kind"] != "Secret", "secrets are made by hand (docs/OPERATIONS.md)"
        if obj["kind"] != "Namespace":
            assert obj["metadata"].get("namespace") == NAMESPACE, obj["metadata"]["name"]
        if obj["kind"] in ("Deployment", "StatefulSet"):
            for entry in container(obj).get("env", []):
                if "PASSWORD" in entry["name"]:
                    assert "value" not in entry, f"{entry['name']} written out in the manifest"


# --- workloads -------------------------------------------------------------------------------


@pytest.mark.parametrize("service", WORKLOADS)
def test_every_workload_has_probes_requests_and_limits(service):
    c = container(find(*WORKLOADS[service]))
    for probe in ("readinessProbe", "livenessProbe"):
        assert probe in c, f"{service}: no {probe}"
    for bound in ("requests", "limits"):
        assert set(c["resources"][bound]) >= {"cpu", "memory"}, f"{service}: {bound}"


def test_services_stay_inside_the_cluster_and_point_at_pods_that_listen():
    services = [o for o in all_objects() if o["kind"] == "Service"]
    assert {s["metadata"]["name"] for s in services} == {"dashboard", "redis", "postgres"}
    for svc in services:
        assert svc["spec"].get("type", "ClusterIP") == "ClusterIP"  # never NodePort/LoadBalancer
        (workload,) = [
            o
            for o in all_objects()
            if o["kind"] in ("Deployment", "StatefulSet")
            and svc["spec"]["selector"].items()
            <= o["spec"]["template"]["metadata"]["labels"].items()
        ]
        ports = {p["name"]: p["containerPort"] for p in container(workload).get("ports", [])}
        for port in svc["spec"]["ports"]:
            assert ports[port["targetPort"]] == port["port"], svc["metadata"]["name"]
    dashboard = container(find("Deployment", "dashboard"))
    assert dashboard["ports"][0]["containerPort"] == Settings(_env_file=None).port


def test_the_run_volume_is_shared_read_write_by_the_dashboard_and_every_worker():
    claim = find("PersistentVolumeClaim", "cnnlens-runs")
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"]
    data_dir = find("ConfigMap", "cnnlens-config")["data"]["CNNLENS_DATA_DIR"]
    for service in ("dashboard", *WORKERS):
        workload = find(*WORKLOADS[service])
        volumes = {
            v["name"]: v["persistentVolumeClaim"]["claimName"]
            for v in workload["spec"]["template"]["spec"]["volumes"]
        }
        mounts = {m["mountPath"]: m["name"] for m in container(workload)["volumeMounts"]}
        assert volumes[mounts[data_dir]] == "cnnlens-runs", service
        assert not any(m.get("readOnly") for m in container(workload)["volumeMounts"])


def test_secrets_come_from_one_secret_and_only_the_login_is_optional():
    for obj in all_objects():
        if obj["kind"] not in ("Deployment", "StatefulSet"):
            continue
        for entry in container(obj).get("env", []):
            ref = entry.get("valueFrom", {}).get("secretKeyRef")
            if ref is None:
                continue
            assert ref["name"] == SECRET
            assert ref["key"] == entry["name"]
            assert bool(ref.get("optional")) == (ref["key"] not in SECRET_KEYS), ref


# --- the same deployment as compose ----------------------------------------------------------


@pytest.mark.parametrize("service", WORKLOADS)
def test_each_compose_service_runs_the_same_image_and_command(service):
    spec = compose()[service]
    c = container(find(*WORKLOADS[service]))
    if "build" in spec:
        target = spec["build"]["target"]
        assert c["image"].rsplit("/", 1)[-1].split(":")[0] == f"cnnlens-{target}"
        assert kubernetes_command(c, target) == compose_command(spec)
    else:
        assert c["image"] == spec["image"]


@pytest.mark.parametrize("service", WORKLOADS)
def test_each_compose_service_gets_the_same_environment(service):
    expected = compose_env(compose()[service])
    env = kubernetes_env(container(find(*WORKLOADS[service])))
    assert set(env) - KUBERNETES_ONLY_ENV == set(expected) - KUBERNETES_ONLY_ENV, service
    for name, value in expected.items():
        if env.get(name) is None:  # from the Secret, like compose's ${VAR:?} from .env
            continue
        assert placeholders(str(env[name])) == placeholders(compose_default(value)), name


def test_each_queue_has_one_kind_of_worker_and_beat_runs_once():
    commands = {
        name: kubernetes_command(container(find("Deployment", name)), "worker") for name in WORKERS
    }
    queues = {name: queue_of(argv) for name, argv in commands.items()}
    assert sorted(queues.values()) == sorted(
        [tasks.TRAINING_QUEUE, tasks.EXTRACTION_QUEUE, tasks.ANALYSIS_QUEUE]
    )
    beats = [name for name, argv in commands.items() if "-B" in celery_argv(argv)]
    assert [queues[name] for name in beats] == [tasks.EXTRACTION_QUEUE]
    (beat,) = beats
    deployment = find("Deployment", beat)
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"]["type"] == "Recreate"  # never two beats at once
    training = next(name for name, queue in queues.items() if queue == tasks.TRAINING_QUEUE)
    assert "--max-tasks-per-child" in celery_argv(commands[training])  # a process per training


def test_redis_keeps_compose_flags_and_its_password_from_the_secret():
    flags = option_pairs(shlex.split(placeholders(compose()["redis"]["command"])))
    c = container(find("StatefulSet", "redis"))
    ours = option_pairs([placeholders(a) for a in kubernetes_command(c, "")])
    assert flags.items() <= ours.items()
    assert ours["--requirepass"] == "<REDIS_PASSWORD>"
    assert ours["--appendonly"] == "yes" and ours["--maxmemory-policy"] == "noeviction"
    claims = find("StatefulSet", "redis")["spec"]["volumeClaimTemplates"]
    assert [m["name"] for m in c["volumeMounts"]] == [claims[0]["metadata"]["name"]]
    assert find("StatefulSet", "postgres")["spec"]["volumeClaimTemplates"]


def test_worker_probes_are_compose_health_checks():
    for service in WORKERS:
        (kind, check) = compose()[service]["healthcheck"]["test"]
        assert kind == "CMD-SHELL"
        c = container(find(*WORKLOADS[service]))
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            assert c[probe]["exec"]["command"] == ["sh", "-c", check.replace("$$", "$")], probe
    readiness = container(find("Deployment", "dashboard"))["readinessProbe"]
    assert "/api/health" in " ".join(readiness["exec"]["command"])
    assert "/api/health" in " ".join(compose()["dashboard"]["healthcheck"]["test"])


# --- KEDA ------------------------------------------------------------------------------------


def keda_objects(kind: str) -> list[dict[str, Any]]:
    return [o for o in all_objects() if o["apiVersion"] == KEDA_API and o["kind"] == kind]


def test_the_scaled_object_scales_training_workers_on_the_training_queue():
    (scaled,) = keda_objects("ScaledObject")
    spec = scaled["spec"]
    assert set(spec) <= SCALED_OBJECT_FIELDS, set(spec) - SCALED_OBJECT_FIELDS
    target = spec["scaleTargetRef"]
    assert target.get("kind", "Deployment") == "Deployment"
    assert target.get("apiVersion", "apps/v1") == "apps/v1"
    training = find("Deployment", target["name"])
    argv = kubernetes_command(container(training), "worker")
    assert queue_of(argv) == tasks.TRAINING_QUEUE
    assert "replicas" not in training["spec"]  # left to the autoscaler
    assert spec["minReplicaCount"] == 1
    assert isinstance(spec["maxReplicaCount"], int) and spec["maxReplicaCount"] >= 1
    for field in ("pollingInterval", "cooldownPeriod"):
        assert isinstance(spec.get(field, 1), int)
    behavior = spec["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]
    assert isinstance(behavior["scaleDown"]["stabilizationWindowSeconds"], int)

    (trigger,) = spec["triggers"]
    assert trigger["type"] == "redis"
    meta = trigger["metadata"]
    assert all(isinstance(v, str) for v in meta.values()), "KEDA wants metadata as strings"
    assert meta["listName"] == tasks.TRAINING_QUEUE
    assert int(meta["listLength"]) >= 1
    redis_port = find("Service", "redis")["spec"]["ports"][0]["port"]
    assert meta["address"] == f"redis.{NAMESPACE}.svc.cluster.local:{redis_port}"
    broker = kubernetes_env(container(training))["REDIS_URL"]
    assert broker is not None and meta["databaseIndex"] == broker.rsplit("/", 1)[1]
    assert not {"password", "passwordFromEnv"} & set(meta)  # from the TriggerAuthentication

    (auth,) = keda_objects("TriggerAuthentication")
    assert trigger["authenticationRef"]["name"] == auth["metadata"]["name"]
    (ref,) = auth["spec"]["secretTargetRef"]
    assert ref == {"parameter": "password", "name": SECRET, "key": "REDIS_PASSWORD"}
    from_secret = {"secretKeyRef": {"name": SECRET, "key": "REDIS_PASSWORD"}}
    redis_env = container(find("StatefulSet", "redis"))["env"]
    assert {"name": "REDIS_PASSWORD", "valueFrom": from_secret} in redis_env


def test_keda_may_reach_redis_through_the_network_policy():
    policy = find("NetworkPolicy", "redis")
    sources = [src for rule in policy["spec"]["ingress"] for src in rule["from"]]
    assert {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "keda"}}} in (
        sources
    )
