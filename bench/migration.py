#!/usr/bin/env python3
"""Online migration benchmark: drain rate and client latency while a keyspace moves.

Starts a 3-master Redis Cluster and one standalone source server holding --keys small keys
(100-byte strings, made by DEBUG POPULATE), then:
  1. baseline: Slotwise in front of the cluster without a migration, redis-benchmark GET/SET
     (-P 1, 20 clients, its own keys) -> p99;
  2. migration: Slotwise with `migration.source.servers: [source]` (no rate limit), the same
     redis-benchmark running in bounded rounds the whole time -> drain rate (keys / seconds until
     INFO migration says done) and the p99 of the rounds that ran during the migration.
Prints a table (and writes it to --out). Bounded: every wait has a deadline.

    bench/migration.py --binary build/slotwise [--keys 200000] [--workers 2] [--out FILE]
"""
import argparse
import os
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench import Cluster, Proxy, free_port, redis_benchmark, redis_cli, wait_until  # noqa: E402

import subprocess  # noqa: E402


def migration_info(port):
    out = {}
    for line in redis_cli(port, "info", "migration").splitlines():
        if ":" in line:
            k, v = line.split(":", 1)
            out[k] = v.strip()
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", required=True)
    ap.add_argument("--keys", type=int, default=200000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    used = set()
    work = tempfile.mkdtemp(prefix="slotwise-migbench-")
    cluster = Cluster(work, 3, used)
    source_port = free_port(used)
    source = subprocess.Popen(["redis-server", "--port", str(source_port), "--bind", "127.0.0.1",
                               "--save", "", "--appendonly", "no", "--enable-debug-command", "yes",
                               "--dir", work, "--logfile", f"{work}/source.log"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    proxies = []
    try:
        cluster.start()
        wait_until(lambda: redis_cli(source_port, "ping") == "PONG", 10, "source")
        redis_cli(source_port, "debug", "populate", str(args.keys), "mig", "100")
        assert int(redis_cli(source_port, "dbsize")) == args.keys
        seeds = f"cluster:\n  seeds: [127.0.0.1:{cluster.ports[0]}]\n"

        base_port = free_port(used)
        base_dir = tempfile.mkdtemp(dir=work)
        base = Proxy(args.binary, base_dir, base_port, seeds, args.workers)
        proxies.append(base)
        baseline = redis_benchmark(base_port, "set,get", 1, 100000, 20)
        base.stop()
        proxies.remove(base)

        mig_port = free_port(used)
        mig_dir = tempfile.mkdtemp(dir=work)
        yaml = seeds + (f"migration:\n  source:\n    servers: [\"127.0.0.1:{source_port}\"]\n"
                        "  rate_keys_per_s: 0\n  batch_keys: 1000\n")
        rounds = []
        done = threading.Event()

        def load():
            for _ in range(200):  # bounded
                if done.is_set():
                    return
                rounds.append(redis_benchmark(mig_port, "set,get", 1, 20000, 20))

        start = time.time()
        proxy = Proxy(args.binary, mig_dir, mig_port, yaml, args.workers)
        proxies.append(proxy)
        loader = threading.Thread(target=load)
        loader.start()
        wait_until(lambda: migration_info(mig_port).get("migration_done") == "1", 600, "migration")
        elapsed = time.time() - start
        done.set()
        loader.join()
        info = migration_info(mig_port)
        left = int(redis_cli(source_port, "dbsize"))
        cpu = proxy.cpu_seconds()
        proxy.stop()
        proxies.remove(proxy)

        def p99(rs, test):
            vals = sorted(r[test]["p99"] for r in rs if test in r)
            return vals[len(vals) // 2] if vals else float("nan"), vals[-1] if vals else float("nan")

        lines = [
            f"Online migration: {args.keys} keys of 100 B from one standalone server into a 3-master "
            f"cluster, Slotwise workers={args.workers}, redis-benchmark -P 1 -c 20 running throughout",
            "",
            "| figure | value |",
            "|---|---|",
            f"| drain time | {elapsed:.2f} s (includes proxy start) |",
            f"| drain rate | {args.keys / elapsed:,.0f} keys/s |",
            f"| keys moved by the mover / by commands | {info.get('migration_keys_moved_by_mover')} / "
            f"{info.get('migration_keys_moved_by_commands')} |",
            f"| keys left in the source | {left} |",
            f"| proxy CPU-s during the migration | {cpu:.2f} |",
        ]
        for test in ("SET", "GET"):
            med, worst = p99(rounds, test)
            b = baseline.get(test, {}).get("p99", float("nan"))
            lines.append(f"| {test} p99 without / during migration (median, worst round) | "
                         f"{b:.3f} ms / {med:.3f} ms, {worst:.3f} ms ({med / b:.2f}x, {worst / b:.2f}x) |")
        lines.append(f"| benchmark rounds during the migration | {len(rounds)} |")
        text = "\n".join(lines)
        print(text)
        if args.out:
            with open(args.out, "w") as f:
                f.write(text + "\n")
    finally:
        for p in proxies:
            p.stop()
        source.terminate()
        source.wait(10)
        cluster.stop()


if __name__ == "__main__":
    main()
