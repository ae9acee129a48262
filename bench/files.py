"""Files bench: file inputs through the API, downloads, and the built-in malware scan.

Creates a throwaway PostgreSQL database and var directory, migrates, starts gunicorn
(2 workers x 2 threads, files on local disk under the var directory) and then:

(a) ``POST /v2/tasks/{id}/run`` with one attachment of 100 kB, 1 MB, 5 MB and 20 MB (the
    seed's limit), sequentially, ``--repeat`` times each: latency (the request carries the
    file base64-encoded; the server decodes, checks, writes it and creates the run), and the
    peak resident memory of the gunicorn workers afterwards;
(b) ``GET`` of each 20 MB item's signed ``url``: download throughput through ``/files/``;
(c) in this process, the built-in signature scan over 20 MB of random bytes: MB/s.

No worker runs: the scan jobs wait in the var directory's broker, which is dropped with it.
"""

from __future__ import annotations

import argparse
import base64
import os
import secrets
import shutil
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

# The sibling bench: this file runs as a script, so its directory is on sys.path.
from api import (
    create_api_key,
    database_name,
    deck_env,
    free_port,
    fresh_database,
    gunicorn,
    load_average,
    manage,
    on_sigterm,
    process_tree,
    wait_ready,
)

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/deck_bench_storage"
SIZES = (100_000, 1_000_000, 5_000_000, 20 * 1024 * 1024)
FILE_FIELD = {
    "type": "object",
    "properties": {
        "purpose": {"const": "attachment"},
        "file_name": {"type": "string"},
        "content_type": {"type": "string"},
        "data": {"type": "string", "contentEncoding": "base64"},
    },
}


def peak_rss_mb(pids: list[int]) -> float:
    """The largest peak resident set (VmHWM) among the processes, in MB."""
    peaks = [0.0]
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peaks.append(int(line.split()[1]) / 1024)
        except OSError:
            continue
    return max(peaks)


def scan_throughput() -> dict[str, float]:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "deck.settings")
    import django

    django.setup()
    from storage.scanning import scanner

    random = secrets.token_bytes(20 * 1024 * 1024)
    # A PDF header makes the PDF rules run their regular expressions over the whole file.
    samples = {"random bytes": random, "bytes behind a PDF header": b"%PDF-1.7\n" + random}
    scan = scanner()
    figures = {}
    for label, data in samples.items():
        started = time.perf_counter()
        rounds = 3
        for _ in range(rounds):
            assert scan.scan(data).clean
        figures[label] = rounds * len(data) / (time.perf_counter() - started) / 1e6
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    database_name(args.database_url)
    signal.signal(signal.SIGTERM, on_sigterm)
    var_dir = Path(tempfile.mkdtemp(prefix="deck-bench-storage-"))
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    extra = {"DECK_RATE_LIMIT_REQUESTS": "100000", "DECK_PUBLIC_URL": base_url}
    env = {**os.environ, **deck_env(args.database_url, var_dir, **extra)}
    log = var_dir / "gunicorn.log"
    try:
        with fresh_database(args.database_url):
            manage(env, "migrate", "--noinput")
            api_key = create_api_key(env)
            with gunicorn(env, port=port, workers=2, threads=2, log=log) as server:
                wait_ready(server, base_url, api_key, log)
                pids = process_tree(server.pid)
                headers = {"Authorization": f"Bearer {api_key}"}
                with httpx.Client(base_url=base_url, headers=headers, timeout=120) as client:
                    agent = client.post("/v2/agents", json={"name": "Bench"}).json()["id"]
                    source = client.post(
                        "/v2/sources",
                        json={"name": "Portal", "website": {"url": "https://portal.example"}},
                    ).json()["id"]
                    task = client.post(
                        "/v2/tasks",
                        json={
                            "name": "Upload",
                            "agent_id": agent,
                            "prompt": "Upload the file.",
                            "input_schema": {
                                "type": "object",
                                "properties": {"file": FILE_FIELD},
                            },
                        },
                    ).json()["id"]
                    print(
                        f"gunicorn 2 workers x 2 threads on PostgreSQL, local disk; "
                        f"{os.cpu_count()} cores shared; load average {load_average()}"
                    )
                    print(f"{'file':>10} {'requests':>8} {'p50 ms':>8} {'max ms':>8}")
                    big_urls: list[str] = []
                    for size in SIZES:
                        data = base64.b64encode(secrets.token_bytes(size)).decode()
                        body = {
                            "source_id": source,
                            "input": {
                                "file": {
                                    "purpose": "attachment",
                                    "file_name": "upload.bin",
                                    "data": data,
                                }
                            },
                        }
                        times = []
                        for _ in range(args.repeat):
                            started = time.perf_counter()
                            response = client.post(f"/v2/tasks/{task}/run", json=body)
                            times.append((time.perf_counter() - started) * 1000)
                            if response.status_code != 201:
                                raise RuntimeError(f"{response.status_code}: {response.text[:300]}")
                            if size == SIZES[-1]:
                                item = response.json()["storage"][0]["id"]
                                big_urls.append(client.get(f"/v2/storage/{item}").json()["url"])
                        print(
                            f"{size / 2**20:>7.1f}MiB {len(times):>8} "
                            f"{statistics.median(times):>8.0f} {max(times):>8.0f}"
                        )
                    print(f"peak RSS of a gunicorn process: {peak_rss_mb(pids):.0f} MB")
                    started = time.perf_counter()
                    total = 0
                    for url in big_urls:
                        with httpx.stream("GET", url, timeout=120) as response:
                            for chunk in response.iter_bytes():
                                total += len(chunk)
                    elapsed = time.perf_counter() - started
                    print(
                        f"downloads: {len(big_urls)} x 20 MB through /files/ in {elapsed:.2f} s "
                        f"= {total / elapsed / 1e6:.0f} MB/s"
                    )
    except KeyboardInterrupt:
        print("interrupted; server stopped and database dropped", file=sys.stderr)
        return 130
    finally:
        shutil.rmtree(var_dir, ignore_errors=True)
    for label, rate in scan_throughput().items():
        print(f"built-in scan: {rate:.0f} MB/s over 20 MiB of {label}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
