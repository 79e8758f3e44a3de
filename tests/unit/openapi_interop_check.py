#!/usr/bin/env python3
"""Interop: grpc-gateway's protoc-gen-swagger, an independent generator that
reads the standard google.api.http annotations, must find exactly the routes
our OpenAPI document has: the same paths, HTTP methods and operation ids
(the RPC names). The edge's own routes (tag "edge": /openapi.json, /healthz)
have no RPC and are left out.

usage: openapi_interop_check.py PROTOC PLUGIN PROTO_DIR OUR_OPENAPI_JSON
Exits 1 (listing the differences) when the two disagree, 2 when a tool fails.
"""
import json
import subprocess
import sys
import tempfile
from pathlib import Path


def operations(document, skip_tag=None):
    ops = {}
    for path, item in document.get("paths", {}).items():
        for method, op in item.items():
            if method not in ("get", "put", "post", "delete", "patch", "head", "options"):
                continue  # "parameters" and other path-item keys
            if skip_tag and skip_tag in op.get("tags", []):
                continue
            ops[(path, method)] = op.get("operationId", "")
    return ops


def main(argv):
    if len(argv) != 5:
        print(__doc__, file=sys.stderr)
        return 2
    protoc, plugin, proto_dir, ours_path = argv[1:]
    with tempfile.TemporaryDirectory() as out:
        run = subprocess.run(
            [protoc, f"--plugin=protoc-gen-swagger={plugin}", f"--swagger_out={out}",
             "-I", proto_dir, "tongban/v1/citizen.proto"],
            capture_output=True, text=True)
        if run.returncode != 0:
            print(f"protoc-gen-swagger failed:\n{run.stderr}", file=sys.stderr)
            return 2
        theirs_path = Path(out) / "tongban/v1/citizen.swagger.json"
        theirs = operations(json.loads(theirs_path.read_text()))
    ours = operations(json.loads(Path(ours_path).read_text()), skip_tag="edge")
    if not theirs:
        print("protoc-gen-swagger found no routes: are the google.api.http annotations there?",
              file=sys.stderr)
        return 1
    if theirs == ours:
        print(f"protoc-gen-swagger and our document agree on {len(ours)} operations")
        return 0
    for key in sorted(set(theirs) | set(ours)):
        a, b = theirs.get(key), ours.get(key)
        if a != b:
            print(f"{key[1].upper()} {key[0]}: protoc-gen-swagger {a!r}, ours {b!r}")
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
