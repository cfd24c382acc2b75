#!/usr/bin/python3
"""Generates router/command_table_data.inc from a live redis-server 7.0.

Usage: /usr/bin/python3 tools/gen_command_table.py [--redis-server PATH] [--out FILE]

The script starts a throw-away redis-server on a free 127.0.0.1 port (no persistence, temporary
directory), reads the raw RESP2 reply of COMMAND over a plain socket, stops the server by PID and
writes one C++ table entry per command and per subcommand. The routing policy (ProxyClass) and
the getkeys procedures of commands whose key specs are incomplete are hand-kept below: this file
is the single place where they are decided. The generator refuses to write a table when:
  * a command without key specs is not classified in PROXY_CLASS (every keyless command needs a
    deliberate decision),
  * PROXY_CLASS or GETKEYS_PROC names a command the server does not know (stale policy),
  * a command with INCOMPLETE or unknown key specs has no GETKEYS_PROC entry,
  * the server reports a command flag or key-spec flag the C++ side has no constant for.
"""

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

# ---------------------------------------------------------------------------------------------
# Hand-kept policy. Rules (mirrored in router/command_table.h):
#   kKeyed        default for every command with key specs (scripts with numkeys 0 included).
#   kKeyless      no keys, any master gives the same answer: pure functions of the arguments,
#                 server-wide read-only facts, "help" subcommands, PUBLISH (cluster-wide bus).
#   kLocal        the proxy answers itself (connection state lives in the proxy, not a node).
#   kAllMasters   sent to every master, replies merged (keyspace-wide or config-wide effects).
#   kTransaction  MULTI/EXEC/DISCARD/WATCH/UNWATCH: pinned to one backend connection.
#   kPubSub       subscription state: pinned connection, re-subscribed after topology changes.
#   kUnsupported  node administration, replication, multi-db and cluster-bus internals that
#                 make no sense through a proxy; answered with an error.
# Keyed commands appear here only when they must NOT be routed by key.
# ---------------------------------------------------------------------------------------------
KEYED_OVERRIDES = {
    'watch': 'kTransaction',
    'ssubscribe': 'kPubSub',
    'sunsubscribe': 'kPubSub',
    'move': 'kUnsupported',            # moves a key to another db: cluster mode has only db 0
    'restore-asking': 'kUnsupported',  # node-to-node half of MIGRATE
}

