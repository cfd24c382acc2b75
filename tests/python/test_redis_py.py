"""redis-py 4.3 (Debian python3-redis) as a plain client of Slotwise in front of a 3-master cluster.

Run: SLOTWISE_BINARY=build/slotwise /usr/bin/python3 -m unittest -v test_redis_py
(from tests/python), or through ctest (label integration). Values written through the proxy
are checked directly on the master owning their slot.
"""
import os
import threading
import time
import unittest

import redis

from slotwise_testlib import SlotwiseTestCase, wait_until

PUBSUB_READY = True  # pub/sub landed
CLUSTER_EMULATION_READY = True  # cluster emulation landed


class DataTypesTest(SlotwiseTestCase):
    """Basic commands of each data type, routed to one slot's master."""

    def setUp(self):
        self.r = self.proxy_client(decode_responses=True)

    def test_strings(self):
        r = self.r
        self.assertTrue(r.set("str:a", "hello"))
        self.assertEqual(r.get("str:a"), "hello")
        self.assertEqual(r.append("str:a", " world"), 11)
        self.assertEqual(r.strlen("str:a"), 11)
        self.assertEqual(r.getrange("str:a", 6, -1), "world")
        self.assertIsNone(r.set("str:a", "x", nx=True))
        self.assertEqual(r.incrby("str:n", 5), 5)
        self.assertEqual(r.decr("str:n"), 4)
        self.assertAlmostEqual(r.incrbyfloat("str:n", 0.5), 4.5)
        self.assertTrue(r.setex("str:ttl", 100, "v"))
        self.assertTrue(0 < r.ttl("str:ttl") <= 100)
        self.assertEqual(r.getset("str:a", "new"), "hello world")
        self.assertIsNone(r.get("str:missing"))
        self.assertEqual(r.type("str:a"), "string")
        direct = self.cluster.direct_get_many(["str:a", "str:n", "str:ttl"])
        self.assertEqual(direct, {"str:a": b"new", "str:n": b"4.5", "str:ttl": b"v"})

    def test_binary_values_round_trip(self):
        raw = self.proxy_client()
        value = bytes(range(256)) * 40 + b"\r\n$-1\r\n*3\r\n"
        self.assertTrue(raw.set(b"bin:\x00\xff", value))
        self.assertEqual(raw.get(b"bin:\x00\xff"), value)
        self.assertEqual(self.cluster.owner_of(b"bin:\x00\xff").get(b"bin:\x00\xff"), value)

    def test_hashes(self):
        r = self.r
        self.assertEqual(r.hset("hash:h", mapping={"f1": "1", "f2": "two", "f3": "3"}), 3)
        self.assertEqual(r.hgetall("hash:h"), {"f1": "1", "f2": "two", "f3": "3"})
        self.assertEqual(r.hincrby("hash:h", "f1", 41), 42)
        self.assertEqual(r.hmget("hash:h", ["f2", "nope", "f1"]), ["two", None, "42"])
        self.assertTrue(r.hexists("hash:h", "f3"))
        self.assertEqual(r.hdel("hash:h", "f3", "nope"), 1)
        self.assertEqual(r.hlen("hash:h"), 2)
        self.assertEqual(sorted(r.hkeys("hash:h")), ["f1", "f2"])
        direct = self.cluster.owner_of("hash:h").hgetall("hash:h")
        self.assertEqual(direct, {b"f1": b"42", b"f2": b"two"})

    def test_lists(self):
        r = self.r
        self.assertEqual(r.rpush("list:l", "b", "c"), 2)
        self.assertEqual(r.lpush("list:l", "a"), 3)
        self.assertEqual(r.lrange("list:l", 0, -1), ["a", "b", "c"])
        self.assertEqual(r.lindex("list:l", -1), "c")
        self.assertEqual(r.lpop("list:l"), "a")
        self.assertEqual(r.rpop("list:l", 2), ["c", "b"])
        self.assertEqual(r.llen("list:l"), 0)
        self.assertEqual(r.rpush("list:{t}src", 1, 2, 3), 3)
        self.assertEqual(r.lmove("list:{t}src", "list:{t}dst", "RIGHT", "LEFT"), "3")
        self.assertEqual(self.cluster.owner_of("list:{t}dst").lrange("list:{t}dst", 0, -1), [b"3"])

    def test_sets(self):
        r = self.r
        self.assertEqual(r.sadd("set:{s}a", "x", "y", "z"), 3)
        self.assertEqual(r.sadd("set:{s}b", "y", "z", "w"), 3)
        self.assertEqual(r.smembers("set:{s}a"), {"x", "y", "z"})
        self.assertTrue(r.sismember("set:{s}a", "x"))
        self.assertEqual(r.sinter("set:{s}a", "set:{s}b"), {"y", "z"})
        self.assertEqual(r.sunionstore("set:{s}u", ["set:{s}a", "set:{s}b"]), 4)
        self.assertEqual(r.srem("set:{s}a", "x", "nope"), 1)
        self.assertEqual(r.scard("set:{s}a"), 2)
        self.assertEqual(self.cluster.owner_of("set:{s}u").scard("set:{s}u"), 4)

    def test_cross_slot_non_splittable_command_is_crossslot(self):
        self.r.sadd("set:one", "a")
        self.r.sadd("set:two", "a")
        self.assertNotEqual(*self.cluster.key_slots(["set:one", "set:two"]))
        with self.assertRaises(redis.exceptions.ResponseError) as ctx:
            self.r.sinterstore("set:dst", ["set:one", "set:two"])
        self.assertIn("CROSSSLOT", str(ctx.exception))

    def test_sorted_sets(self):
        r = self.r
        self.assertEqual(r.zadd("zset:z", {"a": 1, "b": 2, "c": 3}), 3)
        self.assertEqual(r.zrange("zset:z", 0, -1, withscores=True),
                         [("a", 1.0), ("b", 2.0), ("c", 3.0)])
        self.assertEqual(r.zincrby("zset:z", 5, "a"), 6.0)
        self.assertEqual(r.zscore("zset:z", "a"), 6.0)
        self.assertEqual(r.zrank("zset:z", "a"), 2)
        self.assertEqual(r.zrangebyscore("zset:z", 2, 3), ["b", "c"])
        self.assertEqual(r.zrem("zset:z", "b"), 1)
        self.assertEqual(r.zcard("zset:z"), 2)
        direct = self.cluster.owner_of("zset:z").zrange("zset:z", 0, -1, withscores=True)
        self.assertEqual(direct, [(b"c", 3.0), (b"a", 6.0)])

    def test_streams(self):
        r = self.r
        ids = [r.xadd("stream:s", {"n": str(i)}) for i in range(5)]
        self.assertEqual(r.xlen("stream:s"), 5)
        entries = r.xrange("stream:s")
        self.assertEqual([e[0] for e in entries], ids)
        self.assertEqual([e[1]["n"] for e in entries], ["0", "1", "2", "3", "4"])
        self.assertEqual(r.xread({"stream:s": ids[2]}), [["stream:s", entries[3:]]])
        self.assertTrue(r.xgroup_create("stream:s", "g", id="0"))
        got = r.xreadgroup("g", "consumer", {"stream:s": ">"}, count=2)
        self.assertEqual(got, [["stream:s", entries[:2]]])
        self.assertEqual(r.xack("stream:s", "g", ids[0], ids[1]), 2)
        self.assertEqual(r.xpending("stream:s", "g")["pending"], 0)
        self.assertEqual(self.cluster.owner_of("stream:s").xlen("stream:s"), 5)

    def test_connection_level_commands(self):
        named = self.proxy_client(client_name="slotwise-py", decode_responses=True)
        self.assertTrue(named.ping())
        self.assertEqual(named.client_getname(), "slotwise-py")
        self.assertEqual(named.echo("hi"), "hi")
        self.assertTrue(self.proxy_client(db=0).ping())  # redis-py sends no SELECT for db 0
        with self.assertRaises(redis.exceptions.ResponseError):
            self.proxy_client(db=1).ping()

    def test_unknown_command_error(self):
        with self.assertRaises(redis.exceptions.ResponseError) as ctx:
            self.r.execute_command("NOSUCHCMD", "arg")
        message = str(ctx.exception).lower()
        self.assertIn("unknown", message)
        self.assertIn("'nosuchcmd'", message)
        with self.assertRaises(redis.exceptions.ResponseError) as ctx:
            self.r.execute_command("GET")
        self.assertIn("wrong number of arguments", str(ctx.exception))
        self.assertTrue(self.r.ping(), "the connection must stay usable after an error reply")


