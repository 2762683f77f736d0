"""The Kubernetes deployment's files, checked without a cluster (none runs here, nor a Docker daemon):

- deploy/kubernetes/values.yaml against the Dagster Helm chart's values schema, for every key it sets: the chart
  (1.13) validates values with a JSON schema generated from pydantic models, most of them closed (extra="forbid"),
  so a misspelt key fails `helm install`. CHART below restates the parts of that schema these values use, closed
  where the chart's models are;
- the values keep the run queue, limits and code location of the instances the tests run on;
- the manifests parse, and every Secret, ConfigMap, Service, port and env var they name exists or is read;
- deploy/Dockerfile installs extras that setup.py has.
"""

import ast
import re
from pathlib import Path

import pytest
import yaml

from zensync_pipelines.cli import submit
from zensync_pipelines.cli.webhooks import serve

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
RELEASE = "dagster"  # values.yaml's install command; the chart's object names derive from it

# The chart's schema for the keys the values use: a dict is an object whose keys are all listed (closed, as the
# chart's pydantic models with extra="forbid"), OPEN is an object of any keys (Kubernetes specs, free maps), a
# one-item list is an array of that, a type is a scalar. Field names and types as in helm/dagster/schema.
OPEN = "open"
IMAGE = {"repository": str, "tag": (str, int), "pullPolicy": ("Always", "IfNotPresent", "Never")}
ENV_LIST = [{"name": str, "value": str, "valueFrom": OPEN}]
CHART = {
    "dagster-user-deployments": {
        "enabled": bool, "enableSubchart": bool, "imagePullSecrets": [OPEN],
        "deployments": [{
            "name": str, "image": IMAGE, "port": int, "dagsterApiGrpcArgs": [str], "codeServerArgs": [str],
            "includeConfigInLaunchedRuns": {"enabled": bool}, "env": ENV_LIST, "envConfigMaps": [{"name": str}],
            "envSecrets": [{"name": str}], "annotations": OPEN, "nodeSelector": OPEN, "affinity": OPEN,
            "tolerations": [OPEN], "podSecurityContext": OPEN, "securityContext": OPEN, "resources": OPEN,
            "livenessProbe": OPEN, "readinessProbe": OPEN, "startupProbe": OPEN, "labels": OPEN,
            "volumeMounts": [OPEN], "volumes": [OPEN], "schedulerName": str}],
    },
    "runLauncher": {
        "type": ("CeleryK8sRunLauncher", "K8sRunLauncher", "CustomRunLauncher"),
        "config": {"k8sRunLauncher": {
            "image": IMAGE, "imagePullPolicy": ("Always", "IfNotPresent", "Never"), "jobNamespace": str,
            "loadInclusterConfig": bool, "kubeconfigFile": str, "envConfigMaps": [{"name": str}],
            "envSecrets": [{"name": str}], "envVars": [str], "volumeMounts": [OPEN], "volumes": [OPEN],
            "labels": OPEN, "failPodOnRunFailure": bool, "resources": OPEN, "schedulerName": str,
            "securityContext": OPEN, "runK8sConfig": OPEN}},
    },
    "postgresql": {
        "image": IMAGE, "enabled": bool, "postgresqlHost": str, "postgresqlUsername": str, "postgresqlPassword": str,
        "postgresqlDatabase": str, "postgresqlParams": OPEN, "postgresqlScheme": str, "service": {"port": int}},
    "generatePostgresqlPasswordSecret": bool,
    "global": {"postgresqlSecretName": str, "dagsterHome": str, "serviceAccountName": str,
               "celeryConfigSecretName": str},
    "dagsterDaemon": {
        "enabled": bool, "image": IMAGE, "heartbeatTolerance": int,
        "runCoordinator": {"enabled": bool, "type": ("QueuedRunCoordinator", "CustomRunCoordinator"),
                           "config": {"queuedRunCoordinator": {
                               "maxConcurrentRuns": int, "tagConcurrencyLimits": [OPEN],
                               "dequeueIntervalSeconds": int, "dequeueNumWorkers": int, "dequeueUseThreads": bool,
                               "blockOpConcurrencyLimitedRuns": OPEN}}},
        "sensors": {"useThreads": bool, "numWorkers": int, "numSubmitWorkers": int},
        "schedules": {"useThreads": bool, "numWorkers": int, "numSubmitWorkers": int},
        "runMonitoring": OPEN, "runRetries": OPEN, "env": ENV_LIST, "envSecrets": [{"name": str}],
        "resources": OPEN},
    "concurrency": {
        "enabled": bool,
        "pools": {"defaultLimit": int, "granularity": ("run", "op"), "opGranularityRunBuffer": int},
        "runs": {"maxConcurrentRuns": int,
                 "tagConcurrencyLimits": [{"key": str, "value": (str, {"applyLimitPerUniqueValue": bool}),
                                           "limit": int}]}},
    "ingress": {"enabled": bool, "apiVersion": str, "labels": OPEN, "annotations": OPEN,
                "dagsterWebserver": OPEN, "readOnlyDagsterWebserver": OPEN, "flower": OPEN},
    "telemetry": {"enabled": bool},
}