KEYLESS = {
    # Containers: only used when the subcommand is missing or unknown.
    'acl': 'kUnsupported', 'client': 'kLocal', 'cluster': 'kUnsupported',
    'command': 'kKeyless', 'config': 'kAllMasters', 'function': 'kAllMasters',
    'latency': 'kUnsupported', 'memory': 'kUnsupported', 'module': 'kUnsupported',
    'object': 'kKeyed', 'pubsub': 'kPubSub', 'script': 'kAllMasters', 'slowlog': 'kLocal',
    'xgroup': 'kKeyed', 'xinfo': 'kKeyed',
    # ACL: the proxy authenticates clients itself; the backends' ACL state is not the client's.
    # WHOAMI/USERS/LIST/GETUSER/LOG describe the proxy's own users (proxy/local/acl.h); SETUSER,
    # DELUSER, SAVE, LOAD, DRYRUN are answered locally with an error that gives the reason.
    'acl|cat': 'kKeyless', 'acl|genpass': 'kKeyless', 'acl|whoami': 'kLocal',
    'acl|deluser': 'kLocal', 'acl|dryrun': 'kLocal', 'acl|getuser': 'kLocal',
    'acl|list': 'kLocal', 'acl|load': 'kLocal', 'acl|log': 'kLocal',
    'acl|save': 'kLocal', 'acl|setuser': 'kLocal', 'acl|users': 'kLocal',
    # Connection state lives in the proxy.
    'auth': 'kLocal', 'echo': 'kLocal', 'hello': 'kLocal', 'ping': 'kLocal', 'quit': 'kLocal',
    'reset': 'kLocal', 'select': 'kLocal',
    # MONITOR streams the commands this proxy receives (proxy/datapath/monitor.h).
    'monitor': 'kLocal',
    # READONLY / READWRITE: the client's read mode, kept by the proxy (reads of a READONLY client
    # prefer replicas, as a cluster node would let them).
    'readonly': 'kLocal', 'readwrite': 'kLocal',
    # ASKING: +OK as from a cluster node (the proxy never answers ASK, it follows it itself).
    'asking': 'kLocal',
    # INFO: the proxy's own sections (server, clients, stats, ... and # Proxy), not a node's.
    'info': 'kLocal',
    'client|caching': 'kLocal', 'client|getname': 'kLocal', 'client|getredir': 'kLocal',
    'client|id': 'kLocal', 'client|info': 'kLocal', 'client|kill': 'kLocal',
    'client|list': 'kLocal', 'client|no-evict': 'kLocal', 'client|pause': 'kLocal',
    'client|reply': 'kLocal', 'client|setname': 'kLocal', 'client|tracking': 'kLocal',
    'client|trackinginfo': 'kLocal', 'client|unblock': 'kLocal', 'client|unpause': 'kLocal',
    # CLUSTER: the proxy emulates a one-node cluster that owns every slot at its advertised
    # address (proxy/proxy_info.h), so cluster-aware clients see one node; KEYSLOT is computed
    # locally, and LINKS/REPLICAS/SLAVES describe that node (no links, no replicas). The rest is
    # cluster-bus administration. COUNTKEYSINSLOT/GETKEYSINSLOT take a slot number, not a key
    # (no key specs): kKeyless here, and router.cc sends them to the master of that slot.
    'cluster|info': 'kLocal', 'cluster|keyslot': 'kLocal', 'cluster|myid': 'kLocal',
    'cluster|nodes': 'kLocal', 'cluster|shards': 'kLocal', 'cluster|slots': 'kLocal',
    'cluster|links': 'kLocal', 'cluster|replicas': 'kLocal', 'cluster|slaves': 'kLocal',
    'cluster|countkeysinslot': 'kKeyless', 'cluster|getkeysinslot': 'kKeyless',
    'cluster|addslots': 'kUnsupported', 'cluster|addslotsrange': 'kUnsupported',
    'cluster|bumpepoch': 'kUnsupported', 'cluster|count-failure-reports': 'kUnsupported',
    'cluster|delslots': 'kUnsupported', 'cluster|delslotsrange': 'kUnsupported',
    'cluster|failover': 'kUnsupported', 'cluster|flushslots': 'kUnsupported',
    'cluster|forget': 'kUnsupported', 'cluster|meet': 'kUnsupported',
    'cluster|replicate': 'kUnsupported', 'cluster|reset': 'kUnsupported',
    'cluster|saveconfig': 'kUnsupported', 'cluster|set-config-epoch': 'kUnsupported',
    'cluster|setslot': 'kUnsupported',
    # Server-wide facts that are identical on every master.
    'command|count': 'kKeyless', 'command|docs': 'kKeyless', 'command|getkeys': 'kKeyless',
    'command|getkeysandflags': 'kKeyless', 'command|info': 'kKeyless', 'command|list': 'kKeyless',
    'lolwut': 'kKeyless', 'pfselftest': 'kKeyless', 'publish': 'kKeyless', 'time': 'kKeyless',
    # Keyspace-wide or configuration-wide: every master, merged.
    'config|get': 'kAllMasters', 'config|resetstat': 'kAllMasters', 'config|set': 'kAllMasters',
    'config|rewrite': 'kUnsupported',
    'dbsize': 'kAllMasters', 'flushall': 'kAllMasters', 'flushdb': 'kAllMasters',
    'keys': 'kAllMasters', 'lastsave': 'kAllMasters',
    'randomkey': 'kAllMasters', 'scan': 'kAllMasters', 'wait': 'kAllMasters',
    'function|delete': 'kAllMasters', 'function|dump': 'kAllMasters',
    'function|flush': 'kAllMasters', 'function|kill': 'kAllMasters',
    'function|list': 'kAllMasters', 'function|load': 'kAllMasters',
    'function|restore': 'kAllMasters', 'function|stats': 'kAllMasters',
    'script|exists': 'kAllMasters', 'script|flush': 'kAllMasters', 'script|kill': 'kAllMasters',
    'script|load': 'kAllMasters', 'script|debug': 'kUnsupported',
    # Transactions and Pub/Sub.
    'discard': 'kTransaction', 'exec': 'kTransaction', 'multi': 'kTransaction',
    'unwatch': 'kTransaction',
    'psubscribe': 'kPubSub', 'punsubscribe': 'kPubSub', 'subscribe': 'kPubSub',
    'unsubscribe': 'kPubSub', 'pubsub|channels': 'kPubSub', 'pubsub|numpat': 'kPubSub',
    'pubsub|numsub': 'kPubSub', 'pubsub|shardchannels': 'kPubSub',
    'pubsub|shardnumsub': 'kPubSub',
    # Node administration, persistence, replication and per-node diagnostics.
    # SAVE/BGSAVE/BGREWRITEAOF: every master with allow_admin_commands, else a clear error.
    'bgrewriteaof': 'kAllMasters', 'bgsave': 'kAllMasters', 'save': 'kAllMasters',
    # ROLE: the proxy is one master without replicas (as CLUSTER NODES says).
    'role': 'kLocal',
    'debug': 'kUnsupported', 'failover': 'kUnsupported',
    'psync': 'kUnsupported',
    'replconf': 'kUnsupported', 'replicaof': 'kUnsupported',
    'shutdown': 'kUnsupported', 'slaveof': 'kUnsupported',
    'swapdb': 'kUnsupported', 'sync': 'kUnsupported',
    'latency|doctor': 'kUnsupported', 'latency|graph': 'kUnsupported',
    'latency|histogram': 'kUnsupported', 'latency|history': 'kUnsupported',
    'latency|latest': 'kUnsupported', 'latency|reset': 'kUnsupported',
    'memory|doctor': 'kUnsupported', 'memory|malloc-stats': 'kUnsupported',
    'memory|purge': 'kUnsupported', 'memory|stats': 'kUnsupported',
    'module|list': 'kUnsupported', 'module|load': 'kUnsupported',
    'module|loadex': 'kUnsupported', 'module|unload': 'kUnsupported',
    # SLOWLOG: the proxy's own slow log (proxy/slowlog.h), not a node's.
    'slowlog|get': 'kLocal', 'slowlog|help': 'kLocal', 'slowlog|len': 'kLocal',
    'slowlog|reset': 'kLocal',
}