class MultiKeyTest(SlotwiseTestCase):
    """Pipelines and multi-key commands whose keys span every master."""

    def setUp(self):
        self.r = self.proxy_client(decode_responses=True)

    def test_pipeline_of_1000_commands_over_all_slots(self):
        keys = self.keys_over_all_masters("pipe", 500)
        pipe = self.r.pipeline(transaction=False)
        for i, k in enumerate(keys):
            pipe.set(k, f"v{i}")
            pipe.incr(k + ":n")
        results = pipe.execute()
        self.assertEqual(len(results), 1000)
        self.assertEqual(results, [True, 1] * 500)
        pipe = self.r.pipeline(transaction=False)
        for k in keys:
            pipe.get(k)
            pipe.incr(k + ":n")
        results = pipe.execute()
        self.assertEqual(results[0::2], [f"v{i}" for i in range(500)])
        self.assertEqual(results[1::2], [2] * 500)
        direct = self.cluster.direct_get_many(keys[::7])
        self.assertEqual(direct, {k: f"v{i}".encode() for i, k in enumerate(keys) if i % 7 == 0})

    def test_mset_mget_1000_keys_verified_on_nodes(self):
        keys = self.keys_over_all_masters("mset", 1000)
        mapping = {k: f"value-{i}" for i, k in enumerate(keys)}
        self.assertTrue(self.r.mset(mapping))
        self.assertEqual(self.cluster.direct_get_many(keys),
                         {k: v.encode() for k, v in mapping.items()})
        query = keys[::-1] + ["mset:missing"] + keys[:3]
        expected = [mapping.get(k) for k in query]
        self.assertEqual(self.r.mget(query), expected)

    def test_pipeline_keeps_order_with_errors_and_fanouts(self):
        r = self.r
        keys = self.keys_over_all_masters("mix", 12)
        r.mset({k: k for k in keys[:6]})
        r.set("mix:str", "s")
        pipe = r.pipeline(transaction=False)
        pipe.mget(keys)
        pipe.lpush("mix:str", "x")  # WRONGTYPE from the node
        pipe.exists(*keys, keys[0])
        pipe.sinterstore("mix:dst", keys[:2])  # CROSSSLOT from the proxy
        pipe.delete(*keys[3:])
        pipe.get(keys[0])
        results = pipe.execute(raise_on_error=False)
        self.assertEqual(results[0], keys[:6] + [None] * 6)
        self.assertIsInstance(results[1], redis.exceptions.ResponseError)
        self.assertIn("WRONGTYPE", str(results[1]))
        self.assertEqual(results[2], 7)
        self.assertIsInstance(results[3], redis.exceptions.ResponseError)
        self.assertIn("CROSSSLOT", str(results[3]))
        self.assertEqual(results[4:], [3, keys[0]])

    def test_delete_and_exists_across_slots(self):
        keys = self.keys_over_all_masters("del", 300)
        self.r.mset({k: "x" for k in keys})
        self.assertEqual(self.r.exists(*keys), 300)
        # EXISTS counts a key once per mention; missing keys count zero.
        self.assertEqual(self.r.exists(keys[0], keys[0], "del:missing", keys[299]), 3)
        self.assertEqual(self.r.delete(*keys[:200], "del:missing"), 200)
        self.assertEqual(self.r.exists(*keys), 100)
        self.assertEqual(self.r.unlink(*keys[200:]), 100)
        direct = self.cluster.direct_get_many(keys)
        self.assertEqual([k for k, v in direct.items() if v is not None], [])

    def test_scan_iter_yields_every_key(self):
        keys = self.keys_over_all_masters("scan", 700)
        self.r.mset({k: "1" for k in keys})
        seen = list(self.r.scan_iter(match="scan:*", count=50))
        self.assertEqual(set(seen), set(keys))
        every = set(self.r.scan_iter(count=100))
        direct = set()
        for port in self.cluster.master_ports:
            direct.update(k.decode() for k in self.cluster.node(port).keys("*"))
        self.assertEqual(every, direct)
        typed = set(self.r.scan_iter(match="scan:*", _type="string"))
        self.assertEqual(typed, set(keys))

    def test_keys_dbsize_flushall(self):
        self.assertTrue(self.r.flushall())
        self.assertEqual(self.r.dbsize(), 0)
        keys = self.keys_over_all_masters("kd", 250)
        self.r.mset({k: "1" for k in keys})
        self.assertEqual(self.r.dbsize(), 250)
        self.assertEqual(self.cluster.total_dbsize(), 250)
        self.assertEqual(sorted(self.r.keys("kd:*")), sorted(keys))
        self.assertEqual(sorted(self.r.keys("kd:1?")), sorted(f"kd:{i}" for i in range(10, 20)))
        self.assertTrue(self.r.flushall())
        self.assertEqual(self.r.dbsize(), 0)
        self.assertEqual([self.cluster.node(p).dbsize() for p in self.cluster.master_ports],
                         [0] * len(self.cluster.master_ports))


