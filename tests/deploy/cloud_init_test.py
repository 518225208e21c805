"""deploy/cloud-init/memrun.yaml is valid cloud-config, installs the .deb and
enables memrun-host@ instances, and writes exactly the files the systemd unit
reads, with the modes the host demands (host.json root-only)."""
import json
import pathlib
import re
import subprocess
import tempfile

from common import ROOT, check, unit_settings

try:
    import yaml
except ImportError:
    from common import skip
    skip("python3-yaml is not installed (scripts/deps installs it)")

text = (ROOT / "deploy/cloud-init/memrun.yaml").read_text()
check(text.startswith("#cloud-config\n"), "the first line is #cloud-config")
doc = yaml.safe_load(text)
check(isinstance(doc, dict), "a YAML mapping")

files = {f["path"]: f for f in doc["write_files"]}
unit = unit_settings((ROOT / "deploy/systemd/memrun-host@.service").read_text())
credential = unit[("Service", "LoadCredential")][0].split(":", 1)[1]
check(credential in files, f"cloud-init writes the credential source {credential}")
check(files[credential]["permissions"] == "0600" and files[credential]["owner"] == "root:root",
      f"{credential} is root:root 0600")
config = json.loads(files[credential]["content"])
check(set(config) <= {"service", "kafka", "worker_id", "cache_root", "result_url", "metrics_address", "s3"},
      f"host.json holds only config keys the host knows: {sorted(config)}")

env_files = [v.lstrip("-") for v in unit[("Service", "EnvironmentFile")]]
shared = next(p for p in env_files if "%i" not in p)
check(shared in files, f"cloud-init writes the shared environment file {shared}")
defined = set(re.findall(r"^([A-Z_]+)=", files[shared]["content"], re.M))
defined |= {v.split("=", 1)[0] for v in unit.get(("Service", "Environment"), [])}
used = set(re.findall(r"\$\{([A-Z_]+)\}", unit[("Service", "ExecStart")][0]))
check(used <= defined, f"every variable ExecStart uses is defined: missing {used - defined}")

runcmd = "\n".join(c if isinstance(c, str) else " ".join(c) for c in doc["runcmd"])
check(re.search(r"apt-get install .*\S+\.deb", runcmd) is not None, "runcmd installs the .deb with apt-get")
check(re.search(r"systemctl enable --now \"?memrun-host@\$i", runcmd) is not None,
      "runcmd enables and starts memrun-host@$i")
per_instance = next(p for p in env_files if "%i" in p).replace("%i", "$i")
check(per_instance in runcmd, f"runcmd writes {per_instance}")

# The loop itself, with systemctl recorded instead of run.
loop = next(c[2] for c in doc["runcmd"] if isinstance(c, list) and "INSTANCES=" in c[-1])
fake = loop.replace("/etc/memrun/", "$OUT/").replace("systemctl enable --now", "echo")
with tempfile.TemporaryDirectory() as out:
    r = subprocess.run(["sh", "-c", fake], env={"OUT": out, "PATH": "/usr/bin:/bin"}, capture_output=True,
                       text=True, timeout=30)
    n = int(re.search(r"INSTANCES=(\d+)", loop).group(1))
    check(r.returncode == 0 and r.stdout.split() == [f"memrun-host@{i}.service" for i in range(n)],
          f"the loop starts memrun-host@0..{n - 1}: {r.stdout.split()} {r.stderr}")
    ports = {(pathlib.Path(out) / f"instance-{i}.env").read_text().strip() for i in range(n)}
    check(len(ports) == n, "each instance has its own metrics address")
print("cloud-init OK")