def conforms(value, schema, path="values"):
    """Every error of `value` against `schema` (the notation above), as 'path: reason'."""
    if schema == OPEN:
        return [] if isinstance(value, dict) else [f"{path}: an object expected"]
    if isinstance(schema, dict):
        if not isinstance(value, dict):
            return [f"{path}: an object expected"]
        errors = [f"{path}.{key}: not a key of the chart's schema here" for key in value if key not in schema]
        return errors + [e for key in value if key in schema for e in conforms(value[key], schema[key],
                                                                                  f"{path}.{key}")]
    if isinstance(schema, list):
        if not isinstance(value, list):
            return [f"{path}: a list expected"]
        return [e for i, item in enumerate(value) for e in conforms(item, schema[0], f"{path}[{i}]")]
    if isinstance(schema, tuple):  # one of: types, literal strings, or object schemas
        for option in schema:
            if isinstance(option, type) and isinstance(value, option) and not isinstance(value, bool):
                return []
            if isinstance(option, str) and value == option:
                return []
            if isinstance(option, dict) and not conforms(value, option, path):
                return []
        return [f"{path}: {value!r} is none of {schema!r}"]
    if schema is int and isinstance(value, bool) or not isinstance(value, schema):
        return [f"{path}: {schema.__name__} expected, got {value!r}"]
    return []


def load(name):
    return yaml.safe_load((DEPLOY / "kubernetes" / name).read_text())


def documents(name):
    return [d for d in yaml.safe_load_all((DEPLOY / "kubernetes" / name).read_text()) if d]


@pytest.fixture(scope="module")
def values():
    return load("values.yaml")


def test_the_checker_catches_what_helm_would_refuse():
    assert conforms({"runLauncher": {"type": "K8sRunLauncher", "config": {"k8sRunLauncher": {"envSecret": []}}}},
                    CHART) == ["values.runLauncher.config.k8sRunLauncher.envSecret: not a key of the chart's "
                               "schema here"]
    assert conforms({"concurrency": {"runs": {"maxConcurrentRuns": "10"}}}, CHART) == [
        "values.concurrency.runs.maxConcurrentRuns: int expected, got '10'"]
    assert conforms({"dagsterDaemon": {"runCoordinator": {"type": "Queued"}}}, CHART)
    assert conforms({"dagster-user-deployments": {"deployments": [{"image": {"pullPolicy": "Sometimes"}}]}}, CHART)
    assert conforms({"telemetry": {"enabled": "no"}}, CHART)


def test_the_values_use_only_keys_and_types_of_the_charts_schema(values):
    assert conforms(values, CHART) == []


def test_the_values_hold_the_production_instances_queue_limits_and_pools(values):
    production = yaml.safe_load((DEPLOY / "production" / "dagster.yaml").read_text())
    runs, pools = values["concurrency"]["runs"], values["concurrency"]["pools"]
    assert values["concurrency"]["enabled"] is True  # else the chart writes none of it into dagster.yaml
    assert runs["maxConcurrentRuns"] == production["concurrency"]["runs"]["max_concurrent_runs"]
    assert [{"key": t["key"], "value": t["value"], "limit": t["limit"]} for t in runs["tagConcurrencyLimits"]] == \
        [{"key": t["key"], "value": t["value"], "limit": t["limit"]}
         for t in production["concurrency"]["runs"]["tag_concurrency_limits"]]
    assert {t["key"] for t in runs["tagConcurrencyLimits"]} == {"zensync/copy", "zensync/lane"}
    assert (pools["defaultLimit"], pools["granularity"]) == (production["concurrency"]["pools"]["default_limit"],
                                                             production["concurrency"]["pools"]["granularity"])
    coordinator = values["dagsterDaemon"]["runCoordinator"]
    assert coordinator["enabled"] and coordinator["type"] == production["run_coordinator"]["class"]
    assert coordinator["config"]["queuedRunCoordinator"]["dequeueIntervalSeconds"] == \
        production["run_coordinator"]["config"]["dequeue_interval_seconds"]
    sensors = values["dagsterDaemon"]["sensors"]
    assert (sensors["useThreads"], sensors["numWorkers"], sensors["numSubmitWorkers"]) == \
        (production["sensors"]["use_threads"], production["sensors"]["num_workers"],
         production["sensors"]["num_submit_workers"])
    assert values["dagsterDaemon"]["runMonitoring"]["enabled"] is production["run_monitoring"]["enabled"] is True
    assert values["postgresql"]["enabled"] is False and values["generatePostgresqlPasswordSecret"] is False
    assert values["postgresql"]["postgresqlPassword"] == ""  # the password is a Secret's, never a value


