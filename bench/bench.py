#!/usr/bin/python3
"""Slotwise benchmark driver (see bench/run.sh).

Measures, in one run and interleaved, redis-benchmark against a reference and against
Slotwise, and reports throughput, the ratio to the reference, p50/p99 latency, CPU-seconds per
100k requests of each proxy process (utime+stime from /proc) and Slotwise's RSS per idle client.

  --mode cluster   3-master Redis Cluster; reference: redis-benchmark --cluster (direct)
  --mode static    3 standalone servers, fnv1a_64/ketama; references: twemproxy (nutcracker, the
                   same pool) and, for SET/GET, one server directly
  --mode sentinel  1 master + 1 replica watched by 1 redis-sentinel; reference: the master directly
  --observe        (cluster mode) adds a second Slotwise with hot-key and big-key tracking off
                   (observe.hot_keys false, observe.big_value_bytes 0): the A/B of their cost
                   (the default "slotwise" target runs with the defaults: both on)
  --tls            (cluster mode) the nodes also serve TLS (tls-port, tls-cluster yes) and the run
                   adds, next to plain: direct over TLS, Slotwise with TLS clients (plain to the
                   cluster), Slotwise with TLS on both sides; then the TLS handshake rate of the
                   proxy (full and resumed sessions) per proxy CPU-second
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


def make_certs(workdir):
    """A CA and a localhost/127.0.0.1 certificate it signed, made with openssl."""
    d = os.path.join(workdir, "tls")
    os.makedirs(d)
    run = lambda *a: subprocess.run(a, check=True, capture_output=True, cwd=d)
    run("openssl", "req", "-x509", "-new", "-nodes", "-newkey", "rsa:2048", "-days", "2",
        "-subj", "/CN=bench CA", "-keyout", "ca.key", "-out", "ca.crt")
    run("openssl", "req", "-new", "-nodes", "-newkey", "rsa:2048", "-subj", "/CN=localhost",
        "-keyout", "server.key", "-out", "server.csr")
    with open(os.path.join(d, "ext"), "w") as f:
        f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n")
    run("openssl", "x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
        "-CAcreateserial", "-days", "2", "-out", "server.crt", "-extfile", "ext")
    return {k: os.path.join(d, v) for k, v in
            (("ca", "ca.crt"), ("cert", "server.crt"), ("key", "server.key"))}


class Cluster:
    def __init__(self, workdir, masters, used, certs=None):
        self.dir = workdir
        self.ports = [free_port(used) for _ in range(masters)]
        self.certs = certs
        self.tls_ports = [free_port(used) for _ in range(masters)] if certs else []
        self.procs = []

    def start(self):
        for i, p in enumerate(self.ports):
            args = ["redis-server", "--port", str(p), "--bind", "127.0.0.1", "--cluster-enabled", "yes",
                    "--cluster-config-file", f"nodes-{p}.conf", "--save", "", "--appendonly", "no",
                    "--dir", self.dir, "--logfile", f"{self.dir}/redis-{p}.log"]
            if self.certs:  # both ports; CLUSTER SLOTS names the port of the asking connection's kind
                c = self.certs
                args += ["--tls-port", str(self.tls_ports[i]), "--tls-cert-file", c["cert"],
                         "--tls-key-file", c["key"], "--tls-ca-cert-file", c["ca"],
                         "--tls-auth-clients", "optional", "--tls-cluster", "yes",
                         "--tls-replication", "yes"]
            self.procs.append(subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        for p in self.ports:
            wait_until(lambda p=p: redis_cli(p, "ping") == "PONG", 10, f"redis {p}")
        # With tls-cluster the bus listens at the TLS port + 10000: meet over the TLS ports.
        create = ["redis-cli", "--cluster", "create", *[f"127.0.0.1:{p}" for p in self.ports]]
        if self.certs:
            create = ["redis-cli", "--tls", "--cacert", self.certs["ca"], "--cluster", "create",
                      *[f"127.0.0.1:{p}" for p in self.tls_ports]]
        subprocess.run(create + ["--cluster-yes"], check=True, capture_output=True, timeout=60)
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


class Servers:
    """Standalone redis-servers (the static-sharding deployment)."""

    def __init__(self, workdir, count, used):
        self.dir = workdir
        self.ports = [free_port(used) for _ in range(count)]
        self.procs = []

    def start(self):
        for p in self.ports:
            args = ["redis-server", "--port", str(p), "--bind", "127.0.0.1", "--save", "",
                    "--appendonly", "no", "--dir", self.dir, "--logfile", f"{self.dir}/redis-{p}.log"]
            self.procs.append(subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        for p in self.ports:
            wait_until(lambda p=p: redis_cli(p, "ping") == "PONG", 10, f"redis {p}")

    flush = Cluster.flush
    stop = Cluster.stop


class SentinelGroup:
    """A master, one replica and one sentinel monitoring them as "bench"."""

    def __init__(self, workdir, used):
        self.servers = Servers(workdir, 2, used)
        self.ports = self.servers.ports[:1]  # what flush() and the reference use: the master
        self.sentinel_port = free_port(used)
        self.dir = workdir
        self.proc = None

    def start(self):
        self.servers.start()
        redis_cli(self.servers.ports[1], "replicaof", "127.0.0.1", str(self.servers.ports[0]))
        cfg = os.path.join(self.dir, "sentinel.conf")
        with open(cfg, "w") as f:
            f.write(f"port {self.sentinel_port}\nbind 127.0.0.1\ndir {self.dir}\n"
                    f"sentinel monitor bench 127.0.0.1 {self.servers.ports[0]} 1\n")
        self.proc = subprocess.Popen(["redis-sentinel", cfg], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        wait_until(lambda: redis_cli(self.sentinel_port, "sentinel", "get-master-addr-by-name",
                                     "bench").startswith("127.0.0.1"), 10, "sentinel")

    def flush(self):
        self.servers.flush()

    def stop(self):
        if self.proc:
            self.proc.terminate()
            self.proc.wait(10)
        self.servers.stop()


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


class Nutcracker:
    """twemproxy 0.5 (Debian's nutcracker) over the same servers and placement as Slotwise."""

    def __init__(self, workdir, port, servers):
        self.port = port
        cfg = os.path.join(workdir, "nutcracker.yml")
        with open(cfg, "w") as f:
            f.write(f"bench:\n  listen: 127.0.0.1:{port}\n  hash: fnv1a_64\n  distribution: ketama\n"
                    "  redis: true\n  auto_eject_hosts: false\n  servers:\n")
            for s in servers:
                f.write(f"    - {s}:1\n")
        self.proc = subprocess.Popen(["/usr/sbin/nutcracker", "-c", cfg, "-v", "2",
                                      "-o", os.path.join(workdir, "nutcracker.log")],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(lambda: redis_cli(port, "set", "bench:probe", "1") == "OK", 10, "nutcracker")

    def cpu_seconds(self):
        return cpu_seconds(self.proc.pid)

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


class Proxy:
    def __init__(self, binary, workdir, port, backend_yaml, workers, name="slotwise"):
        self.port = port
        cfg = os.path.join(workdir, f"{name}.yaml")
        with open(cfg, "w") as f:
            f.write(f"listen: 127.0.0.1:{port}\nworkers: {workers}\n{backend_yaml}log:\n  level: warn\n")
        self.log = open(os.path.join(workdir, f"{name}.log"), "w")
        self.proc = subprocess.Popen([binary, "--config", cfg], stdout=self.log, stderr=self.log)
        wait_until(lambda: redis_cli(port, "set", "bench:probe", "1") == "OK", 10, "proxy")

    def cpu_seconds(self):
        return cpu_seconds(self.proc.pid)

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


def redis_benchmark(port, tests, pipeline, requests, clients, cluster=False, cafile=None):
    args = ["redis-benchmark", "-p", str(port), "-t", tests, "-r", "100000", "-c", str(clients),
            "-d", "64", "-n", str(requests), "-P", str(pipeline), "--csv"]
    if cluster:
        args.append("--cluster")
    if cafile:
        args += ["--tls", "--cacert", cafile]
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


def handshake_rate(port, cafile, seconds, resume, cpu):
    """New TLS connections (handshake + PING + close) from one client process for `seconds`;
    returns (connections/s, resumed count, connections, proxy CPU-seconds used)."""
    import ssl
    ctx = ssl.create_default_context(cafile=cafile)
    ctx.check_hostname = False
    session, n, resumed = None, 0, 0
    cpu0, t0 = cpu(), time.time()
    while time.time() - t0 < seconds:
        s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port)), session=session)
        s.sendall(b"*1\r\n$4\r\nPING\r\n")
        s.recv(64)  # also receives the session tickets (TLS 1.3)
        resumed += s.session_reused
        if resume:
            session = s.session
        s.close()
        n += 1
    return n / (time.time() - t0), resumed, n, cpu() - cpu0