class MalformedMultiKeyTest(SlotwiseTestCase):
    """Malformed multi-key commands; a class of its own so a proxy crash here cannot take the
    other suites' tests down with it (tearDownClass still reports the crash)."""

    def setUp(self):
        self.r = self.proxy_client(decode_responses=True)

    def test_mset_with_odd_argument_count_across_slots_is_rejected(self):
        # Redis answers "wrong number of arguments" for MSET k1 v1 k2 and writes nothing; the
        # proxy must not split such a command and invent a value for the last key.
        a, b = "odd:a", "odd:b"
        self.assertNotEqual(*self.cluster.key_slots([a, b]))
        with self.assertRaises(redis.exceptions.ResponseError) as ctx:
            self.r.execute_command("MSET", a, "1", b)
        self.assertIn("wrong number of arguments", str(ctx.exception))
        self.assertEqual(self.cluster.direct_get_many([a, b]), {a: None, b: None})
        self.assertTrue(self.r.ping(), "the proxy must survive a malformed MSET")


class ScriptsAndTransactionsTest(SlotwiseTestCase):
    """Lua scripts and MULTI/EXEC/WATCH, which must stay within one slot."""

    SCRIPT = ("redis.call('SET', KEYS[1], ARGV[1]) "
              "return redis.call('INCRBY', KEYS[2], ARGV[2])")

    def setUp(self):
        self.r = self.proxy_client(decode_responses=True)

    def test_register_script_keys_in_one_slot(self):
        script = self.r.register_script(self.SCRIPT)
        self.assertEqual(script(keys=["{lua}a", "{lua}b"], args=["first", 7]), 7)
        self.assertEqual(script(keys=["{lua}a", "{lua}b"], args=["second", 3]), 10)
        owner = self.cluster.owner_of("{lua}a")
        self.assertEqual(owner.get("{lua}a"), b"second")
        self.assertEqual(owner.get("{lua}b"), b"10")
        # The proxy broadcasts SCRIPT LOAD, so EVALSHA works on every master.
        self.assertEqual(self.r.script_exists(script.sha), [True])
        for port in self.cluster.master_ports:
            self.assertEqual(self.cluster.node(port).script_exists(script.sha), [True], port)
        tags = self.tags_on_every_master()
        for tag in tags:
            self.assertEqual(self.r.evalsha(script.sha, 2, f"{{{tag}}}a", f"{{{tag}}}b", "x", 1), 1)

    def tags_on_every_master(self):
        candidates = [f"t{i}" for i in range(64)]
        slots = self.cluster.key_slots(candidates)
        by_owner = {}
        for tag, slot in zip(candidates, slots):
            by_owner.setdefault(self.cluster.slot_owner(slot), tag)
        self.assertEqual(set(by_owner), set(self.cluster.master_ports))
        return list(by_owner.values())

    def test_script_with_cross_slot_keys_is_rejected(self):
        a, b = "luax:1", "luax:2"
        self.assertNotEqual(*self.cluster.key_slots([a, b]))
        with self.assertRaises(redis.exceptions.ResponseError) as ctx:
            self.r.eval(self.SCRIPT, 2, a, b, "v", 1)
        self.assertIn("CROSSSLOT", str(ctx.exception))
        self.assertEqual(self.cluster.direct_get_many([a, b]), {a: None, b: None})

    def test_transaction_on_tagged_keys(self):
        with self.r.pipeline(transaction=True) as pipe:
            pipe.set("{user:1}name", "ann").incr("{user:1}visits").hset("{user:1}h", "f", "v")
            pipe.get("{user:1}name")
            self.assertEqual(pipe.execute(), [True, 1, 1, "ann"])
        owner = self.cluster.owner_of("{user:1}")
        self.assertEqual(owner.get("{user:1}visits"), b"1")

    def test_watch_then_multi_exec(self):
        self.r.set("{acct}balance", 100)

        def debit(pipe):
            balance = int(pipe.get("{acct}balance"))
            pipe.multi()
            pipe.set("{acct}balance", balance - 30)
            pipe.rpush("{acct}log", "debit 30")
        self.assertEqual(self.r.transaction(debit, "{acct}balance"), [True, 1])
        self.assertEqual(self.cluster.owner_of("{acct}balance").get("{acct}balance"), b"70")

    def test_watch_conflict_aborts_exec(self):
        self.r.set("{w}k", "1")
        other = self.proxy_client()
        with self.r.pipeline(transaction=True) as pipe:
            pipe.watch("{w}k")
            self.assertEqual(pipe.get("{w}k"), "1")
            other.set("{w}k", "changed")
            pipe.multi()
            pipe.set("{w}k", "mine")
            with self.assertRaises(redis.exceptions.WatchError):
                pipe.execute()
        self.assertEqual(self.cluster.owner_of("{w}k").get("{w}k"), b"changed")

    def test_cross_slot_transaction_is_an_error_and_writes_nothing(self):
        a, b = "txn:alpha", "txn:beta"
        self.assertNotEqual(*self.cluster.key_slots([a, b]))
        with self.r.pipeline(transaction=True) as pipe:
            pipe.set(a, "1").set(b, "2")
            with self.assertRaises(redis.exceptions.ResponseError) as ctx:
                pipe.execute()
        message = str(ctx.exception)
        self.assertTrue("CROSSSLOT" in message or "EXECABORT" in message, message)
        self.assertEqual(self.cluster.direct_get_many([a, b]), {a: None, b: None})
        # The pooled connection is reused; it must be out of the aborted transaction.
        self.assertTrue(self.r.set(a, "after"))
        self.assertEqual(self.cluster.owner_of(a).get(a), b"after")


