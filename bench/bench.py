#!/usr/bin/python3
"""Slotwise benchmark driver (see bench/run.sh).

Measures, in one run and interleaved, redis-benchmark against the cluster directly
(`--cluster`) and against Slotwise, and reports throughput, the proxy/direct ratio, p50/p99
latency, the proxy's CPU-seconds per 100k requests (utime+stime from /proc) and its RSS per
idle client connection.
"""
import argparse
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")


def free_port(used):
    for _ in range(1000):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        if port in used or port + 10000 > 65535:
            continue
        try:
            b = socket.socket()
            b.bind(("127.0.0.1", port + 10000))
            b.close()
        except OSError:
            continue
        used.add(port)
        return port
    raise RuntimeError("no free port")


def redis_cli(port, *args):
    return subprocess.run(["redis-cli", "-p", str(port), *args], capture_output=True, text=True,
                          timeout=30).stdout.strip()


def wait_until(cond, timeout, what):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if cond():
            return
        time.sleep(0.05)
    raise RuntimeError("timed out waiting for " + what)


class Cluster:
    def __init__(self, workdir, masters, used):
        self.dir = workdir
        self.ports = [free_port(used) for _ in range(masters)]
        self.procs = []

    def start(self):
        for p in self.ports:
            args = ["redis-server", "--port", str(p), "--bind", "127.0.0.1", "--cluster-enabled", "yes",
                    "--cluster-config-file", f"nodes-{p}.conf", "--save", "", "--appendonly", "no",
                    "--dir", self.dir, "--logfile", f"{self.dir}/redis-{p}.log"]
            self.procs.append(subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        for p in self.ports:
            wait_until(lambda p=p: redis_cli(p, "ping") == "PONG", 10, f"redis {p}")
        subprocess.run(["redis-cli", "--cluster", "create", *[f"127.0.0.1:{p}" for p in self.ports],
                        "--cluster-yes"], check=True, capture_output=True, timeout=60)
        for p in self.ports:
            wait_until(lambda p=p: "cluster_state:ok" in redis_cli(p, "cluster", "info"), 20, "cluster ok")

    def flush(self):
        for p in self.ports:
            redis_cli(p, "flushall")

    def stop(self):
        for proc in self.procs:
            proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()


class Proxy:
    def __init__(self, binary, workdir, port, seeds, workers):
        self.port = port
        cfg = os.path.join(workdir, "slotwise.yaml")
        with open(cfg, "w") as f:
            f.write(f"listen: 127.0.0.1:{port}\nworkers: {workers}\ncluster:\n  seeds: [{', '.join(seeds)}]\n"
                    "log:\n  level: warn\n")
        self.log = open(os.path.join(workdir, "slotwise.log"), "w")
        self.proc = subprocess.Popen([binary, "--config", cfg], stdout=self.log, stderr=self.log)
        wait_until(lambda: redis_cli(port, "set", "bench:probe", "1") == "OK", 10, "proxy")

    def cpu_seconds(self):
        with open(f"/proc/{self.proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK

    def rss_kib(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return -1

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def redis_benchmark(port, tests, pipeline, requests, clients, cluster=False):
    args = ["redis-benchmark", "-p", str(port), "-t", tests, "-r", "100000", "-c", str(clients),
            "-d", "64", "-n", str(requests), "-P", str(pipeline), "--csv"]
    if cluster:
        args.append("--cluster")
    out = subprocess.run(args, capture_output=True, text=True, timeout=600).stdout
    results = {}
    for line in out.splitlines():
        cols = [c.strip('"') for c in line.split('","')]
        if len(cols) < 8 or cols[0] == "test":
            continue
        results[cols[0]] = {"rps": float(cols[1]), "p50": float(cols[4]), "p99": float(cols[6])}
    return results


def idle_clients_rss(proxy, count):
    before = proxy.rss_kib()
    socks = []
    try:
        for _ in range(count):
            s = socket.create_connection(("127.0.0.1", proxy.port))
            s.sendall(b"PING\r\n")
            socks.append(s)
        for s in socks:
            s.recv(64)
        time.sleep(0.5)
        after = proxy.rss_kib()
    finally:
        for s in socks:
            s.close()
    return before, after


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", required=True)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--quick", action="store_true", help="fewer requests (smoke run)")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    for tool in ("redis-server", "redis-cli", "redis-benchmark"):
        if not shutil.which(tool):
            sys.exit(f"{tool} not found: apt-get install redis-server redis-tools")

    scale = 0.1 if args.quick else 1.0
    # (label, redis-benchmark tests, pipeline, requests). MSET sends 10 keys per command: across
    # slots through the proxy (split and merged), one slot per command with --cluster directly.
    cases = [("P1", "set,get", 1, int(200_000 * scale)), ("P16", "set,get", 16, int(2_000_000 * scale)),
             ("P1", "mset", 1, int(100_000 * scale))]
    used = set()
    workdir = tempfile.mkdtemp(prefix="slotwise-bench-")
    cluster = Cluster(workdir, 3, used)
    proxy = None
    rows = []
    try:
        cluster.start()
        proxy = Proxy(args.binary, workdir, free_port(used), [f"127.0.0.1:{p}" for p in cluster.ports],
                      args.workers)
        samples = {}
        for rnd in range(args.rounds):
            for name, tests, pipeline, n in cases:
                direct = redis_benchmark(cluster.ports[0], tests, pipeline, n, 50, cluster=True)
                cpu0 = proxy.cpu_seconds()
                via = redis_benchmark(proxy.port, tests, pipeline, n, 50)
                cpu = proxy.cpu_seconds() - cpu0
                total = sum(1 for t in via) * n
                for test in via:
                    s = samples.setdefault((name, test), {"direct": [], "proxy": [], "p50": [], "p99": [],
                                                          "dp50": [], "dp99": [], "cpu": []})
                    s["direct"].append(direct.get(test, {"rps": float("nan")})["rps"])
                    s["proxy"].append(via[test]["rps"])
                    s["p50"].append(via[test]["p50"])
                    s["p99"].append(via[test]["p99"])
                    s["dp50"].append(direct.get(test, {"p50": float("nan")})["p50"])
                    s["dp99"].append(direct.get(test, {"p99": float("nan")})["p99"])
                    s["cpu"].append(cpu / total * 100_000)
                print(f"round {rnd + 1}/{args.rounds} {name}: proxy CPU {cpu:.2f}s for {total} requests",
                      file=sys.stderr)
            cluster.flush()
        before, after = idle_clients_rss(proxy, 1000)
        med = statistics.median
        for (name, test), s in samples.items():
            label = f"{test} {name}" + (", cross-slot via proxy" if test.startswith("MSET") else "")
            rows.append((label, med(s["direct"]), med(s["proxy"]), med(s["proxy"]) / med(s["direct"]),
                         med(s["dp50"]), med(s["dp99"]), med(s["p50"]), med(s["p99"]), med(s["cpu"])))
        lines = [
            f"# Slotwise benchmark ({time.strftime('%Y-%m-%d %H:%M:%S')}, {os.cpu_count()} cores, "
            f"{args.workers} proxy worker(s), {args.rounds} interleaved rounds, medians)",
            "",
            "redis-benchmark -t set,get -r 100000 -c 50 -d 64; direct = redis-benchmark --cluster",
            "",
            "| test | direct ops/s | proxy ops/s | ratio | direct p50/p99 ms | proxy p50/p99 ms | proxy CPU-s per 100k |",
            "|---|---|---|---|---|---|---|",
        ]
        for r in rows:
            lines.append(f"| {r[0]} | {r[1]:,.0f} | {r[2]:,.0f} | {r[3]:.2f} | {r[4]:.3f} / {r[5]:.3f} | "
                         f"{r[6]:.3f} / {r[7]:.3f} | {r[8]:.3f} |")
        lines += ["", f"RSS: {before} KiB idle, {after} KiB with 1000 idle clients "
                      f"({(after - before) * 1024 / 1000 / 1024:.2f} KiB per idle client)"]
        text = "\n".join(lines)
        print(text)
        out = args.out or os.path.join(os.path.dirname(os.path.abspath(__file__)), "results",
                                       time.strftime("bench-%Y%m%d-%H%M%S.md"))
        os.makedirs(os.path.dirname(out), exist_ok=True)
        with open(out, "w") as f:
            f.write(text + "\n")
        print(f"\nwritten to {out}", file=sys.stderr)
    finally:
        if proxy:
            proxy.stop()
        cluster.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
