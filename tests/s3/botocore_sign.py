#!/usr/bin/python3
"""Signs requests with botocore's S3 SigV4 signer, an implementation independent
of memrun's, so the signer's unit test can compare signatures.

Input (argv[1]): a JSON list of {method, url, headers, body, time, access_key,
secret_key, session_token, region}; url is already percent-encoded. Output: one
signature (hex) per line, in input order."""
import json
import sys

from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials


def signature(r):
    creds = Credentials(r["access_key"], r["secret_key"], r.get("session_token") or None)
    req = AWSRequest(method=r["method"], url=r["url"], headers=r["headers"], data=r["body"].encode())
    auth = S3SigV4Auth(creds, "s3", r["region"])
    # The steps of add_auth(), with a fixed time instead of now.
    req.context["timestamp"] = r["time"]
    auth._modify_request_before_signing(req)
    canonical = auth.canonical_request(req)
    return auth.signature(auth.string_to_sign(req, canonical), req)


with open(sys.argv[1]) as f:
    for request in json.load(f):
        print(signature(request))
