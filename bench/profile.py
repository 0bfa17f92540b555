#!/usr/bin/env python3
"""Issue 5, the medical profile: the latency of opening the profile page
(`GET /records/{pid}/profile`) and of the IPS summary (`GET /fhir/Patient/{pid}/$summary`)
for the demo patient, whose Synthea record is a whole life of conditions, measures,
vaccinations and stays. Starts `carnet serve --demo` (the given binary, a fresh data folder,
SQLite), signs the demo patient in as a person would (bench/documents.py's helpers), and
measures over HTTP on 127.0.0.1. Appends a Markdown table to --results.

  python3 bench/profile.py --carnet build/release/src/carnet --results bench/RESULTS-profile.md
"""
import argparse
import datetime
import json
import os
import shutil
import statistics
import subprocess
import tempfile
import time

from documents import pct, request, sign_in


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--carnet", required=True)
    ap.add_argument("--results", required=True)
    ap.add_argument("--port", type=int, default=18182)
    ap.add_argument("--runs", type=int, default=30)
    args = ap.parse_args()

    work = tempfile.mkdtemp(prefix="carnet-profilebench-")
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
        load = open("/proc/loadavg").read().split()[:3]

        def timed(path):
            lat, body = [], b""
            for _ in range(args.runs):
                t0 = time.perf_counter()
                status, body = request(base, "GET", path, token=token)
                lat.append(time.perf_counter() - t0)
                assert status == 200, status
            return lat, body

        prof_lat, prof = timed(f"/records/{pid}/profile")
        view = json.loads(prof)
        entries = sum(len(v) for v in view["sections"].values())
        biggest = max(view["sections"].items(), key=lambda kv: len(kv[1]))
        sum_lat, summary = timed(f"/fhir/Patient/{pid}/$summary")
        bundle = json.loads(summary)
        load_after = open("/proc/loadavg").read().split()[:3]

        stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                cwd=os.path.dirname(os.path.abspath(__file__))).stdout.strip()
        table = f"""### Medical profile (issue 5), {stamp}, commit {commit}

`bench/profile.py`: `carnet serve --demo` on SQLite, release build, the demo patient (a Synthea life) signed in, HTTP on 127.0.0.1 from one Python client on the same 2 cores. Each entry is decided and counted in the access log, as a search result is. Load average {' '.join(load)} before, {' '.join(load_after)} after.

| Measurement | Runs | p50 | p95 | Size |
|---|---:|---:|---:|---:|
| opening the profile page: `GET /records/{{pid}}/profile`, {entries} entries in {sum(1 for v in view["sections"].values() if v)} sections (largest: {biggest[0]}, {len(biggest[1])}), booklet of {len(view["booklet"])} lines | {len(prof_lat)} | {statistics.median(prof_lat) * 1000:.1f} ms | {pct(prof_lat, 95) * 1000:.1f} ms | {len(prof) // 1024} KiB |
| the IPS summary: `GET /fhir/Patient/{{pid}}/$summary`, {len(bundle["entry"])} Bundle entries | {len(sum_lat)} | {statistics.median(sum_lat) * 1000:.1f} ms | {pct(sum_lat, 95) * 1000:.1f} ms | {len(summary) // 1024} KiB |

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