def test_the_code_location_is_the_one_every_queued_run_names(values):
    [deployment] = values["dagster-user-deployments"]["deployments"]
    workspaces = [yaml.safe_load(p.read_text())["load_from"][0]["python_module"]
                  for p in (ROOT / "workspace.yaml", ROOT / "zensync_pipelines" / "dagster_workspace.yaml")]
    assert deployment["name"] == submit.DEFAULT_LOCATION == workspaces[0]["location_name"] == \
        workspaces[1]["location_name"]
    assert deployment["dagsterApiGrpcArgs"] == ["--module-name", submit.MODULE]
    assert all(w["module_name"] == submit.MODULE for w in workspaces)
    assert values["runLauncher"]["type"] == "K8sRunLauncher"
    assert deployment["includeConfigInLaunchedRuns"]["enabled"] is True


def _env_names(container):
    return {e["name"]: e for e in container.get("env", [])}


def test_every_secret_and_config_map_named_exists_and_holds_only_variables_zensync_reads(values):
    secrets = {d["metadata"]["name"]: d for d in documents("secrets.example.yaml")}
    assert all(d["kind"] == "Secret" and d["type"] == "Opaque" for d in secrets.values())
    [deployment] = values["dagster-user-deployments"]["deployments"]
    named = {s["name"] for s in deployment["envSecrets"]} | \
        {s["name"] for s in values["runLauncher"]["config"]["k8sRunLauncher"]["envSecrets"]}
    manifests = {(d["kind"], d["metadata"]["name"]): d for d in documents("zensync.yaml")}
    for kind, name in manifests:
        if kind == "Deployment":
            [container] = manifests[(kind, name)]["spec"]["template"]["spec"]["containers"]
            named |= {source["secretRef"]["name"] for source in container.get("envFrom", [])}
            for env in container.get("env", []):
                if "valueFrom" in env:
                    ref = env["valueFrom"]["secretKeyRef"]
                    assert ref["key"] in secrets[ref["name"]]["stringData"], ref
                    named.add(ref["name"])
    assert named == set(secrets), (named, set(secrets))
    assert values["global"]["postgresqlSecretName"] == "dagster-postgresql-secret"
    # Each key is a variable zensync reads (named in the package's code) and the README's table documents.
    source = "\n".join(p.read_text() for p in (ROOT / "zensync_pipelines").rglob("*.py"))
    readme = (ROOT / "README.md").read_text()
    for name in ("zensync-runtime", "zensync-receiver"):
        for key in secrets[name]["stringData"]:
            assert f'"{key}"' in source and f"`{key}`" in readme, key
    assert "STRIPE_API_KEY" not in secrets["zensync-receiver"]["stringData"]  # the receiver calls no API
    assert {"STRIPE_WEBHOOK_SECRET", "SALESFORCE_OUTBOUND_TOKEN"} <= set(secrets["zensync-receiver"]["stringData"])
    assert all("CHANGE-ME" in v or "CHANGEME" in v or v.startswith("https://")
               for s in secrets.values() for v in s["stringData"].values())


