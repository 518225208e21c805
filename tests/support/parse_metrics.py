#!/usr/bin/env python3
"""Parses a Prometheus text exposition with the official Python client's
parser (Debian's python3-prometheus-client) and prints one sample per line:
name{label="value",...} value, labels sorted. Exits non-zero on a parse error,
so a malformed /metrics fails the test that reads it."""
import sys

from prometheus_client.parser import text_string_to_metric_families

ALLOWED_TYPES = {"counter", "gauge", "histogram", "summary", "info", "untyped"}

with open(sys.argv[1], encoding="utf-8") as f:
    text = f.read()
for family in text_string_to_metric_families(text):
    if family.type not in ALLOWED_TYPES:
        sys.exit(f"family {family.name} has unknown type {family.type}")
    for s in family.samples:
        labels = ",".join(f'{k}="{v}"' for k, v in sorted(s.labels.items()))
        print(f"{s.name}{{{labels}}} {s.value!r}")
