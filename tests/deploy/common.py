"""Shared by the deploy/ recipe tests: how a test skips, and the facts the
recipes are checked against, read from the sources that define them."""
import pathlib
import re
import shutil
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
SKIP = 77  # ctest SKIP_RETURN_CODE of every test in this folder


def skip(why):
    print(f"SKIPPED: {why}")
    sys.exit(SKIP)


def need(tool):
    path = shutil.which(tool)
    if path is None:
        skip(f"{tool} is not installed on this machine")
    return path


def drain_timeout_seconds():
    """WorkerOptions::drain_timeout's default (memrun-host does not change it)."""
    header = (ROOT / "include/memrun/worker.hpp").read_text()
    m = re.search(r"milliseconds\s+drain_timeout\{(\d+)\}", header)
    assert m, "drain_timeout's default not found in include/memrun/worker.hpp"
    return int(m.group(1)) / 1000


def systemd_seconds(text):
    """'45s', '2min', '90' -> seconds."""
    m = re.fullmatch(r"(\d+)\s*(s|sec|min|m)?", text.strip())
    assert m, f"unsupported time span {text!r}"
    return int(m.group(1)) * (60 if m.group(2) in ("min", "m") else 1)


def unit_settings(text):
    """A unit file as {(section, key): [values]}, continuation lines joined."""
    settings, section, pending = {}, None, ""
    for raw in text.splitlines():
        line = pending + raw.strip()
        pending = ""
        if line.endswith("\\"):
            pending = line[:-1] + " "
            continue
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, _, value = line.partition("=")
        settings.setdefault((section, key.strip()), []).append(value.strip())
    return settings


def check(cond, what):
    if not cond:
        print(f"FAILED: {what}")
        sys.exit(1)