def test_the_receiver_is_its_own_deployment_and_service_behind_the_ingress():
    manifests = {(d["kind"], d["metadata"]["name"]): d for d in documents("zensync.yaml")}
    receiver = manifests[("Deployment", "zensync-webhooks")]
    [container] = receiver["spec"]["template"]["spec"]["containers"]
    assert container["args"][:3] == ["zensync", "webhooks", "serve"]
    options = serve.make_context("serve", container["args"][3:]).params  # the flags exist and parse
    assert options["host"] == "0.0.0.0" and options["port"] == container["ports"][0]["containerPort"]
    assert receiver["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] > options["shutdown_timeout"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/healthz"
    assert '"/healthz"' in (ROOT / "zensync_pipelines" / "inbound" / "app.py").read_text()
    labels = receiver["spec"]["template"]["metadata"]["labels"]
    assert receiver["spec"]["selector"]["matchLabels"].items() <= labels.items()
    service = manifests[("Service", "zensync-webhooks")]
    assert service["spec"]["selector"].items() <= labels.items()
    assert service["spec"]["ports"][0]["targetPort"] == container["ports"][0]["name"]
    ingress = manifests[("Ingress", "zensync-webhooks")]
    [rule] = ingress["spec"]["rules"]
    [path] = rule["http"]["paths"]
    assert path["path"] == "/webhooks/" and path["pathType"] == "Prefix"  # the UI and /healthz stay inside
    assert path["backend"]["service"] == {"name": "zensync-webhooks", "port": {"name": "http"}}
    assert ingress["spec"]["tls"][0]["hosts"] == [rule["host"]]
    assert "ZENSYNC_TRUSTED_PROXIES" in _env_names(container)


def test_the_ops_pod_reaches_the_releases_instance_and_queues_runs_under_the_location(values):
    manifests = {(d["kind"], d["metadata"]["name"]): d for d in documents("zensync.yaml")}
    spec = manifests[("Deployment", "zensync-ops")]["spec"]["template"]["spec"]
    [container] = spec["containers"]
    env = _env_names(container)
    [mount] = container["volumeMounts"]
    assert mount["mountPath"] == env["DAGSTER_HOME"]["value"] + "/dagster.yaml" and mount["subPath"] == "dagster.yaml"
    [volume] = [v for v in spec["volumes"] if v["name"] == mount["name"]]
    assert volume["configMap"]["name"] == f"{RELEASE}-instance"
    assert env[submit.CODE_LOCATION]["value"] == values["dagster-user-deployments"]["deployments"][0]["name"]
    assert "DAGSTER_PG_PASSWORD" in env  # what the chart's instance config reads its password from
    image = values["dagster-user-deployments"]["deployments"][0]["image"]
    tagged = f"{image['repository']}:{image['tag']}"
    assert env["DAGSTER_CURRENT_IMAGE"]["value"] == container["image"] == tagged
    for kind, name in manifests:
        if kind == "Deployment":
            assert manifests[(kind, name)]["spec"]["template"]["spec"]["containers"][0]["image"] == tagged


def _extras_of_setup_py():
    tree = ast.parse((ROOT / "setup.py").read_text())
    constants = {n.targets[0].id: n.value.value for n in tree.body
                 if isinstance(n, ast.Assign) and isinstance(n.value, ast.Constant)}
    [call] = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and getattr(n.func, "id", "") == "setup"]
    [extras] = [k.value for k in call.keywords if k.arg == "extras_require"]
    result = {}
    for key, value in zip(extras.keys, extras.values):
        items = []
        for item in value.elts:
            if isinstance(item, ast.JoinedStr):  # f"dagster-k8s=={DAGSTER_LIBS}"
                items.append("".join(str(p.value) if isinstance(p, ast.Constant) else
                                     str(constants[p.value.id]) for p in item.values))
            else:
                items.append(item.value)
        result[key.value] = items
    return result, constants


def test_the_dockerfile_installs_extras_setup_py_has_and_serves_the_location():
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    extras, constants = _extras_of_setup_py()
    [install] = re.findall(r'pip install "\.\[([\w,-]+)\]"', dockerfile)
    wanted = install.split(",")
    assert set(wanted) <= set(extras), (wanted, sorted(extras))
    assert "k8s" in wanted and extras["k8s"] == [f"dagster-k8s=={constants['DAGSTER_LIBS']}"]
    assert not {"test", "dev", "bench"} & set(wanted)  # no test or benchmark tools in the production image
    for source in re.findall(r"^COPY (\S+) ", dockerfile, re.M):
        assert (ROOT / source).exists(), source
    ignored = (DEPLOY / "Dockerfile.dockerignore").read_text().split()
    assert {"!setup.py", "!zensync_pipelines"} <= set(ignored)
    assert "FROM python:3.11" in dockerfile  # setup.py: python_requires >= 3.11
    cmd = yaml.safe_load(re.search(r"^CMD (.+)$", dockerfile, re.M).group(1))
    assert cmd[:3] == ["dagster", "api", "grpc"] and cmd[-2:] == ["--module-name", submit.MODULE]
    assert re.search(r"^ENV .*DAGSTER_HOME=/opt/dagster/dagster_home", dockerfile, re.M | re.S)