# Commands whose key specs are INCOMPLETE or of unknown type: Redis falls back to a getkeys
# procedure for them, which router/command_table.cc reproduces.
GETKEYS_PROC = {
    'sort': 'GetKeysProc::kSort',
    'sort_ro': 'GetKeysProc::kSortRo',
    'migrate': 'GetKeysProc::kMigrate',
}

COMMAND_FLAGS = {
    'write': 'kWrite', 'readonly': 'kReadonly', 'denyoom': 'kDenyOom', 'module': 'kModule',
    'admin': 'kAdmin', 'pubsub': 'kPubsub', 'noscript': 'kNoscript', 'blocking': 'kBlocking',
    'loading': 'kLoading', 'stale': 'kStale', 'skip_monitor': 'kSkipMonitor',
    'skip_slowlog': 'kSkipSlowlog', 'asking': 'kAsking', 'fast': 'kFast', 'no_auth': 'kNoAuth',
    'may_replicate': 'kMayReplicate', 'no_mandatory_keys': 'kNoMandatoryKeys',
    'no_multi': 'kNoMulti', 'movablekeys': 'kMovableKeys', 'allow_busy': 'kAllowBusy',
    'no_async_loading': 'kNoAsyncLoading',
}

KEY_SPEC_FLAGS = {
    'RO': 'kKeyRo', 'RW': 'kKeyRw', 'OW': 'kKeyOw', 'RM': 'kKeyRm', 'access': 'kKeyAccess',
    'update': 'kKeyUpdate', 'insert': 'kKeyInsert', 'delete': 'kKeyDelete',
    'not_key': 'kKeyNotKey', 'incomplete': 'kKeyIncomplete',
    'variable_flags': 'kKeyVariableFlags',
}


class GenError(Exception):
    pass


# --------------------------------- minimal RESP2 client --------------------------------------
class RespConn:
    """Blocking RESP2 connection; decodes every reply type COMMAND and INFO use."""

    def __init__(self, port):
        self.sock = socket.create_connection(('127.0.0.1', port), timeout=10)
        self.buf = b''

    def close(self):
        self.sock.close()

    def _fill(self):
        chunk = self.sock.recv(1 << 16)
        if not chunk:
            raise GenError('redis-server closed the connection')
        self.buf += chunk

    def _line(self):
        while b'\r\n' not in self.buf:
            self._fill()
        line, self.buf = self.buf.split(b'\r\n', 1)
        return line

    def _exact(self, n):
        while len(self.buf) < n + 2:
            self._fill()
        data, self.buf = self.buf[:n], self.buf[n + 2:]
        return data

    def read(self):
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind == b'+':
            return rest.decode()
        if kind == b'-':
            raise GenError('server error: ' + rest.decode())
        if kind == b':':
            return int(rest)
        if kind == b'$':
            n = int(rest)
            return None if n < 0 else self._exact(n).decode()
        if kind == b'*':
            n = int(rest)
            return None if n < 0 else [self.read() for _ in range(n)]
        raise GenError('unexpected RESP line %r' % line)

    def call(self, *args):
        out = [b'*%d\r\n' % len(args)]
        for a in args:
            a = a.encode()
            out.append(b'$%d\r\n%s\r\n' % (len(a), a))
        self.sock.sendall(b''.join(out))
        return self.read()


