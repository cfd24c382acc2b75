"""Test support for driving Slotwise with real client libraries (Debian python3-redis).

Starts a private Redis Cluster (N masters, optional replicas) on free loopback ports in a
temporary directory and a slotwise process in front of it. Every child process is recorded in
a registry and stopped by PID: on normal teardown, at interpreter exit, on SIGTERM/SIGINT and,
through PR_SET_PDEATHSIG, even when this interpreter is killed outright.

Usage (unittest):

    class MyTest(slotwise_testlib.SlotwiseTestCase):
        def test_get(self):
            self.assertIsNone(self.proxy_client().get("k"))

Environment:
    SLOTWISE_BINARY      path of the slotwise executable (required; ctest passes it)
    SLOTWISE_KEEP_LOGS   "1" keeps the temporary directory (logs, node configs) after the run
"""
import atexit
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

try:
    import redis
except ImportError:  # run_tests.py reports this as a skip; importing the module stays possible
    redis = None

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
SLOT_COUNT = 16384
_RETRYABLE = (OSError,) if redis is None else (OSError, redis.exceptions.RedisError)
_PR_SET_PDEATHSIG = 1


# ---------------------------------------------------------------------------------------------
# Process registry: every child we start, stopped by PID (never by name).

_registry_lock = threading.Lock()
_registry = {}  # pid -> subprocess.Popen
_temp_dirs = set()  # directories removed by stop_all() unless SLOTWISE_KEEP_LOGS=1


