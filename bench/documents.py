#!/usr/bin/env python3
"""Issue 5 figures: a 5 MiB document's upload and download throughput, and the latency of
opening the documents page of a record with 500 documents. Starts `carnet serve --demo` (the
given binary, a fresh data folder, the embedded SQLite store), signs the demo patient in as a
person would (password, then the code the server wrote to its outbox), and measures over
HTTP on 127.0.0.1 with the standard library only. Appends a Markdown table to --results.

  python3 bench/documents.py --carnet build/release/src/carnet --results bench/RESULTS-documents.md
"""
import argparse
import datetime
import glob
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid

MIB = 1024 * 1024
LOGIN = "patient@carnet.localhost"
PASSWORD = "Carnet-demo-2026"


def request(base, method, path, body=None, headers=None, token=None):
    h = dict(headers or {})
    if token:
        h["Authorization"] = f"Bearer {token}"
    data = body if isinstance(body, (bytes, type(None))) else json.dumps(body).encode()
    if isinstance(body, dict):
        h.setdefault("Content-Type", "application/json")
    req = urllib.request.Request(base + path, data=data, method=method, headers=h)
    with urllib.request.urlopen(req, timeout=120) as res:
        return res.status, res.read()


def sign_in(base, outbox):
    since = time.time()
    _, answer = request(base, "POST", "/auth/login", {"login": LOGIN, "password": PASSWORD})
    answer = json.loads(answer)
    if answer.get("access_token"):
        return answer["access_token"]
    for _ in range(100):
        for name in sorted(glob.glob(os.path.join(outbox, "*.eml")), key=os.path.getmtime, reverse=True):
            if os.path.getmtime(name) + 1 < since:
                continue
            text = open(name, encoding="utf-8", errors="replace").read()
            text = re.sub(r"=\r?\n", "", text)
            m = re.search(r"est\s*:\s*(\d{6})\b", text) or re.search(r"code\s*:\s*(\d{6})\b", text, re.I)
            if m:
                _, session = request(base, "POST", "/auth/verify", {"challenge": answer["challenge"], "code": m.group(1)})
                return json.loads(session)["access_token"]
        time.sleep(0.1)
    sys.exit("bench: no login code in the outbox")