# --------------------------------- temporary redis-server ------------------------------------
def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


class TempRedis:
    def __init__(self, binary):
        self.binary = binary
        self.dir = tempfile.mkdtemp(prefix='gen_command_table_')
        self.port = free_port()
        self.proc = None

    def __enter__(self):
        args = [self.binary, '--port', str(self.port), '--bind', '127.0.0.1',
                '--save', '', '--appendonly', 'no', '--dir', self.dir,
                '--logfile', os.path.join(self.dir, 'redis.log')]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise GenError('redis-server exited early, see %s' % self.dir)
            try:
                conn = RespConn(self.port)
                if conn.call('PING') == 'PONG':
                    return conn
                conn.close()
            except (OSError, GenError):
                time.sleep(0.05)
        raise GenError('redis-server did not answer PING within 10s')

    def __exit__(self, *exc):
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)
        return False


# --------------------------------- COMMAND reply decoding ------------------------------------
def pairs(flat):
    """RESP2 flattens maps into [k1, v1, k2, v2, ...]."""
    return dict(zip(flat[0::2], flat[1::2]))


def decode_key_spec(raw):
    spec = pairs(raw)
    bs, fk = pairs(spec['begin_search']), pairs(spec['find_keys'])
    bs_spec, fk_spec = pairs(bs['spec']), pairs(fk['spec'])
    unknown = set(spec['flags']) - set(KEY_SPEC_FLAGS)
    if unknown:
        raise GenError('unknown key-spec flags %s' % sorted(unknown))
    return {
        'notes': spec.get('notes'),
        'flags': spec['flags'],
        'bs_type': bs['type'], 'bs': bs_spec,
        'fk_type': fk['type'], 'fk': fk_spec,
    }


def decode_command(raw):
    name, arity, flags, first, last, step = raw[:6]
    unknown = set(flags) - set(COMMAND_FLAGS)
    if unknown:
        raise GenError('%s: unknown command flags %s' % (name, sorted(unknown)))
    specs = [decode_key_spec(s) for s in raw[8]]
    subs = sorted((decode_command(s) for s in raw[9]), key=lambda c: c['name'])
    return {'name': name.lower(), 'arity': arity, 'flags': flags, 'first': first, 'last': last,
            'step': step, 'specs': specs, 'subs': subs}


# --------------------------------- classification --------------------------------------------
def is_keyed(cmd):
    return any('not_key' not in s['flags'] for s in cmd['specs'])


def needs_proc(cmd):
    return any('incomplete' in s['flags'] or s['bs_type'] not in ('index', 'keyword') or
               s['fk_type'] not in ('range', 'keynum') for s in cmd['specs'])


def classify(cmd, used):
    name = cmd['name']
    if name in KEYED_OVERRIDES:
        used.add(name)
        return KEYED_OVERRIDES[name]
    if name in KEYLESS:
        used.add(name)
        return KEYLESS[name]
    if is_keyed(cmd) or name == 'spublish':
        return 'kKeyed'  # SPUBLISH: routed by its channel (a NOT_KEY spec)
    if name.endswith('|help'):
        return 'kKeyless'
    raise GenError('%s has no key specs and no ProxyClass in KEYLESS' % name)


def check_policy(commands):
    used, names = set(), set()
    for cmd in commands:
        for c in [cmd] + cmd['subs']:
            names.add(c['name'])
            c['class'] = classify(c, used)
            if needs_proc(c) and c['name'] not in GETKEYS_PROC:
                raise GenError('%s has incomplete key specs but no GETKEYS_PROC' % c['name'])
    stale = (set(KEYLESS) | set(KEYED_OVERRIDES) | set(GETKEYS_PROC)) - names
    if stale:
        raise GenError('policy names unknown commands: %s' % sorted(stale))


# --------------------------------- C++ emission ----------------------------------------------
def ident(name):
    return name.replace('|', '_').replace('-', '_')


