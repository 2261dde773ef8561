#!/usr/bin/env python3
"""Validates vneid-gateway's deployment files. Run through deploy/check/check.sh, which makes the
venv (kubernetes-validate, PyYAML) and finds or installs promtool and a compose implementation.

Checks, each printed as `ok`, `FAIL` or `SKIP`:
  kubernetes  every manifest in deploy/kubernetes against the pinned Kubernetes version's strict
              JSON schema (unknown fields fail), then cross-resource rules (selectors, names,
              Secret keys, probes, security context, grace period vs shutdown timeout, …) and the
              kustomization's resource list;
  prometheus  alerts.yml shape (expr/for/labels.severity/annotations), metric and label names
              against gateway/src/metrics.rs (and the values of outcome/state labels the gateway
              sets; the directory gauges, the same on every replica, never summed over them),
              `promtool check rules`, `promtool check config`, `promtool test rules`
              (deploy/check/alerts.test.yml);
  compose     `docker compose config -q` (or docker-compose), then structure: depends_on targets,
              declared volumes and secrets, ports bound to 127.0.0.1, the migrate-first order;
  grafana     the dashboard JSON, its panels, the queries' names as for prometheus, and every
              query through promtool;
  config      the compose and ConfigMap gateway.toml: TOML, production rules, and
              `gateway check-config` when a gateway binary is available.

`--self-test` breaks copies of the files in a temporary directory, one mistake at a time, and
checks that each is caught (the copies are deleted afterwards).
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path
from typing import Any, Callable, Iterable

import yaml

# ----------------------------------------------------------------------------------------------
# reporting


class Report:
    def __init__(self, quiet: bool = False) -> None:
        self.quiet = quiet
        self.failures: list[str] = []
        self.skips: list[str] = []
        self.oks = 0

    def ok(self, area: str, msg: str) -> None:
        self.oks += 1
        if not self.quiet:
            print(f"  ok    {area}: {msg}")

    def fail(self, area: str, msg: str) -> None:
        self.failures.append(f"{area}: {msg}")
        if not self.quiet:
            print(f"  FAIL  {area}: {msg}")

    def skip(self, area: str, msg: str) -> None:
        self.skips.append(f"{area}: {msg}")
        if not self.quiet:
            print(f"  SKIP  {area}: {msg}")

    def check(self, cond: bool, area: str, msg: str) -> bool:
        (self.ok if cond else self.fail)(area, msg)
        return cond


# ----------------------------------------------------------------------------------------------
# YAML that refuses duplicate keys (PyYAML silently keeps the last one)


class UniqueKeyLoader(yaml.SafeLoader):
    pass


def _construct_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode, deep: bool = False) -> Any:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":
            continue
        key = loader.construct_object(key_node, deep=True)
        try:
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark
                )
            seen.add(key)
        except TypeError:
            pass
    return yaml.SafeLoader.construct_mapping(loader, node, deep)


UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def load_yaml_docs(path: Path) -> list[Any]:
    with path.open(encoding="utf-8") as f:
        return [d for d in yaml.load_all(f, Loader=UniqueKeyLoader) if d is not None]


def load_yaml(path: Path) -> Any:
    docs = load_yaml_docs(path)
    if len(docs) != 1:
        raise ValueError(f"expected one YAML document, found {len(docs)}")
    return docs[0]


def _no_duplicate_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise ValueError(f"duplicate key {k!r}")
        out[k] = v
    return out


def dig(obj: Any, *path: Any, default: Any = None) -> Any:
    for p in path:
        if isinstance(obj, dict) and p in obj:
            obj = obj[p]
        elif isinstance(obj, list) and isinstance(p, int) and -len(obj) <= p < len(obj):
            obj = obj[p]
        else:
            return default
    return obj


def parse_duration(text: Any) -> float | None:
    """Gateway / Prometheus / compose durations: 30s, 10m, 8h, 2d, 1h30m, or seconds."""
    if isinstance(text, (int, float)):
        return float(text)
    if not isinstance(text, str) or not text:
        return None
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
    total = 0.0
    pos = 0
    for m in re.finditer(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)", text):
        if m.start() != pos:
            return None
        total += float(m.group(1)) * units[m.group(2)]
        pos = m.end()
    if pos != len(text):
        return float(text) if text.isdigit() else None
    return total


QUANTITY = re.compile(r"^\d+(\.\d+)?(m|k|M|G|T|Ki|Mi|Gi|Ti)?$")


def quantity(value: Any) -> float | None:
    s = str(value)
    if not QUANTITY.match(s):
        return None
    mult = {"m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12,
            "Ki": 1024, "Mi": 1024**2, "Gi": 1024**3, "Ti": 1024**4}
    m = re.match(r"^(\d+(?:\.\d+)?)(.*)$", s)
    assert m
    return float(m.group(1)) * mult.get(m.group(2), 1)


def run(cmd: list[str], cwd: Path | None = None, env: dict[str, str] | None = None,
        timeout: int = 120) -> tuple[int, str]:
    try:
        p = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    except FileNotFoundError as e:
        return 127, str(e)
    except subprocess.TimeoutExpired:
        return 124, f"timed out after {timeout}s"
    return p.returncode, (p.stdout + p.stderr).strip()


def indent(text: str) -> str:
    lines = text.strip().splitlines()[-25:]
    return "\n" + "\n".join("          " + line for line in lines)


# ----------------------------------------------------------------------------------------------
# the gateway's metrics, read from its source so a renamed metric or label breaks this check

FALLBACK_METRICS = {
    "vneid_logins_total": {"upstream", "login_idp", "level", "outcome", "reason"},
    "vneid_tokens_issued_total": {"grant"},
    "vneid_upstream_request_duration_seconds": {"upstream", "outcome"},
    "vneid_http_request_duration_seconds": {"route", "method", "status"},
    "vneid_directory_accounts": {"unit"},
    "vneid_directory_staff": {"unit", "state"},
    "vneid_account_links_total": {"outcome"},
    "vneid_rate_limited_total": {"limit"},
    "vneid_ephemeral_full_total": set(),
    "vneid_upstream_up": {"upstream"},
}
LOGIN_OUTCOMES = {"success", "refused", "error"}
# Label values the gateway sets (gateway/src/login.rs, Metrics::set_readiness).
LABEL_VALUES = {
    ("vneid_account_links_total", "outcome"): {"linked", "already_linked", "no_match", "conflict", "error"},
    ("vneid_directory_staff", "state"): {"valid", "missing", "invalid", "duplicate", "linked"},
    ("vneid_rate_limited_total", "limit"): {"authorize", "token", "userinfo", "client_auth_failures"},
}
# Gauges every replica computes from the shared database: the same value on each, so a query
# must take one replica's (max/min/avg by …) before summing over units.
PER_REPLICA_COPIES = ("vneid_directory_accounts", "vneid_directory_staff")
# Labels Prometheus or the scrape adds.
TARGET_LABELS = {"job", "instance", "namespace", "pod", "service", "le"}


def gateway_metrics(root: Path, report: Report) -> dict[str, set[str]]:
    src = root / "gateway" / "src" / "metrics" / "mod.rs"
    if not src.exists():
        src = root / "gateway" / "src" / "metrics.rs"
    if not src.exists():
        report.skip("prometheus", f"{src.relative_to(root)} not found; using the built-in metric list")
        return FALLBACK_METRICS
    text = src.read_text(encoding="utf-8")
    ns = re.search(r'Registry::new_custom\(\s*Some\("([a-z_]+)"', text)
    prefix = (ns.group(1) + "_") if ns else ""
    found: dict[str, set[str]] = {}
    pattern = re.compile(
        r'(?:Histogram)?Opts::new\(\s*"([a-z_]+)".*?&\[([^\]]*)\]', re.S
    )
    for m in pattern.finditer(text):
        labels = set(re.findall(r'"([a-z_]+)"', m.group(2)))
        found[prefix + m.group(1)] = labels
    # Metrics without labels: IntCounter::new("name", "help"), IntGauge::new(…).
    for m in re.finditer(r'(?:Int)?(?:Counter|Gauge)::new\(\s*"([a-z_]+)"', text):
        found.setdefault(prefix + m.group(1), set())
    if not found:
        report.fail("prometheus", f"could not read metric names from {src.relative_to(root)}")
        return FALLBACK_METRICS
    for name, labels in FALLBACK_METRICS.items():
        if found.get(name) != labels:
            report.fail("prometheus", f"{src.relative_to(root)} no longer defines {name}{{{','.join(sorted(labels))}}} "
                        f"(found {sorted(found.get(name, []))}): update deploy/ and this check")
    return found


PROMQL_KEYWORDS = {
    "sum", "min", "max", "avg", "count", "stddev", "stdvar", "topk", "bottomk", "quantile",
    "count_values", "group", "by", "without", "on", "ignoring", "group_left", "group_right",
    "and", "or", "unless", "offset", "bool", "rate", "irate", "increase", "delta", "idelta",
    "histogram_quantile", "absent", "absent_over_time", "abs", "ceil", "floor", "round",
    "clamp_min", "clamp_max", "label_replace", "label_join", "time", "vector", "scalar",
    "sort", "sort_desc", "avg_over_time", "max_over_time", "min_over_time", "sum_over_time",
    "count_over_time", "last_over_time", "resets", "changes", "deriv", "predict_linear", "inf",
    "nan", "le",
}


def check_promql_names(expr: str, metrics: dict[str, set[str]], where: str, report: Report) -> None:
    """Metric names, label names in matchers and grouping, and outcome values."""
    problems = []
    stripped = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # drop string contents
    base_of = {}
    for name, labels in metrics.items():
        base_of[name] = name
        if name.endswith("_seconds"):
            for suffix in ("_bucket", "_count", "_sum"):
                base_of[name + suffix] = name
    used_metrics = set(re.findall(r"\b(vneid_[a-z_]+)\b", stripped))
    for m in used_metrics:
        if m not in base_of:
            problems.append(f"unknown metric {m}")
    known_labels = set().union(*metrics.values()) | TARGET_LABELS
    for body in re.findall(r"\{([^{}]*)\}", expr):
        for label, op, value in re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"', body):
            if label not in known_labels:
                problems.append(f"unknown label {label}")
            if label == "outcome" and op in ("=", "!=") and "vneid_logins_total" in expr:
                if value not in LOGIN_OUTCOMES:
                    problems.append(f'outcome="{value}" is not one of {sorted(LOGIN_OUTCOMES)}')
    for group in re.findall(r"\b(?:by|without)\s*\(([^)]*)\)", stripped):
        for label in [x.strip() for x in group.split(",") if x.strip()]:
            if label not in known_labels:
                problems.append(f"unknown label {label} in by/without")
    for metric, body in re.findall(r"\b(vneid_[a-z_]+)\s*\{([^{}]*)\}", expr):
        for label, op, value in re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"', body):
            allowed = LABEL_VALUES.get((metric, label))
            if allowed is None:
                continue
            values = value.split("|") if op in ("=~", "!~") else [value]
            for v in values:
                if v not in allowed:
                    problems.append(f'{metric} {label}="{v}" is not one of {sorted(allowed)}')
    for m in PER_REPLICA_COPIES:
        if re.search(r"\b(?:sum|count)(?:\s+(?:by|without)\s*\([^)]*\))?\s*\(\s*" + m + r"\b", stripped):
            problems.append(f"{m} is the same on every replica: take max by (unit…) of it before summing")
    if problems:
        report.fail(where, "; ".join(sorted(set(problems))))


# ----------------------------------------------------------------------------------------------
# Kubernetes

K8S_ENUMS = {
    "imagePullPolicy": {"Always", "IfNotPresent", "Never"},
    "protocol": {"TCP", "UDP", "SCTP"},
    "restartPolicy": {"Always", "OnFailure", "Never"},
    "unhealthyPodEvictionPolicy": {"IfHealthyBudget", "AlwaysAllow"},
    "whenUnsatisfiable": {"DoNotSchedule", "ScheduleAnyway"},
    "sessionAffinity": {"None", "ClientIP"},
    "medium": {"", "Memory", "HugePages"},
}
K8S_LIST_ENUMS = {"policyTypes": {"Ingress", "Egress"}}


def walk(obj: Any, path: str = "") -> Iterable[tuple[str, str, Any]]:
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield path, k, v
            yield from walk(v, f"{path}.{k}" if path else str(k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from walk(v, f"{path}[{i}]")


def labels_match(selector: dict[str, str] | None, labels: dict[str, str]) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def check_kubernetes(root: Path, version: str, report: Report) -> dict[str, Any]:
    area = "kubernetes"
    kdir = root / "deploy" / "kubernetes"
    info: dict[str, Any] = {}
    try:
        from kubernetes_validate import utils as kv  # type: ignore
    except ImportError as e:  # pragma: no cover - check.sh installs it
        report.fail(area, f"kubernetes-validate is not importable: {e}")
        return info
    files = sorted(p for p in kdir.iterdir() if p.suffix in (".yaml", ".yml"))
    report.check(bool(files), area, f"{len(files)} files in deploy/kubernetes")
    resources: dict[str, list[tuple[str, dict]]] = {}
    kustomization: dict | None = None
    for path in files:
        rel = path.relative_to(root)
        try:
            docs = load_yaml_docs(path)
        except (yaml.YAMLError, ValueError) as e:
            report.fail(area, f"{rel}: not valid YAML: {e}")
            continue
        if path.name == "kustomization.yaml":
            kustomization = docs[0] if docs else {}
            continue
        for doc in docs:
            if not isinstance(doc, dict) or not {"apiVersion", "kind", "metadata"} <= doc.keys():
                report.fail(area, f"{rel}: a document without apiVersion/kind/metadata")
                continue
            name = f"{doc['kind'].lower()}/{dig(doc, 'metadata', 'name')}"
            if dig(doc, "metadata", "namespace") is not None:
                report.fail(area, f"{rel} {name}: sets metadata.namespace (manifests are namespace-less)")
            try:
                used = kv.validate(doc, version, strict=True)
                report.ok(area, f"{rel} {name} valid against Kubernetes {used} (strict schema)")
            except kv.ValidationError as e:
                where = ".".join(str(p) for p in e.path) or "(top)"
                report.fail(area, f"{rel} {name}: {where}: {e.message}")
            except kv.SchemaNotFoundError as e:
                report.fail(area, f"{rel} {name}: {e.message}")
            except kv.VersionNotSupportedError as e:
                report.fail(area, f"{rel}: {e.message}")
                return info
            for p, key, value in walk(doc):
                if key in K8S_ENUMS and isinstance(value, str) and value not in K8S_ENUMS[key]:
                    report.fail(area, f"{rel} {name}: {p}.{key} = {value!r} is not one of {sorted(K8S_ENUMS[key])}")
                if key in K8S_LIST_ENUMS and isinstance(value, list):
                    for v in value:
                        if v not in K8S_LIST_ENUMS[key]:
                            report.fail(area, f"{rel} {name}: {p}.{key} has {v!r}")
                if key == "seccompProfile" and isinstance(value, dict):
                    if value.get("type") not in {"RuntimeDefault", "Localhost", "Unconfined"}:
                        report.fail(area, f"{rel} {name}: {p}.seccompProfile.type = {value.get('type')!r}")
            resources.setdefault(doc["kind"], []).append((path.name, doc))

    check_kustomization(root, kdir, kustomization, resources, report)
    info.update(check_k8s_semantics(root, resources, report))
    return info


KUSTOMIZATION_KEYS = {
    "apiVersion", "kind", "metadata", "resources", "images", "labels", "commonLabels",
    "commonAnnotations", "namespace", "namePrefix", "nameSuffix", "configMapGenerator",
    "secretGenerator", "generatorOptions", "patches", "replicas", "components",
}


def check_kustomization(root: Path, kdir: Path, k: dict | None, resources: dict, report: Report) -> None:
    area = "kubernetes"
    if k is None:
        report.fail(area, "deploy/kubernetes/kustomization.yaml is missing")
        return
    unknown = set(k) - KUSTOMIZATION_KEYS
    report.check(not unknown, area, f"kustomization.yaml keys known{'' if not unknown else ': unknown ' + ', '.join(sorted(unknown))}")
    report.check(k.get("apiVersion") == "kustomize.config.k8s.io/v1beta1" and k.get("kind") == "Kustomization",
                 area, "kustomization.yaml is a kustomize.config.k8s.io/v1beta1 Kustomization")
    listed = list(k.get("resources") or [])
    expected = sorted(p.name for p in kdir.iterdir()
                      if p.suffix in (".yaml", ".yml") and p.name not in ("kustomization.yaml", "secret.example.yaml"))
    missing = [f for f in listed if not (kdir / f).exists()]
    report.check(not missing, area, f"kustomization resources exist{'' if not missing else ': missing ' + ', '.join(missing)}")
    report.check(sorted(listed) == expected, area,
                 f"kustomization lists every manifest (listed {sorted(listed)}, present {expected})")
    report.check("secret.example.yaml" not in listed, area,
                 "kustomization does not apply secret.example.yaml (placeholder values)")
    images = {c.get("image") for kind in ("Deployment", "Job") for _, d in resources.get(kind, [])
              for c in dig(d, "spec", "template", "spec", "containers", default=[])}
    for img in k.get("images") or []:
        report.check(img.get("name") in images, area, f"kustomization image {img.get('name')!r} is used by a container")
    if not k.get("images"):
        report.fail(area, "kustomization.yaml sets no `images:` (the manifests use the bare name vneid-gateway)")


def container_env(container: dict) -> dict[str, dict]:
    return {e["name"]: e for e in container.get("env") or [] if isinstance(e, dict) and "name" in e}


def check_k8s_semantics(root: Path, res: dict[str, list[tuple[str, dict]]], report: Report) -> dict[str, Any]:
    area = "kubernetes"
    info: dict[str, Any] = {}

    def one(kind: str) -> tuple[str, dict] | None:
        items = res.get(kind, [])
        if len(items) != 1:
            report.fail(area, f"expected exactly one {kind}, found {len(items)}")
            return None
        return items[0]

    dep = one("Deployment")
    job = one("Job")
    svc = one("Service")
    hpa = one("HorizontalPodAutoscaler")
    pdb = one("PodDisruptionBudget")
    cm = one("ConfigMap")
    sec = one("Secret")
    if not (dep and cm):
        return info
    d = dep[1]
    spec = d.get("spec", {})
    pod = dig(spec, "template", "spec", default={})
    pod_labels = dig(spec, "template", "metadata", "labels", default={})
    containers = pod.get("containers") or []
    c = containers[0] if containers else {}

    # --- ConfigMap: the production gateway.toml
    cm_doc = cm[1]
    toml_text = dig(cm_doc, "data", "gateway.toml")
    cfg: dict[str, Any] = {}
    if not isinstance(toml_text, str):
        report.fail(area, "ConfigMap has no data.gateway.toml")
    else:
        try:
            cfg = tomllib.loads(toml_text)
            report.ok(area, "ConfigMap gateway.toml is valid TOML")
        except tomllib.TOMLDecodeError as e:
            report.fail(area, f"ConfigMap gateway.toml: {e}")
    info["configmap_toml"] = toml_text
    public_url = dig(cfg, "server", "public_url", default="")
    report.check(isinstance(public_url, str) and public_url.startswith("https://"), area,
                 f"ConfigMap server.public_url is https ({public_url!r})")
    bind = dig(cfg, "server", "bind", default="")
    report.check(isinstance(bind, str) and bind.startswith("0.0.0.0:"), area, f"ConfigMap server.bind listens on all interfaces ({bind!r})")
    report.check(str(dig(cfg, "database", "url", default="")).startswith(("postgres://", "postgresql://")), area,
                 "ConfigMap database.url is Postgres (a shared database; the real URL comes from the Secret)")
    report.check(str(dig(cfg, "ephemeral", "url", default="")).startswith(("redis://", "rediss://", "redis+")), area,
                 "ConfigMap ephemeral.url is Redis (the real URL comes from the Secret)")
    leaked = [p + "." + k for p, k, v in walk(cfg) if k in ("client_secret", "master_key") and v]
    report.check(not leaked, area, f"ConfigMap holds no secret{'' if not leaked else ': ' + ', '.join(leaked)}")
    report.check(not dig(cfg, "simulator", "enabled", default=False) and not dig(cfg, "demo", "enabled", default=False),
                 area, "ConfigMap disables the simulator and the demo portal")
    prepublish = parse_duration(dig(cfg, "tokens", "key_prepublish", default="10m"))
    max_age = parse_duration(dig(cfg, "tokens", "jwks_max_age", default="5m"))
    reload_every = parse_duration(dig(cfg, "tokens", "key_reload_interval", default="1m"))
    report.check(None not in (prepublish, max_age, reload_every) and prepublish > max_age + reload_every, area,
                 f"tokens.key_prepublish {prepublish} s > jwks_max_age {max_age} s + key_reload_interval {reload_every} s")
    shutdown = parse_duration(dig(cfg, "server", "shutdown_timeout", default="30s"))
    if shutdown is None:
        report.fail(area, "ConfigMap server.shutdown_timeout is not a duration")
        shutdown = 30.0

    # --- Deployment
    report.check(spec.get("replicas", 1) >= 3, area, f"Deployment replicas >= 3 ({spec.get('replicas')})")
    ru = dig(spec, "strategy", "rollingUpdate", default={})
    report.check(dig(spec, "strategy", "type") == "RollingUpdate" and ru.get("maxUnavailable") in (0, "0", "0%"),
                 area, "Deployment RollingUpdate with maxUnavailable 0")
    sel = dig(spec, "selector", "matchLabels", default={})
    report.check(labels_match(sel, pod_labels), area, "Deployment selector matches its pod template labels")
    report.check(len(containers) == 1, area, "Deployment has one container")
    args = c.get("args") or []
    report.check(args[:1] == ["serve"] and "--config" in args, area, f"Deployment runs `gateway serve --config …` ({args})")
    config_path = args[args.index("--config") + 1] if "--config" in args and args.index("--config") + 1 < len(args) else ""
    port_names = {p.get("name"): p.get("containerPort") for p in c.get("ports") or []}
    bind_port = int(bind.rsplit(":", 1)[1]) if isinstance(bind, str) and ":" in bind and bind.rsplit(":", 1)[1].isdigit() else None
    report.check(port_names.get("http") == bind_port == 8080, area,
                 f"container port http = server.bind port = 8080 ({port_names.get('http')}, {bind_port})")
    # server.management_bind moves /readyz and /metrics to a port of their own.
    mgmt = dig(cfg, "server", "management_bind", default=None)
    mgmt_port = int(mgmt.rsplit(":", 1)[1]) if isinstance(mgmt, str) and mgmt.rsplit(":", 1)[-1].isdigit() else None
    if mgmt is not None:
        report.check(mgmt_port is not None and port_names.get("management") == mgmt_port, area,
                     f"container port management = server.management_bind port ({port_names.get('management')}, {mgmt})")
        annotations = dig(spec, "template", "metadata", "annotations", default={}) or {}
        scrape_port = annotations.get("prometheus.io/port")
        report.check(scrape_port is None or str(scrape_port) == str(mgmt_port), area,
                     f"prometheus.io/port is the management port ({scrape_port})")
    info["management_port"] = mgmt_port
    for probe, path in (("readinessProbe", "/readyz"), ("livenessProbe", "/healthz"), ("startupProbe", None)):
        p = c.get(probe) or {}
        got = dig(p, "httpGet", "path")
        ports = ("management", mgmt_port) if probe == "readinessProbe" and mgmt is not None else ("http", 8080)
        ok = bool(p) and (path is None or got == path) and dig(p, "httpGet", "port") in ports
        report.check(ok, area, f"Deployment {probe} on {got} port {dig(p, 'httpGet', 'port')}")
    pre = dig(c, "lifecycle", "preStop", default={})
    sleep = 0.0
    if "exec" in pre:
        cmd = dig(pre, "exec", "command", default=[])
        if len(cmd) == 2 and cmd[0].endswith("sleep") and str(cmd[1]).isdigit():
            sleep = float(cmd[1])
    elif "sleep" in pre:
        sleep = float(dig(pre, "sleep", "seconds", default=0))
    report.check(sleep > 0, area, f"Deployment preStop sleeps ({sleep:g} s) so endpoints drain before SIGTERM")
    grace = pod.get("terminationGracePeriodSeconds", 30)
    report.check(grace > shutdown + sleep, area,
                 f"terminationGracePeriodSeconds {grace} > preStop {sleep:g} s + server.shutdown_timeout {shutdown:g} s")
    req = dig(c, "resources", "requests", default={})
    lim = dig(c, "resources", "limits", default={})
    for r in ("cpu", "memory"):
        rq, lm = quantity(req.get(r)), quantity(lim.get(r))
        report.check(rq is not None and lm is not None and rq <= lm, area,
                     f"Deployment {r} request {req.get(r)} <= limit {lim.get(r)}")
    mem_limit = quantity(lim.get("memory")) or 0
    report.check(64 * 2**20 <= mem_limit <= 2 * 2**30, area, f"memory limit sized for a small Rust service ({lim.get('memory')})")
    psc = pod.get("securityContext") or {}
    csc = c.get("securityContext") or {}
    report.check(bool(psc.get("runAsNonRoot") or csc.get("runAsNonRoot")), area, "runAsNonRoot")
    uid = csc.get("runAsUser", psc.get("runAsUser"))
    report.check(isinstance(uid, int) and uid > 0, area,
                 f"numeric non-zero runAsUser ({uid}): the image's USER is a name, which runAsNonRoot cannot verify")
    report.check(csc.get("readOnlyRootFilesystem") is True, area, "readOnlyRootFilesystem")
    report.check(csc.get("allowPrivilegeEscalation") is False, area, "allowPrivilegeEscalation false")
    report.check(dig(csc, "capabilities", "drop") == ["ALL"], area, "capabilities drop ALL")
    report.check(dig(psc, "seccompProfile", "type") == "RuntimeDefault" or dig(csc, "seccompProfile", "type") == "RuntimeDefault",
                 area, "seccompProfile RuntimeDefault")
    report.check(pod.get("automountServiceAccountToken") is False, area, "no service account token mounted")

    # Secrets through env, config through the ConfigMap
    env = container_env(c)
    gateway_env = {k: v for k, v in env.items() if k.startswith("GATEWAY__")}
    secretish = re.compile(r"(SECRET|PASSWORD|MASTER_KEY|__URL)$")
    for name, e in gateway_env.items():
        if secretish.search(name):
            ref = dig(e, "valueFrom", "secretKeyRef")
            report.check(bool(ref) and "value" not in e, area, f"{name} comes from a Secret")
    for needed in ("GATEWAY__DATABASE__URL", "GATEWAY__EPHEMERAL__URL", "GATEWAY__KEYS__MASTER_KEY"):
        report.check(needed in gateway_env, area, f"Deployment sets {needed}")
    upstreams = cfg.get("upstreams") or []
    clients = cfg.get("clients") or []
    for i, u in enumerate(upstreams):
        report.check(f"GATEWAY__UPSTREAMS__{i}__CLIENT_SECRET" in gateway_env, area,
                     f"upstream {u.get('id')!r} gets its client secret (GATEWAY__UPSTREAMS__{i}__CLIENT_SECRET)")
    for i, cl in enumerate(clients):
        if cl.get("token_endpoint_auth_method", "client_secret_basic") != "none":
            report.check(f"GATEWAY__CLIENTS__{i}__CLIENT_SECRET" in gateway_env, area,
                         f"client {cl.get('client_id')!r} gets its secret (GATEWAY__CLIENTS__{i}__CLIENT_SECRET)")
    for name in gateway_env:
        m = re.match(r"GATEWAY__(UPSTREAMS|CLIENTS)__(\d+)__", name)
        if m:
            n = len(upstreams if m.group(1) == "UPSTREAMS" else clients)
            report.check(int(m.group(2)) < n, area, f"{name} indexes an existing [[{m.group(1).lower()}]] entry ({n})")
    info["deployment_env"] = sorted(gateway_env)
    volumes = {v.get("name"): v for v in pod.get("volumes") or []}
    mounts = {m.get("mountPath"): m for m in c.get("volumeMounts") or []}
    cm_name = dig(cm_doc, "metadata", "name")
    cfg_dir, _, cfg_file = config_path.rpartition("/")
    mount = mounts.get(cfg_dir)
    vol = volumes.get(mount.get("name")) if mount else None
    report.check(bool(vol) and dig(vol, "configMap", "name") == cm_name
                 and any(i.get("path") == cfg_file and i.get("key") == "gateway.toml"
                         for i in dig(vol, "configMap", "items", default=[{"key": cfg_file, "path": cfg_file}])),
                 area, f"--config {config_path} is gateway.toml of ConfigMap {cm_name}")
    tmp = mounts.get("/tmp")
    report.check(bool(tmp) and "emptyDir" in volumes.get(tmp.get("name"), {}), area, "/tmp is a writable emptyDir")

    # Secret refs resolve against the example Secret
    if sec:
        s = sec[1]
        keys = set((s.get("stringData") or {}).keys()) | set((s.get("data") or {}).keys())
        sname = dig(s, "metadata", "name")
        text = (root / "deploy" / "kubernetes" / sec[0]).read_text(encoding="utf-8")
        report.check(sec[0] == "secret.example.yaml" and "TEMPLATE" in text.split("apiVersion")[0], area,
                     "the Secret is only a template (secret.example.yaml, marked TEMPLATE)")
        placeholders = [k for k, v in (s.get("stringData") or {}).items() if "CHANGE-ME" not in str(v)]
        report.check(not placeholders, area,
                     f"every value of the example Secret is a CHANGE-ME placeholder{'' if not placeholders else ': not ' + ', '.join(placeholders)}")
        for kind in ("Deployment", "Job"):
            for fname, doc in res.get(kind, []):
                for cont in dig(doc, "spec", "template", "spec", "containers", default=[]):
                    for name, e in container_env(cont).items():
                        ref = dig(e, "valueFrom", "secretKeyRef")
                        if ref:
                            report.check(ref.get("name") == sname and ref.get("key") in keys, area,
                                         f"{fname} {name} -> Secret {ref.get('name')}/{ref.get('key')} exists in {sec[0]}")

    # --- Job: migrate with the same image, config and variables
    if job:
        jd = job[1]
        jpod = dig(jd, "spec", "template", "spec", default={})
        jc = (jpod.get("containers") or [{}])[0]
        report.check((jc.get("args") or [])[:1] == ["migrate"] and (jc.get("args") or [])[1:] == args[1:], area,
                     f"Job runs `gateway migrate` with the Deployment's --config ({jc.get('args')})")
        report.check(jc.get("image") == c.get("image"), area, "Job uses the Deployment's image")
        report.check(sorted(k for k in container_env(jc) if k.startswith("GATEWAY__")) == sorted(gateway_env), area,
                     "Job gets the same GATEWAY__ variables as the Deployment (the whole config is validated)")
        report.check(jpod.get("restartPolicy") in ("Never", "OnFailure"), area, "Job restartPolicy Never/OnFailure")
        jl = dig(jd, "spec", "template", "metadata", "labels", default={})
        report.check(not labels_match(sel, jl), area, "the Job's pod is not selected by the Deployment/Service/PDB")
        jsc = jc.get("securityContext") or {}
        report.check(jsc.get("readOnlyRootFilesystem") is True and dig(jsc, "capabilities", "drop") == ["ALL"],
                     area, "Job container hardened like the Deployment's")

    # --- Service, HPA, PDB, NetworkPolicy target the Deployment's pods
    if svc:
        sv = svc[1]
        report.check(labels_match(dig(sv, "spec", "selector"), pod_labels), area, "Service selector matches the pods")
        for p in dig(sv, "spec", "ports", default=[]):
            tp = p.get("targetPort")
            report.check(tp in port_names or tp in port_names.values(), area, f"Service targetPort {tp!r} is a container port")
        report.check(dig(sv, "spec", "sessionAffinity", default="None") == "None", area, "no session affinity (not needed)")
    if hpa:
        h = hpa[1]
        ref = dig(h, "spec", "scaleTargetRef", default={})
        report.check(ref.get("kind") == "Deployment" and ref.get("name") == dig(d, "metadata", "name"), area,
                     "HPA scales the Deployment")
        mn, mx = dig(h, "spec", "minReplicas", default=1), dig(h, "spec", "maxReplicas", default=0)
        report.check(mn >= 2 and mn <= mx, area, f"HPA {mn}..{mx} replicas")
        report.check(any(dig(m, "resource", "name") == "cpu" for m in dig(h, "spec", "metrics", default=[])), area,
                     "HPA scales on CPU")
        report.check(quantity(req.get("cpu")) is not None, area, "HPA has a CPU request to measure utilisation against")
        maxconn = dig(cfg, "database", "max_connections", default=8)
        report.check(mx * maxconn <= 90, area,
                     f"HPA max {mx} replicas x database.max_connections {maxconn} = {mx * maxconn} fits Postgres' default 100")
    if pdb:
        pb = pdb[1]
        report.check(labels_match(dig(pb, "spec", "selector", "matchLabels"), pod_labels), area, "PDB selects the pods")
        pspec = pb.get("spec", {})
        report.check(("minAvailable" in pspec) != ("maxUnavailable" in pspec), area, "PDB sets one of minAvailable/maxUnavailable")
        if "minAvailable" in pspec and isinstance(pspec["minAvailable"], int) and hpa:
            report.check(pspec["minAvailable"] < dig(hpa[1], "spec", "minReplicas", default=1), area,
                         "PDB minAvailable leaves room for a drain")
    for fname, np_doc in res.get("NetworkPolicy", []):
        report.check(labels_match(dig(np_doc, "spec", "podSelector", "matchLabels"), pod_labels), area,
                     f"{fname} selects the gateway pods")
        ingress_ports = {p.get("port") for r in dig(np_doc, "spec", "ingress", default=[]) for p in r.get("ports", [])}
        report.check(not ingress_ports or 8080 in ingress_ports or "http" in ingress_ports, area,
                     f"{fname} lets port 8080 in")
        if info.get("management_port"):
            mp = info["management_port"]
            report.check(not ingress_ports or mp in ingress_ports or "management" in ingress_ports, area,
                         f"{fname} lets the management port {mp} in")
    sa_names = {dig(doc, "metadata", "name") for _, doc in res.get("ServiceAccount", [])}
    if pod.get("serviceAccountName"):
        report.check(pod["serviceAccountName"] in sa_names, area, f"ServiceAccount {pod['serviceAccountName']} is defined")
    info["config_path"] = config_path
    return info


# ----------------------------------------------------------------------------------------------
# Prometheus

SEVERITIES = {"critical", "warning", "info"}


def check_prometheus(root: Path, promtool: str | None, metrics: dict[str, set[str]], report: Report) -> None:
    area = "prometheus"
    pdir = root / "deploy" / "prometheus"
    alerts_path = pdir / "alerts.yml"
    readme = (root / "deploy" / "README.md")
    readme_text = readme.read_text(encoding="utf-8") if readme.exists() else ""
    try:
        alerts = load_yaml(alerts_path)
    except (OSError, yaml.YAMLError, ValueError) as e:
        report.fail(area, f"deploy/prometheus/alerts.yml: {e}")
        alerts = None
    names: list[str] = []
    if alerts is not None:
        groups = alerts.get("groups") if isinstance(alerts, dict) else None
        if not report.check(isinstance(groups, list) and bool(groups), area, "alerts.yml has rule groups"):
            groups = []
        for g in groups:
            gname = g.get("name")
            allowed = {"name", "rules", "interval", "limit"}
            if set(g) - allowed:
                report.fail(area, f"group {gname}: unknown keys {sorted(set(g) - allowed)}")
            for rule in g.get("rules") or []:
                name = rule.get("alert")
                if not name:
                    report.fail(area, f"group {gname}: a rule without `alert` (recording rules belong elsewhere)")
                    continue
                names.append(name)
                problems = []
                allowed_r = {"alert", "expr", "for", "keep_firing_for", "labels", "annotations"}
                if set(rule) - allowed_r:
                    problems.append(f"unknown keys {sorted(set(rule) - allowed_r)}")
                if not isinstance(rule.get("expr"), str) or not rule["expr"].strip():
                    problems.append("no expr")
                if parse_duration(rule.get("for")) in (None, 0.0):
                    problems.append(f"for {rule.get('for')!r} is not a positive duration")
                sev = dig(rule, "labels", "severity")
                if sev not in SEVERITIES:
                    problems.append(f"labels.severity {sev!r} not in {sorted(SEVERITIES)}")
                ann = rule.get("annotations") or {}
                for key in ("summary", "summary_vi", "description"):
                    if not str(ann.get(key, "")).strip():
                        problems.append(f"annotations.{key} missing")
                vi = str(ann.get("summary_vi", ""))
                if vi and not re.search(r"[^\x00-\x7f]", vi):
                    problems.append("annotations.summary_vi has no Vietnamese (no diacritics)")
                if not re.fullmatch(r"[A-Z][A-Za-z0-9]+", name):
                    problems.append("alert name is not CamelCase")
                if f"`{name}`" not in readme_text:
                    problems.append("not explained in deploy/README.md")
                if problems:
                    report.fail(area, f"alert {name}: " + "; ".join(problems))
                else:
                    report.ok(area, f"alert {name}: expr, for {rule['for']}, severity {sev}, summary en+vi, description, documented")
                if isinstance(rule.get("expr"), str):
                    check_promql_names(rule["expr"], metrics, f"{area}: alert {name} expr", report)
                    if 'job="vneid-gateway"' not in rule["expr"]:
                        report.fail(area, f"alert {name}: expr does not select job=\"vneid-gateway\"")
        dups = sorted({n for n in names if names.count(n) > 1})
        report.check(not dups, area, f"alert names unique{'' if not dups else ': ' + ', '.join(dups)}")

    prom_path = pdir / "prometheus.yml"
    try:
        prom = load_yaml(prom_path)
        rule_files = prom.get("rule_files") or []
        report.check("alerts.yml" in [Path(r).name for r in rule_files], area, "prometheus.yml loads alerts.yml")
        jobs = {j.get("job_name"): j for j in prom.get("scrape_configs") or []}
        targets = [t for sc in dig(jobs.get("vneid-gateway"), "static_configs", default=[]) or [] for t in sc.get("targets", [])]
        # The compose trial's gateway.toml decides where /metrics is: its management port, if any.
        compose_cfg = tomllib.loads((root / "deploy" / "compose" / "gateway.toml").read_text(encoding="utf-8"))
        compose_mgmt = dig(compose_cfg, "server", "management_bind", default=None)
        want = "gateway:" + (compose_mgmt.rsplit(":", 1)[1] if isinstance(compose_mgmt, str) else "8080")
        report.check(want in targets, area, f"prometheus.yml scrapes job vneid-gateway at {want} ({targets})")
    except (OSError, yaml.YAMLError, ValueError, AttributeError) as e:
        report.fail(area, f"deploy/prometheus/prometheus.yml: {e}")

    if not promtool:
        report.skip(area, "promtool not available: promtool check rules/config and the rule unit tests not run")
        return
    rc, out = run([promtool, "check", "rules", str(alerts_path)])
    report.check(rc == 0, area, f"promtool check rules alerts.yml{indent(out) if rc else ''}")
    rc, out = run([promtool, "check", "config", str(prom_path)], cwd=pdir)
    report.check(rc == 0, area, f"promtool check config prometheus.yml (with its rule files){indent(out) if rc else ''}")
    tests = root / "deploy" / "check" / "alerts.test.yml"
    if alerts is None or not tests.exists():
        report.fail(area, "alert unit tests not run (deploy/check/alerts.test.yml or alerts.yml missing)")
        return
    with tempfile.TemporaryDirectory(prefix="vneid-alert-tests-") as tmp:
        stripped = json.loads(json.dumps(alerts))
        for g in stripped.get("groups", []):
            for r in g.get("rules", []):
                r.pop("annotations", None)
        (Path(tmp) / "alerts.under-test.yml").write_text(yaml.safe_dump(stripped, allow_unicode=True, sort_keys=False), encoding="utf-8")
        shutil.copy(tests, Path(tmp) / "alerts.test.yml")
        rc, out = run([promtool, "test", "rules", "alerts.test.yml"], cwd=Path(tmp))
        ntests = len((load_yaml(tests) or {}).get("tests", []))
        tested = set(re.findall(r"alertname:\s*(\w+)", tests.read_text(encoding="utf-8")))
        report.check(rc == 0, area, f"promtool test rules: {ntests} alert unit tests pass{indent(out) if rc else ''}")
        untested = sorted(set(names) - tested)
        report.check(not untested, area, f"every alert has a unit test{'' if not untested else ': not ' + ', '.join(untested)}")


# ----------------------------------------------------------------------------------------------
# docker compose

REQUIRED_SERVICES = {"gateway", "migrate", "postgres", "redis", "simulator", "prometheus"}


def resolve_interpolation(value: str, environ: dict[str, str]) -> str:
    def sub(m: re.Match) -> str:
        name, op, default = m.group(1), m.group(2), m.group(3) or ""
        if op in (":-", "-"):
            return environ.get(name) or default
        return environ.get(name, "")
    return re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?-)([^}]*))?\}", sub, value)


def check_compose(root: Path, compose_cmd: list[str] | None, report: Report) -> dict[str, Any]:
    area = "compose"
    path = root / "docker-compose.yml"
    info: dict[str, Any] = {}
    if compose_cmd:
        rc, out = run(compose_cmd + ["-f", str(path), "--project-directory", str(root), "config", "-q"], cwd=root)
        report.check(rc == 0, area, f"`{' '.join(compose_cmd)} config -q` accepts docker-compose.yml{indent(out) if rc else ''}")
    else:
        report.skip(area, "no docker compose / docker-compose: schema validation by the compose tool not run")
    try:
        doc = load_yaml(path)
    except (OSError, yaml.YAMLError, ValueError) as e:
        report.fail(area, f"docker-compose.yml: {e}")
        return info
    services: dict[str, dict] = doc.get("services") or {}
    volumes = set((doc.get("volumes") or {}).keys())
    secrets = doc.get("secrets") or {}
    missing = REQUIRED_SERVICES - set(services)
    report.check(not missing, area, f"services {sorted(REQUIRED_SERVICES)} present{'' if not missing else '; missing ' + ', '.join(sorted(missing))}")
    for name, svc in services.items():
        svc = svc or {}
        deps = svc.get("depends_on") or {}
        dep_items = {d: {} for d in deps} if isinstance(deps, list) else deps
        for dep, spec in dep_items.items():
            if dep not in services:
                report.fail(area, f"{name}: depends_on {dep!r}, which is not a service")
                continue
            cond = (spec or {}).get("condition", "service_started")
            if cond == "service_healthy" and not (services[dep] or {}).get("healthcheck"):
                report.fail(area, f"{name}: waits for {dep} to be healthy, but {dep} has no healthcheck")
            if cond == "service_completed_successfully" and (services[dep] or {}).get("restart") not in (None, "no"):
                report.fail(area, f"{name}: waits for {dep} to complete, but {dep} restarts ({services[dep].get('restart')})")
        nm = svc.get("network_mode", "")
        if isinstance(nm, str) and nm.startswith("service:"):
            target = nm.split(":", 1)[1]
            report.check(target in services, area, f"{name}: network_mode {nm} names a service")
            report.check(target in dep_items, area, f"{name}: depends_on {target}, whose network it joins")
            report.check(not svc.get("ports"), area, f"{name}: publishes no ports of its own (it shares {target}'s network)")
        for v in svc.get("volumes") or []:
            if isinstance(v, str):
                src = v.split(":", 1)[0]
                kind = "bind" if src.startswith((".", "/", "~")) else "volume"
            else:
                src, kind = v.get("source", ""), v.get("type", "volume")
            if kind == "volume" and src:
                report.check(src in volumes, area, f"{name}: volume {src} is declared at top level")
            elif kind == "bind":
                p = (root / src).resolve() if not src.startswith("/") else Path(src)
                report.check(p.exists(), area, f"{name}: bind-mounted {src} exists")
        for s in svc.get("secrets") or []:
            sname = s if isinstance(s, str) else s.get("source")
            report.check(sname in secrets, area, f"{name}: secret {sname} is declared at top level")
        for p in svc.get("ports") or []:
            if isinstance(p, dict):
                ok = p.get("host_ip") == "127.0.0.1"
                shown = json.dumps(p)
            else:
                ok = str(p).startswith("127.0.0.1:")
                shown = str(p)
            report.check(ok, area, f"{name}: port {shown} bound to 127.0.0.1")
    for sname, spec in secrets.items():
        f = (spec or {}).get("file")
        if f:
            p = (root / f).resolve()
            gi = p.parent / ".gitignore"
            ignored = gi.exists() and p.name in gi.read_text(encoding="utf-8").split()
            report.check(ignored, area, f"secret {sname}: {f} is git-ignored ({p.parent.relative_to(root)}/.gitignore)")
            rd = p.parent / "README.md"
            report.check(rd.exists() and f"openssl rand -base64 32 > {Path(f).as_posix().lstrip('./')}" in rd.read_text(encoding="utf-8"),
                         area, f"secret {sname}: the one-liner that makes it is in {p.parent.relative_to(root)}/README.md")
            rc, out = run(["git", "ls-files", "--error-unmatch", str(p)], cwd=root)
            report.check(rc != 0, area, f"secret {sname}: {f} is not committed")

    gw = services.get("gateway") or {}
    mig = services.get("migrate") or {}
    cmd = gw.get("command") or []
    report.check(cmd[:3] == ["serve", "--config", "/etc/vneid/gateway.toml"], area, f"gateway runs serve --config /etc/vneid/gateway.toml ({cmd})")
    report.check((mig.get("command") or [])[:1] == ["migrate"], area, "migrate runs `gateway migrate`")
    report.check(dig(gw, "depends_on", "migrate", "condition") == "service_completed_successfully", area,
                 "gateway waits for migrate to complete successfully")
    for svc_name in ("gateway", "migrate", "simulator"):
        s = services.get(svc_name) or {}
        report.check(s.get("build") in (".", {"context": "."}) or s.get("image") == gw.get("image"), area,
                     f"{svc_name} uses the repository's image (build: .)")
    mounts = [v for v in gw.get("volumes") or [] if isinstance(v, str)]
    cfg_mount = [v for v in mounts if v.split(":")[1:2] == ["/etc/vneid/gateway.toml"]]
    report.check(bool(cfg_mount) and cfg_mount[0].split(":")[0] == "./deploy/compose/gateway.toml", area,
                 "gateway mounts deploy/compose/gateway.toml at /etc/vneid/gateway.toml")
    report.check(str((services.get("postgres") or {}).get("image", "")).startswith(("postgres:16", "postgres:15")), area,
                 f"postgres image {dig(services, 'postgres', 'image')}")
    report.check(str((services.get("redis") or {}).get("image", "")).startswith("redis:7"), area,
                 f"redis image {dig(services, 'redis', 'image')}")
    prom_vols = [v for v in (services.get("prometheus") or {}).get("volumes") or [] if isinstance(v, str)]
    report.check(any(v.startswith("./deploy/prometheus:/etc/prometheus") for v in prom_vols), area,
                 "prometheus mounts deploy/prometheus (prometheus.yml + alerts.yml)")
    sim_cmd = [resolve_interpolation(str(x), {}) for x in (services.get("simulator") or {}).get("command") or []]
    report.check(sim_cmd[:1] == ["simulator"] and "--client" in sim_cmd and "--issuer" in sim_cmd, area,
                 "simulator runs `gateway simulator --issuer … --client …`")
    info["simulator_cmd"] = sim_cmd
    info["gateway_env"] = {k: resolve_interpolation(str(v), {}) for k, v in (gw.get("environment") or {}).items()}
    info["stop_grace_period"] = parse_duration(gw.get("stop_grace_period", "10s"))
    return info


# ----------------------------------------------------------------------------------------------
# the gateway configuration files


def check_gateway_configs(root: Path, gateway_bin: str | None, k8s: dict[str, Any], compose: dict[str, Any],
                          report: Report) -> None:
    area = "config"
    cpath = root / "deploy" / "compose" / "gateway.toml"
    try:
        ccfg = tomllib.loads(cpath.read_text(encoding="utf-8"))
        report.ok(area, "deploy/compose/gateway.toml is valid TOML")
    except (OSError, tomllib.TOMLDecodeError) as e:
        report.fail(area, f"deploy/compose/gateway.toml: {e}")
        ccfg = {}
    report.check(str(dig(ccfg, "database", "url", default="")).startswith("postgres://"), area, "compose config uses Postgres")
    report.check(str(dig(ccfg, "ephemeral", "url", default="")).startswith("redis://"), area, "compose config uses Redis")
    report.check(dig(ccfg, "keys", "master_key_file") == "/run/secrets/master_key", area,
                 "compose config reads the master key from the compose secret")
    shutdown = parse_duration(dig(ccfg, "server", "shutdown_timeout", default="30s")) or 30.0
    grace = compose.get("stop_grace_period")
    report.check(grace is not None and grace > shutdown, area,
                 f"compose stop_grace_period {grace} s > server.shutdown_timeout {shutdown:g} s")
    # The upstream's issuer is the simulator's --issuer, and the callback is public_url's.
    sim = compose.get("simulator_cmd") or []
    issuer = sim[sim.index("--issuer") + 1] if "--issuer" in sim and sim.index("--issuer") + 1 < len(sim) else None
    up = (ccfg.get("upstreams") or [{}])[0]
    report.check(issuer is not None and up.get("issuer") == issuer, area,
                 f"compose upstream issuer {up.get('issuer')!r} = simulator --issuer {issuer!r}")
    client = sim[sim.index("--client") + 1] if "--client" in sim and sim.index("--client") + 1 < len(sim) else ""
    cid, _, rest = client.partition(":")
    secret, _, redirect = rest.partition(":")
    expected_cb = f"{dig(ccfg, 'server', 'public_url', default='')}/login/{up.get('id')}/callback"
    report.check(cid == up.get("client_id") and redirect == expected_cb, area,
                 f"simulator --client registers {cid!r} with callback {redirect!r} (gateway expects {expected_cb!r})")
    report.check(compose.get("gateway_env", {}).get("GATEWAY__UPSTREAMS__0__CLIENT_SECRET") == secret, area,
                 "gateway's upstream client secret = the simulator's --client secret")

    if not gateway_bin:
        report.skip(area, "no gateway binary (set GATEWAY_BIN or build it): `gateway check-config` not run")
        return
    base = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    env = dict(base, **compose.get("gateway_env", {}))
    rc, out = run([gateway_bin, "check-config", "--config", str(cpath)], env=env)
    report.check(rc == 0, area, f"gateway check-config deploy/compose/gateway.toml{indent(out) if rc else ': ' + out.splitlines()[-1] if out else ''}")
    toml_text = k8s.get("configmap_toml")
    if not isinstance(toml_text, str):
        return
    env = dict(base)
    for name in k8s.get("deployment_env", []):
        if name.endswith("DATABASE__URL"):
            env[name] = "postgres://vneid:placeholder@postgres.example.invalid:5432/vneid?sslmode=require"
        elif name.endswith("EPHEMERAL__URL"):
            env[name] = "redis://:placeholder@redis.example.invalid:6379/0"
        elif name.endswith("MASTER_KEY"):
            env[name] = base64.b64encode(os.urandom(32)).decode()
        else:
            env[name] = "placeholder-" + base64.urlsafe_b64encode(os.urandom(24)).decode()
    with tempfile.TemporaryDirectory(prefix="vneid-config-") as tmp:
        p = Path(tmp) / "gateway.toml"
        p.write_text(toml_text, encoding="utf-8")
        rc, out = run([gateway_bin, "check-config", "--config", str(p)], env=env)
        report.check(rc == 0, area, "gateway check-config on the ConfigMap's gateway.toml with the Deployment's variables"
                     + (indent(out) if rc else ": " + (out.splitlines()[-1] if out else "")))
        rc, out = run([gateway_bin, "check-config", "--config", str(p)], env=base)
        report.check(rc != 0, area, "… and it fails without the Secret's variables (fail closed)")


# ----------------------------------------------------------------------------------------------
# Grafana

DASHBOARD_NEEDS = {
    "logins by outcome": r"sum by \(outcome\) \(rate\(vneid_logins_total",
    "logins by reason": r"sum by \(reason\) \(rate\(vneid_logins_total",
    "logins by login_idp": r"sum by \(login_idp\) \(rate\(vneid_logins_total",
    "logins by level": r"sum by \(level[,)].*vneid_logins_total",
    "VNeID share": r'vneid_logins_total\{[^}]*login_idp="BCA"',
    "token issuance": r"vneid_tokens_issued_total",
    "upstream latency p50": r"histogram_quantile\(0\.5, .*vneid_upstream_request_duration_seconds_bucket",
    "upstream latency p95": r"histogram_quantile\(0\.95, .*vneid_upstream_request_duration_seconds_bucket",
    "HTTP latency": r"histogram_quantile\(0\.95, .*vneid_http_request_duration_seconds_bucket",
    "HTTP status": r"sum by \(status\) \(rate\(vneid_http_request_duration_seconds_count",
    "directory staff by state per unit": r"max by \(unit, state\) \(vneid_directory_staff\{",
    "directory linked share": r'vneid_directory_staff\{[^}]*state="linked"[^}]*\}\) / ',
    "directory accounts": r"max by \(unit\) \(vneid_directory_accounts",
    "linking by outcome": r"sum by \(outcome\) \(rate\(vneid_account_links_total",
}


def dashboard_exprs(dash: dict) -> list[tuple[str, str]]:
    out = []

    def visit(panels: list[dict]) -> None:
        for p in panels:
            for t in p.get("targets") or []:
                if "expr" in t:
                    out.append((f"panel {p.get('id')} {p.get('title')!r} {t.get('refId')}", t["expr"]))
            visit(p.get("panels") or [])
    visit(dash.get("panels") or [])
    return out


def check_grafana(root: Path, promtool: str | None, metrics: dict[str, set[str]], report: Report) -> None:
    area = "grafana"
    path = root / "deploy" / "grafana" / "vneid-gateway.json"
    try:
        dash = json.loads(path.read_text(encoding="utf-8"), object_pairs_hook=_no_duplicate_pairs)
        report.ok(area, "deploy/grafana/vneid-gateway.json is valid JSON")
    except (OSError, ValueError) as e:
        report.fail(area, f"deploy/grafana/vneid-gateway.json: {e}")
        return
    for key in ("uid", "title", "schemaVersion", "panels", "templating"):
        report.check(key in dash, area, f"dashboard has {key}")
    variables = {v.get("name") for v in dig(dash, "templating", "list", default=[])}
    builtins = {"__rate_interval", "__interval", "__range", "__interval_ms", "__range_s"}
    before = len(report.failures)
    ids: list[int] = []
    boxes: list[tuple[int, int, int, int, str]] = []
    npanels = 0
    for p in dash.get("panels") or []:
        ids.append(p.get("id"))
        g = p.get("gridPos") or {}
        title = p.get("title")
        if not all(isinstance(g.get(k), int) for k in ("x", "y", "w", "h")) or g["x"] + g["w"] > 24 or g["x"] < 0:
            report.fail(area, f"panel {title!r}: bad gridPos {g}")
            continue
        for bx in boxes:
            if g["x"] < bx[0] + bx[2] and bx[0] < g["x"] + g["w"] and g["y"] < bx[1] + bx[3] and bx[1] < g["y"] + g["h"]:
                report.fail(area, f"panel {title!r} overlaps panel {bx[4]!r}")
        boxes.append((g["x"], g["y"], g["w"], g["h"], title))
        if p.get("type") == "row":
            continue
        npanels += 1
        targets = p.get("targets") or []
        refs = [t.get("refId") for t in targets]
        problems = []
        if not p.get("datasource"):
            problems.append("no datasource")
        if not targets or any(not str(t.get("expr", "")).strip() for t in targets):
            problems.append("a target without expr")
        if len(set(refs)) != len(refs):
            problems.append("duplicate refId")
        for t in targets:
            for var in re.findall(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)", t.get("expr", "")):
                if var not in variables and var not in builtins:
                    problems.append(f"undefined variable ${var}")
            ds_uid = dig(t, "datasource", "uid", default="")
            m = re.fullmatch(r"\$\{?([A-Za-z_]+)\}?", str(ds_uid))
            if m and m.group(1) not in variables:
                problems.append(f"datasource variable {ds_uid} undefined")
        if problems:
            report.fail(area, f"panel {title!r}: " + "; ".join(sorted(set(problems))))
    report.check(len(set(ids)) == len(ids), area, f"panel ids unique ({len(ids)} panels incl. rows)")
    report.check(len(report.failures) == before, area,
                 f"{npanels} panels: gridPos in bounds without overlap, datasource, targets with expr, unique refIds, defined variables")
    exprs = dashboard_exprs(dash)
    for where, expr in exprs:
        check_promql_names(expr, metrics, f"{area}: {where}", report)
    joined = "\n".join(e for _, e in exprs)
    for what, pattern in DASHBOARD_NEEDS.items():
        report.check(re.search(pattern, joined) is not None, area, f"dashboard shows {what}")
    if not promtool:
        report.skip(area, "promtool not available: dashboard queries not parsed")
        return
    # Every query through Prometheus' own parser: as recording rules of a throw-away file.
    subst = {"$__rate_interval": "5m", "$__interval": "1m", "$__range": "1h", "${upstream}": ".*", "$upstream": ".*",
             "${datasource}": "x", "$datasource": "x"}
    rules = []
    for i, (where, expr) in enumerate(exprs):
        e = expr
        for k, v in subst.items():
            e = e.replace(k, v)
        rules.append({"record": f"dashboard:query:{i}", "expr": e})
    with tempfile.TemporaryDirectory(prefix="vneid-dashboard-") as tmp:
        f = Path(tmp) / "dashboard-queries.yml"
        f.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}), encoding="utf-8")
        rc, out = run([promtool, "check", "rules", str(f)])
        report.check(rc == 0, area, f"promtool parses all {len(rules)} dashboard queries{indent(out) if rc else ''}")


# ----------------------------------------------------------------------------------------------


def guarded(area: str, report: Report, fn: Callable[..., Any], *a: Any) -> Any:
    """A check that crashes on a malformed file reports a failure instead of a traceback."""
    try:
        return fn(*a)
    except Exception as e:  # noqa: BLE001 - any crash is a finding
        report.fail(area, f"the {area} checks stopped on a malformed file: {type(e).__name__}: {e}")
        return {}


def run_all(root: Path, args: argparse.Namespace, report: Report, only: set[str] | None = None) -> None:
    def want(area: str) -> bool:
        return only is None or area in only
    metrics = gateway_metrics(root, report) if (want("prometheus") or want("grafana")) else FALLBACK_METRICS
    k8s: dict[str, Any] = {}
    compose: dict[str, Any] = {}
    if want("kubernetes") or want("config"):
        if not report.quiet:
            print(f"\n[kubernetes] deploy/kubernetes/*.yaml, Kubernetes {args.k8s_version}")
        k8s = guarded("kubernetes", report, check_kubernetes, root, args.k8s_version, report)
    if want("prometheus"):
        if not report.quiet:
            print("\n[prometheus] deploy/prometheus, deploy/check/alerts.test.yml")
        guarded("prometheus", report, check_prometheus, root, args.promtool, metrics, report)
    if want("compose") or want("config"):
        if not report.quiet:
            print("\n[compose] docker-compose.yml")
        compose = guarded("compose", report, check_compose, root, args.compose_cmd, report)
    if want("grafana"):
        if not report.quiet:
            print("\n[grafana] deploy/grafana/vneid-gateway.json")
        guarded("grafana", report, check_grafana, root, args.promtool, metrics, report)
    if want("config"):
        if not report.quiet:
            print("\n[config] deploy/compose/gateway.toml, ConfigMap gateway.toml")
        guarded("config", report, check_gateway_configs, root, args.gateway_bin, k8s, compose, report)


# Each mutation breaks one thing in a copy; the named area must then fail with a message matching
# `expect`. `needs` names a tool without which the mutation cannot be caught (then it is skipped).
class Mutation:
    def __init__(self, what: str, rel: str, area: str, old: str, new: str, expect: str, needs: str = "") -> None:
        self.what, self.rel, self.area, self.old, self.new = what, rel, area, old, new
        self.expect, self.needs = expect, needs


MUTATIONS: list[Mutation] = [
    Mutation("typo'd container field", "deploy/kubernetes/deployment.yaml", "kubernetes",
             "imagePullPolicy: IfNotPresent", "imagePulPolicy: IfNotPresent", r"'imagePulPolicy' was unexpected"),
    Mutation("string where an integer belongs", "deploy/kubernetes/hpa.yaml", "kubernetes",
             "maxReplicas: 10", 'maxReplicas: "10"', r"maxReplicas: '10' is not of type"),
    Mutation("duplicate YAML key", "deploy/kubernetes/service.yaml", "kubernetes",
             "  type: ClusterIP\n", "  type: ClusterIP\n  type: NodePort\n", r"duplicate key 'type'"),
    Mutation("Service selecting no pod", "deploy/kubernetes/service.yaml", "kubernetes",
             "app.kubernetes.io/component: server\n  ports", "app.kubernetes.io/component: web\n  ports",
             r"Service selector matches the pods"),
    Mutation("grace period shorter than preStop + shutdown", "deploy/kubernetes/deployment.yaml", "kubernetes",
             "terminationGracePeriodSeconds: 45", "terminationGracePeriodSeconds: 30", r"terminationGracePeriodSeconds 30 >"),
    Mutation("Secret key the Secret does not have", "deploy/kubernetes/deployment.yaml", "kubernetes",
             "key: master-key", "key: master-key-typo", r"master-key-typo exists"),
    Mutation("client secret in the ConfigMap", "deploy/kubernetes/configmap.yaml", "kubernetes",
             '    client_id = "dichvucong-tinh"\n',
             '    client_id = "dichvucong-tinh"\n    client_secret = "oops-a-real-secret-in-a-configmap"\n',
             r"ConfigMap holds no secret"),
    Mutation("enum value the schema lets through", "deploy/kubernetes/pdb.yaml", "kubernetes",
             "unhealthyPodEvictionPolicy: AlwaysAllow", "unhealthyPodEvictionPolicy: Always",
             r"unhealthyPodEvictionPolicy = 'Always'"),
    Mutation("alert without severity", "deploy/prometheus/alerts.yml", "prometheus",
             "          severity: warning\n", "          severity_: warning\n", r"labels.severity None"),
    Mutation("PromQL syntax error", "deploy/prometheus/alerts.yml", "prometheus",
             'sum(up{job="vneid-gateway"}) == 0', 'sum(up{job="vneid-gateway"} == 0', r"promtool check rules", "promtool"),
    Mutation("misspelt metric", "deploy/prometheus/alerts.yml", "prometheus",
             'vneid_logins_total{job="vneid-gateway",outcome="error"', 'vneid_login_total{job="vneid-gateway",outcome="error"',
             r"unknown metric vneid_login_total"),
    Mutation("alert threshold its unit test pins", "deploy/prometheus/alerts.yml", "prometheus",
             ') > 0.05\n          and\n          sum by (upstream) (increase(vneid_logins_total{job="vneid-gateway"}[10m]))',
             ') > 0.5\n          and\n          sum by (upstream) (increase(vneid_logins_total{job="vneid-gateway"}[10m]))',
             r"promtool test rules", "promtool"),
    Mutation("depends_on an unknown service", "docker-compose.yml", "compose",
             "      migrate:\n        condition: service_completed_successfully",
             "      migrat:\n        condition: service_completed_successfully", r"depends_on 'migrat'"),
    Mutation("port published on all interfaces", "docker-compose.yml", "compose",
             '"127.0.0.1:9090:9090"', '"9090:9090"', r"port 9090:9090 bound to 127.0.0.1"),
    Mutation("undeclared volume", "docker-compose.yml", "compose",
             "  prometheus-data:\n", "", r"volume prometheus-data is declared"),
    Mutation("typo'd compose option", "docker-compose.yml", "compose",
             "    stop_grace_period: 40s", "    stop_grace_periods: 40s", r"config -q. accepts", "compose"),
    Mutation("unparsable dashboard JSON", "deploy/grafana/vneid-gateway.json", "grafana",
             '"schemaVersion": 39,', '"schemaVersion": 39,,', r"vneid-gateway.json: Expecting"),
    Mutation("directory gauge summed over replicas", "deploy/grafana/vneid-gateway.json", "grafana",
             "sum(max by (unit) (vneid_directory_accounts", "sum(sum by (unit) (vneid_directory_accounts",
             r"vneid_directory_accounts is the same on every replica"),
    Mutation("link outcome the gateway never sets", "deploy/prometheus/alerts.yml", "prometheus",
             'vneid_account_links_total{job="vneid-gateway",outcome="conflict"}',
             'vneid_account_links_total{job="vneid-gateway",outcome="conflicts"}',
             r'outcome="conflicts" is not one of'),
    Mutation("dashboard query with a PromQL error", "deploy/grafana/vneid-gateway.json", "grafana",
             "sum by (grant) (rate(", "sum by (grant) (rate((", r"promtool parses all", "promtool"),
    Mutation("simulator secret out of step with the gateway", "docker-compose.yml", "config",
             '"gateway:${SIMULATOR_CLIENT_SECRET:-trial-simulator-secret-not-for-production}:',
             '"gateway:${SIMULATOR_CLIENT_SECRET:-another-secret}:', r"client secret = the simulator"),
]


def self_test(root: Path, args: argparse.Namespace) -> int:
    print(f"\n[self-test] {len(MUTATIONS)} deliberately broken copies (in a temporary directory) must each fail")
    failures = 0
    tools = {"promtool": args.promtool, "compose": args.compose_cmd}
    for m in MUTATIONS:
        if m.needs and not tools.get(m.needs):
            print(f"  SKIP  self-test: {m.what}: needs {m.needs}")
            continue
        with tempfile.TemporaryDirectory(prefix="vneid-deploy-selftest-") as tmp:
            copy = Path(tmp)
            for item in ("deploy", "docker-compose.yml", "Dockerfile", ".dockerignore", "gateway/src/metrics.rs"):
                src = root / item
                if src.is_dir():
                    shutil.copytree(src, copy / item, ignore=shutil.ignore_patterns("master.key", "__pycache__"))
                elif src.exists():
                    (copy / item).parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy(src, copy / item)
            target = copy / m.rel
            text = target.read_text(encoding="utf-8")
            if m.old not in text:
                print(f"  FAIL  self-test: {m.what}: {m.old!r} is no longer in {m.rel}; update the mutation")
                failures += 1
                continue
            target.write_text(text.replace(m.old, m.new, 1), encoding="utf-8")
            rep = Report(quiet=True)
            margs = argparse.Namespace(**vars(args))
            if m.needs != "compose":
                margs.compose_cmd = None   # docker-compose takes seconds to start; only where needed
            run_all(copy, margs, rep, only={m.area})
            hit = next((f for f in rep.failures if re.search(m.expect, f)), None)
            if hit:
                print(f"  ok    self-test: {m.what} ({m.rel}) caught: {hit.splitlines()[0][:140]}")
            else:
                print(f"  FAIL  self-test: {m.what} ({m.rel}) was NOT caught as /{m.expect}/"
                      f" (failures: {[f.splitlines()[0][:100] for f in rep.failures] or 'none'})")
                failures += 1
    return failures


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--root", type=Path, default=Path(__file__).resolve().parents[2])
    ap.add_argument("--k8s-version", default="1.31.0")
    ap.add_argument("--promtool")
    ap.add_argument("--compose", dest="compose", help='compose command, e.g. "docker compose" or "docker-compose"')
    ap.add_argument("--gateway-bin")
    ap.add_argument("--self-test", action="store_true")
    ap.add_argument("--strict", action="store_true", help="a skipped check is a failure")
    args = ap.parse_args()
    args.compose_cmd = args.compose.split() if args.compose else None
    root = args.root.resolve()
    started = time.monotonic()
    report = Report()
    run_all(root, args, report)
    st_failures = self_test(root, args) if args.self_test else 0
    took = time.monotonic() - started
    print(f"\nchecks took {took:.1f} s")
    print(f"{report.oks} passed, {len(report.failures) + st_failures} failed, {len(report.skips)} skipped")
    if report.failures or st_failures:
        print("\nFailures:")
        for f in report.failures:
            print(f"  - {f.splitlines()[0]}")
        if st_failures:
            print(f"  - self-test: {st_failures} broken copies were not caught")
        return 1
    if args.strict and report.skips:
        print("\nstrict: skipped checks count as failures:")
        for s in report.skips:
            print(f"  - {s}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