def pdf(size, marker):
    head = f"%PDF-1.4\n% {marker}\n1 0 obj\n<<>>\nendobj\n%".encode()
    tail = b"\ntrailer\n<<>>\n%%EOF\n"
    # Incompressible-looking filler, as scanned pages are.
    filler = (uuid.uuid4().bytes * (size // 16 + 1))[: size - len(head) - len(tail)]
    return head + filler.replace(b"\n", b"x") + tail


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--carnet", required=True)
    ap.add_argument("--results", required=True)
    ap.add_argument("--port", type=int, default=18181)
    ap.add_argument("--documents", type=int, default=500)
    ap.add_argument("--runs", type=int, default=10)
    args = ap.parse_args()

    work = tempfile.mkdtemp(prefix="carnet-docbench-")
    data = os.path.join(work, "data")
    log = open(os.path.join(work, "server.log"), "w")
    base = f"http://127.0.0.1:{args.port}"
    server = subprocess.Popen([args.carnet, "--log-level", "warn", "serve", "--demo", "--data", data,
                               "--listen", f"127.0.0.1:{args.port}", "--auth-attempts-per-minute", "1000"],
                              stdout=log, stderr=subprocess.STDOUT)
    try:
        for _ in range(600):
            try:
                if request(base, "GET", "/readyz")[0] == 200:
                    break
            except Exception:
                time.sleep(0.2)
        token = sign_in(base, os.path.join(data, "outbox"))
        _, session = request(base, "GET", "/auth/session", token=token)
        pid = json.loads(session)["account"]["patient_id"]
        ctx = {"X-Security-Context": f"Patient/{pid}"}
        load = open("/proc/loadavg").read().split()[:3]

        # A 5 MiB document (the patient's limit, to the byte): upload, then download, each
        # timed from the first byte sent to the last byte received.
        size = 5 * MIB
        up, down, ids = [], [], []
        for i in range(args.runs):
            body = pdf(size, f"run-{i}")
            t0 = time.perf_counter()
            status, answer = request(base, "POST", "/fhir/Binary", body,
                                     {"Content-Type": "application/pdf", **ctx}, token)
            up.append(time.perf_counter() - t0)
            assert status == 201, status
            ids.append(json.loads(answer)["id"])
        for bid in ids:
            t0 = time.perf_counter()
            status, got = request(base, "GET", f"/fhir/Binary/{bid}", token=token)
            down.append(time.perf_counter() - t0)
            assert status == 200 and len(got) == size, (status, len(got))
        server_rss = int(re.search(r"VmHWM:\s+(\d+)", open(f"/proc/{server.pid}/status").read()).group(1)) // 1024

        # 500 documents, each a DocumentReference with its small PDF (as the portal deposits).
        t0 = time.perf_counter()
        for i in range(args.documents):
            _, answer = request(base, "POST", "/fhir/Binary", pdf(20_000, f"doc-{i}"),
                                {"Content-Type": "application/pdf", **ctx}, token)
            bid = json.loads(answer)["id"]
            request(base, "POST", "/fhir/DocumentReference", {
                "resourceType": "DocumentReference", "status": "current",
                "type": {"coding": [{"system": "http://loinc.org", "code": "11488-4", "display": "Consult note"}]},
                "subject": {"reference": f"Patient/{pid}"},
                "date": f"2025-{1 + i % 12:02d}-{1 + i % 28:02d}T10:00:00Z",
                "description": f"Compte rendu {i}",
                "content": [{"attachment": {"contentType": "application/pdf", "url": f"Binary/{bid}", "size": 20_000}}],
            }, {"Content-Type": "application/fhir+json"}, token)
        seeded = time.perf_counter() - t0

        # Opening the documents page: its one API call, the record's list as this reader sees it.
        lat, count, size_json = [], 0, 0
        for _ in range(max(20, args.runs * 2)):
            t0 = time.perf_counter()
            status, answer = request(base, "GET", f"/access/records/{pid}/documents", token=token)
            lat.append(time.perf_counter() - t0)
            count, size_json = len(json.loads(answer)), len(answer)
        # The same list through the route both sides use (versions linked, `withheld`).
        lat2, size2 = [], 0
        for _ in range(max(20, args.runs * 2)):
            t0 = time.perf_counter()
            status, answer = request(base, "GET", f"/records/{pid}/documents", token=token)
            lat2.append(time.perf_counter() - t0)
            size2 = len(answer)
        load_after = open("/proc/loadavg").read().split()[:3]

        mb = size / MIB
        stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                cwd=os.path.dirname(os.path.abspath(__file__))).stdout.strip()
        table = f"""### Documents (issue 5), {stamp}, commit {commit}

`bench/documents.py`: `carnet serve --demo` on SQLite, release build, the demo patient signed in, HTTP on 127.0.0.1 from one Python client on the same 2 cores. Load average {' '.join(load)} before, {' '.join(load_after)} after.

| Measurement | Runs | p50 | p95 / max | Throughput (p50) |
|---|---:|---:|---:|---:|
| upload of a 5 MiB PDF (`POST /fhir/Binary`, raw; sniffed, sealed in 256 KiB chunks, durable) | {len(up)} | {statistics.median(up) * 1000:.0f} ms | {max(up) * 1000:.0f} ms | {mb / statistics.median(up):.1f} MiB/s |
| download of it (`GET /fhir/Binary/{{id}}`, streamed from the sealed chunks) | {len(down)} | {statistics.median(down) * 1000:.0f} ms | {max(down) * 1000:.0f} ms | {mb / statistics.median(down):.1f} MiB/s |
| opening the documents page: `GET /access/records/{{pid}}/documents` with {count} documents ({size_json // 1024} KiB of JSON) | {len(lat)} | {statistics.median(lat) * 1000:.1f} ms | {pct(lat, 95) * 1000:.1f} ms | — |
| the same list through `GET /records/{{pid}}/documents` (both sides' route: versions linked, `withheld`; {size2 // 1024} KiB) | {len(lat2)} | {statistics.median(lat2) * 1000:.1f} ms | {pct(lat2, 95) * 1000:.1f} ms | — |

Server peak RSS after the 5 MiB uploads and downloads: {server_rss} MiB. Depositing the {args.documents} documents (a 20 kB PDF and its DocumentReference each, one after the other): {seeded:.1f} s.

"""
        print(table)
        with open(args.results, "a", encoding="utf-8") as f:
            f.write(table)
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