def cxx_flags(names, table):
    return ' | '.join(table[n] for n in names) if names else '0'


def cxx_string(s):
    return '"%s"' % s.replace('\\', '\\\\').replace('"', '\\"')


def emit_spec(spec):
    if spec['bs_type'] == 'index':
        bs = 'indexSearch(%d)' % spec['bs']['index']
    elif spec['bs_type'] == 'keyword':
        bs = 'keywordSearch(%s, %d)' % (cxx_string(spec['bs']['keyword']),
                                         spec['bs']['startfrom'])
    else:
        bs = 'unknownSearch()'
    fk = spec['fk']
    if spec['fk_type'] == 'range':
        keys = 'rangeKeys(%d, %d, %d)' % (fk['lastkey'], fk['keystep'], fk['limit'])
    elif spec['fk_type'] == 'keynum':
        keys = 'keynumKeys(%d, %d, %d)' % (fk['keynumidx'], fk['firstkey'], fk['keystep'])
    else:
        keys = 'unknownKeys()'
    lines = []
    if spec['notes']:
        lines.append('    // %s' % spec['notes'])
    lines.append('    {%s, %s, %s},' % (bs, keys, cxx_flags(spec['flags'], KEY_SPEC_FLAGS)))
    return lines


def emit_specs(cmd, out):
    if not cmd['specs']:
        return
    out.append('constexpr KeySpec kSpecs_%s[] = {' % ident(cmd['name']))
    for spec in cmd['specs']:
        out.extend(emit_spec(spec))
    out.append('};')


def emit_entry(cmd):
    specs = 'kSpecs_%s' % ident(cmd['name']) if cmd['specs'] else '{}'
    subs = 'kSub_%s' % ident(cmd['name']) if cmd['subs'] else '{}'
    proc = GETKEYS_PROC.get(cmd['name'], 'GetKeysProc::kNone')
    return ('    {%s, %d, %s, %d, %d, %d, %s, ProxyClass::%s, %s, %s},' %
            (cxx_string(cmd['name']), cmd['arity'], cxx_flags(cmd['flags'], COMMAND_FLAGS),
             cmd['first'], cmd['last'], cmd['step'], specs, cmd['class'], subs, proc))


def render(commands, version):
    out = ['// Generated by tools/gen_command_table.py from redis-server %s — do not edit.'
           % version,
           '// Included once, by router/command_table.cc, in an anonymous namespace inside',
           '// slotwise::router (uses the spec builders of router/command_table.h).',
           '// Entry: {name, arity, flags, first_key, last_key, key_step, key_specs, proxy_class,',
           '//         subcommands, getkeys}. Commands and subcommands are sorted by name.',
           '// clang-format off', '']
    for cmd in commands:
        for c in [cmd] + cmd['subs']:
            emit_specs(c, out)
    out.append('')
    for cmd in commands:
        if cmd['subs']:
            out.append('constexpr CommandInfo kSub_%s[] = {' % ident(cmd['name']))
            out.extend(emit_entry(s) for s in cmd['subs'])
            out.append('};')
    out.append('')
    out.append('constexpr CommandInfo kCommands[] = {')
    out.extend(emit_entry(c) for c in commands)
    out.append('};')
    out.append('// clang-format on')
    return '\n'.join(out) + '\n'


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--redis-server', default=shutil.which('redis-server') or 'redis-server')
    parser.add_argument('--out', default=os.path.join(here, '..', 'router',
                                                      'command_table_data.inc'))
    args = parser.parse_args()
    try:
        with TempRedis(args.redis_server) as conn:
            info = conn.call('INFO', 'server')
            version = next(l.split(':', 1)[1] for l in info.splitlines()
                           if l.startswith('redis_version:'))
            raw = conn.call('COMMAND')
            conn.close()
        if not version.startswith('7.0.'):
            raise GenError('need redis-server 7.0.x, got %s' % version)
        commands = sorted((decode_command(c) for c in raw), key=lambda c: c['name'])
        check_policy(commands)
        text = render(commands, version)
    except GenError as e:
        print('gen_command_table: %s' % e, file=sys.stderr)
        return 1
    with open(args.out, 'w', encoding='utf-8') as f:
        f.write(text)
    print('wrote %s: %d commands, %d subcommands (redis-server %s)' %
          (os.path.normpath(args.out), len(commands),
           sum(len(c['subs']) for c in commands), version))
    return 0


if __name__ == '__main__':
    sys.exit(main())