class Target:
    """One endpoint redis-benchmark is pointed at; `cpu` reads its process's CPU-seconds;
    `cafile`: the endpoint speaks TLS."""

    def __init__(self, name, port, cluster=False, cpu=None, tests=None, cafile=None):
        self.name, self.port, self.cluster, self.cpu, self.tests = name, port, cluster, cpu, tests
        self.cafile = cafile


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", required=True)
    ap.add_argument("--mode", choices=("cluster", "static", "sentinel"), default="cluster")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--quick", action="store_true", help="fewer requests (smoke run)")
    ap.add_argument("--out", default=None)
    ap.add_argument("--tls", action="store_true", help="cluster mode: add the TLS cases")
    ap.add_argument("--observe", action="store_true",
                    help="cluster mode: add Slotwise with hot/big-key tracking off (A/B)")
    args = ap.parse_args()
    if (args.tls or args.observe) and args.mode != "cluster":
        sys.exit("--tls and --observe need --mode cluster")
    tools = ["redis-server", "redis-cli", "redis-benchmark"]
    tools += {"static": ["/usr/sbin/nutcracker"], "sentinel": ["redis-sentinel"]}.get(args.mode, [])
    for tool in tools:
        if not shutil.which(tool):
            sys.exit(f"{tool} not found: apt-get install redis-server redis-tools nutcracker "
                     "redis-sentinel")

    scale = 0.1 if args.quick else 1.0
    # (label, redis-benchmark tests, pipeline, requests). MSET sends 10 keys per command: across
    # slots (servers) through a proxy, split and merged; one slot per command with --cluster.
    cases = [("P1", "set,get", 1, int(200_000 * scale)), ("P16", "set,get", 16, int(2_000_000 * scale)),
             ("P1", "mset", 1, int(100_000 * scale))]
    used = set()
    workdir = tempfile.mkdtemp(prefix="slotwise-bench-")
    certs = make_certs(workdir) if args.tls else None
    backend = {"cluster": lambda: Cluster(workdir, 3, used, certs),
               "static": lambda: Servers(workdir, 3, used),
               "sentinel": lambda: SentinelGroup(workdir, used)}[args.mode]()
    proxy = nutcracker = None
    extra_proxies = []
    rows = []
    handshakes = []
    try:
        backend.start()
        addresses = [f"127.0.0.1:{p}" for p in backend.ports]
        if args.mode == "cluster":
            backend_yaml = f"cluster:\n  seeds: [{', '.join(addresses)}]\n"
        elif args.mode == "sentinel":
            backend_yaml = (f"sentinel:\n  sentinels: [127.0.0.1:{backend.sentinel_port}]\n"
                            "  masters: [bench]\n")
        else:
            backend_yaml = ("static:\n  hash: fnv1a_64\n  distribution: ketama\n  servers: [" +
                            ", ".join(f'"{a}:1"' for a in addresses) + "]\n")
        proxy = Proxy(args.binary, workdir, free_port(used), backend_yaml, args.workers)
        if args.mode == "cluster":
            reference = "direct (redis-benchmark --cluster)"
            targets = [Target("direct", backend.ports[0], cluster=True)]
        elif args.mode == "sentinel":
            reference = "direct to the master"
            targets = [Target("direct", backend.ports[0])]
        else:
            nutcracker = Nutcracker(workdir, free_port(used), addresses)
            reference = "twemproxy 0.5 (nutcracker), same servers and placement"
            targets = [Target("one server", backend.ports[0], tests={"SET", "GET"}),
                       Target("twemproxy", nutcracker.port, cpu=nutcracker.cpu_seconds)]
        targets.append(Target("slotwise", proxy.port, cpu=proxy.cpu_seconds))
        if args.observe:
            off = Proxy(args.binary, workdir, free_port(used),
                        backend_yaml + "observe:\n  hot_keys: false\n  big_value_bytes: 0\n",
                        args.workers, name="slotwise-observe-off")
            extra_proxies.append(off)
            targets.append(Target("slotwise observe off", off.port, cpu=off.cpu_seconds))
        if args.tls:
            targets.insert(1, Target("direct TLS", backend.tls_ports[0], cluster=True,
                                     cafile=certs["ca"]))
            listen_tls = (f"tls:\n  listen: 127.0.0.1:{{}}\n  cert_file: {certs['cert']}\n"
                          f"  key_file: {certs['key']}\n")
            backend_tls = (f"backend:\n  tls:\n    enabled: true\n    ca_file: {certs['ca']}\n")
            tls_seeds = f"cluster:\n  seeds: [127.0.0.1:{backend.tls_ports[0]}]\n"
            for name, yaml in (("slotwise TLS clients", backend_yaml),
                               ("slotwise TLS both sides", tls_seeds + backend_tls)):
                tls_port = free_port(used)
                p = Proxy(args.binary, workdir, free_port(used), yaml + listen_tls.format(tls_port),
                          args.workers, name=name.replace(" ", "-"))
                extra_proxies.append(p)
                targets.append(Target(name, tls_port, cpu=p.cpu_seconds, cafile=certs["ca"]))
        samples = {}
        for rnd in range(args.rounds):
            for name, tests, pipeline, n in cases:
                for t in targets:
                    if t.tests is not None and not set(tests.upper().split(",")) <= t.tests:
                        continue
                    cpu0 = t.cpu() if t.cpu else 0.0
                    res = redis_benchmark(t.port, tests, pipeline, n, 50, cluster=t.cluster,
                                          cafile=t.cafile)
                    cpu = (t.cpu() - cpu0) if t.cpu else float("nan")
                    for test, r in res.items():
                        s = samples.setdefault((name, test), {}).setdefault(
                            t.name, {"rps": [], "p50": [], "p99": [], "cpu": []})
                        s["rps"].append(r["rps"])
                        s["p50"].append(r["p50"])
                        s["p99"].append(r["p99"])
                        s["cpu"].append(cpu / (len(res) * n) * 100_000)
                    if t.cpu:
                        print(f"round {rnd + 1}/{args.rounds} {name} {tests} {t.name}: "
                              f"CPU {cpu:.2f}s for {len(res) * n} requests", file=sys.stderr)
            backend.flush()
        before, after = idle_clients_rss(proxy, 1000)
        if args.tls:
            both = extra_proxies[-1]
            for resume in (False, True):
                rate, resumed, n, cpu = handshake_rate(targets[-1].port, certs["ca"],
                                                       3 if args.quick else 10, resume,
                                                       both.cpu_seconds)
                handshakes.append((resume, rate, resumed, n, cpu))
        med = statistics.median
        ref_name = "twemproxy" if args.mode == "static" else "direct"
        for (name, test), by_target in samples.items():
            ref = by_target.get(ref_name)
            for tname, s in by_target.items():
                ratio = med(s["rps"]) / med(ref["rps"]) if ref else float("nan")
                rows.append((f"{test} {name}", tname, med(s["rps"]), ratio, med(s["p50"]),
                             med(s["p99"]), med(s["cpu"])))
        lines = [
            f"# Slotwise benchmark, {args.mode} mode ({time.strftime('%Y-%m-%d %H:%M:%S')}, "
            f"{os.cpu_count()} cores, {args.workers} proxy worker(s), {args.rounds} interleaved "
            "rounds, medians)",
            "",
            "redis-benchmark -r 100000 -c 50 -d 64; ratio = ops/s relative to "
            f"{reference}",
            "",
            "| test | target | ops/s | ratio | p50 / p99 ms | CPU-s per 100k |",
            "|---|---|---|---|---|---|",
        ]
        for r in rows:
            cpu = "-" if r[6] != r[6] else f"{r[6]:.3f}"
            lines.append(f"| {r[0]} | {r[1]} | {r[2]:,.0f} | {r[3]:.2f} | {r[4]:.3f} / {r[5]:.3f} | {cpu} |")
        lines += ["", f"Slotwise RSS: {before} KiB idle, {after} KiB with 1000 idle clients "
                      f"({(after - before) * 1024 / 1000 / 1024:.2f} KiB per idle client)"]
        if handshakes:
            lines += ["", "TLS handshakes (new connection + PING + close, one Python client, "
                          "RSA-2048 certificate, TLS 1.3):", "",
                      "| sessions | connections/s | resumed | proxy CPU-ms per connection | "
                      "connections per proxy CPU-second |", "|---|---|---|---|---|"]
            for resume, rate, resumed, n, cpu in handshakes:
                per_cpu = n / cpu if cpu > 0 else float("inf")
                lines.append(f"| {'resumed' if resume else 'full'} | {rate:,.0f} | {resumed}/{n} | "
                             f"{cpu * 1000 / n:.3f} | {per_cpu:,.0f} |")
        text = "\n".join(lines)
        print(text)
        out = args.out or os.path.join(os.path.dirname(os.path.abspath(__file__)), "results",
                                       time.strftime(f"bench-{args.mode}-%Y%m%d-%H%M%S.md"))
        os.makedirs(os.path.dirname(out), exist_ok=True)
        with open(out, "w") as f:
            f.write(text + "\n")
        print(f"\nwritten to {out}", file=sys.stderr)
    finally:
        if proxy:
            proxy.stop()
        for p in extra_proxies:
            p.stop()
        if nutcracker:
            nutcracker.stop()
        backend.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
