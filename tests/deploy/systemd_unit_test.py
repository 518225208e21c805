"""deploy/systemd/memrun-host@.service passes `systemd-analyze verify` with
its binary pointed at the one just built (verify refuses an ExecStart that
does not exist), warns about nothing, and holds what a worker needs:
restart on failure, a stop timeout above the drain timeout, a state
directory as the cache root, a root-only credential, an fd limit."""
import pathlib
import subprocess
import sys
import tempfile

from common import ROOT, check, drain_timeout_seconds, need, systemd_seconds, unit_settings

host = sys.argv[1]
analyze = need("systemd-analyze")
unit_path = ROOT / "deploy/systemd/memrun-host@.service"
text = unit_path.read_text()
check("/usr/bin/memrun-host " in text, "ExecStart runs /usr/bin/memrun-host, where the .deb installs it")

with tempfile.TemporaryDirectory() as tmp:
    copy = pathlib.Path(tmp) / unit_path.name
    copy.write_text(text.replace("/usr/bin/memrun-host ", host + " "))
    # verify exits 0 on settings it ignores, so any complaint fails too.
    r = subprocess.run([analyze, "verify", str(pathlib.Path(tmp) / "memrun-host@0.service")],
                       capture_output=True, text=True, timeout=60)
    complaints = [l for l in (r.stdout + r.stderr).splitlines() if "memrun-host@" in l]
    print(r.stdout + r.stderr)
    check(r.returncode == 0 and not complaints, f"systemd-analyze verify: exit {r.returncode}, {complaints}")

s = unit_settings(text)
one = lambda section, key: (s.get((section, key)) or [None])[-1]
check(one("Service", "Restart") == "on-failure", "Restart=on-failure")
check(one("Service", "RestartSec") is not None, "RestartSec is set")
check(one("Unit", "StartLimitIntervalSec") and one("Unit", "StartLimitBurst"), "a start limit")
stop = systemd_seconds(one("Service", "TimeoutStopSec") or "0")
drain = drain_timeout_seconds()
check(stop > drain, f"TimeoutStopSec ({stop} s) above the drain timeout ({drain} s)")
check(one("Service", "KillMode") == "mixed", "SIGTERM to the host only; it drains its own worker")
state = one("Service", "StateDirectory")
check(state == "memrun/%i", f"a state directory per instance, got {state}")
exec_start = one("Service", "ExecStart")
check(f"--cache-root %S/{state} " in exec_start, "the state directory is the cache root")
check(any(v.startswith("host.json:/etc/memrun/host.json") for v in s.get(("Service", "LoadCredential"), [])),
      "the config (S3 credentials) comes in as a credential from a root-only path")
check("--config %d/host.json" in exec_start, "the host reads the credential copy")
check(int(one("Service", "LimitNOFILE") or 0) >= 65536, "LimitNOFILE at least 65536")
check(one("Service", "User") == "memrun", "a dedicated user")
check("--worker-id %H-%i" in exec_start and "--instance-id %H-%i" in exec_start,
      "worker id and group.instance.id unique per machine and instance")
check(one("Service", "MemoryDenyWriteExecute") is None, "no MemoryDenyWriteExecute: plugins may map code")
print("systemd unit OK")
