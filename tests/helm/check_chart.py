#!/usr/bin/env python3
"""Renders helm/tongban with the real helm and asserts on the manifests.

Run by helm_chart_test.sh (which finds or installs helm); see that script for the knobs.
Every assertion prints one line saying what it checked; a failed one also prints what was
rendered. Exit status 0 only when every assertion held.
"""
import argparse
import base64
import copy
import os
import json
import re
import shutil
import subprocess
import sys
import tempfile

# Placeholder PEM text for rendering the chart's certs.create path: not a key
# (base64 of "key-<identity>"); the label is assembled so secret scanners do
# not mistake this file for one holding a private key.
FAKE_KEY_LABEL = "EC " + "PRIVATE" + " KEY"

import yaml

# libyaml's loader when PyYAML has it (Debian's python3-yaml does): 10x faster.
YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

RELEASE = "tb"
NAMESPACE = "tongban"
CI_CODES = ["430000", "310000", "510000"]
TLS_DIR = "/etc/tongban/tls"
EDGE_SVC = "tongban-gateway-public"
EDGE_VALUES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "public-edge-values.yaml")


# ---------------------------------------------------------------------------- reporting
class Caught(Exception):
    """Raised by a fail-fast Checker at its first failure (a mutant needs only one)."""


class Checker:
    def __init__(self, quiet=False, fail_fast=False):
        self.quiet = quiet
        self.fail_fast = fail_fast
        self.failures = []
        self.passed = 0
        self.scope = ""

    def check(self, cond, what, rendered=None):
        label = f"[{self.scope}] {what}" if self.scope else what
        if cond:
            self.passed += 1
            if not self.quiet:
                print(f"ok   - {label}")
        else:
            self.failures.append(label)
            if self.fail_fast:
                raise Caught(label)
            if not self.quiet:
                print(f"FAIL - {label}")
                if rendered is not None:
                    print(indent(show(rendered), "       | "))
        return bool(cond)


def show(obj, max_lines=80):
    text = obj if isinstance(obj, str) else yaml.safe_dump(obj, allow_unicode=True, sort_keys=False)
    lines = text.rstrip("\n").split("\n")
    if len(lines) > max_lines:
        lines = lines[:max_lines] + [f"... ({len(lines) - max_lines} more lines)"]
    return "\n".join(lines)


def indent(text, prefix):
    return "\n".join(prefix + line for line in text.split("\n"))


# ---------------------------------------------------------------------------- helm
class Helm:
    def __init__(self, helm, chart):
        self.helm = helm
        self.chart = chart

    def run(self, args):
        p = subprocess.run([self.helm] + args, capture_output=True, text=True)
        return p.returncode, p.stdout, p.stderr

    def template(self, args):
        """(ok, docs, stderr) of `helm template` with extra args."""
        rc, out, err = self.run(["template", RELEASE, self.chart, "--namespace", NAMESPACE] + args)
        if rc != 0:
            return False, [], err
        docs = [d for d in yaml.load_all(out, Loader=YAML_LOADER) if d]
        return True, docs, err


# ---------------------------------------------------------------------------- text format
class TextProto:
    """protoc --encode (validates against the real .proto) then --decode (canonical text)."""

    def __init__(self, protoc, protos):
        self.protoc = protoc
        self.protos = protos
        self._cache = {}

    def parse(self, text, message):
        """(fields, error). fields: dict name -> list of str | dict (nested messages).
        Memoised: the scenarios and the mutants render many identical configs."""
        key = (text, message)
        if key not in self._cache:
            self._cache[key] = self._parse(text, message)
        fields, err = self._cache[key]
        return copy.deepcopy(fields), err

    def _parse(self, text, message):
        cmd = [self.protoc, f"-I{self.protos}", f"--encode=tongban.v1.{message}",
               "tongban/v1/gateway_config.proto"]
        enc = subprocess.run(cmd, input=text.encode(), capture_output=True)
        if enc.returncode != 0:
            return None, enc.stderr.decode(errors="replace")
        cmd[2] = f"--decode=tongban.v1.{message}"
        dec = subprocess.run(cmd, input=enc.stdout, capture_output=True)
        if dec.returncode != 0:
            return None, dec.stderr.decode(errors="replace")
        return parse_canonical(dec.stdout.decode()), None


class K8sSchemas:
    """validate_k8s.js: every object against the Kubernetes OpenAPI schemas (and the
    cert-manager / prometheus-operator CRDs), unknown fields included. Offline."""

    def __init__(self, script, modules):
        self.script = script
        self.modules = modules
        self._cache = {}

    def validate(self, docs):
        """[(kind, name, [errors])] per object, or raises RuntimeError. Each distinct
        object is validated once per run (node and the schemas take ~0.8 s to load)."""
        keys = [json.dumps(d, sort_keys=True) for d in docs]
        todo = sorted({k for k in keys if k not in self._cache})
        if todo:
            p = subprocess.run(["node", self.script, self.modules],
                               input=("[" + ",".join(todo) + "]").encode(), capture_output=True)
            if p.returncode != 0:
                raise RuntimeError(p.stderr.decode(errors="replace"))
            for k, r in zip(todo, json.loads(p.stdout)):
                self._cache[k] = (r["kind"], r["name"], r["errors"])
        return [self._cache[k] for k in keys]


def check_schemas(ck, ctx, docs):
    """Every rendered object validates against the Kubernetes schemas of its apiVersion/kind."""
    k8s = ctx.get("k8s")
    if k8s is None:
        return
    try:
        results = k8s.validate(docs)
    except RuntimeError as e:
        ck.check(False, "validate_k8s.js runs", str(e))
        return
    bad = [f"{kind} {name}: {'; '.join(errors)}" for kind, name, errors in results if errors]
    kinds = sorted({kind for kind, _, _ in results})
    ck.check(not bad, f"all {len(results)} objects validate against the Kubernetes schemas ({', '.join(kinds)}; unknown fields refused)",
             "\n".join(bad[:10]) if bad else None)


def unescape(s):
    out = bytearray()
    i = 0
    b = s.encode()
    while i < len(b):
        c = b[i]
        if c != 0x5C:
            out.append(c)
            i += 1
            continue
        n = chr(b[i + 1])
        if n in "01234567":
            j = i + 1
            while j < len(b) and j < i + 4 and chr(b[j]) in "01234567":
                j += 1
            out.append(int(b[i + 1:j], 8))
            i = j
        elif n == "x":
            j = i + 2
            while j < len(b) and j < i + 4 and chr(b[j]) in "0123456789abcdefABCDEF":
                j += 1
            out.append(int(b[i + 2:j], 16))
            i = j
        else:
            out += {"n": b"\n", "t": b"\t", "r": b"\r", '"': b'"', "'": b"'", "\\": b"\\"}[n]
            i += 2
    return out.decode()


def parse_canonical(text):
    root = {}
    stack = [root]
    for line in text.split("\n"):
        line = line.strip()
        if not line:
            continue
        if line == "}":
            stack.pop()
        elif line.endswith("{"):
            child = {}
            stack[-1].setdefault(line[:-1].strip(), []).append(child)
            stack.append(child)
        else:
            key, value = line.split(":", 1)
            value = value.strip()
            if value.startswith('"'):
                value = unescape(value[1:-1])
            stack[-1].setdefault(key, []).append(value)
    return root


def one(fields, key, default=""):
    values = fields.get(key, [])
    return values[0] if values else default