class BlockingAndConcurrencyTest(SlotwiseTestCase):
    """Blocking commands and many concurrent clients on one connection pool."""

    def test_blpop_times_out(self):
        r = self.proxy_client(decode_responses=True)
        start = time.monotonic()
        self.assertIsNone(r.blpop(["block:none"], timeout=1))
        elapsed = time.monotonic() - start
        self.assertGreaterEqual(elapsed, 0.9)
        self.assertLess(elapsed, 5)

    def test_blpop_woken_by_another_client(self):
        blocked = self.proxy_client(decode_responses=True)
        pusher = self.proxy_client(decode_responses=True)
        owner = self.cluster.owner_of("block:q")
        result = {}
        thread = threading.Thread(
            target=lambda: result.update(v=blocked.blpop(["block:q"], timeout=8)))
        thread.start()
        try:
            wait_until(lambda: owner.info("clients")["blocked_clients"] == 1,
                       5, "BLPOP to block on the owning node")
            start = time.monotonic()
            self.assertEqual(pusher.set("block:other", "x"), True)  # not delayed by the blocker
            self.assertLess(time.monotonic() - start, 1)
            self.assertEqual(pusher.rpush("block:q", "payload"), 1)
        finally:
            thread.join(10)
        self.assertFalse(thread.is_alive())
        self.assertEqual(result.get("v"), ("block:q", "payload"))
        self.assertEqual(owner.llen("block:q"), 0)

    def test_connection_pool_20_threads_incr(self):
        pool = redis.ConnectionPool(host="127.0.0.1", port=self.proxy.port, max_connections=20,
                                    socket_timeout=10)
        r = redis.Redis(connection_pool=pool)
        counters = [f"counter:{i}" for i in range(10)]
        threads_count, rounds = 20, 40
        errors = []

        def work(tid):
            try:
                for n in range(rounds):
                    for j, c in enumerate(counters):
                        if (tid + n + j) % 2 == 0:
                            r.incr(c)
                        else:
                            r.incrby(c, 2)
            except Exception as e:  # reported below; a thread must not die silently
                errors.append(repr(e))
        threads = [threading.Thread(target=work, args=(t,)) for t in range(threads_count)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        pool.disconnect()
        self.assertEqual(errors, [])
        expected = {}
        for c_index, c in enumerate(counters):
            total = 0
            for tid in range(threads_count):
                for n in range(rounds):
                    total += 1 if (tid + n + c_index) % 2 == 0 else 2
            expected[c] = str(total).encode()
        self.assertEqual(self.cluster.direct_get_many(counters), expected)
        self.assertGreater(len(self.cluster.group_by_owner(counters)), 1)


@unittest.skipUnless(PUBSUB_READY, "pub/sub through slotwise is not implemented yet "
                                   "(set SLOTWISE_PUBSUB=1 to run)")
class PubSubTest(SlotwiseTestCase):
    """SUBSCRIBE / PSUBSCRIBE / SSUBSCRIBE through the proxy; messages arrive in order."""

    COUNT = 200

    def receive(self, pubsub, count, kind):
        got = []
        deadline = time.monotonic() + 10
        while len(got) < count and time.monotonic() < deadline:
            msg = pubsub.get_message(timeout=1)
            if msg and msg["type"] == kind:
                got.append(msg)
        return got

    def test_subscribe_receives_every_message_in_order(self):
        sub = self.proxy_client(decode_responses=True).pubsub()
        sub.subscribe("chan:a")
        self.assertEqual(sub.get_message(timeout=5)["type"], "subscribe")
        pub = self.proxy_client()
        for i in range(self.COUNT):
            # Redis Cluster counts receivers on the node that ran PUBLISH only; the proxy
            # publishes on the node it subscribed the channel on, so the count is exact.
            self.assertEqual(pub.publish("chan:a", f"m{i}"), 1)
        got = self.receive(sub, self.COUNT, "message")
        self.assertEqual([m["data"] for m in got], [f"m{i}" for i in range(self.COUNT)])
        self.assertTrue(all(m["channel"] == "chan:a" for m in got))
        sub.unsubscribe("chan:a")
        sub.close()

    def test_psubscribe_receives_from_many_channels(self):
        sub = self.proxy_client(decode_responses=True).pubsub()
        sub.psubscribe("news.*")
        self.assertEqual(sub.get_message(timeout=5)["type"], "psubscribe")
        pub = self.proxy_client()
        channels = [f"news.{i % 7}" for i in range(self.COUNT)]
        for i, ch in enumerate(channels):
            pub.publish(ch, f"m{i}")
        pub.publish("other", "ignored")
        got = self.receive(sub, self.COUNT, "pmessage")
        # Each channel's messages leave from its own master, so the order holds per channel
        # only (as with any cluster client that publishes by slot).
        for name in sorted(set(channels)):
            self.assertEqual([m["data"] for m in got if m["channel"] == name],
                             [f"m{i}" for i, ch in enumerate(channels) if ch == name])
        self.assertEqual(len(got), len(channels))
        self.assertTrue(all(m["pattern"] == "news.*" for m in got))
        sub.close()

    def test_ssubscribe_receives_every_spublish_in_order(self):
        # redis-py 4.3's PubSub has no SSUBSCRIBE: drive it on a raw connection.
        conn = redis.Connection(host="127.0.0.1", port=self.proxy.port, socket_timeout=10)
        try:
            conn.send_command("SSUBSCRIBE", "shard:{c}1")
            self.assertEqual(conn.read_response(), [b"ssubscribe", b"shard:{c}1", 1])
            pub = self.proxy_client()
            for i in range(self.COUNT):
                self.assertEqual(pub.execute_command("SPUBLISH", "shard:{c}1", f"m{i}"), 1)
            got = [conn.read_response() for _ in range(self.COUNT)]
            self.assertEqual(got, [[b"smessage", b"shard:{c}1", f"m{i}".encode()]
                                   for i in range(self.COUNT)])
        finally:
            conn.disconnect()


@unittest.skipUnless(CLUSTER_EMULATION_READY, "cluster emulation (CLUSTER SLOTS etc. answered by "
                                              "slotwise) is not enabled yet "
                                              "(set SLOTWISE_CLUSTER_EMULATION=1 to run)")
class ClusterClientTest(SlotwiseTestCase):
    """redis.cluster.RedisCluster pointed at the proxy sees one node owning every slot."""

    def test_redis_cluster_client_through_proxy(self):
        from redis.cluster import RedisCluster
        rc = RedisCluster(host="127.0.0.1", port=self.proxy.port, decode_responses=True)
        try:
            nodes = rc.get_nodes()
            self.assertEqual([(n.host, n.port) for n in nodes], [("127.0.0.1", self.proxy.port)])
            keys = self.keys_over_all_masters("rc", 100)
            for i, k in enumerate(keys):
                self.assertTrue(rc.set(k, f"v{i}"))
            self.assertEqual(rc.mget_nonatomic(keys), [f"v{i}" for i in range(100)])
            pipe = rc.pipeline()
            for k in keys:
                pipe.incr(k + ":n")
            self.assertEqual(pipe.execute(), [1] * 100)
            self.assertEqual(rc.keyslot("rc:0"), self.cluster.key_slots(["rc:0"])[0])
            self.assertEqual(self.cluster.direct_get_many(keys),
                             {k: f"v{i}".encode() for i, k in enumerate(keys)})
        finally:
            rc.close()


if __name__ == "__main__":
    unittest.main()
