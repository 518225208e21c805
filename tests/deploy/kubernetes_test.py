"""`memrun deploy --emit-kubernetes DIR` writes a kustomize overlay that
`kubectl kustomize` renders into a StatefulSet, headless Service, PDB, Secret,
ConfigMap and KEDA ScaledObject holding the package's facts (names, sizes,
replica cap, URL) and the worker's needs (probes, grace above the drain
timeout, a 0400 secret, per-pod cache volume). The committed example overlay
renders to the same invariants. Bad input uploads nothing."""
import os
import pathlib
import subprocess
import sys
import tempfile

from common import ROOT, check, drain_timeout_seconds, need, skip

cli, echo_plugin = sys.argv[1], sys.argv[2]
kubectl = need("kubectl")
try:
    import yaml
except ImportError:
    skip("python3-yaml is not installed (scripts/deps installs it)")

GiB = 1 << 30
PACKAGE_CACHE = 8 * GiB  # OpenPackageOptions::cache_bytes: the package cache shares the volume


def quantity_bytes(q):
    units = {"Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30, "Ti": 1 << 40}
    for suffix, factor in units.items():
        if q.endswith(suffix):
            return int(q[:-2]) * factor
    return int(q)


def render(directory):
    r = subprocess.run([kubectl, "kustomize", str(directory)], capture_output=True, text=True, timeout=120)
    check(r.returncode == 0, f"kubectl kustomize {directory}: {r.stderr}")
    docs = [d for d in yaml.safe_load_all(r.stdout) if d]
    by_kind = {}
    for d in docs:
        by_kind.setdefault(d["kind"], []).append(d)
    check(all(len(v) == 1 for v in by_kind.values()), f"one resource of each kind: {list(by_kind)}")
    return {k: v[0] for k, v in by_kind.items()}


def check_invariants(r, service, memory, disk, cap, package_url, bootstrap):
    name = "memrun-" + service.lower().replace("_", "-").replace(".", "-")
    sts, svc, pdb, so = r["StatefulSet"], r["Service"], r["PodDisruptionBudget"], r["ScaledObject"]
    secret, config = r["Secret"], r["ConfigMap"]
    check(sts["metadata"]["name"] == name, f"StatefulSet {name}: pods {name}-N")
    pod = sts["spec"]["template"]
    labels = pod["metadata"]["labels"]
    selects = lambda sel: all(labels.get(k) == v for k, v in sel.items())
    check(selects(sts["spec"]["selector"]["matchLabels"]), "the StatefulSet selects its pods")
    check(svc["spec"].get("clusterIP") == "None" and sts["spec"]["serviceName"] == svc["metadata"]["name"],
          "a headless Service governs the StatefulSet")
    check(selects(svc["spec"]["selector"]), "the Service selects the pods")
    check(pdb["spec"].get("maxUnavailable") == 1 and selects(pdb["spec"]["selector"]["matchLabels"]),
          "a PDB with maxUnavailable 1 over the pods")
    other = {(k, v) for k, v in labels.items()} - {(k, v) for k, v in svc["spec"]["selector"].items()}
    check("memrun.dev/service" in svc["spec"]["selector"], f"selectors name the service, not just memrun: {other}")

    spec = pod["spec"]
    check(spec["terminationGracePeriodSeconds"] > drain_timeout_seconds(),
          f"terminationGracePeriodSeconds {spec['terminationGracePeriodSeconds']} above the drain timeout")
    ann = pod["metadata"]["annotations"]
    check(ann.get("prometheus.io/scrape") == "true" and ann.get("prometheus.io/port") == "9464"
          and ann.get("prometheus.io/path") == "/metrics", "Prometheus scrape annotations")
    host = next(c for c in spec["containers"] if c["name"] == "memrun-host")
    args = host["args"]
    arg = lambda flag: args[args.index(flag) + 1]
    check(arg("--worker-id") == "$(POD_NAME)" and arg("--instance-id") == "$(POD_NAME)",
          "worker id and group.instance.id are the pod name")
    pod_name = next(e for e in host["env"] if e["name"] == "POD_NAME")
    check(pod_name["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name", "POD_NAME from the downward API")
    check(arg("--metrics-address") == "0.0.0.0:9464", "metrics listen on all addresses in the pod")
    port = next(p for p in host["ports"] if p["name"] == "metrics")
    check(port["containerPort"] == 9464, "the metrics port")
    check(host["readinessProbe"]["httpGet"]["path"] == "/readyz", "readiness on /readyz")
    check(host["livenessProbe"]["httpGet"]["path"] == "/healthz", "liveness on /healthz")
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        check(host[probe]["httpGet"]["port"] in ("metrics", 9464), f"{probe} on the metrics port")

    mounts = {m["name"]: m["mountPath"] for m in host["volumeMounts"]}
    vct = sts["spec"]["volumeClaimTemplates"]
    check(len(vct) == 1 and arg("--cache-root") == mounts[vct[0]["metadata"]["name"]],
          "the cache root is the per-pod volume claim")
    check(vct[0]["spec"]["accessModes"] == ["ReadWriteOnce"], "the claim keeps its access mode")
    storage = quantity_bytes(vct[0]["spec"]["resources"]["requests"]["storage"])
    check(storage == disk + PACKAGE_CACHE, f"cache volume = disk + package cache: {storage}")
    requests = host["resources"]["requests"]
    check(quantity_bytes(requests["memory"]) == memory, f"memory request = the service's memory: {requests}")
    check("ephemeral-storage" in requests, "an ephemeral-storage request")

    volumes = {v["name"]: v for v in spec["volumes"]}
    secret_volume = next(v for v in volumes.values() if "secret" in v)
    check(secret_volume["secret"]["secretName"] == secret["metadata"]["name"], "the Secret mounted is the one rendered")
    check(secret_volume["secret"].get("defaultMode", 0o644) & 0o077 == 0,
          f"the Secret is mounted owner-only: {oct(secret_volume['secret'].get('defaultMode', 0o644))}")
    check("host.json" in secret["data"], "the Secret holds host.json")
    check("fsGroup" not in spec.get("securityContext", {}), "no fsGroup: it would make the secret group-readable")
    check(host["securityContext"].get("runAsNonRoot") is True, "the worker runs as non-root")
    config_path = arg("--config")
    check(any(config_path.startswith(m["mountPath"] + "/") and m.get("readOnly") for m in host["volumeMounts"]),
          "the host reads its config from a read-only mount")

    check(host["envFrom"][0]["configMapRef"]["name"] == config["metadata"]["name"], "env from the ConfigMap")
    check(config["data"]["MEMRUN_PACKAGE"] == package_url, "MEMRUN_PACKAGE is the deployed URL, sha256 pinned")
    check("#sha256=" in package_url, "the URL pins the package")

    check(so["apiVersion"] == "keda.sh/v1alpha1", "a KEDA ScaledObject")
    target = so["spec"]["scaleTargetRef"]
    check(target["kind"] == "StatefulSet" and target["name"] == name, f"KEDA scales {name}: {target}")
    check(so["spec"]["maxReplicaCount"] == cap, f"maxReplicaCount {so['spec']['maxReplicaCount']} == {cap}")
    trigger = so["spec"]["triggers"][0]
    meta = trigger["metadata"]
    check(trigger["type"] == "kafka", "a kafka trigger")
    check(meta["consumerGroup"] == f"memrun-{service}" and meta["topic"] == f"memrun.requests.{service}",
          f"lag of group memrun-{service} on memrun.requests.{service}: {meta}")
    check(meta["bootstrapServers"] == bootstrap == config["data"]["MEMRUN_BOOTSTRAP_SERVERS"],
          "KEDA and the workers read the same Kafka")
    check(meta.get("allowIdleConsumers") in (None, "false"), "KEDA never scales past the partitions")


def run(*args, **kw):
    return subprocess.run([cli, *args], capture_output=True, text=True, timeout=120, **kw)


with tempfile.TemporaryDirectory() as tmp:
    tmp = pathlib.Path(tmp)
    store = tmp / "store"
    store.mkdir()
    pkg = tmp / "echo.tar.zst"
    r = run("package", "--plugin", echo_plugin, "--name", "echo_svc", "--memory", "3Gi", "--disk", "20Gi",
            "--partitions", "8", "--max-workers", "6", "-o", str(pkg))
    check(r.returncode == 0, f"memrun package: {r.stderr}")
    to = f"file://{store}/"
    bootstrap = "kafka-0.kafka:9092,kafka-1.kafka:9092"

    # Bad input: each refused with exit 2 and a message, and nothing uploaded.
    (tmp / "full").mkdir()
    (tmp / "full" / "mine.yaml").write_text("keep me")
    bad = [(["--emit-kubernetes", str(tmp / "full"), "-b", bootstrap], "not empty"),
           (["--emit-kubernetes", str(tmp / "a"), "--image", "x"], "--bootstrap-servers")]
    for extra, message in bad:
        r = run("deploy", str(pkg), "--to", to, *extra, env={k: v for k, v in os.environ.items()
                                                             if k != "MEMRUN_BOOTSTRAP_SERVERS"})
        check(r.returncode == 2 and message in r.stderr, f"{extra}: exit {r.returncode}, {r.stderr}")
    check((tmp / "full" / "mine.yaml").read_text() == "keep me", "a non-empty DIR is left alone")
    long_pkg = tmp / "long.tar.zst"
    r = run("package", "--plugin", echo_plugin, "--name", "x" * 60, "-o", str(long_pkg))
    check(r.returncode == 0, f"memrun package: {r.stderr}")
    r = run("deploy", str(long_pkg), "--to", to, "--emit-kubernetes", str(tmp / "long"), "-b", bootstrap)
    check(r.returncode == 2 and "Kubernetes name" in r.stderr, f"a too long name: {r.returncode} {r.stderr}")
    no_manifest = tmp / "nomanifest.tar.zst"
    (tmp / "plugin").mkdir()
    (tmp / "plugin" / "x.so").write_text("x")
    subprocess.run(["tar", "--zstd", "-cf", str(no_manifest), "-C", str(tmp), "plugin/x.so"], check=True)
    r = run("deploy", str(no_manifest), "--to", to, "--emit-kubernetes", str(tmp / "nm"), "-b", bootstrap)
    check(r.returncode == 2 and "manifest" in r.stderr, f"a package without manifest: {r.returncode} {r.stderr}")
    check(not any(store.iterdir()), "nothing was uploaded by a refused deploy")
    check(not (tmp / "long").exists() and not (tmp / "nm").exists(), "no overlay for a refused deploy")

    out = tmp / "overlay"
    # The cluster named for the workers is out of reach here: no topic check.
    r = run("deploy", str(pkg), "--to", to, "--emit-kubernetes", str(out), "-b", bootstrap, "--skip-topics")
    check(r.returncode == 0, f"memrun deploy --emit-kubernetes: {r.stderr}")
    url = r.stdout.strip()
    check((out / "host.json").stat().st_mode & 0o077 == 0, "host.json (for the S3 secret) is owner-only")
    for f in (ROOT / "deploy/kubernetes/base").iterdir():
        check((out / "base" / f.name).read_text() == f.read_text(), f"the overlay's base/{f.name} is deploy's")
    check_invariants(render(out), "echo_svc", 3 * GiB, 20 * GiB, min(6, 8), url, bootstrap)

# The committed example: service echo, 2Gi memory, 20Gi disk, 16 partitions, max_workers 8.
example = ROOT / "deploy/kubernetes/overlays/example"
rendered = render(example)
check_invariants(rendered, "echo", 2 * GiB, 20 * GiB, 8, rendered["ConfigMap"]["data"]["MEMRUN_PACKAGE"],
                 "kafka-0.kafka:9092,kafka-1.kafka:9092,kafka-2.kafka:9092")
print("Kubernetes overlays OK")