def _set_parent_death_signal():
    """preexec_fn: the child gets SIGTERM if this interpreter dies without cleaning up."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def spawn(args, log_path):
    """Starts `args` with stdout/stderr appended to `log_path` and registers it.

    Returns the Popen. The caller stops it with stop_process(); anything still registered is
    stopped at exit or on SIGTERM/SIGINT.
    """
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, preexec_fn=_set_parent_death_signal)
    with _registry_lock:
        _registry[proc.pid] = proc
    return proc


def stop_process(proc, timeout=10.0):
    """Sends SIGTERM to `proc` (by PID), waits up to `timeout` s, then SIGKILL. Idempotent.

    Returns the exit code, or None if the process had to be killed.
    """
    with _registry_lock:
        _registry.pop(proc.pid, None)
    if proc.poll() is not None:
        return proc.returncode
    try:
        os.kill(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    try:
        return proc.wait(timeout)
    except subprocess.TimeoutExpired:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        return None


def make_temp_dir():
    """A new temporary directory, removed by remove_temp_dir() or at exit/on signals."""
    path = tempfile.mkdtemp(prefix="slotwise-py-")
    with _registry_lock:
        _temp_dirs.add(path)
    return path


def remove_temp_dir(path):
    """Removes `path` (from make_temp_dir); with SLOTWISE_KEEP_LOGS=1 keeps it and says where."""
    with _registry_lock:
        _temp_dirs.discard(path)
    if os.environ.get("SLOTWISE_KEEP_LOGS") == "1":
        print(f"slotwise test logs kept in {path}", file=sys.stderr)
    else:
        shutil.rmtree(path, ignore_errors=True)


def stop_all():
    """Stops every registered child: SIGTERM to all first (parallel shutdown), then reap each.
    Then removes the registered temporary directories."""
    with _registry_lock:
        procs = list(_registry.values())
        _registry.clear()
        dirs = list(_temp_dirs)
    for proc in procs:
        if proc.poll() is None:
            try:
                os.kill(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
    for proc in procs:
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
    for path in dirs:
        remove_temp_dir(path)


def _on_signal(signum, _frame):
    stop_all()
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


atexit.register(stop_all)
if threading.current_thread() is threading.main_thread():
    for _sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(_sig, _on_signal)


# ---------------------------------------------------------------------------------------------
# Small helpers.

def free_port(used):
    """A loopback port that is free now, with port+10000 free too (the cluster bus port)."""
    for _ in range(1000):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port in used or port + 10000 in used or port + 10000 > 65535:
            continue
        try:
            with socket.socket() as b:
                b.bind(("127.0.0.1", port + 10000))
        except OSError:
            continue
        used.update((port, port + 10000))
        return port
    raise RuntimeError("no free loopback port pair found")


def wait_until(cond, timeout, what):
    """Polls `cond()` every 20 ms until it is truthy; returns its value or raises RuntimeError."""
    deadline = time.monotonic() + timeout
    last_error = None
    while time.monotonic() < deadline:
        try:
            value = cond()
            if value:
                return value
        except _RETRYABLE as e:
            last_error = e
        time.sleep(0.02)
    raise RuntimeError(f"timed out after {timeout}s waiting for {what}"
                       + (f" (last error: {last_error})" if last_error else ""))


def info_field(text, name):
    """The value of `name:` in a CLUSTER INFO style text, or None."""
    if isinstance(text, bytes):
        text = text.decode()
    for line in text.splitlines():
        if line.startswith(name + ":"):
            return line.split(":", 1)[1].strip()
    return None


def tail(path, lines=40):
    """The last `lines` lines of a text file, or "" if it cannot be read."""
    try:
        with open(path, "rb") as f:
            return b"\n".join(f.read().splitlines()[-lines:]).decode(errors="replace")
    except OSError:
        return ""


# ---------------------------------------------------------------------------------------------
# The cluster.

class LocalCluster:
    """A Redis Cluster on 127.0.0.1: `masters` masters owning equal slot ranges, each with
    `replicas` replicas. Built like redis-cli --cluster create does it (SET-CONFIG-EPOCH,
    ADDSLOTSRANGE, MEET, REPLICATE), then waits until every node reports the same slot map.
    """

    def __init__(self, workdir, used_ports, masters=3, replicas=0, node_timeout_ms=5000):
        self.dir = workdir
        self.masters = masters
        self.replicas = replicas
        self.node_timeout_ms = node_timeout_ms
        self.ports = [free_port(used_ports) for _ in range(masters * (1 + replicas))]
        self.master_ports = self.ports[:masters]
        self.procs = {}
        self._clients = {}
        self._slot_owner = None

    def node(self, port):
        """A redis.Redis talking directly to the node on `port` (cached, owned by the cluster)."""
        c = self._clients.get(port)
        if c is None:
            c = redis.Redis(host="127.0.0.1", port=port, socket_timeout=10)
            self._clients[port] = c
        return c

    def start(self):
        """Starts the nodes and forms the cluster. Raises RuntimeError with node logs on failure."""
        for port in self.ports:
            self._start_node(port)
        for port in self.ports:
            wait_until(lambda p=port: self.node(p).ping(), 10, f"redis-server on {port}")
        for i, port in enumerate(self.ports):
            self.node(port).execute_command("CLUSTER", "SET-CONFIG-EPOCH", i + 1)
        self._assign_slots()
        self._meet_all()
        self._attach_replicas()
        wait_until(self._consistent, 30, "cluster_state:ok and one slot map on every node")

    def _start_node(self, port):
        args = [REDIS_SERVER, "--port", str(port), "--bind", "127.0.0.1", "--daemonize", "no",
                "--cluster-enabled", "yes", "--cluster-config-file", f"nodes-{port}.conf",
                "--cluster-node-timeout", str(self.node_timeout_ms),
                "--cluster-port", str(port + 10000), "--cluster-allow-replica-migration", "no",
                "--repl-diskless-sync-delay", "0", "--repl-ping-replica-period", "1",
                "--save", "", "--appendonly", "no", "--dir", self.dir,
                "--logfile", os.path.join(self.dir, f"redis-{port}.log")]
        self.procs[port] = spawn(args, os.path.join(self.dir, f"redis-{port}.stdout"))

    def _assign_slots(self):
        for i, port in enumerate(self.master_ports):
            first = i * SLOT_COUNT // self.masters
            last = (i + 1) * SLOT_COUNT // self.masters - 1
            self.node(port).execute_command("CLUSTER", "ADDSLOTSRANGE", first, last)

    def _meet_all(self):
        first = self.node(self.ports[0])
        for port in self.ports[1:]:
            first.execute_command("CLUSTER", "MEET", "127.0.0.1", port, port + 10000)
        # A handshake that outlives the node timeout (a loaded machine) makes the node forget
        # the peer for good: a node still missing a peer is introduced to it again every second.
        last_meet = [time.monotonic()]

        def all_met():
            missing = []
            for port in self.ports:
                text = self.node(port).execute_command("CLUSTER", "NODES")
                text = text.decode() if isinstance(text, bytes) else text
                known = set()
                for line in text.strip().splitlines():
                    fields = line.split()
                    if "handshake" in fields[2] or "noaddr" in fields[2]:
                        continue
                    known.add(int(fields[1].split("@")[0].rsplit(":", 1)[1]))
                missing += [(port, peer) for peer in self.ports if peer not in known]
            if not missing:
                return True
            if time.monotonic() - last_meet[0] >= 1.0:
                last_meet[0] = time.monotonic()
                for port, peer in missing:
                    self.node(port).execute_command("CLUSTER", "MEET", "127.0.0.1", peer,
                                                    peer + 10000)
            return False
        wait_until(all_met, 30, "every node to know every other node")

    def _attach_replicas(self):
        for i, port in enumerate(self.ports[self.masters:]):
            master_id = self.node(self.master_ports[i % self.masters]).execute_command(
                "CLUSTER", "MYID")
            self.node(port).execute_command("CLUSTER", "REPLICATE", master_id)

    def _slots_view(self, port):
        ranges = self.node(port).execute_command("CLUSTER", "SLOTS")
        return sorted((r[0], r[1], r[2][1], len(r) - 3) for r in ranges)

    def _consistent(self):
        reference = None
        for port in self.ports:
            if info_field(self.node(port).execute_command("CLUSTER", "INFO"),
                          "cluster_state") != "ok":
                return False
            view = self._slots_view(port)
            if reference is not None and view != reference:
                return False
            reference = view
        if any(count != self.replicas for _, _, _, count in reference):
            return False
        return True

    def slot_owner(self, slot):
        """The port of the master serving `slot`, per CLUSTER SLOTS (cached after first use)."""
        if self._slot_owner is None:
            owner = [None] * SLOT_COUNT
            for first, last, master_port, _ in self._slots_view(self.master_ports[0]):
                for s in range(first, last + 1):
                    owner[s] = master_port
            self._slot_owner = owner
        return self._slot_owner[slot]

    def key_slots(self, keys):
        """CLUSTER KEYSLOT of every key in `keys`, asked from the first master in one pipeline."""
        pipe = self.node(self.master_ports[0]).pipeline(transaction=False)
        for k in keys:
            pipe.execute_command("CLUSTER", "KEYSLOT", k)
        return pipe.execute()

    def owner_of(self, key):
        """A direct client of the master owning `key`."""
        return self.node(self.slot_owner(self.key_slots([key])[0]))

    def group_by_owner(self, keys):
        """{master port: [keys it owns]} for `keys`, in their given order."""
        groups = {}
        for key, slot in zip(keys, self.key_slots(keys)):
            groups.setdefault(self.slot_owner(slot), []).append(key)
        return groups

    def direct_get_many(self, keys):
        """{key: value read directly from its owning master} for every key in `keys`."""
        out = {}
        for port, group in self.group_by_owner(keys).items():
            pipe = self.node(port).pipeline(transaction=False)
            for k in group:
                pipe.get(k)
            out.update(zip(group, pipe.execute()))
        return out

    def total_dbsize(self):
        """Sum of DBSIZE over the masters."""
        return sum(self.node(p).dbsize() for p in self.master_ports)

    def stop(self):
        """Closes the cached clients and stops every node by PID (parallel SIGTERM)."""
        for c in self._clients.values():
            c.close()
        self._clients.clear()
        for proc in self.procs.values():
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGTERM)
        for proc in self.procs.values():
            stop_process(proc)
        self.procs.clear()


# ---------------------------------------------------------------------------------------------
# The proxy.

class SlotwiseProcess:
    """A slotwise process listening on a free loopback port with `seeds` as cluster seeds."""

    def __init__(self, binary, workdir, used_ports, seeds, workers=2, extra_yaml=""):
        self.binary = binary
        self.port = free_port(used_ports)
        self.config_path = os.path.join(workdir, "slotwise.yaml")
        self.log_path = os.path.join(workdir, "slotwise.log")
        with open(self.config_path, "w") as f:
            f.write(f"listen: 127.0.0.1:{self.port}\n"
                    f"workers: {workers}\n"
                    "cluster:\n"
                    f"  seeds: [{', '.join(seeds)}]\n"
                    "log:\n"
                    "  level: warn\n" + extra_yaml)
        self.proc = None

    def start(self):
        """Starts the proxy and waits until it routes a keyed command (it has a slot map)."""
        self.proc = spawn([self.binary, "--config", self.config_path], self.log_path)
        probe = redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=5)
        try:
            def ready():
                if self.proc.poll() is not None:
                    raise RuntimeError(f"slotwise exited with {self.proc.returncode}:\n"
                                       + tail(self.log_path))
                probe.get("slotwise:testlib:probe")
                return True
            wait_until(ready, 15, f"slotwise on port {self.port} to route commands")
        finally:
            probe.close()

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self):
        """SIGTERM by PID; returns the exit code (None if it had to be killed)."""
        if self.proc is None:
            return None
        return stop_process(self.proc)


# ---------------------------------------------------------------------------------------------
# The environment and the unittest fixture.

class Environment:
    """A cluster plus a slotwise in front of it, in one temporary directory."""

    def __init__(self, binary, masters=3, replicas=0, workers=2, extra_yaml=""):
        self.dir = make_temp_dir()
        used = set()
        self.cluster = LocalCluster(self.dir, used, masters=masters, replicas=replicas)
        self._proxy_args = dict(binary=binary, workdir=self.dir, used_ports=used,
                                workers=workers, extra_yaml=extra_yaml)
        self.proxy = None

    def start(self):
        """Starts both; on any failure stops what was started and re-raises."""
        try:
            self.cluster.start()
            seeds = [f"127.0.0.1:{p}" for p in self.cluster.master_ports]
            self.proxy = SlotwiseProcess(seeds=seeds, **self._proxy_args)
            self.proxy.start()
        except BaseException:
            self.stop()
            raise

    def stop(self):
        """Stops the proxy, then the nodes. Returns the proxy's exit code (None if killed or
        never started). Removes the temporary directory unless SLOTWISE_KEEP_LOGS=1."""
        code = self.proxy.stop() if self.proxy else None
        self.cluster.stop()
        remove_temp_dir(self.dir)
        return code


def prerequisites_missing():
    """A human-readable reason why the suite cannot run here, or None."""
    if redis is None:
        return "python module 'redis' missing (apt-get install python3-redis; run /usr/bin/python3)"
    if not os.access(REDIS_SERVER, os.X_OK):
        return "redis-server not found (apt-get install redis-server)"
    binary = os.environ.get("SLOTWISE_BINARY", "")
    if not binary or not os.access(binary, os.X_OK):
        return f"SLOTWISE_BINARY={binary!r} is not an executable slotwise binary"
    return None


class SlotwiseTestCase(unittest.TestCase):
    """One cluster + proxy per test class. Override the class attributes to change the shape.

    tearDownClass fails the class if the proxy died during the tests (a crash is a bug even
    when every client call happened to succeed), printing the tail of its log.
    """
    masters = 3
    replicas = 0
    workers = 2
    extra_yaml = ""
    env = None

    @classmethod
    def setUpClass(cls):
        reason = prerequisites_missing()
        if reason:
            raise unittest.SkipTest(reason)
        cls.env = Environment(os.environ["SLOTWISE_BINARY"], masters=cls.masters,
                              replicas=cls.replicas, workers=cls.workers,
                              extra_yaml=cls.extra_yaml)
        cls.env.start()
        cls.cluster = cls.env.cluster
        cls.proxy = cls.env.proxy
        cls._clients = []

    @classmethod
    def tearDownClass(cls):
        if cls.env is None:
            return
        for c in cls._clients:
            c.close()
        crashed = not cls.proxy.alive()
        log = tail(cls.proxy.log_path)
        code = cls.env.stop()
        cls.env = None
        if crashed:
            raise AssertionError(f"slotwise died during {cls.__name__} (exit {code}):\n{log}")

    @classmethod
    def proxy_client(cls, **kwargs):
        """A redis.Redis connected to the proxy; closed in tearDownClass. kwargs go to Redis()."""
        kwargs.setdefault("socket_timeout", 10)
        c = redis.Redis(host="127.0.0.1", port=cls.proxy.port, **kwargs)
        cls._clients.append(c)
        return c

    def keys_over_all_masters(self, prefix, count):
        """`count` distinct keys `prefix:i`; asserts they land on every master."""
        keys = [f"{prefix}:{i}" for i in range(count)]
        owners = self.cluster.group_by_owner(keys)
        self.assertEqual(set(owners), set(self.cluster.master_ports),
                         "test keys must cover every master")
        return keys