def merged(base, over):
    """Helm's merge of values: maps merge key by key, anything else (lists too) replaces."""
    out = copy.deepcopy(base)
    for k, v in (over or {}).items():
        out[k] = merged(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else copy.deepcopy(v)
    return out


# ---------------------------------------------------------------------------- k8s helpers
def by_kind(docs, kind):
    return [d for d in docs if d.get("kind") == kind]


def find(docs, kind, name):
    for d in docs:
        if d.get("kind") == kind and d.get("metadata", {}).get("name") == name:
            return d
    return None


def selects(match_labels, labels):
    """A matchLabels selector selects labels (empty selector: everything)."""
    return all(labels.get(k) == v for k, v in (match_labels or {}).items())


def pod_labels(workload):
    return workload["spec"]["template"]["metadata"].get("labels", {})


def container(workload):
    return workload["spec"]["template"]["spec"]["containers"][0]


def volume(workload, name):
    for v in workload["spec"]["template"]["spec"].get("volumes", []):
        if v["name"] == name:
            return v
    return None


def mount(c, name):
    for m in c.get("volumeMounts", []):
        if m["name"] == name:
            return m
    return None


def port_number(c, name_or_number):
    if isinstance(name_or_number, int):
        return name_or_number
    for p in c.get("ports", []):
        if p.get("name") == name_or_number:
            return p["containerPort"]
    return None


def addr_port(address):
    return int(address.rsplit(":", 1)[1]) if ":" in address else None


def parse_registry(path):
    text = open(path, encoding="utf-8").read()
    return [(m.group(1), m.group(2), m.group(3))
            for m in re.finditer(r'\{"(\d{6})",\s*"([^"]+)",\s*"([^"]+)"\}', text)]


def parse_alliances_tsv(path):
    header, out = None, []
    for line in open(path, encoding="utf-8"):
        line = line.rstrip("\n")
        if not line or line.startswith("#"):
            continue
        cols = line.split("\t")
        if header is None:
            header = cols
            continue
        row = dict(zip(header, cols))
        out.append({"alliance_id": row["alliance_id"], "name_zh": row["name_zh"],
                    "name_en": row["name_en"], "members": row["members"].split(",")})
    return out


# ---------------------------------------------------------------------------- the checks
def check_render(ck, tp, docs, codes, cfg, ctx):
    """Assertions on one rendered release. codes: provinces expected, in order.
    cfg: what this scenario set (certs_mode, certs_create, monitoring, probes_mode, ...)."""
    n = len(codes)
    probes_mode = cfg.get("probes_mode", "grpc")
    health_port = cfg.get("health_port", 8081)
    prefix = cfg.get("secret_prefix", "tongban-tls")

    # -- every object well-formed and unique
    keys = [(d.get("apiVersion"), d.get("kind"), d.get("metadata", {}).get("name")) for d in docs]
    ck.check(all(all(k) for k in keys), "every rendered object has apiVersion, kind and metadata.name",
             [k for k in keys if not all(k)])
    dupes = sorted({k for k in keys if keys.count(k) > 1})
    ck.check(not dupes, "no (kind, name) is rendered twice", dupes)
    bad_names = [k for k in keys if k[2] and not re.fullmatch(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?", k[2])]
    ck.check(not bad_names, "every object name is a DNS-1123 label (<= 63 chars)", bad_names)

    # -- per province: StatefulSet, Service, ConfigMap (NodeConfig), certificate
    sts_all = [d for d in by_kind(docs, "StatefulSet")]
    ck.check(sorted(d["metadata"]["name"] for d in sts_all) == sorted(f"tongban-node-{c}" for c in codes),
             f"exactly {n} node StatefulSets, one per province {','.join(codes) if n <= 5 else f'({n})'}",
             [d["metadata"]["name"] for d in sts_all])
    node_svcs = [d for d in by_kind(docs, "Service") if d["metadata"]["name"].startswith("tongban-node-")]
    ck.check(sorted(d["metadata"]["name"] for d in node_svcs) == sorted(f"tongban-node-{c}" for c in codes),
             f"exactly {n} node Services tongban-node-<code>", [d["metadata"]["name"] for d in node_svcs])

    gw_svc = find(docs, "Service", "tongban-gateway")
    gw_dep = find(docs, "Deployment", "tongban-gateway")
    gw_labels = pod_labels(gw_dep) if gw_dep else {}
    node_pod_labels = {c: pod_labels(find(docs, "StatefulSet", f"tongban-node-{c}"))
                       for c in codes if find(docs, "StatefulSet", f"tongban-node-{c}")}
    node_secret_names = {}
    problems = {"sts": [], "svc": [], "cfg": [], "sec": [], "probe": []}
    for code in codes:
        name = f"tongban-node-{code}"
        sts = find(docs, "StatefulSet", name)
        svc = find(docs, "Service", name)
        cm = find(docs, "ConfigMap", name)
        if sts is None or svc is None or cm is None:
            problems["sts"].append((name, "missing StatefulSet, Service or ConfigMap"))
            continue
        spec = sts["spec"]
        labels = pod_labels(sts)
        c = container(sts)
        pod = spec["template"]["spec"]
        errs = []
        if spec.get("replicas") != 1:
            errs.append(f"replicas {spec.get('replicas')} != 1")
        if not selects(spec["selector"]["matchLabels"], labels):
            errs.append("selector does not select its own pod template")
        if labels.get("tongban.io/province") != code:
            errs.append("pod label tongban.io/province missing")
        if c.get("args", [])[:2] != ["--config", "/etc/tongban/node.textproto"]:
            errs.append(f"args {c.get('args')} do not start with --config /etc/tongban/node.textproto")
        cfg_vol = volume(sts, "config")
        cfg_mount = mount(c, "config")
        if not (cfg_vol and cfg_vol.get("configMap", {}).get("name") == name and cfg_mount
                and cfg_mount["mountPath"] == "/etc/tongban/node.textproto"
                and cfg_mount.get("subPath") == "node.textproto"):
            errs.append("ConfigMap not mounted at /etc/tongban/node.textproto")
        vcts = spec.get("volumeClaimTemplates", [])
        data_mount = mount(c, "data")
        if not (len(vcts) == 1 and vcts[0]["metadata"]["name"] == "data" and data_mount
                and data_mount["mountPath"] == "/var/lib/tongban"
                and vcts[0]["spec"]["resources"]["requests"].get("storage")):
            errs.append("no volumeClaimTemplate 'data' mounted at /var/lib/tongban")
        sc = c.get("securityContext", {})
        psc = pod.get("securityContext", {})
        if not (psc.get("runAsNonRoot") and sc.get("readOnlyRootFilesystem") is True
                and sc.get("allowPrivilegeEscalation") is False and "ALL" in sc.get("capabilities", {}).get("drop", [])):
            errs.append(f"securityContext not non-root/read-only/no-escalation: pod {psc} container {sc}")
        writable = {m["mountPath"] for m in c.get("volumeMounts", []) if not m.get("readOnly")}
        if writable - {"/var/lib/tongban", "/tmp"}:
            errs.append(f"writable mounts beyond the data volume and /tmp: {sorted(writable)}")
        tls_vol = volume(sts, "tls")
        tls_mount = mount(c, "tls")
        if not (tls_vol and "secret" in tls_vol and tls_mount and tls_mount["mountPath"] == TLS_DIR
                and "subPath" not in tls_mount):
            errs.append(f"identity Secret not mounted (whole, no subPath) at {TLS_DIR}")
        else:
            node_secret_names[code] = tls_vol["secret"]["secretName"]
            if tls_vol["secret"]["secretName"] != f"{prefix}-node-{code}":
                errs.append(f"Secret {tls_vol['secret']['secretName']} != {prefix}-node-{code}")
        if errs:
            problems["sts"].append((name, errs, sts))

        # Service: selects exactly this province's pod; grpc + metrics ports, appProtocol grpc.
        serrs = []
        sel = svc["spec"].get("selector", {})
        if not selects(sel, labels):
            serrs.append("selector does not select the province's pod")
        others = [o for o in node_pod_labels if o != code and selects(sel, node_pod_labels[o])]
        if others or (gw_labels and selects(sel, gw_labels)):
            serrs.append(f"selector also selects other pods: {others}")
        ports = {p["name"]: p for p in svc["spec"].get("ports", [])}
        g, m = ports.get("grpc"), ports.get("metrics")
        if not (g and g["port"] == 50051 and g.get("appProtocol") == "grpc"
                and port_number(c, g.get("targetPort", g["port"])) == 50051):
            serrs.append("grpc port 50051 (appProtocol grpc, to the container's gRPC port) missing")
        if not (m and m["port"] == 9464 and port_number(c, m.get("targetPort", m["port"])) == 9464):
            serrs.append("metrics port 9464 missing")
        if serrs:
            problems["svc"].append((name, serrs, svc))

        # NodeConfig: parses as tongban.v1.NodeConfig and points at what is mounted.
        text = cm.get("data", {}).get("node.textproto", "")
        fields, err = tp.parse(text, "NodeConfig")
        cerrs = []
        if fields is None:
            cerrs.append(f"not a valid tongban.v1.NodeConfig: {err}")
        else:
            tls = one(fields, "tls", {})
            want = {
                "province_code": code, "listen_address": "0.0.0.0:50051",
                "metrics_address": "0.0.0.0:9464", "database_path": "/var/lib/tongban/node.db",
                "gateway_address": "tongban-gateway:50050", "ready_file": "",
                "health_address": f"0.0.0.0:{health_port}" if probes_mode == "grpc" else "",
            }
            for k, v in want.items():
                if one(fields, k) != v:
                    cerrs.append(f"{k} is {one(fields, k)!r}, want {v!r}")
            cerrs += tls_errors(tls, cfg, sts)
            grace = int(one(fields, "shutdown_grace_seconds", "10")) + int(one(fields, "drain_delay_ms", "500")) / 1000
            if not pod.get("terminationGracePeriodSeconds", 30) > grace:
                cerrs.append(f"terminationGracePeriodSeconds {pod.get('terminationGracePeriodSeconds')} <= drain_delay_ms + shutdown_grace_seconds {grace} s")
            if one(fields, "drain_delay_ms") != str(int(ctx["values"]["node"]["config"]["drainDelayMs"])):
                cerrs.append(f"drain_delay_ms is {one(fields, 'drain_delay_ms')!r}, want node.config.drainDelayMs")
            if gw_svc is None or 50050 not in [p["port"] for p in gw_svc["spec"]["ports"]]:
                cerrs.append("gateway_address names no rendered Service tongban-gateway:50050")
            # time_limits { }: the calendar inside the image, this province's approvers.
            tl = one(fields, "time_limits", {})
            want_tl = cfg.get("time_limits", {})
            want_cal = want_tl.get("calendar_files", ctx["values"]["node"]["config"]["timeLimits"]["calendarFiles"])
            want_appr = want_tl.get("approvers", {}).get(code, want_tl.get("approvers_default", []))
            if not isinstance(tl, dict) or tl.get("calendar_files", []) != want_cal:
                cerrs.append(f"time_limits.calendar_files is {tl.get('calendar_files') if isinstance(tl, dict) else tl!r}, want {want_cal!r}")
            elif tl.get("extension_approvers", []) != want_appr:
                cerrs.append(f"time_limits.extension_approvers is {tl.get('extension_approvers', [])!r}, want {want_appr!r}")
            elif one(tl, "escalate_overdue", "false") != ("true" if want_tl.get("escalate") else "false"):
                cerrs.append(f"time_limits.escalate_overdue is {one(tl, 'escalate_overdue', 'false')!r}")
        if cerrs:
            problems["cfg"].append((name, cerrs, text))

        # Probes on the node container.
        perr = probe_errors(c, probes_mode, health_port, fields)
        if perr:
            problems["probe"].append((name, perr, {k: c.get(k) for k in ("ports", "startupProbe", "livenessProbe", "readinessProbe")}))

    for key, what in (("sts", "each node StatefulSet: 1 replica, --config /etc/tongban/node.textproto from its ConfigMap, data volume at /var/lib/tongban, identity Secret at /etc/tongban/tls, non-root read-only root fs"),
                      ("svc", "each node Service selects only its province's pod and exposes grpc 50051 (appProtocol grpc) and metrics 9464"),
                      ("cfg", "each node ConfigMap is a valid tongban.v1.NodeConfig (protoc) with its province_code, 0.0.0.0:50051/9464, /var/lib/tongban/node.db, TLS files (cert/key/CA/CRL) of the mounts, gateway_address tongban-gateway:50050, ready_file empty, grace < terminationGracePeriodSeconds, time_limits (calendar files, the province's extension approvers, escalate_overdue) as the values say"),
                      ("probe", f"each node's startup/liveness/readiness probes use {'grpc on the plaintext health port ' + str(health_port) + ' (= health_address)' if probes_mode == 'grpc' else 'tcpSocket on the gRPC port'}")):
        ck.check(not problems[key], f"{what} [{n} provinces]", problems[key][:2] or None)

    # -- certificates
    check_certs(ck, docs, codes, cfg, node_secret_names, gw_dep, ctx)

    # -- gateway
    ck.check(gw_dep is not None, "gateway Deployment tongban-gateway rendered")
    if gw_dep is None:
        return
    c = container(gw_dep)
    replicas = gw_dep["spec"].get("replicas")
    want_replicas = cfg.get("gateway_replicas")
    ck.check(isinstance(replicas, int) and replicas >= 2 and (want_replicas is None or replicas == want_replicas),
             f"gateway replicas {replicas} >= 2" + (f" and == {want_replicas}" if want_replicas else ""),
             gw_dep["spec"])
    ck.check(selects(gw_dep["spec"]["selector"]["matchLabels"], gw_labels)
             and not any(selects(gw_dep["spec"]["selector"]["matchLabels"], l) for l in node_pod_labels.values()),
             "gateway selector selects its pods and no node pod", gw_dep["spec"]["selector"])
    gw_cm = find(docs, "ConfigMap", "tongban-gateway")
    cfg_vol = volume(gw_dep, "config")
    cfg_mount = mount(c, "config")
    ck.check(gw_cm is not None and cfg_vol and cfg_vol["configMap"]["name"] == "tongban-gateway" and cfg_mount
             and cfg_mount["mountPath"] == "/etc/tongban/gateway" and "subPath" not in cfg_mount
             and c.get("args", [])[:2] == ["--config", "/etc/tongban/gateway/gateway.textproto"],
             "gateway runs --config /etc/tongban/gateway/gateway.textproto from ConfigMap tongban-gateway mounted as a directory (no subPath: directory edits reach the pod)",
             {"args": c.get("args"), "volumeMounts": c.get("volumeMounts"), "volumes": gw_dep["spec"]["template"]["spec"].get("volumes")})
    gw_fields = None
    if gw_cm is not None:
        text = gw_cm["data"].get("gateway.textproto", "")
        gw_fields, err = tp.parse(text, "GatewayConfig")
        errs = [] if gw_fields is not None else [f"not a valid tongban.v1.GatewayConfig: {err}"]
        if gw_fields is not None:
            tls = one(gw_fields, "tls", {})
            want = {"listen_address": "0.0.0.0:50050", "metrics_address": "0.0.0.0:9400",
                    "directory_file": "/etc/tongban/gateway/directory.textproto", "ready_file": "",
                    "health_address": f"0.0.0.0:{health_port}" if probes_mode == "grpc" else ""}
            for k, v in want.items():
                if one(gw_fields, k) != v:
                    errs.append(f"{k} is {one(gw_fields, k)!r}, want {v!r}")
            errs += tls_errors(tls, cfg, gw_dep)
            need = int(one(gw_fields, "shutdown_grace_seconds", "10")) + int(one(gw_fields, "drain_delay_ms", "500")) / 1000
            tgps = gw_dep["spec"]["template"]["spec"].get("terminationGracePeriodSeconds", 30)
            if not tgps > need:
                errs.append(f"terminationGracePeriodSeconds {tgps} <= drain + grace {need}")
        ck.check(not errs, "gateway.textproto is a valid tongban.v1.GatewayConfig (protoc): 0.0.0.0:50050/9400, directory_file inside the mount, TLS files (cert/key/CA/CRL) of the mounts; terminationGracePeriodSeconds > drain + grace",
                 {"errors": errs, "gateway.textproto": text})
        svc_ports = {p["name"]: p for p in gw_svc["spec"]["ports"]} if gw_svc else {}
        ck.check(gw_svc is not None and selects(gw_svc["spec"]["selector"], gw_labels)
                 and svc_ports.get("grpc", {}).get("port") == 50050 and svc_ports["grpc"].get("appProtocol") == "grpc"
                 and svc_ports.get("metrics", {}).get("port") == 9400,
                 "gateway Service tongban-gateway selects the gateway pods: grpc 50050 (appProtocol grpc), metrics 9400", gw_svc)
    perr = probe_errors(c, probes_mode, health_port, gw_fields)
    ck.check(not perr, f"gateway probes use {'grpc on the plaintext health port ' + str(health_port) if probes_mode == 'grpc' else 'tcpSocket on the gRPC port'}",
             {"errors": perr, "probes": {k: c.get(k) for k in ("ports", "startupProbe", "livenessProbe", "readinessProbe")}} if perr else None)
    sc = c.get("securityContext", {})
    psc = gw_dep["spec"]["template"]["spec"].get("securityContext", {})
    ck.check(psc.get("runAsNonRoot") and sc.get("readOnlyRootFilesystem") is True and sc.get("allowPrivilegeEscalation") is False,
             "gateway runs non-root with a read-only root file system", {"pod": psc, "container": sc})
    tls_vol = volume(gw_dep, "tls")
    ck.check(tls_vol is not None and tls_vol.get("secret", {}).get("secretName") == f"{prefix}-gateway"
             and (mount(c, "tls") or {}).get("mountPath") == TLS_DIR,
             f"gateway mounts Secret {prefix}-gateway at {TLS_DIR}", tls_vol)

    # -- HPA and PDB
    hpas = by_kind(docs, "HorizontalPodAutoscaler")
    if cfg.get("autoscaling", True):
        h = hpas[0] if len(hpas) == 1 else None
        ok = (h is not None and h["apiVersion"] == "autoscaling/v2"
              and h["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "tongban-gateway"}
              and h["spec"]["minReplicas"] >= 2 and h["spec"]["maxReplicas"] >= h["spec"]["minReplicas"]
              and any(m.get("resource", {}).get("name") == "cpu" for m in h["spec"].get("metrics", []))
              and "cpu" in c.get("resources", {}).get("requests", {}))
        ck.check(ok, "one autoscaling/v2 HPA scales Deployment tongban-gateway on CPU, minReplicas >= 2, maxReplicas >= min (and the container requests CPU)", hpas or "(none rendered)")
    else:
        ck.check(not hpas, "no HPA when gateway.autoscaling.enabled=false", hpas)
    pdbs = by_kind(docs, "PodDisruptionBudget")
    p = pdbs[0] if len(pdbs) == 1 else None
    ck.check(p is not None and p["apiVersion"] == "policy/v1" and p["spec"].get("minAvailable") == 1
             and selects(p["spec"]["selector"]["matchLabels"], gw_labels)
             and not any(selects(p["spec"]["selector"]["matchLabels"], l) for l in node_pod_labels.values()),
             "one policy/v1 PDB, minAvailable 1, selecting the gateway pods and no node pod", pdbs or "(none rendered)")

    # -- public edge
    check_public_edge(ck, docs, cfg, gw_dep, gw_cm, gw_fields, gw_labels, node_pod_labels, ctx)

    # -- federation directory
    check_directory(ck, tp, docs, codes, gw_cm, ctx)

    # -- network policies
    check_network_policies(ck, docs, codes, node_pod_labels, gw_labels, gw_dep, ctx)

    # -- monitoring
    check_monitoring(ck, docs, codes, cfg, ctx)


def check_public_edge(ck, docs, cfg, gw_dep, gw_cm, gw_fields, gw_labels, node_pod_labels, ctx):
    """The gateway's public edge. cfg["edge"]: the gateway.publicEdge values of the scenario
    (values.yaml merged with its overrides); absent: the edge must not be rendered at all."""
    e = cfg.get("edge")
    c = container(gw_dep)
    ports = {p.get("name"): p.get("containerPort") for p in c.get("ports", [])}
    edge_cm = find(docs, "ConfigMap", "tongban-gateway-edge-tokens")
    pub = find(docs, "Service", EDGE_SVC)
    gw_svc = find(docs, "Service", "tongban-gateway")
    gw_nps = [p for p in by_kind(docs, "NetworkPolicy") if selects(p["spec"]["podSelector"].get("matchLabels"), gw_labels)]
    public_rules = [r for p in gw_nps for r in p["spec"].get("ingress", [])
                    if covers(r, "https", ports.get("https")) or covers(r, "grpc-public", ports.get("grpc-public"))]
    edge_cert = find(docs, "Certificate", EDGE_SVC)
    if not e:
        left = {"public_edge in gateway.textproto": gw_fields is not None and "public_edge" in gw_fields,
                "container ports https/grpc-public": bool({"https", "grpc-public"} & set(ports)),
                "edge volumes": any(volume(gw_dep, v) for v in ("edge-tls", "edge-tokens")),
                "ConfigMap tongban-gateway-edge-tokens": edge_cm is not None,
                f"Service {EDGE_SVC}": pub is not None, f"Certificate {EDGE_SVC}": edge_cert is not None}
        ck.check(not any(left.values()), "public edge off (gateway.publicEdge.enabled=false): no public_edge block, public ports, edge volumes, token ConfigMap, public Service or Certificate",
                 {k: v for k, v in left.items() if v} or None)
        return

    # -- gateway.textproto: public_edge { } with the values, files where they are mounted.
    pe = one(gw_fields or {}, "public_edge", None)
    ck.check(pe is not None, "gateway.textproto (a valid tongban.v1.GatewayConfig) has a public_edge block",
             (gw_cm or {}).get("data", {}).get("gateway.textproto"))
    if pe is None:
        return
    t = one(pe, "tokens", {})
    want = {"https_address": f"0.0.0.0:{e['httpsPort']}", "grpc_address": f"0.0.0.0:{e['grpcPort']}",
            "issuer": e["tokens"]["issuer"], "audience": e["tokens"]["audience"],
            "leeway_seconds": str(e["tokens"]["leewaySeconds"]), "max_lifetime_seconds": str(e["tokens"]["maxLifetimeSeconds"]),
            "rate_limit_burst": str(e["rateLimitBurst"]), "max_request_bytes": str(e["maxRequestBytes"]),
            "https_threads": str(e["httpsThreads"]), "https_keep_alive_seconds": str(e["httpsKeepAliveSeconds"]),
            # watched like the mTLS files, at the same interval
            "tls_refresh_seconds": one(one(gw_fields, "tls", {}), "refresh_interval_seconds")}
    got = {k: one(t if k in ("issuer", "audience", "leeway_seconds", "max_lifetime_seconds") else pe, k) for k in want}
    errs = [f"{k} is {got[k]!r}, want {v!r}" for k, v in want.items() if got[k] != v]
    if float(one(pe, "rate_limit_per_second", "0")) != float(e["rateLimitPerSecond"]):
        errs.append(f"rate_limit_per_second is {one(pe, 'rate_limit_per_second')!r}, want {e['rateLimitPerSecond']}")
    if pe.get("cors_allowed_origins", []) != list(e["corsAllowedOrigins"]):
        errs.append(f"cors_allowed_origins {pe.get('cors_allowed_origins', [])} != {e['corsAllowedOrigins']}")
    ck.check(not errs, f"public_edge carries the values: https/grpc 0.0.0.0:{e['httpsPort']}/{e['grpcPort']}, tokens issuer/audience/leeway/max lifetime, rate {e['rateLimitPerSecond']}/s burst {e['rateLimitBurst']}, {len(e['corsAllowedOrigins'])} CORS origins, body limit, threads, keep-alive",
             {"errors": errs, "public_edge": pe} if errs else None)

    # the listeners are container ports; cert/key from the mounted Secret; keys from the ConfigMap.
    errs = []
    for name, key in (("https", "https_address"), ("grpc-public", "grpc_address")):
        if ports.get(name) is None or ports.get(name) != addr_port(one(pe, key)):
            errs.append(f"container port {name} {ports.get(name)} is not the port of {key} {one(pe, key)!r}")
    taken = [p for n, p in ports.items() if n not in ("https", "grpc-public")]
    if {ports.get("https"), ports.get("grpc-public")} & set(taken) or ports.get("https") == ports.get("grpc-public"):
        errs.append(f"public ports collide with another container port: {ports}")
    mounts = {m["mountPath"]: m for m in c.get("volumeMounts", [])}
    tls_vol = volume(gw_dep, "edge-tls")
    tls_mount = mount(c, "edge-tls")
    for key, file in (("cert_file", "tls.crt"), ("key_file", "tls.key")):
        path = one(pe, key)
        m = mounts.get(os.path.dirname(path))
        if not (m and m["name"] == "edge-tls" and os.path.basename(path) == file):
            errs.append(f"{key} {path!r} is not {file} of the edge-tls mount")
    if not (tls_vol and tls_vol.get("secret", {}).get("secretName") == e["tls"]["existingSecret"]
            and tls_mount and tls_mount.get("readOnly") and "subPath" not in tls_mount):
        errs.append(f"Secret {e['tls']['existingSecret']} not mounted (whole, read-only) as volume edge-tls: {tls_vol} {tls_mount}")
    tok_vol = volume(gw_dep, "edge-tokens")
    tok_mount = mount(c, "edge-tokens")
    if not (edge_cm and tok_vol and tok_vol.get("configMap", {}).get("name") == edge_cm["metadata"]["name"]
            and tok_mount and tok_mount.get("readOnly") and "subPath" not in tok_mount):
        errs.append(f"ConfigMap tongban-gateway-edge-tokens not mounted (whole, read-only) as volume edge-tokens: {tok_vol} {tok_mount}")
    data = (edge_cm or {}).get("data", {})
    keys = t.get("keys", [])
    wkeys = e["tokens"]["keys"]
    if len(keys) != len(wkeys):
        errs.append(f"{len(keys)} tokens.keys rendered, {len(wkeys)} in the values")
    for k, w in zip(keys, wkeys):
        path = one(k, "public_key_file")
        m = mounts.get(os.path.dirname(path))
        if one(k, "kid") != w.get("kid", ""):
            errs.append(f"kid {one(k, 'kid')!r} != {w.get('kid', '')!r}")
        if not (m and m["name"] == "edge-tokens" and tok_mount and m is tok_mount):
            errs.append(f"public_key_file {path!r} is not inside the edge-tokens mount")
        elif data.get(os.path.basename(path)) != w["publicKeyPem"]:
            errs.append(f"{os.path.basename(path)} of the ConfigMap is not the PEM of kid {w.get('kid', '')!r}")
    if sorted(data) != sorted(os.path.basename(one(k, "public_key_file")) for k in keys):
        errs.append(f"ConfigMap keys {sorted(data)} are not exactly the configured files")
    annotations = gw_dep["spec"]["template"]["metadata"].get("annotations", {})
    if not annotations.get("checksum/edge-tokens"):
        errs.append("no checksum/edge-tokens pod annotation (keys are read at start-up only)")
    ck.check(not errs, "gateway pods: container ports https/grpc-public = the public_edge addresses' ports (no collision), cert_file/key_file = tls.crt/tls.key of Secret "
             f"{e['tls']['existingSecret']} mounted whole, each tokens.keys {{kid, public_key_file}} a file of ConfigMap tongban-gateway-edge-tokens mounted whole holding the values' PEM, checksum/edge-tokens rolls the pods",
             {"errors": errs, "ports": c.get("ports"), "volumeMounts": c.get("volumeMounts"), "public_edge": pe} if errs else None)

    # -- Service tongban-gateway-public; the mTLS Service keeps its type and gains no public port.
    errs = []
    sv = e["service"]
    if pub is None:
        errs.append(f"no Service {EDGE_SVC}")
    else:
        spec = pub["spec"]
        sp = {p["name"]: p for p in spec.get("ports", [])}
        if not selects(spec.get("selector"), gw_labels) or any(selects(spec.get("selector"), l) for l in node_pod_labels.values()):
            errs.append("selector does not select (only) the gateway pods")
        if spec.get("type", "ClusterIP") != sv["type"]:
            errs.append(f"type {spec.get('type')} != {sv['type']}")
        for name, port in (("https", sv["ports"]["https"]), ("grpc-public", sv["ports"]["grpc"])):
            p = sp.get(name)
            if not p or p["port"] != port or port_number(c, p.get("targetPort", p["port"])) != ports.get(name):
                errs.append(f"port {name} {port} -> container port {name} missing: {p}")
        if set(sp) != {"https", "grpc-public"}:
            errs.append(f"ports {sorted(sp)} are not exactly https, grpc-public (mTLS and metrics stay internal)")
        if sp.get("grpc-public", {}).get("appProtocol") == "grpc":
            errs.append("grpc-public declares appProtocol grpc (cleartext h2) although it is TLS")
        if (pub["metadata"].get("annotations") or {}) != (sv.get("annotations") or {}):
            errs.append(f"annotations {pub['metadata'].get('annotations')} != {sv.get('annotations')}")
        etp = spec.get("externalTrafficPolicy")
        if sv["type"] == "ClusterIP" and etp is not None:
            errs.append("externalTrafficPolicy set on a ClusterIP Service")
        if sv["type"] != "ClusterIP" and etp != sv["externalTrafficPolicy"]:
            errs.append(f"externalTrafficPolicy {etp} != {sv['externalTrafficPolicy']}")
    internal = {p["name"] for p in (gw_svc or {}).get("spec", {}).get("ports", [])}
    internal_type = (gw_svc or {}).get("spec", {}).get("type", "ClusterIP")
    want_type = ctx["values"]["gateway"]["service"]["type"]
    if internal & {"https", "grpc-public"} or internal_type != want_type:
        errs.append(f"Service tongban-gateway changed: type {internal_type} (want {want_type}), ports {sorted(internal)}")
    ck.check(not errs, f"Service {EDGE_SVC} ({sv['type']}) selects the gateway pods: https {sv['ports']['https']} and grpc-public {sv['ports']['grpc']} to the public container ports, values' annotations"
             + ("" if sv["type"] == "ClusterIP" else f", externalTrafficPolicy {sv['externalTrafficPolicy']}") + f"; tongban-gateway stays {want_type} without them",
             {"errors": errs, "service": pub} if errs else None)

    # -- NetworkPolicy: one rule opens exactly the public ports, to the values' CIDRs/peers (none: any).
    np_ = e["networkPolicy"]
    want_from = [{"ipBlock": {"cidr": x}} for x in np_["allowedCIDRs"]] + list(np_["from"])
    errs = []
    if ctx["values"]["networkPolicy"]["enabled"]:
        if len(public_rules) != 1:
            errs.append(f"{len(public_rules)} ingress rules cover the public ports (want 1)")
        for r in public_rules:
            if sorted(str(p) for p in rule_ports(r)) != sorted(["https", "grpc-public"]):
                errs.append(f"rule ports {rule_ports(r)} are not exactly https, grpc-public")
            if (r.get("from") or []) != want_from:
                errs.append(f"rule from {r.get('from')} != {want_from or '(any)'}")
    ck.check(not errs, "the gateway NetworkPolicy admits https/grpc-public in one rule, from "
             + (f"{len(np_['allowedCIDRs'])} CIDRs + {len(np_['from'])} peers of the values" if want_from else "anywhere (no from: the public entry)"),
             {"errors": errs, "policies": gw_nps} if errs else None)

    # -- optional Certificate (a public CA's issuer) writing the mounted Secret.
    cm_ = e["tls"]["certManager"]
    if cm_["enabled"]:
        s = (edge_cert or {}).get("spec", {})
        errs = []
        if edge_cert is None or edge_cert["apiVersion"] != "cert-manager.io/v1":
            errs.append(f"no cert-manager.io/v1 Certificate {EDGE_SVC}")
        if s.get("secretName") != (tls_vol or {}).get("secret", {}).get("secretName"):
            errs.append(f"secretName {s.get('secretName')} is not the mounted edge Secret")
        if s.get("dnsNames") != cm_["dnsNames"]:
            errs.append(f"dnsNames {s.get('dnsNames')} != {cm_['dnsNames']}")
        if s.get("issuerRef") != cm_["issuerRef"]:
            errs.append(f"issuerRef {s.get('issuerRef')} != {cm_['issuerRef']}")
        if "server auth" not in s.get("usages", []) or "client auth" in s.get("usages", []) or s.get("uris"):
            errs.append(f"usages {s.get('usages')} / uris {s.get('uris')}: want server auth only, no SPIFFE URI")
        if (s.get("privateKey") or {}).get("algorithm") != cm_["privateKeyAlgorithm"]:
            errs.append(f"privateKey {s.get('privateKey')}")
        ck.check(not errs, f"Certificate {EDGE_SVC}: issuer {cm_['issuerRef'].get('kind')}/{cm_['issuerRef']['name']}, dnsNames of the values, server auth only, no SPIFFE URI, writes the Secret the pods mount",
                 {"errors": errs, "certificate": edge_cert} if errs else None)
    else:
        ck.check(edge_cert is None, f"no Certificate {EDGE_SVC} without gateway.publicEdge.tls.certManager.enabled", edge_cert)


def tls_errors(tls, cfg, workload):
    """tls { } of a config against the mounts of its pod (identity Secret, trust bundle, CRLs)."""
    c = container(workload)
    mounts = {m["name"]: m for m in c.get("volumeMounts", [])}
    want = {"cert_file": f"{TLS_DIR}/tls.crt", "key_file": f"{TLS_DIR}/tls.key",
            "ca_file": f"{TLS_DIR}/ca.crt", "crl_directory": ""}
    errs = []
    if cfg.get("trust_configmap"):
        want["ca_file"] = f"/etc/tongban/trust/{cfg['trust_key']}"
        v = volume(workload, "trust")
        if not (v and v.get("configMap", {}).get("name") == cfg["trust_configmap"]
                and mounts.get("trust", {}).get("mountPath") == "/etc/tongban/trust"):
            errs.append(f"trust bundle ConfigMap {cfg['trust_configmap']} not mounted at /etc/tongban/trust")
    if cfg.get("crl_configmap"):
        want["crl_directory"] = "/etc/tongban/crl"
        v = volume(workload, "crl")
        if not (v and v.get("configMap", {}).get("name") == cfg["crl_configmap"]
                and mounts.get("crl", {}).get("mountPath") == "/etc/tongban/crl" and "subPath" not in mounts["crl"]):
            errs.append(f"CRL ConfigMap {cfg['crl_configmap']} not mounted (whole) at /etc/tongban/crl")
    elif "crl" in mounts:
        errs.append("a CRL volume is mounted although certs.crlConfigMap is empty")
    for k, v in want.items():
        if one(tls, k) != v:
            errs.append(f"tls.{k} is {one(tls, k)!r}, want {v!r}")
    return errs


def probe_errors(c, mode, health_port, fields):
    errs = []
    ports = {p.get("name"): p.get("containerPort") for p in c.get("ports", [])}
    for kind in ("startupProbe", "livenessProbe", "readinessProbe"):
        p = c.get(kind)
        if p is None:
            errs.append(f"{kind} missing")
            continue
        if mode == "grpc":
            if "grpc" not in p or p["grpc"].get("port") != health_port:
                errs.append(f"{kind} is not grpc on port {health_port}: {p}")
            if any(k in p for k in ("tcpSocket", "httpGet", "exec")):
                errs.append(f"{kind} has another handler too")
        else:
            port = (p.get("tcpSocket") or {}).get("port")
            if port_number(c, port) != ports.get("grpc"):
                errs.append(f"{kind} is not tcpSocket on the gRPC port: {p}")
    if mode == "grpc":
        if ports.get("health") != health_port:
            errs.append(f"no container port 'health' {health_port}")
        if fields is not None and addr_port(one(fields, "health_address")) != health_port:
            errs.append(f"config health_address {one(fields, 'health_address')!r} does not listen on {health_port}")
    elif "health" in ports:
        errs.append("tcp mode still declares a health port")
    return errs


def check_certs(ck, docs, codes, cfg, node_secret_names, gw_dep, ctx):
    mode = cfg.get("certs_mode", "secrets")
    prefix = cfg.get("secret_prefix", "tongban-tls")
    # The public edge's Certificate (a public CA's, no SPIFFE identity) is check_public_edge's.
    certs = [x for x in by_kind(docs, "Certificate") if x["metadata"]["name"] != EDGE_SVC]
    secrets = by_kind(docs, "Secret")
    ids = [(f"node-{c}", f"tongban-node-{c}", f"spiffe://tongban/province/{c}") for c in codes]
    ids.append(("gateway", "tongban-gateway", "spiffe://tongban/gateway"))
    gw_secret = (volume(gw_dep, "tls") or {}).get("secret", {}).get("secretName") if gw_dep else None
    mounted = dict((f"node-{c}", s) for c, s in node_secret_names.items())
    mounted["gateway"] = gw_secret
    if mode == "certManager":
        ck.check(not secrets, "certManager mode renders no Secret (cert-manager writes them)", [s["metadata"]["name"] for s in secrets])
        ck.check(len(certs) == len(ids), f"exactly {len(ids)} Certificates ({len(codes)} nodes + gateway)",
                 [x["metadata"]["name"] for x in certs])
        errs = []
        for ident, name, uri in ids:
            x = find(docs, "Certificate", name)
            if x is None:
                errs.append((name, "missing"))
                continue
            s = x["spec"]
            e = []
            if x["apiVersion"] != "cert-manager.io/v1":
                e.append(f"apiVersion {x['apiVersion']}")
            if s.get("uris") != [uri]:
                e.append(f"uris {s.get('uris')} != [{uri}]")
            if s.get("secretName") != mounted.get(ident) or s.get("secretName") != f"{prefix}-{ident}":
                e.append(f"secretName {s.get('secretName')} is not the Secret the pod mounts ({mounted.get(ident)})")
            if name not in s.get("dnsNames", []) or f"{name}.{NAMESPACE}.svc" not in s.get("dnsNames", []):
                e.append(f"dnsNames {s.get('dnsNames')} lack {name} / {name}.{NAMESPACE}.svc")
            if not {"server auth", "client auth"} <= set(s.get("usages", [])):
                e.append(f"usages {s.get('usages')} lack server auth + client auth")
            if s.get("issuerRef") != cfg.get("issuer_ref"):
                e.append(f"issuerRef {s.get('issuerRef')} != values {cfg.get('issuer_ref')}")
            if (s.get("privateKey") or {}).get("algorithm") != "ECDSA":
                e.append("privateKey not ECDSA")
            if e:
                errs.append((name, e, x))
        ck.check(not errs, "each Certificate (cert-manager.io/v1): URI SAN spiffe://tongban/province/<code> (gateway: spiffe://tongban/gateway), DNS SAN = Service name, server+client auth, ECDSA, issuerRef from values, secretName = the Secret the pod mounts", errs[:2] or None)
        ctx["cert_dns"] = {x["metadata"]["name"]: x["spec"].get("dnsNames", []) for x in certs}
    elif cfg.get("certs_create"):
        ck.check(not certs, "secrets mode renders no Certificate", [x["metadata"]["name"] for x in certs])
        ck.check(len(secrets) == len(ids), f"exactly {len(ids)} TLS Secrets ({len(codes)} nodes + gateway)",
                 [s["metadata"]["name"] for s in secrets])
        errs = []
        pems = cfg["pems"]
        for ident, name, uri in ids:
            s = find(docs, "Secret", f"{prefix}-{ident}")
            if s is None:
                errs.append((f"{prefix}-{ident}", "missing"))
                continue
            data = {k: base64.b64decode(v).decode() for k, v in s.get("data", {}).items()}
            e = []
            if s.get("type") != "kubernetes.io/tls":
                e.append(f"type {s.get('type')}")
            if mounted.get(ident) != s["metadata"]["name"]:
                e.append(f"the pod mounts {mounted.get(ident)}")
            if data != {"tls.crt": pems[ident][0], "tls.key": pems[ident][1], "ca.crt": pems["ca"]}:
                e.append("data is not {tls.crt, tls.key, ca.crt} of the values")
            if e:
                errs.append((name, e))
        ck.check(not errs, f"each Secret {prefix}-<identity> is kubernetes.io/tls with the values' tls.crt, tls.key, ca.crt and is the one its pod mounts", errs[:3] or None)
    else:
        ck.check(not certs and not secrets,
                 "secrets mode without create renders no Secret and no Certificate (they must exist)",
                 [d["metadata"]["name"] for d in certs + secrets])
        want = {f"node-{c}": f"{prefix}-node-{c}" for c in codes}
        want["gateway"] = f"{prefix}-gateway"
        ck.check(mounted == want, f"every pod mounts its identity Secret {prefix}-node-<code> / {prefix}-gateway ({len(want)} Secrets)",
                 {k: v for k, v in mounted.items() if want.get(k) != v} or mounted)


def check_directory(ck, tp, docs, codes, gw_cm, ctx):
    text = (gw_cm or {}).get("data", {}).get("directory.textproto")
    ck.check(text is not None, "ConfigMap tongban-gateway holds directory.textproto", gw_cm)
    if text is None:
        return
    fields, err = tp.parse(text, "FederationDirectory")
    ck.check(fields is not None, "directory.textproto is a valid tongban.v1.FederationDirectory (protoc)", err)
    if fields is None:
        return
    nodes = fields.get("nodes", [])
    listed = [one(x, "province_code") for x in nodes]
    rendered = sorted(d["metadata"]["name"][len("tongban-node-"):] for d in by_kind(docs, "StatefulSet"))
    ck.check(sorted(listed) == sorted(codes) == rendered and len(set(listed)) == len(listed),
             f"the directory lists exactly the {len(codes)} rendered provinces, each once",
             {"directory": listed, "statefulsets": rendered})
    errs = []
    for x in nodes:
        code = one(x, "province_code")
        name = f"tongban-node-{code}"
        svc = find(docs, "Service", name)
        if one(x, "address") != f"{name}:50051":
            errs.append(f"{code}: address {one(x, 'address')!r}")
        if one(x, "server_name") != name:
            errs.append(f"{code}: server_name {one(x, 'server_name')!r}")
        if svc is None or 50051 not in [p["port"] for p in svc["spec"]["ports"]]:
            errs.append(f"{code}: no Service {name} with port 50051")
        if "cert_dns" in ctx and one(x, "server_name") not in ctx["cert_dns"].get(name, []):
            errs.append(f"{code}: server_name not a DNS SAN of Certificate {name}")
    ck.check(not errs, 'each directory entry: address "tongban-node-<code>:50051" (a rendered Service port), server_name "tongban-node-<code>"' + (" (a DNS SAN of its Certificate)" if "cert_dns" in ctx else ""),
             {"errors": errs[:5], "directory": text} if errs else None)
    got = [{"alliance_id": one(a, "alliance_id"), "name_zh": one(a, "name_zh"), "name_en": one(a, "name_en"),
            "members": a.get("member_provinces", [])} for a in fields.get("alliances", [])]
    ck.check(got == ctx["alliances_tsv"], f"the directory's {len(got)} alliances equal node/demo_catalog/alliances.tsv (ids, names, members in order)",
             {"rendered": got, "tsv": ctx["alliances_tsv"]} if got != ctx["alliances_tsv"] else None)


def rule_ports(rule):
    return [p.get("port") for p in rule.get("ports", [])]


def covers(rule, port_name, port_number_):
    if not rule.get("ports"):
        return True  # a rule without ports allows every port
    return any(p in (port_name, port_number_) for p in rule_ports(rule))


def check_network_policies(ck, docs, codes, node_pod_labels, gw_labels, gw_dep, ctx):
    nps = by_kind(docs, "NetworkPolicy")
    on_nodes = [p for p in nps if any(selects(p["spec"]["podSelector"].get("matchLabels"), l) for l in node_pod_labels.values())]
    unselected = [c for c, l in node_pod_labels.items()
                  if not any(selects(p["spec"]["podSelector"].get("matchLabels"), l) and "Ingress" in p["spec"].get("policyTypes", ["Ingress"]) for p in nps)]
    ck.check(on_nodes and not unselected, f"a NetworkPolicy (Ingress) selects every node pod ({len(node_pod_labels)})",
             {"not selected": unselected, "policies": nps} if unselected or not on_nodes else None)
    ck.check(not any(selects(p["spec"]["podSelector"].get("matchLabels"), gw_labels) for p in on_nodes),
             "the node NetworkPolicy does not select the gateway pods", on_nodes)
    errs, gateway_allowed, prom_allowed = [], False, False
    prom = ctx["values"]["networkPolicy"]["prometheus"]
    for p in on_nodes:
        for rule in p["spec"].get("ingress", []):
            if covers(rule, "grpc", 50051):
                if not rule.get("from"):
                    errs.append(f"{p['metadata']['name']}: a rule admits the gRPC port from anywhere: {rule}")
                    continue
                for peer in rule["from"]:
                    sel = (peer.get("podSelector") or {}).get("matchLabels")
                    if set(peer) != {"podSelector"} or not sel or not selects(sel, gw_labels) \
                            or any(selects(sel, l) for l in node_pod_labels.values()):
                        errs.append(f"{p['metadata']['name']}: gRPC peer is not (only) the gateway pods: {peer}")
                    else:
                        gateway_allowed = True
            if covers(rule, "metrics", 9464) and rule.get("ports"):
                for peer in rule.get("from", [{}]):
                    if peer.get("namespaceSelector") == prom["namespaceSelector"] and peer.get("podSelector") == prom["podSelector"]:
                        prom_allowed = True
                    elif not covers(rule, "grpc", 50051):
                        errs.append(f"{p['metadata']['name']}: metrics peer is not Prometheus: {peer}")
            if not rule.get("ports"):
                errs.append(f"{p['metadata']['name']}: a rule without ports (opens the health port too): {rule}")
    ck.check(not errs and gateway_allowed,
             "node pods admit the gRPC port only from pods labelled as the gateway (same-namespace podSelector matching the gateway Deployment's pods, no node pods, no namespace/ipBlock peers), and some rule admits the gateway",
             {"errors": errs, "policies": on_nodes} if errs or not gateway_allowed else None)
    ck.check(prom_allowed, "node pods admit the metrics port from the Prometheus selectors of values (networkPolicy.prometheus)",
             on_nodes if not prom_allowed else None)


def check_monitoring(ck, docs, codes, cfg, ctx):
    sms = by_kind(docs, "ServiceMonitor")
    rules = by_kind(docs, "PrometheusRule")
    if not cfg.get("monitoring"):
        ck.check(not sms and not rules, "no ServiceMonitor and no PrometheusRule while monitoring.enabled=false",
                 [d["metadata"]["name"] for d in sms + rules])
        return
    ck.check(sms and rules, "ServiceMonitor(s) and a PrometheusRule rendered with monitoring.enabled=true",
             {"servicemonitors": [d["metadata"]["name"] for d in sms], "rules": [d["metadata"]["name"] for d in rules]})
    services = [d for d in by_kind(docs, "Service")]
    scraped = set()
    for sm in sms:
        sel = sm["spec"]["selector"].get("matchLabels", {})
        ports = {e.get("port") for e in sm["spec"].get("endpoints", [])}
        for s in services:
            if selects(sel, s["metadata"].get("labels", {})) and ports & {p["name"] for p in s["spec"]["ports"]}:
                if "metrics" in ports:
                    scraped.add(s["metadata"]["name"])
    want = {f"tongban-node-{c}" for c in codes} | {"tongban-gateway"}
    ck.check(scraped == want, f"the ServiceMonitors scrape port 'metrics' of exactly the {len(codes)} node Services and the gateway Service",
             {"scraped": sorted(scraped), "missing": sorted(want - scraped), "extra": sorted(scraped - want)} if scraped != want else None)
    if rules:
        groups = rules[0]["spec"].get("groups")
        ck.check(groups == ctx["alerts"]["groups"] and groups,
                 f"the PrometheusRule's groups are files/tongban-alerts.yml ({sum(len(g.get('rules', [])) for g in groups or [])} rules)",
                 rules[0] if groups != ctx["alerts"]["groups"] else None)
        promtool = shutil.which("promtool")
        if promtool and groups:
            path = os.path.join(ctx["work"], "rendered-rules.yml")
            write(path, {"groups": groups})
            p = subprocess.run([promtool, "check", "rules", path], capture_output=True, text=True)
            ck.check(p.returncode == 0, "promtool check rules accepts the rendered PrometheusRule's groups", p.stdout + p.stderr)



# ---------------------------------------------------------------------------- province mode
DIGEST_NODE = "sha256:" + "4e" * 32
DIGEST_GATEWAY = "sha256:" + "9a" * 32
GATEWAY_ADDRESS = "gateway.tongban.example.cn:50050"
FAKE_CA = "-----BEGIN CERTIFICATE-----\nZmVkZXJhdGlvbi1jYQ==\n-----END CERTIFICATE-----\n"
FAKE_CRL = "-----BEGIN X509 CRL-----\nY3Js\n-----END X509 CRL-----\n"


def check_province(ck, tp, docs, code, cfg, ctx):
    """Assertions on a mode=province release of province `code`. cfg: replicas, postgres
    (dict of the node.postgres values or None), certs_mode, issuer_ref, extra_dns, ca (PEM
    or None), crls (dict), gateway_cidrs, extra_from, service_type, monitoring, digest."""
    name = f"tongban-node-{code}"
    replicas = cfg.get("replicas", 1)
    pg = cfg.get("postgres")

    # -- nothing of the gateway, nothing of another province
    gw = [f"{d['kind']} {d['metadata']['name']}" for d in docs
          if d["metadata"]["name"].startswith("tongban-gateway")
          or d["metadata"].get("labels", {}).get("app.kubernetes.io/component") == "gateway"
          or d["kind"] == "HorizontalPodAutoscaler"]
    ck.check(not gw, "no gateway object (Deployment, Services, ConfigMap, HPA, PDB, NetworkPolicy, identity): the gateway runs elsewhere", gw)
    named = sorted({d["metadata"]["name"] for d in docs if d["metadata"]["name"].startswith("tongban-node-")})
    ck.check(named == [name], f"only province {code}'s node objects (tongban-node-{code})", named)

    # -- the workload: StatefulSet + PVC on SQLite, Deployment without volume on PostgreSQL
    sts, dep = find(docs, "StatefulSet", name), find(docs, "Deployment", name)
    w = dep if pg else sts
    other = sts if pg else dep
    kind = "Deployment" if pg else "StatefulSet"
    ck.check(w is not None and other is None and len(by_kind(docs, "StatefulSet") + by_kind(docs, "Deployment")) == 1,
             f"the node is one {kind} {name}" + (" (PostgreSQL: no per-pod identity, surge rollouts)" if pg else " (SQLite: one pod, one volume)"),
             [f"{d['kind']} {d['metadata']['name']}" for d in by_kind(docs, "StatefulSet") + by_kind(docs, "Deployment")])
    if w is None:
        return
    spec = w["spec"]
    c = container(w)
    pod = spec["template"]["spec"]
    labels = pod_labels(w)
    errs = []
    if spec.get("replicas") != replicas:
        errs.append(f"replicas {spec.get('replicas')} != {replicas}")
    if not selects(spec["selector"]["matchLabels"], labels) or labels.get("tongban.io/province") != code:
        errs.append("selector does not select its pod template / no province label")
    if pg:
        strategy = spec.get("strategy", {})
        ru = strategy.get("rollingUpdate", {})
        if not (strategy.get("type") == "RollingUpdate" and ru.get("maxUnavailable") == 0 and ru.get("maxSurge") == 1):
            errs.append(f"strategy {strategy} is not RollingUpdate maxUnavailable 0 / maxSurge 1 (one replica at a time, never fewer serving)")
        mrs = spec.get("minReadySeconds", 0)
        if not (isinstance(mrs, int) and mrs >= 1):
            errs.append(f"minReadySeconds {mrs!r} is not an integer >= 1")
        if spec.get("volumeClaimTemplates") or volume(w, "data") or mount(c, "data"):
            errs.append("a data volume on PostgreSQL")
        writable = {m["mountPath"] for m in c.get("volumeMounts", []) if not m.get("readOnly")}
        if writable != {"/tmp"}:
            errs.append(f"writable mounts {sorted(writable)}: want /tmp only")
        env_from = [e.get("secretRef", {}).get("name") for e in c.get("envFrom", [])]
        if env_from != ([pg["existingSecret"]] if pg.get("existingSecret") else []):
            errs.append(f"envFrom {env_from} is not Secret {pg.get('existingSecret')}")
        env = {e["name"]: e.get("value") for e in c.get("env", [])}
        root = (pg.get("sslRootCert") or {})
        if root.get("configMap"):
            v, m = volume(w, "postgres-ca"), mount(c, "postgres-ca")
            if not (v and v.get("configMap", {}).get("name") == root["configMap"] and m
                    and env.get("PGSSLROOTCERT") == f"{m['mountPath']}/{root.get('key', 'ca.crt')}"):
                errs.append(f"PGSSLROOTCERT {env.get('PGSSLROOTCERT')} is not {root.get('key', 'ca.crt')} of ConfigMap {root['configMap']} as mounted")
        elif "PGSSLROOTCERT" in env:
            errs.append("PGSSLROOTCERT set without node.postgres.sslRootCert.configMap")
        if any("PASSWORD" in e["name"] and "value" in e for e in c.get("env", [])):
            errs.append("a password as a literal env value")
        aff = json_str(pod.get("affinity"))
        if "podAntiAffinity" not in aff or "kubernetes.io/hostname" not in aff:
            errs.append("no anti-affinity spreading the replicas over Kubernetes nodes")
    else:
        vcts = spec.get("volumeClaimTemplates", [])
        if not (len(vcts) == 1 and vcts[0]["metadata"]["name"] == "data" and (mount(c, "data") or {}).get("mountPath") == "/var/lib/tongban"):
            errs.append("no volumeClaimTemplate data at /var/lib/tongban")
        if c.get("envFrom"):
            errs.append("envFrom on SQLite")
    want_image = f"{ctx['values']['image']['node']}@{cfg['digest']}" if cfg.get("digest") else None
    if want_image and c.get("image") != want_image:
        errs.append(f"image {c.get('image')} != {want_image}")
    ck.check(not errs, f"{kind} {name}: {replicas} replica(s), selector/labels" + (
        ", RollingUpdate maxSurge 1 / maxUnavailable 0, minReadySeconds, no volume (only /tmp writable), libpq variables from Secret "
        f"{pg.get('existingSecret')} (envFrom), PGSSLROOTCERT as mounted, replicas spread over hosts" if pg else ", data volume at /var/lib/tongban")
        + (f", image pinned {want_image[-20:]}" if want_image else ""), {"errors": errs, "spec": spec} if errs else None)

    # -- the NodeConfig: protoc-valid; postgres { } or database_path; the gateway elsewhere
    cm = find(docs, "ConfigMap", name)
    text = (cm or {}).get("data", {}).get("node.textproto", "")
    fields, err = tp.parse(text, "NodeConfig")
    errs = [] if fields is not None else [f"not a valid tongban.v1.NodeConfig: {err}"]
    if fields is not None:
        if one(fields, "province_code") != code:
            errs.append(f"province_code {one(fields, 'province_code')!r}")
        if one(fields, "gateway_address") != cfg.get("gateway_address", GATEWAY_ADDRESS):
            errs.append(f"gateway_address {one(fields, 'gateway_address')!r} != federation.gatewayAddress")
        pgf = one(fields, "postgres", None)
        if pg:
            if one(fields, "database_path") or not isinstance(pgf, dict):
                errs.append("want postgres { } and no database_path")
            else:
                conninfo = one(pgf, "conninfo")
                want = f"application_name={name}" + (f" {pg['conninfo']}" if pg.get("conninfo") else "")
                if conninfo != want:
                    errs.append(f"postgres.conninfo {conninfo!r} != {want!r}")
                if re.search(r"password\s*=", conninfo, re.I):
                    errs.append("a password in the ConfigMap")
                if one(pgf, "pool_size") != str(pg.get("poolSize", 8)) or one(pgf, "outbox_lease_seconds") != str(pg.get("outboxLeaseSeconds", 120)):
                    errs.append(f"pool_size/outbox_lease_seconds {one(pgf, 'pool_size')}/{one(pgf, 'outbox_lease_seconds')}")
        elif pgf is not None or one(fields, "database_path") != "/var/lib/tongban/node.db":
            errs.append("SQLite: want database_path /var/lib/tongban/node.db and no postgres { }")
        trust_cfg = {}
        if cfg.get("ca"):
            trust_cfg = {"trust_configmap": "tongban-federation-trust", "trust_key": "ca.crt"}
        if cfg.get("crls"):
            trust_cfg["crl_configmap"] = "tongban-federation-crl"
        errs += tls_errors(one(fields, "tls", {}), trust_cfg, w)
    errs += probe_errors(c, "grpc", 8081, fields)
    ck.check(not errs, "the NodeConfig is a valid tongban.v1.NodeConfig (protoc): its province, gateway_address = federation.gatewayAddress, "
             + ("postgres { conninfo application_name=<node> + the values' conninfo (no password), pool_size, outbox_lease_seconds }" if pg else "database_path on the volume")
             + ", TLS files of the mounts, readiness/liveness/startup on gRPC health = health_address",
             {"errors": errs, "node.textproto": text} if errs else None)

    # -- trust bundle and CRLs rendered from federation.ca / federation.crls
    trust = find(docs, "ConfigMap", "tongban-federation-trust")
    crl = find(docs, "ConfigMap", "tongban-federation-crl")
    if cfg.get("ca"):
        ck.check(trust is not None and trust.get("data") == {"ca.crt": cfg["ca"]},
                 "ConfigMap tongban-federation-trust holds federation.ca as ca.crt (the node's tls.ca_file)", trust)
    else:
        ck.check(trust is None, "no ConfigMap tongban-federation-trust without federation.ca", trust)
    if cfg.get("crls"):
        ck.check(crl is not None and crl.get("data") == cfg["crls"],
                 f"ConfigMap tongban-federation-crl holds federation.crls ({', '.join(cfg['crls'])}), mounted as tls.crl_directory", crl)
    else:
        ck.check(crl is None, "no ConfigMap tongban-federation-crl without federation.crls", crl)

    # -- PDB: only with several replicas, and then one pod at a time
    pdbs = by_kind(docs, "PodDisruptionBudget")
    if replicas > 1:
        p = pdbs[0] if len(pdbs) == 1 else None
        ck.check(p is not None and p["apiVersion"] == "policy/v1" and p["spec"].get("maxUnavailable") == 1
                 and "minAvailable" not in p["spec"] and selects(p["spec"]["selector"]["matchLabels"], labels),
                 f"one policy/v1 PDB tongban-node-{code}: maxUnavailable 1 over the {replicas} replicas (a drain evicts one at a time)", pdbs)
    else:
        ck.check(not pdbs, "no PodDisruptionBudget with 1 replica (it could only block a drain)", pdbs)

    # -- identity: the node's only
    certs = by_kind(docs, "Certificate")
    secrets = by_kind(docs, "Secret")
    tls_vol = volume(w, "tls") or {}
    if cfg.get("certs_mode") == "certManager":
        x = certs[0] if len(certs) == 1 else None
        want_dns = [name, f"{name}.{NAMESPACE}", f"{name}.{NAMESPACE}.svc", f"{name}.{NAMESPACE}.svc.cluster.local"] + cfg.get("extra_dns", [])
        ok = (x is not None and x["metadata"]["name"] == name and x["spec"].get("uris") == [f"spiffe://tongban/province/{code}"]
              and x["spec"].get("dnsNames") == want_dns and x["spec"].get("issuerRef") == cfg["issuer_ref"]
              and x["spec"].get("secretName") == tls_vol.get("secret", {}).get("secretName")
              and {"server auth", "client auth"} <= set(x["spec"].get("usages", [])) and not secrets)
        ck.check(ok, f"one Certificate (the node's) from the province's issuer {cfg['issuer_ref'].get('kind')}/{cfg['issuer_ref']['name']}: spiffe://tongban/province/{code}, DNS SANs incl. {cfg.get('extra_dns', [])}, server+client auth, into the Secret the pods mount",
                 certs or "(none)")
    else:
        ck.check(not certs and not secrets and tls_vol.get("secret", {}).get("secretName") == f"tongban-tls-node-{code}",
                 f"existing Secret tongban-tls-node-{code} mounted, nothing created", {"certs": certs, "secrets": secrets, "tls": tls_vol})

    # -- Service: reachable by the gateway from outside when asked
    svc = find(docs, "Service", name)
    stype = cfg.get("service_type", "ClusterIP")
    sspec = (svc or {}).get("spec", {})
    ck.check(svc is not None and sspec.get("type") == stype and selects(sspec.get("selector"), labels)
             and (stype == "ClusterIP" or sspec.get("externalTrafficPolicy") == "Local")
             and {p["name"]: p["port"] for p in sspec.get("ports", [])} == {"grpc": 50051, "metrics": 9464},
             f"Service {name} ({stype}{', externalTrafficPolicy Local' if stype != 'ClusterIP' else ''}) selects the node pods: grpc 50051, metrics 9464", svc)

    # -- NetworkPolicy: gRPC from the gateway's CIDRs (+ extra peers), no in-cluster gateway selector
    nps = [p for p in by_kind(docs, "NetworkPolicy") if selects(p["spec"]["podSelector"].get("matchLabels"), labels)]
    grpc_rules = [r for p in nps for r in p["spec"].get("ingress", []) if covers(r, "grpc", 50051)]
    want_from = [{"ipBlock": {"cidr": x}} for x in cfg.get("gateway_cidrs", [])] + cfg.get("extra_from", [])
    ck.check(len(nps) == 1 and len(grpc_rules) == 1 and (grpc_rules[0].get("from") or []) == want_from,
             "the node NetworkPolicy admits gRPC from " + (f"{len(cfg.get('gateway_cidrs', []))} gateway CIDRs + {len(cfg.get('extra_from', []))} peers" if want_from else "anywhere (no gateway CIDRs or peers given; mTLS checks every caller)"),
             nps)

    # -- monitoring: the node's ServiceMonitor only, with the province label
    sms = by_kind(docs, "ServiceMonitor")
    if cfg.get("monitoring"):
        relabel = [r for sm in sms for e in sm["spec"].get("endpoints", []) for r in e.get("relabelings", [])]
        ck.check([sm["metadata"]["name"] for sm in sms] == ["tongban-node"] and
                 {"sourceLabels": ["__meta_kubernetes_service_label_tongban_io_province"], "targetLabel": "province"} in relabel
                 and len(by_kind(docs, "PrometheusRule")) == 1,
                 "ServiceMonitor tongban-node only (its targets labelled province from the Service), PrometheusRule tongban", sms)
    else:
        ck.check(not sms, "no ServiceMonitor with monitoring off", sms)


def json_str(x):
    import json
    return json.dumps(x or {})


def province_scenarios(ck, helm, tp, ctx, work, quick=False):
    """mode=province: one province's node joining a gateway elsewhere."""
    base = ["--set", "mode=province", "--set", f"federation.gatewayAddress={GATEWAY_ADDRESS}"]

    def run(scope, args, code, cfg):
        ck.scope = scope
        ok, docs, err = helm.template(args)
        if not ck.check(ok, f"helm template {' '.join(a for a in args if not a.startswith('-----'))} succeeds", err):
            return None
        if not ck.quiet:
            print(f"     ({len(docs)} objects rendered)")
        check_province(ck, tp, docs, code, cfg, ctx)
        check_schemas(ck, ctx, docs)
        return docs

    ca_file = os.path.join(work, "federation-ca.pem")
    open(ca_file, "w", encoding="utf-8").write(FAKE_CA)
    crl_file = os.path.join(work, "federation-crl.pem")
    open(crl_file, "w", encoding="utf-8").write(FAKE_CRL)
    # 1. The issue's target: Hunan, 3 replicas on PostgreSQL, certificate from Hunan's own
    #    cert-manager Issuer, the federation CA and CRL as values, reached through a
    #    LoadBalancer from the gateway's CIDRs, images by digest, monitoring on.
    issuer = {"name": "hunan-province-ca", "kind": "Issuer", "group": "cert-manager.io"}
    pg = {"enabled": True, "conninfo": "sslmode=verify-full connect_timeout=5", "existingSecret": "tongban-postgres",
          "poolSize": 6, "outboxLeaseSeconds": 90, "sslRootCert": {"configMap": "hunan-pg-ca", "key": "root.crt"}}
    f = write(os.path.join(work, "province-pg.yaml"), {
        "provinceCode": "430000", "node": {"replicas": 3, "postgres": pg, "service": {"type": "LoadBalancer"}},
        "federation": {"gatewayCIDRs": ["203.0.113.0/24", "2001:db8::/32"]},
        "certs": {"mode": "certManager", "certManager": {"issuerRef": issuer, "extraNodeDnsNames": ["tongban-node.hunan.gov.cn"]}},
        "image": {"digests": {"node": DIGEST_NODE}}, "monitoring": {"enabled": True}})
    run("province+postgres+certManager", base + ["-f", f, "--set-file", f"federation.ca={ca_file}",
                                                 "--set-file", f"federation.crls.0a1b2c3d\\.r0={crl_file}"], "430000",
        {"replicas": 3, "postgres": pg, "certs_mode": "certManager", "issuer_ref": issuer,
         "extra_dns": ["tongban-node.hunan.gov.cn"], "ca": FAKE_CA, "crls": {"0a1b2c3d.r0": FAKE_CRL},
         "gateway_cidrs": ["203.0.113.0/24", "2001:db8::/32"], "service_type": "LoadBalancer",
         "monitoring": True, "digest": DIGEST_NODE})
    # 2. SQLite, one replica, the certificate from an existing Secret (trust: its ca.crt),
    #    --set provinceCode as a number, no CIDRs: gRPC open to any (mTLS-checked) caller.
    run("province+sqlite+secret", base + ["--set", "provinceCode=510000"], "510000", {"replicas": 1})
    if quick:
        return
    # 3. PostgreSQL with everything from the Secret (no conninfo), one replica (no PDB), the
    #    province's window systems as extra peers, the CA from an existing ConfigMap.
    peers = [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "window-systems"}}}]
    pg2 = {"enabled": True, "existingSecret": "pg-conn", "poolSize": 8, "outboxLeaseSeconds": 120}
    f = write(os.path.join(work, "province-pg1.yaml"), {
        "provinceCode": "310000", "node": {"postgres": pg2}, "networkPolicy": {"node": {"extraGrpcFrom": peers}}})
    run("province+postgres+1replica", base + ["-f", f], "310000",
        {"replicas": 1, "postgres": pg2, "extra_from": peers})


def province_rejects(ck, helm, work):
    ck.scope = "rejects"
    base = ["--set", "mode=province", "--set", "provinceCode=430000", "--set", f"federation.gatewayAddress={GATEWAY_ADDRESS}"]
    pg = ["--set", "node.postgres.enabled=true", "--set", "node.postgres.existingSecret=pg"]
    cases = [
        ("node.replicas=3 on SQLite (national)", ["--set", "node.replicas=3"], "node.replicas=3 needs node.postgres.enabled=true"),
        ("node.replicas=2 on SQLite (province)", base + ["--set", "node.replicas=2"], "node.replicas=2 needs node.postgres.enabled=true"),
        ("mode province without provinceCode", ["--set", "mode=province", "--set", f"federation.gatewayAddress={GATEWAY_ADDRESS}"], "set provinceCode"),
        ("provinceCode not in provinces", base[:2] + ["--set", "provinceCode=710000", "--set", f"federation.gatewayAddress={GATEWAY_ADDRESS}"], "provinceCode"),
        ("provinceCode 440000 not among the CI values' provinces",
         ["-f", os.path.join(helm.chart, "ci", "three-provinces-values.yaml")] + base[:2] + ["--set", "provinceCode=440000", "--set", f"federation.gatewayAddress={GATEWAY_ADDRESS}"],
         "provinceCode 440000 is not one of provinces[].code"),
        ("mode province without federation.gatewayAddress", ["--set", "mode=province", "--set", "provinceCode=430000"], "federation.gatewayAddress"),
        ("federation.gatewayAddress without a port", base + ["--set", "federation.gatewayAddress=gateway.example.cn"], "federation.gatewayAddress"),
        ("mode=regional", ["--set", "mode=regional"], "mode"),
        ("provinceCode in national mode", ["--set", "provinceCode=430000"], "provinceCode 430000 is set but mode is national"),
        ("federation.gatewayAddress in national mode", ["--set", f"federation.gatewayAddress={GATEWAY_ADDRESS}"], "federation.gatewayAddress is for mode province"),
        ("node.postgres in national mode", pg, "node.postgres.enabled needs mode province"),
        ("node.postgres without Secret or conninfo", base + ["--set", "node.postgres.enabled=true"], "node.postgres.existingSecret"),
        ("a password in node.postgres.conninfo", base + pg + ["--set", "node.postgres.conninfo=host=pg password=secret"], "holds a password"),
        ("node.postgres.poolSize=0", base + pg + ["--set", "node.postgres.poolSize=0"], "node.postgres.poolSize"),
        ("node.postgres.outboxLeaseSeconds=5 (node: 10-3600)", base + pg + ["--set", "node.postgres.outboxLeaseSeconds=5"], "node.postgres.outboxLeaseSeconds"),
        ("certManager in province mode without the federation CA", base + ["--set", "certs.mode=certManager"], "set federation.ca"),
        ("federation.ca and certs.trustBundle.configMap both", base + ["--set", "federation.ca=-----BEGIN CERTIFICATE-----", "--set", "certs.trustBundle.configMap=x"], "name one trust bundle"),
        ("federation.ca that is not a PEM certificate", base + ["--set", "federation.ca=hello"], "federation.ca"),
        ("a CRL file name that is not <hash>.r<n>", base + ["--set", "federation.crls.crl\\.pem=-----BEGIN X509 CRL-----"], "federation.crls"),
        ("a node image digest that is not sha256:<64 hex>", ["--set", "image.digests.node=sha256:abc"], "image.digests.node"),
        ("headless node Service of type LoadBalancer", base + ["--set", "node.service.type=LoadBalancer", "--set", "node.service.headless=true"], "node.service.headless needs"),
        ("node.replicas=0", ["--set", "node.replicas=0"], "node.replicas"),
    ]
    for what, args, needle in cases:
        ok, docs, err = helm.template(args)
        ck.check(not ok and needle in err, f"helm template fails for {what}, naming {needle!r}",
                 f"exit 0, rendered {len(docs)} objects" if ok else f"error did not name {needle!r}:\n{err}")


# ---------------------------------------------------------------------------- scenarios
def write(path, data):
    with open(path, "w", encoding="utf-8") as f:
        yaml.safe_dump(data, f, allow_unicode=True, sort_keys=False)
    return path


def scenarios(ck, helm, tp, ctx, work, quick=False):
    chart = helm.chart
    ci = os.path.join(chart, "ci", "three-provinces-values.yaml")
    values = ctx["values"]
    issuer = values["certs"]["certManager"]["issuerRef"]
    all_codes = [p["code"] for p in values["provinces"]]

    def run(scope, args, codes, cfg):
        ck.scope = scope
        ok, docs, err = helm.template(args)
        if not ck.check(ok, f"helm template {' '.join(args) or '(default values)'} succeeds", err):
            return
        if not ck.quiet:
            print(f"     ({len(docs)} objects rendered)")
        ctx.pop("cert_dns", None)  # set by check_certs in certManager mode only
        check_render(ck, tp, docs, codes, cfg, dict(ctx, work=work))
        check_schemas(ck, ctx, docs)
        return docs

    # 1. default values: every province of the registry.
    ck.scope = "values"
    registry = ctx["registry"]
    got = [(p["code"], p["name"], p.get("nameEn", "")) for p in values["provinces"]]
    ck.check(got == registry, f"values.yaml lists the {len(registry)} provinces of common/province_registry.cc (codes, names, order)",
             {"values": got, "registry": registry} if got != registry else None)
    got_alliances = [{"alliance_id": a["id"], "name_zh": a["nameZh"], "name_en": a.get("nameEn", ""), "members": a["members"]}
                     for a in values["alliances"]]
    ck.check(got_alliances == ctx["alliances_tsv"], "values.yaml alliances equal node/demo_catalog/alliances.tsv",
             {"values": got_alliances, "tsv": ctx["alliances_tsv"]} if got_alliances != ctx["alliances_tsv"] else None)
    ck.check(values["gateway"]["replicas"] >= 2 and values["gateway"]["autoscaling"]["minReplicas"] >= 2
             and values["gateway"]["pdb"]["minAvailable"] == 1 and values["probes"]["mode"] == "grpc",
             "values defaults: gateway replicas >= 2, HPA min >= 2, PDB minAvailable 1, probes.mode grpc",
             {k: values[k] for k in ("gateway", "probes")})

    run("default", [], all_codes, {})
    run("ci", ["-f", ci], CI_CODES, {})
    run("ci+monitoring+certManager", ["-f", ci, "--set", "monitoring.enabled=true", "--set", "certs.mode=certManager"],
        CI_CODES, {"monitoring": True, "certs_mode": "certManager", "issuer_ref": issuer})
    # The public edge (tests/helm/public-edge-values.yaml: every key off its default).
    edge_defaults = values["gateway"]["publicEdge"]
    edge_file = yaml.safe_load(open(EDGE_VALUES, encoding="utf-8"))["gateway"]["publicEdge"]
    edge = merged(edge_defaults, edge_file)
    run("ci+publicEdge", ["-f", ci, "-f", EDGE_VALUES], CI_CODES, {"edge": edge})
    # Time limits: a local calendar layer, approvers for all and for one province, escalation on.
    tl_file = write(os.path.join(work, "time-limits.yaml"), {
        "provinces": [dict(p, **({"extensionApprovers": ["chief-01", "chief-02"]} if p["code"] == "310000" else {}))
                      for p in yaml.safe_load(open(ci, encoding="utf-8"))["provinces"]],
        "node": {"config": {"timeLimits": {
            "calendarFiles": ["/usr/share/tongban/working_days/cn-national.tsv", "/etc/tongban/local/cn-31.tsv"],
            "extensionApprovers": ["officer-02"], "escalateOverdue": True}}}})
    run("ci+timeLimits", ["-f", ci, "-f", tl_file], CI_CODES, {"time_limits": {
        "calendar_files": ["/usr/share/tongban/working_days/cn-national.tsv", "/etc/tongban/local/cn-31.tsv"],
        "approvers": {"310000": ["chief-01", "chief-02"]}, "approvers_default": ["officer-02"], "escalate": True}})
    province_scenarios(ck, helm, tp, ctx, work, quick)
    if quick:
        return
    # Images by digest: repository@sha256:..., the tag ignored.
    docs = run("ci+digests", ["-f", ci, "--set", "image.tag=1.2.3", "--set", f"image.digests.node={DIGEST_NODE}",
                              "--set", f"image.digests.gateway={DIGEST_GATEWAY}"], CI_CODES, {})
    if docs:
        images = sorted({container(d)["image"] for d in by_kind(docs, "StatefulSet") + by_kind(docs, "Deployment")})
        want = sorted({f"{values['image']['node']}@{DIGEST_NODE}", f"{values['image']['gateway']}@{DIGEST_GATEWAY}"})
        ck.check(images == want, "image.digests pin both images as <repository>@sha256:... (tag ignored)", images)
    docs = run("ci+tag", ["-f", ci, "--set", "image.tag=1.2.3"], CI_CODES, {})
    if docs:
        images = sorted({container(d)["image"] for d in by_kind(docs, "StatefulSet") + by_kind(docs, "Deployment")})
        ck.check(images == sorted({f"{values['image']['node']}:1.2.3", f"{values['image']['gateway']}:1.2.3"}),
                 "without digests the images go by tag", images)

    def edge_variant(name, over):
        """A values file on top of public-edge-values.yaml, and the publicEdge it amounts to."""
        return (write(os.path.join(work, name), {"gateway": {"publicEdge": over}}), merged(edge, over))

    acme = {"name": "letsencrypt-prod", "kind": "ClusterIssuer", "group": "cert-manager.io"}
    f, want = edge_variant("edge-cm.yaml", {
        "tls": {"existingSecret": "tongban-gateway-edge-tls", "certManager": {
            "enabled": True, "issuerRef": acme, "dnsNames": ["api.tongban.example.cn", "tongban.example.cn"]}},
        "service": {"type": "ClusterIP", "annotations": {}}, "networkPolicy": {"allowedCIDRs": [], "from": []},
        "corsAllowedOrigins": ["*"]})
    run("default+publicEdge+certManager+monitoring", ["-f", EDGE_VALUES, "-f", f, "--set", "monitoring.enabled=true",
                                                      "--set", "certs.mode=certManager"],
        all_codes, {"edge": want, "monitoring": True, "certs_mode": "certManager", "issuer_ref": issuer})
    f, want = edge_variant("edge-tcp.yaml", {"service": {"type": "NodePort", "externalTrafficPolicy": "Cluster"},
                                             "httpsPort": 8443, "grpcPort": 9443, "rateLimitPerSecond": 100,
                                             "corsAllowedOrigins": []})
    run("ci+publicEdge+probes.tcp", ["-f", ci, "-f", EDGE_VALUES, "-f", f, "--set", "probes.mode=tcp"],
        CI_CODES, {"edge": want, "probes_mode": "tcp"})
    # The dev key pair's way in: kid by --set, the PEM by --set-file (a list index path).
    pem_file = os.path.join(work, "dev-public-key.pem")
    open(pem_file, "w", encoding="utf-8").write(edge["tokens"]["keys"][1]["publicKeyPem"])
    # (--set keys[0] replaces the first entry of the values files' list and keeps the others).
    want = merged(edge, {"tokens": {"keys": [{"kid": "dev-1", "publicKeyPem": edge["tokens"]["keys"][1]["publicKeyPem"]},
                                             edge["tokens"]["keys"][1]]}})
    run("ci+publicEdge+set-file", ["-f", ci, "-f", EDGE_VALUES, "--set", "gateway.publicEdge.tokens.keys[0].kid=dev-1",
                                   "--set-file", f"gateway.publicEdge.tokens.keys[0].publicKeyPem={pem_file}"],
        CI_CODES, {"edge": want})

    # A new PEM under the same kid changes no config line: only checksum/edge-tokens rolls the pods.
    ck.scope = "publicEdge"
    swapped = copy.deepcopy(edge_file)
    swapped["tokens"]["keys"][0]["publicKeyPem"] = edge_file["tokens"]["keys"][1]["publicKeyPem"]
    f = write(os.path.join(work, "edge-swapped.yaml"), {"gateway": {"publicEdge": swapped}})
    annotations = []
    for args in (["-f", ci, "-f", EDGE_VALUES], ["-f", ci, "-f", f]):
        ok, docs, err = helm.template(args + ["--show-only", "templates/gateway-deployment.yaml"])
        annotations.append(docs[0]["spec"]["template"]["metadata"]["annotations"] if ok and docs else {"error": err})
    a, b = annotations
    ck.check(a.get("checksum/config") == b.get("checksum/config") and a.get("checksum/edge-tokens")
             and a.get("checksum/edge-tokens") != b.get("checksum/edge-tokens"),
             "a token key's new PEM (same kid) changes the pod template (checksum/edge-tokens): the edge reads keys at start-up",
             annotations)
    run("default+monitoring+certManager", ["--set", "monitoring.enabled=true", "--set", "certs.mode=certManager",
                                           "--set", "certs.certManager.issuerRef.name=other-ca", "--set", "certs.certManager.issuerRef.kind=Issuer"],
        all_codes, {"monitoring": True, "certs_mode": "certManager", "issuer_ref": dict(issuer, name="other-ca", kind="Issuer")})

    # certs.create: Secrets from PEM values (dummy PEM-shaped text: the chart never parses them).
    pems = {"ca": "-----BEGIN CERTIFICATE-----\nQ0E=\n-----END CERTIFICATE-----\n"}
    nodes = {}
    for code in all_codes + ["gateway"]:
        ident = "gateway" if code == "gateway" else f"node-{code}"
        pems[ident] = (f"-----BEGIN CERTIFICATE-----\n{base64.b64encode(ident.encode()).decode()}\n-----END CERTIFICATE-----\n",
                       f"-----BEGIN {FAKE_KEY_LABEL}-----\n{base64.b64encode(('key-' + ident).encode()).decode()}\n-----END {FAKE_KEY_LABEL}-----\n")
        if code != "gateway":
            nodes[code] = {"cert": pems[ident][0], "key": pems[ident][1]}
    create = write(os.path.join(work, "create.yaml"), {"certs": {
        "create": True, "existingSecretPrefix": "fed-id", "ca": pems["ca"],
        "gateway": {"cert": pems["gateway"][0], "key": pems["gateway"][1]}, "nodes": nodes}})
    run("default+certs.create", ["-f", create], all_codes,
        {"certs_create": True, "pems": pems, "secret_prefix": "fed-id"})
    run("ci+probes.tcp", ["-f", ci, "--set", "probes.mode=tcp"], CI_CODES, {"probes_mode": "tcp"})
    run("ci+healthPort", ["-f", ci, "--set", "probes.healthPort=9090"], CI_CODES, {"health_port": 9090})
    run("ci+trust+crl", ["-f", ci, "--set", "certs.trustBundle.configMap=fed-trust", "--set", "certs.trustBundle.key=bundle.pem",
                         "--set", "certs.crlConfigMap=fed-crl"], CI_CODES,
        {"trust_configmap": "fed-trust", "trust_key": "bundle.pem", "crl_configmap": "fed-crl"})
    run("ci+no-hpa", ["-f", ci, "--set", "gateway.autoscaling.enabled=false", "--set", "gateway.replicas=3"],
        CI_CODES, {"autoscaling": False, "gateway_replicas": 3})

    # Rejections: the schema (or the chart's own checks) must make helm template fail.
    ck.scope = "rejects"
    ci_provinces = yaml.safe_load(open(ci, encoding="utf-8"))["provinces"]

    def bad_provinces(name, provinces):
        return write(os.path.join(work, name), {"provinces": provinces})

    first = dict(ci_provinces[0])
    cases = [
        ("province code 440001 (not ^[1-6][0-9]0000$)",
         ["-f", bad_provinces("p1.yaml", [dict(first, code="440001")])], "provinces.0.code"),
        ("province code 710000 (Taiwan: outside [1-6])",
         ["-f", bad_provinces("p2.yaml", [dict(first, code="710000")])], "provinces.0.code"),
        ("province code 43000 (5 digits)",
         ["-f", bad_provinces("p3.yaml", [dict(first, code="43000")])], "provinces.0.code"),
        ("province code as a YAML number 430000",
         ["-f", bad_provinces("p4.yaml", [dict(first, code=430000)])], "provinces.0.code"),
        ("the same province twice",
         ["-f", bad_provinces("p5.yaml", [first, dict(first)])], "listed twice"),
        ("no provinces", ["-f", bad_provinces("p6.yaml", [])], "provinces"),
        ("gateway.replicas=1", ["--set", "gateway.replicas=1"], "gateway.replicas"),
        ("gateway.autoscaling.minReplicas=1", ["--set", "gateway.autoscaling.minReplicas=1"], "minReplicas"),
        ("certs.mode=vault", ["--set", "certs.mode=vault"], "certs.mode"),
        ("probes.mode=http", ["--set", "probes.mode=http"], "probes.mode"),
        ("an extension approver that is not an officer id", ["--set", "node.config.timeLimits.extensionApprovers={Chief 01}"],
         "extensionApprovers"),
        ("a relative calendar file", ["--set", "node.config.timeLimits.calendarFiles={cn-national.tsv}"], "calendarFiles"),
        ("node.terminationGracePeriodSeconds=10 (not above the node's 10 s grace)",
         ["--set", "node.terminationGracePeriodSeconds=10"], "terminationGracePeriodSeconds"),
        ("a misspelt key gateway.replica=3", ["--set", "gateway.replica=3"], "replica"),
        ("certs.create=true without the PEMs of a deployed province",
         ["-f", create, "--set", "certs.nodes.430000=null"], "430000"),
        ("probes.healthPort = the node gRPC port", ["--set", "probes.healthPort=50051"], "healthPort"),
        # The public edge: one switch, but never without what the gateway cannot start without.
        ("gateway.publicEdge.enabled without tokens (issuer, audience, keys)",
         ["--set", "gateway.publicEdge.enabled=true"], "gateway.publicEdge.tokens.keys"),
        ("gateway.publicEdge enabled with issuer and audience but no keys",
         ["-f", EDGE_VALUES, "--set", "gateway.publicEdge.tokens.keys=null"], "gateway.publicEdge.tokens: keys is required"),
        ("gateway.publicEdge enabled without tokens.issuer",
         ["-f", EDGE_VALUES, "--set", "gateway.publicEdge.tokens.issuer="], "gateway.publicEdge.tokens.issuer"),
        ("gateway.publicEdge enabled without tls.existingSecret",
         ["-f", EDGE_VALUES, "--set", "gateway.publicEdge.tls.existingSecret="], "gateway.publicEdge.tls.existingSecret"),
        ("gateway.publicEdge.httpsPort=70000", ["-f", EDGE_VALUES, "--set", "gateway.publicEdge.httpsPort=70000"], "gateway.publicEdge.httpsPort"),
        ("gateway.publicEdge.grpcPort=0", ["-f", EDGE_VALUES, "--set", "gateway.publicEdge.grpcPort=0"], "gateway.publicEdge.grpcPort"),
        ("gateway.publicEdge.service.ports.https=65536",
         ["-f", EDGE_VALUES, "--set", "gateway.publicEdge.service.ports.https=65536"], "gateway.publicEdge.service.ports.https"),
        ("gateway.publicEdge.grpcPort = the gateway's mTLS port",
         ["-f", EDGE_VALUES, "--set", "gateway.publicEdge.grpcPort=50050"], "grpcPort 50050 collides with gateway.ports.grpc"),
        ("gateway.publicEdge.httpsPort = the health port",
         ["-f", EDGE_VALUES, "--set", "gateway.publicEdge.httpsPort=8081"], "httpsPort 8081 collides with probes.healthPort"),
        ("gateway.publicEdge.httpsPort = its grpcPort",
         ["-f", EDGE_VALUES, "--set", "gateway.publicEdge.httpsPort=9444"], "grpcPort 9444 collides with gateway.publicEdge.httpsPort"),
        ("gateway.publicEdge.rateLimitPerSecond=0", ["-f", EDGE_VALUES, "--set", "gateway.publicEdge.rateLimitPerSecond=0"],
         "gateway.publicEdge.rateLimitPerSecond"),
        ("gateway.publicEdge.maxRequestBytes=100 (gateway: 1024..16777216)",
         ["-f", EDGE_VALUES, "--set", "gateway.publicEdge.maxRequestBytes=100"], "gateway.publicEdge.maxRequestBytes"),
        ("a private key as a token key (it would land in a ConfigMap)",
         ["-f", EDGE_VALUES, "--set", f"gateway.publicEdge.tokens.keys[0].publicKeyPem=-----BEGIN {FAKE_KEY_LABEL}-----"],
         "gateway.publicEdge.tokens.keys.0.publicKeyPem"),
        ("two token keys with one kid (the gateway refuses them)",
         ["-f", EDGE_VALUES, "--set", "gateway.publicEdge.tokens.keys[1].kid=2026-11"], 'kid "2026-11" is listed twice'),
        ("a CORS origin with a path", ["-f", EDGE_VALUES, "--set", "gateway.publicEdge.corsAllowedOrigins[0]=https://a.cn/app"],
         "gateway.publicEdge.corsAllowedOrigins.0"),
        ("a public-port CIDR that is not one", ["-f", EDGE_VALUES, "--set", "gateway.publicEdge.networkPolicy.allowedCIDRs[0]=10.0.0.0"],
         "gateway.publicEdge.networkPolicy.allowedCIDRs.0"),
        ("gateway.publicEdge.service.type=ExternalName", ["-f", EDGE_VALUES, "--set", "gateway.publicEdge.service.type=ExternalName"],
         "gateway.publicEdge.service.type"),
        ("the edge Certificate without dnsNames or issuer",
         ["-f", EDGE_VALUES, "--set", "gateway.publicEdge.tls.certManager.enabled=true"], "gateway.publicEdge.tls.certManager.dnsNames"),
        ("a misspelt edge key gateway.publicEdge.rateLimit=5", ["--set", "gateway.publicEdge.rateLimit=5"], "rateLimit"),
    ]
    for what, args, needle in cases:
        ok, docs, err = helm.template(args)
        ck.check(not ok and needle in err, f"helm template fails for {what}, naming {needle!r}",
                 f"exit 0, rendered {len(docs)} objects" if ok else f"error did not name {needle!r}:\n{err}")
    province_rejects(ck, helm, work)


def lint(ck, helm):
    ck.scope = "lint"
    chart = helm.chart
    ci = os.path.join(chart, "ci", "three-provinces-values.yaml")
    for args in ([], ["-f", ci], ["-f", ci, "--set", "monitoring.enabled=true", "--set", "certs.mode=certManager"],
                 ["--set", "probes.mode=tcp"], ["-f", ci, "-f", EDGE_VALUES],
                 ["--set", "mode=province", "--set", "provinceCode=430000", "--set", f"federation.gatewayAddress={GATEWAY_ADDRESS}",
                  "--set", "node.replicas=3", "--set", "node.postgres.enabled=true", "--set", "node.postgres.existingSecret=pg",
                  "--set", "monitoring.enabled=true"]):
        rc, out, err = helm.run(["lint", "--strict", chart, "--namespace", NAMESPACE] + args)
        ck.check(rc == 0, f"helm lint --strict {' '.join(args) or '(default values)'}", out + err)
    rc, out, err = helm.run(["lint", chart, "--set", "gateway.replicas=1"])
    ck.check(rc != 0 and "gateway.replicas" in out + err, "helm lint rejects gateway.replicas=1 (schema)", out + err)


def alerts(ck, ctx, chart, source_root):
    ck.scope = "alerts"
    path = os.path.join(chart, "files", "tongban-alerts.yml")
    ck.check(ctx["alerts"] and ctx["alerts"].get("groups"), "files/tongban-alerts.yml is a rules file with groups", ctx["alerts"])
    promtool = shutil.which("promtool")
    if promtool:
        p = subprocess.run([promtool, "check", "rules", path], capture_output=True, text=True)
        ck.check(p.returncode == 0, "promtool check rules files/tongban-alerts.yml", p.stdout + p.stderr)
    else:
        print("skip - promtool not installed: rules syntax not checked (apt-get install prometheus)")
    docs_copy = os.path.join(source_root, "docs", "prometheus", "tongban-alerts.yml")
    if os.path.exists(docs_copy):
        same = open(docs_copy, "rb").read() == open(path, "rb").read()
        ck.check(same, "helm/tongban/files/tongban-alerts.yml is identical to docs/prometheus/tongban-alerts.yml "
                       "(cp docs/prometheus/tongban-alerts.yml helm/tongban/files/)", None if same else "the two files differ")
    else:
        print("skip - docs/prometheus/tongban-alerts.yml does not exist yet: the chart's copy is not compared")


def notes(ck, helm_bin, chart, work):
    """templates/NOTES.txt renders (helm template skips it; install needs a cluster): a copy
    of the chart defines it as a template and renders it into a ConfigMap."""
    ck.scope = "notes"
    copy_dir = os.path.join(work, "notes-chart")
    shutil.rmtree(copy_dir, ignore_errors=True)
    shutil.copytree(chart, copy_dir)
    src = os.path.join(copy_dir, "templates", "NOTES.txt")
    text = open(src, encoding="utf-8").read()
    os.remove(src)
    open(os.path.join(copy_dir, "templates", "_notes_under_test.tpl"), "w", encoding="utf-8").write(
        '{{- define "notes-under-test" -}}\n' + text + "\n{{- end -}}\n")
    open(os.path.join(copy_dir, "templates", "notes-under-test.yaml"), "w", encoding="utf-8").write(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: notes-under-test\ndata:\n"
        '  NOTES.txt: {{ include "notes-under-test" . | toJson }}\n')
    helm = Helm(helm_bin, copy_dir)
    ci = os.path.join(chart, "ci", "three-provinces-values.yaml")
    for args, codes, needles in (
            ([], None, ["tongban-tls-node-<code>", "gRPC probes"]),
            (["-f", ci, "--set", "certs.mode=certManager", "--set", "monitoring.enabled=true"], CI_CODES,
             ["certificates.cert-manager.io", "ServiceMonitors"]),
            (["-f", ci, "--set", "probes.mode=tcp", "--set", "gateway.autoscaling.enabled=false"], CI_CODES,
             ["TCP connect", "2 replicas"]),
            (["-f", ci, "-f", EDGE_VALUES], CI_CODES,
             [f"https://{EDGE_SVC}.{NAMESPACE}.svc/v1/guides", f"{EDGE_SVC}.{NAMESPACE}.svc:8443", "get service tongban-gateway-public",
              "create secret tls citizen-edge-tls", "no restart", "only 203.0.113.0/24, 2001:db8::/32"]),
            (["-f", ci, "-f", EDGE_VALUES, "--set", "gateway.publicEdge.tls.certManager.enabled=true",
              "--set", "gateway.publicEdge.tls.certManager.issuerRef.name=letsencrypt-prod",
              "--set", "gateway.publicEdge.tls.certManager.dnsNames[0]=api.tongban.example.cn"], CI_CODES,
             ["https://api.tongban.example.cn/", "ClusterIssuer/letsencrypt-prod", "no restart"]),
            (["--set", "mode=province", "--set", "provinceCode=430000", "--set", f"federation.gatewayAddress={GATEWAY_ADDRESS}",
              "--set", "node.replicas=3", "--set", "node.postgres.enabled=true", "--set", "node.postgres.existingSecret=pg"], ["430000"],
             ["Province mode", f"joining the national gateway at {GATEWAY_ADDRESS}", "3 replica(s) on PostgreSQL", "Secret pg",
              "PodDisruptionBudget maxUnavailable 1", 'nodes { province_code: "430000"', "any source"])):
        ok, docs, err = helm.template(args + ["--show-only", "templates/notes-under-test.yaml"])
        rendered = docs[0]["data"]["NOTES.txt"] if ok and docs else err
        codes = codes or [p["code"] for p in yaml.safe_load(open(os.path.join(chart, "values.yaml"), encoding="utf-8"))["provinces"]]
        want = needles + [f"tongban-node-{c}." for c in codes]
        missing = [w for w in want if w not in rendered]
        if "mode=province" in args:
            missing += [f"(mentions {w})" for w in ("Gateway: Deployment", "tongban-tls-gateway") if w in rendered]
        ck.check(ok and not missing, f"NOTES.txt renders with {' '.join(args) or '(default values)'} and names {len(codes)} node addresses and {needles}",
                 f"missing {missing}:\n{rendered}" if ok else err)


# Mutations of the chart that the checks above must catch: proof the test can fail.
MUTATIONS = [
    ("node NetworkPolicy admits gRPC from any pod", "templates/networkpolicy.yaml",
     "    - from:\n        - podSelector:\n            matchLabels:\n              {{- include \"tongban.gatewaySelectorLabels\" . | nindent 14 }}",
     "    - from:\n        - podSelector: {}"),
    ("probes switched to tcpSocket", "templates/_helpers.tpl",
     '{{- $action = printf "grpc:\\n  port: %d" (int $p.healthPort) -}}',
     '{{- $action = printf "tcpSocket:\\n  port: %d" (int $p.healthPort) -}}'),
    ("directory drops the first province", "templates/_helpers.tpl",
     "{{- range .Values.provinces }}\nnodes {", "{{- range (rest .Values.provinces) }}\nnodes {"),
    ("gateway replicas hard-coded to 1", "templates/gateway-deployment.yaml",
     "  replicas: {{ $replicas }}", "  replicas: 1"),
    ("node Secret name without the province", "templates/_helpers.tpl",
     '{{ printf "%s-%s" .root.Values.certs.existingSecretPrefix .id }}',
     '{{ printf "%s-node" .root.Values.certs.existingSecretPrefix }}'),
    ("public Service sends https to the mTLS port", "templates/gateway-public-service.yaml",
     "      targetPort: https\n", "      targetPort: grpc\n"),
    ("edge token keys mounted where the config does not look", "templates/gateway-deployment.yaml",
     '              mountPath: {{ include "tongban.edgeTokensDir" . }}',
     "              mountPath: /etc/tongban/edge/keys"),
    ("public_edge ignores rateLimitBurst", "templates/_helpers.tpl",
     "  rate_limit_burst: {{ int $e.rateLimitBurst }}", "  rate_limit_burst: 20"),
    ("a province's extension approvers ignored", "templates/_helpers.tpl",
     '{{- range (hasKey .p "extensionApprovers" | ternary .p.extensionApprovers $t.extensionApprovers) }}',
     "{{- range $t.extensionApprovers }}"),
    ("node Deployment rollout may stop a replica before its successor is ready", "templates/node-deployment.yaml",
     "      maxUnavailable: 0\n", "      maxUnavailable: 1\n"),
    ("node PDB rendered for a single replica (blocks drains)", "templates/node-pdb.yaml",
     '{{- if gt (int (include "tongban.nodeReplicas" .)) 1 }}', '{{- if ge (int (include "tongban.nodeReplicas" .)) 1 }}'),
    ("an unknown field in the node StatefulSet (only the Kubernetes schemas catch it)", "templates/node-statefulset.yaml",
     "  podManagementPolicy: OrderedReady\n", "  podManagementPolicies: OrderedReady\n"),
    ("a string where the schema wants an integer", "templates/node-deployment.yaml",
     "  minReadySeconds: {{ int $.Values.node.minReadySeconds }}", '  minReadySeconds: "{{ int $.Values.node.minReadySeconds }}"'),
    ("image digest ignored", "templates/_helpers.tpl",
     '{{ printf "%s@%s" .repository .digest }}', '{{ printf "%s:latest" .repository }}'),
    ("the PostgreSQL Secret not passed to the node", "templates/_node.tpl",
     "            name: {{ $pg.existingSecret }}\n", "            name: postgres\n"),
    ("province mode dials the in-cluster gateway", "templates/_helpers.tpl",
     'gateway_address: {{ include "tongban.textprotoString" $v.federation.gatewayAddress }}',
     'gateway_address: "tongban-gateway:50050"'),
]


def mutations(helm_bin, chart, tp, ctx, work):
    ck = Checker()
    ck.scope = "mutations"
    for what, rel, old, new in MUTATIONS:
        copy_dir = os.path.join(work, "mutant")
        shutil.rmtree(copy_dir, ignore_errors=True)
        shutil.copytree(chart, copy_dir)
        path = os.path.join(copy_dir, rel)
        text = open(path, encoding="utf-8").read()
        if not ck.check(text.count(old) == 1, f"mutation '{what}' applies to {rel}", old):
            continue
        open(path, "w", encoding="utf-8").write(text.replace(old, new))
        # Fail fast: one failed check proves the mutant is caught, and running every
        # scenario for each of the mutants made this the slowest test of the suite.
        inner = Checker(quiet=True, fail_fast=True)
        try:
            scenarios(inner, Helm(helm_bin, copy_dir), tp, ctx, work, quick=True)
        except Caught:
            pass
        ck.check(inner.failures, f"the checks catch the mutation '{what}' (first failure: {inner.failures[:1]})")
    return ck


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--helm", required=True)
    ap.add_argument("--chart", required=True)
    ap.add_argument("--protoc", required=True)
    ap.add_argument("--source-root", required=True)
    ap.add_argument("--no-mutations", action="store_true", help="skip the proof-the-test-can-fail stage")
    ap.add_argument("--k8s-validator", help="validate_k8s.js (with --k8s-schemas: its node_modules)")
    ap.add_argument("--k8s-schemas", help="node_modules with kubernetes-models and the CRD models")
    args = ap.parse_args()
    chart = os.path.abspath(args.chart)
    root = os.path.abspath(args.source_root)
    helm = Helm(args.helm, chart)
    tp = TextProto(args.protoc, os.path.join(root, "protos"))
    ctx = {
        "values": yaml.safe_load(open(os.path.join(chart, "values.yaml"), encoding="utf-8")),
        "registry": parse_registry(os.path.join(root, "common", "province_registry.cc")),
        "alliances_tsv": parse_alliances_tsv(os.path.join(root, "node", "demo_catalog", "alliances.tsv")),
        "alerts": yaml.safe_load(open(os.path.join(chart, "files", "tongban-alerts.yml"), encoding="utf-8")),
        "k8s": K8sSchemas(args.k8s_validator, args.k8s_schemas) if args.k8s_validator and args.k8s_schemas else None,
    }
    if ctx["k8s"] is None:
        print("skip - no --k8s-validator/--k8s-schemas: manifests not validated against the Kubernetes schemas")
    print(f"helm: {helm.run(['version', '--short'])[1].strip()}  chart: {chart}")
    ck = Checker()
    with tempfile.TemporaryDirectory(prefix="helm-chart-test.") as work:
        lint(ck, helm)
        alerts(ck, ctx, chart, root)
        scenarios(ck, helm, tp, ctx, work)
        notes(ck, args.helm, chart, work)
        if not args.no_mutations:
            m = mutations(args.helm, chart, tp, ctx, work)
            ck.passed += m.passed
            ck.failures += m.failures
    print(f"\n{ck.passed} checks passed, {len(ck.failures)} failed")
    for f in ck.failures:
        print(f"  FAILED: {f}")
    return 1 if ck.failures else 0


if __name__ == "__main__":
    sys.exit(main())
