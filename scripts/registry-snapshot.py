#!/usr/bin/env python3
"""Snapshot / restore a Confluent-API schema registry (used by ./dev for rivven-schema).

rivven-schema 0.0.22 keeps everything in memory, while the broker's log is durable and every
record carries its schema id. To keep ids stable across registry restarts, ./dev saves every
schema by id plus all subject versions and the compatibility config, and replays them in id order
into a fresh registry (ids are allocated 1, 2, 3, ... and never reused).

  registry-snapshot.py save    URL FILE
  registry-snapshot.py restore URL FILE

Standard library only.
"""
import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

CT = "application/vnd.schemaregistry.v1+json"
FILLER = "__souk_dev_restore"


def call(base, method, path, body=None, ok404=False):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(base.rstrip("/") + path, data=data, method=method)
    req.add_header("Accept", CT)
    if data is not None:
        req.add_header("Content-Type", CT)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            raw = r.read()
            return json.loads(raw) if raw else None
    except urllib.error.HTTPError as e:
        if ok404 and e.code == 404:
            return None
        raise RuntimeError(f"{method} {path}: HTTP {e.code} {e.read().decode(errors='replace')}") from None


def q(s):
    return urllib.parse.quote(s, safe="")


def dump(base):
    schemas = []
    i = 1
    while True:
        s = call(base, "GET", f"/schemas/ids/{i}", ok404=True)
        if s is None:
            break
        s["id"] = i
        schemas.append(s)
        i += 1
    glob = call(base, "GET", "/config")["compatibilityLevel"]
    subjects = []
    for subj in call(base, "GET", "/subjects"):
        versions = []
        for v in call(base, "GET", f"/subjects/{q(subj)}/versions"):
            sv = call(base, "GET", f"/subjects/{q(subj)}/versions/{v}")
            versions.append({"version": sv["version"], "id": sv["id"]})
        level = call(base, "GET", f"/config/{q(subj)}")["compatibilityLevel"]
        subjects.append({"subject": subj, "versions": versions,
                         "compatibility": level if level != glob else None})
    mode = (call(base, "GET", "/mode", ok404=True) or {}).get("mode", "READWRITE")
    return {"format": 1, "saved_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "compatibility": glob, "mode": mode, "schemas": schemas, "subjects": subjects}


def save(base, path):
    snap = dump(base)
    if os.path.exists(path):
        try:
            with open(path) as f:
                old = json.load(f)
        except (OSError, ValueError):
            old = None
        # ids are never removed from a running registry: fewer ids means a fresh (restarted)
        # registry that has not been restored; keep the older, larger snapshot.
        if old and len(snap["schemas"]) < len(old.get("schemas", [])):
            print(f"registry-snapshot: registry holds {len(snap['schemas'])} schemas but {path} holds "
                  f"{len(old['schemas'])}; not overwriting it ('./dev down && ./dev up' restores it)",
                  file=sys.stderr)
            return 0
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(snap, f, indent=1, sort_keys=True)
    os.replace(tmp, path)
    return 0


def restore(base, path):
    with open(path) as f:
        snap = json.load(f)
    if not snap.get("schemas"):
        return 0
    if call(base, "GET", "/schemas/ids/1", ok404=True) is not None:
        print("registry-snapshot: registry is not empty; not restoring", file=sys.stderr)
        return 0
    by_id = {}
    for s in snap["subjects"]:
        for v in sorted(s["versions"], key=lambda v: v["version"]):
            by_id.setdefault(v["id"], []).append((s["subject"], v["version"]))
    call(base, "PUT", "/config", {"compatibility": "NONE"})
    mismatches = 0
    used_filler = False
    try:
        for sc in sorted(snap["schemas"], key=lambda s: s["id"]):
            body = {"schema": sc["schema"], "schemaType": sc.get("schemaType", "AVRO")}
            if sc.get("references"):
                body["references"] = sc["references"]
            targets = [subj for subj, _ in by_id.get(sc["id"], [])] or [FILLER]
            used_filler |= targets == [FILLER]
            for subj in targets:
                got = call(base, "POST", f"/subjects/{q(subj)}/versions", body)["id"]
                if got != sc["id"]:
                    mismatches += 1
                    print(f"registry-snapshot: {subj}: schema id {sc['id']} came back as {got}",
                          file=sys.stderr)
        if used_filler:
            call(base, "DELETE", f"/subjects/{q(FILLER)}", ok404=True)
            call(base, "DELETE", f"/subjects/{q(FILLER)}?permanent=true", ok404=True)
        for s in snap["subjects"]:
            if s.get("compatibility"):
                call(base, "PUT", f"/config/{q(s['subject'])}", {"compatibility": s["compatibility"]})
            want = [v["version"] for v in s["versions"]]
            have = call(base, "GET", f"/subjects/{q(s['subject'])}/versions")
            if sorted(have) != sorted(want):
                mismatches += 1
                print(f"registry-snapshot: {s['subject']}: versions {have}, expected {want}", file=sys.stderr)
    finally:
        call(base, "PUT", "/config", {"compatibility": snap.get("compatibility", "BACKWARD")})
    if snap.get("mode", "READWRITE") != "READWRITE":
        call(base, "PUT", "/mode", {"mode": snap["mode"]})
    print(f"registry-snapshot: restored {len(snap['schemas'])} schemas, {len(snap['subjects'])} subjects "
          f"from {path} (saved {snap.get('saved_at')})", file=sys.stderr)
    if mismatches:
        print("registry-snapshot: restore was not exact; run 'souk topology apply'", file=sys.stderr)
        return 1
    return 0


def main(argv):
    if len(argv) != 4 or argv[1] not in ("save", "restore"):
        print(__doc__, file=sys.stderr)
        return 2
    try:
        return (save if argv[1] == "save" else restore)(argv[2], argv[3])
    except (RuntimeError, OSError, ValueError, KeyError) as e:
        print(f"registry-snapshot: {argv[1]} failed: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
