// Cross-checks router/command_table against a live redis-server 7.0: the table must describe
// every command and subcommand exactly as COMMAND does (arity, flags, legacy key range, key
// specs), and extractKeys() must find the same keys as COMMAND GETKEYS on a corpus of realistic
// requests covering every data-type family.
#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "router/command_table.h"
#include "tests/support/redis_harness.h"

namespace slotwise::test {
namespace {

using resp::RespValue;
using router::CommandInfo;
using router::KeySpec;

// One redis-server for the whole suite; COMMAND and COMMAND GETKEYS touch no data.
class CommandTableLive : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!redisServerAvailable()) return;
    dir_ = std::make_unique<TempDir>("slotwise-cmdtable-");
    server_ = std::make_unique<RedisServerProcess>();
    const uint16_t port = pickFreePort();
    if (!server_->start(port, dir_->path())) {
      start_error_ = server_->error();
      return;
    }
    client_ = std::make_unique<SyncRedisClient>();
    if (!client_->connect("127.0.0.1", port)) start_error_ = client_->lastError();
  }
  static void TearDownTestSuite() {
    client_.reset();
    server_.reset();  // stops redis-server by PID
    dir_.reset();
  }
  void SetUp() override {
    if (!redisServerAvailable()) {
      GTEST_SKIP() << "/usr/bin/redis-server not installed (apt-get install redis-server)";
    }
    ASSERT_TRUE(start_error_.empty()) << start_error_;
  }

  static std::unique_ptr<TempDir> dir_;
  static std::unique_ptr<RedisServerProcess> server_;
  static std::unique_ptr<SyncRedisClient> client_;
  static std::string start_error_;
};
std::unique_ptr<TempDir> CommandTableLive::dir_;
std::unique_ptr<RedisServerProcess> CommandTableLive::server_;
std::unique_ptr<SyncRedisClient> CommandTableLive::client_;
std::string CommandTableLive::start_error_;

// ---- COMMAND reply decoding (RESP2: maps arrive as flat [key, value, ...] arrays) -------------

const RespValue* field(const RespValue& flat_map, std::string_view key) {
  for (size_t i = 0; i + 1 < flat_map.elements.size(); i += 2) {
    if (flat_map.elements[i].str == key) return &flat_map.elements[i + 1];
  }
  return nullptr;
}

int64_t intField(const RespValue& flat_map, std::string_view key) {
  const RespValue* v = field(flat_map, key);
  return v == nullptr ? -9999 : v->integer;
}

uint32_t flagBits(const RespValue& names, const std::map<std::string, uint32_t>& bits,
                  const std::string& context) {
  uint32_t out = 0;
  for (const RespValue& name : names.elements) {
    auto it = bits.find(name.str);
    if (it == bits.end()) {
      ADD_FAILURE() << context << ": flag '" << name.str << "' has no constant";
    } else {
      out |= it->second;
    }
  }
  return out;
}

const std::map<std::string, uint32_t>& commandFlagBits() {
  using namespace router;
  static const std::map<std::string, uint32_t> kBits = {
      {"write", kWrite}, {"readonly", kReadonly}, {"denyoom", kDenyOom}, {"module", kModule},
      {"admin", kAdmin}, {"pubsub", kPubsub}, {"noscript", kNoscript}, {"blocking", kBlocking},
      {"loading", kLoading}, {"stale", kStale}, {"skip_monitor", kSkipMonitor},
      {"skip_slowlog", kSkipSlowlog}, {"asking", kAsking}, {"fast", kFast},
      {"no_auth", kNoAuth}, {"may_replicate", kMayReplicate},
      {"no_mandatory_keys", kNoMandatoryKeys}, {"no_multi", kNoMulti},
      {"movablekeys", kMovableKeys}, {"allow_busy", kAllowBusy},
      {"no_async_loading", kNoAsyncLoading}};
  return kBits;
}

const std::map<std::string, uint32_t>& keySpecFlagBits() {
  using namespace router;
  static const std::map<std::string, uint32_t> kBits = {
      {"RO", kKeyRo}, {"RW", kKeyRw}, {"OW", kKeyOw}, {"RM", kKeyRm}, {"access", kKeyAccess},
      {"update", kKeyUpdate}, {"insert", kKeyInsert}, {"delete", kKeyDelete},
      {"not_key", kKeyNotKey}, {"incomplete", kKeyIncomplete},
      {"variable_flags", kKeyVariableFlags}};
  return kBits;
}

void expectBeginSearch(const RespValue& live, const router::BeginSearch& bs,
                       const std::string& ctx) {
  const RespValue* type = field(live, "type");
  const RespValue* spec = field(live, "spec");
  ASSERT_TRUE(type != nullptr && spec != nullptr) << ctx;
  if (type->str == "index") {
    EXPECT_EQ(bs.type, router::BeginSearchType::kIndex) << ctx;
    EXPECT_EQ(bs.pos, intField(*spec, "index")) << ctx;
  } else if (type->str == "keyword") {
    EXPECT_EQ(bs.type, router::BeginSearchType::kKeyword) << ctx;
    const RespValue* keyword = field(*spec, "keyword");
    EXPECT_EQ(bs.keyword, keyword ? keyword->str : "") << ctx;
    EXPECT_EQ(bs.startfrom, intField(*spec, "startfrom")) << ctx;
  } else {
    EXPECT_EQ(bs.type, router::BeginSearchType::kUnknown) << ctx << " type " << type->str;
  }
}

void expectFindKeys(const RespValue& live, const router::FindKeys& fk, const std::string& ctx) {
  const RespValue* type = field(live, "type");
  const RespValue* spec = field(live, "spec");
  ASSERT_TRUE(type != nullptr && spec != nullptr) << ctx;
  if (type->str == "range") {
    EXPECT_EQ(fk.type, router::FindKeysType::kRange) << ctx;
    EXPECT_EQ(fk.lastkey, intField(*spec, "lastkey")) << ctx;
    EXPECT_EQ(fk.keystep, intField(*spec, "keystep")) << ctx;
    EXPECT_EQ(fk.limit, intField(*spec, "limit")) << ctx;
  } else if (type->str == "keynum") {
    EXPECT_EQ(fk.type, router::FindKeysType::kKeynum) << ctx;
    EXPECT_EQ(fk.keynumidx, intField(*spec, "keynumidx")) << ctx;
    EXPECT_EQ(fk.firstkey, intField(*spec, "firstkey")) << ctx;
    EXPECT_EQ(fk.keystep, intField(*spec, "keystep")) << ctx;
  } else {
    EXPECT_EQ(fk.type, router::FindKeysType::kUnknown) << ctx << " type " << type->str;
  }
}

void expectKeySpec(const RespValue& live, const KeySpec& spec, const std::string& ctx) {
  const RespValue* flags = field(live, "flags");
  const RespValue* bs = field(live, "begin_search");
  const RespValue* fk = field(live, "find_keys");
  ASSERT_TRUE(flags != nullptr && bs != nullptr && fk != nullptr) << ctx;
  EXPECT_EQ(spec.flags, flagBits(*flags, keySpecFlagBits(), ctx)) << ctx;
  expectBeginSearch(*bs, spec.begin_search, ctx + " begin_search");
  expectFindKeys(*fk, spec.find_keys, ctx + " find_keys");
}

// Compares one COMMAND entry (and its subcommands) with the table; returns the number of
// entries checked.
size_t expectMatches(const RespValue& live, const CommandInfo* info) {
  const std::string name = live.elements.at(0).str;
  if (info == nullptr) {
    ADD_FAILURE() << "missing from the table: " << name;
    return 0;
  }
  EXPECT_EQ(info->name, name);
  EXPECT_EQ(info->arity, live.elements.at(1).integer) << name << " arity";
  EXPECT_EQ(info->flags, flagBits(live.elements.at(2), commandFlagBits(), name)) << name;
  EXPECT_EQ(info->first_key, live.elements.at(3).integer) << name << " first_key";
  EXPECT_EQ(info->last_key, live.elements.at(4).integer) << name << " last_key";
  EXPECT_EQ(info->key_step, live.elements.at(5).integer) << name << " key_step";
  const RespValue& specs = live.elements.at(8);
  EXPECT_EQ(info->key_specs.size(), specs.elements.size()) << name << " key spec count";
  for (size_t i = 0; i < specs.elements.size() && i < info->key_specs.size(); ++i) {
    expectKeySpec(specs.elements[i], info->key_specs[i], name + " spec " + std::to_string(i));
  }
  const RespValue& subs = live.elements.at(9);
  EXPECT_EQ(info->subcommands.size(), subs.elements.size()) << name << " subcommand count";
  size_t checked = 1;
  for (const RespValue& sub : subs.elements) {
    checked += expectMatches(sub, router::lookupCommand(sub.elements.at(0).str));
  }
  return checked;
}

TEST_F(CommandTableLive, TableMatchesServerCommand) {
  const RespValue reply = client_->command({"COMMAND"});
  ASSERT_EQ(reply.type, resp::ValueType::kArray) << reply.str;
  std::set<std::string> live_names;
  size_t checked = 0;
  for (const RespValue& entry : reply.elements) {
    ASSERT_GE(entry.elements.size(), 10u);
    live_names.insert(entry.elements[0].str);
    checked += expectMatches(entry, router::lookupCommand(entry.elements[0].str));
  }
  for (const CommandInfo& info : router::allCommands()) {
    EXPECT_TRUE(live_names.count(std::string(info.name))) << "not in COMMAND: " << info.name;
  }
  EXPECT_EQ(live_names.size(), router::allCommands().size());
  EXPECT_GE(checked, 350u);
}

// ---- extractKeys vs COMMAND GETKEYS ------------------------------------------------------------

using Args = std::vector<std::string>;

// Realistic requests, grouped by family. Key names are distinct within a request where the
// order of keys matters.
const std::vector<Args>& corpus() {
  static const std::vector<Args> kCorpus = {
      // strings
      {"SET", "k1", "v"}, {"SET", "k1", "v", "NX", "GET"}, {"SET", "k1", "v", "PX", "100", "XX"},
      {"GET", "k1"}, {"GETEX", "k1", "EX", "10"}, {"GETEX", "k1", "PERSIST"}, {"GETDEL", "k1"},
      {"GETSET", "k1", "v"}, {"GETRANGE", "k1", "0", "-1"}, {"SETRANGE", "k1", "0", "v"},
      {"APPEND", "k1", "v"}, {"STRLEN", "k1"}, {"INCR", "k1"}, {"INCRBY", "k1", "2"},
      {"INCRBYFLOAT", "k1", "1.5"}, {"DECR", "k1"}, {"DECRBY", "k1", "2"},
      {"MSET", "k1", "v1", "k2", "v2", "k3", "v3"}, {"MSETNX", "k1", "v1", "k2", "v2"},
      {"MGET", "k1", "k2", "k3"}, {"SETEX", "k1", "10", "v"}, {"PSETEX", "k1", "100", "v"},
      {"SETNX", "k1", "v"}, {"LCS", "k1", "k2"},
      {"LCS", "k1", "k2", "IDX", "MINMATCHLEN", "2", "WITHMATCHLEN"}, {"SUBSTR", "k1", "0", "1"},
      // bitmaps
      {"SETBIT", "b1", "7", "1"}, {"GETBIT", "b1", "7"}, {"BITCOUNT", "b1", "0", "-1", "BYTE"},
      {"BITPOS", "b1", "1", "0", "-1", "BIT"}, {"BITOP", "AND", "d1", "b1", "b2", "b3"},
      {"BITOP", "NOT", "d1", "b1"},
      {"BITFIELD", "b1", "INCRBY", "i5", "100", "1", "GET", "u4", "0"},
      {"BITFIELD", "b1", "GET", "u4", "0"}, {"BITFIELD_RO", "b1", "GET", "u4", "0"},
      // HyperLogLog
      {"PFADD", "h1", "a", "b"}, {"PFCOUNT", "h1", "h2"}, {"PFMERGE", "d1", "h1", "h2"},
      // hashes
      {"HSET", "h1", "f", "v", "f2", "v2"}, {"HSETNX", "h1", "f", "v"}, {"HGET", "h1", "f"},
      {"HMGET", "h1", "f", "g"}, {"HMSET", "h1", "f", "v"}, {"HDEL", "h1", "f", "g"},
      {"HEXISTS", "h1", "f"}, {"HGETALL", "h1"}, {"HKEYS", "h1"}, {"HVALS", "h1"}, {"HLEN", "h1"},
      {"HINCRBY", "h1", "f", "1"}, {"HINCRBYFLOAT", "h1", "f", "1.5"}, {"HSTRLEN", "h1", "f"},
      {"HRANDFIELD", "h1", "2", "WITHVALUES"}, {"HSCAN", "h1", "0", "MATCH", "f*", "COUNT", "10"},
      // lists
      {"LPUSH", "l1", "a", "b"}, {"RPUSH", "l1", "a"}, {"LPUSHX", "l1", "a"},
      {"RPUSHX", "l1", "a"}, {"LPOP", "l1", "2"}, {"RPOP", "l1"}, {"LLEN", "l1"},
      {"LRANGE", "l1", "0", "-1"}, {"LINDEX", "l1", "0"}, {"LSET", "l1", "0", "v"},
      {"LINSERT", "l1", "BEFORE", "p", "v"}, {"LREM", "l1", "0", "v"}, {"LTRIM", "l1", "0", "10"},
      {"LPOS", "l1", "v", "RANK", "1", "COUNT", "2", "MAXLEN", "10"},
      {"LMOVE", "l1", "l2", "LEFT", "RIGHT"}, {"BLMOVE", "l1", "l2", "LEFT", "RIGHT", "0"},
      {"RPOPLPUSH", "l1", "l2"}, {"BRPOPLPUSH", "l1", "l2", "0"}, {"BLPOP", "l1", "l2", "0"},
      {"BRPOP", "l1", "l2", "1.5"}, {"LMPOP", "2", "l1", "l2", "LEFT", "COUNT", "3"},
      {"LMPOP", "1", "l1", "RIGHT"}, {"BLMPOP", "0", "2", "l1", "l2", "RIGHT"},
      // sets
      {"SADD", "s1", "a", "b"}, {"SREM", "s1", "a"}, {"SMEMBERS", "s1"},
      {"SISMEMBER", "s1", "a"}, {"SMISMEMBER", "s1", "a", "b"}, {"SCARD", "s1"},
      {"SPOP", "s1", "2"}, {"SRANDMEMBER", "s1", "-3"}, {"SMOVE", "s1", "s2", "a"},
      {"SINTER", "s1", "s2", "s3"}, {"SINTERSTORE", "d1", "s1", "s2"},
      {"SINTERCARD", "2", "s1", "s2", "LIMIT", "10"}, {"SINTERCARD", "1", "s1"},
      {"SUNION", "s1", "s2"}, {"SUNIONSTORE", "d1", "s1", "s2"}, {"SDIFF", "s1", "s2"},
      {"SDIFFSTORE", "d1", "s1", "s2"}, {"SSCAN", "s1", "0"},
      // sorted sets
      {"ZADD", "z1", "NX", "1", "a", "2", "b"}, {"ZADD", "z1", "GT", "CH", "INCR", "1", "a"},
      {"ZREM", "z1", "a"}, {"ZCARD", "z1"}, {"ZCOUNT", "z1", "-inf", "+inf"},
      {"ZSCORE", "z1", "a"}, {"ZMSCORE", "z1", "a", "b"}, {"ZINCRBY", "z1", "1", "a"},
      {"ZRANK", "z1", "a"}, {"ZREVRANK", "z1", "a"}, {"ZRANGE", "z1", "0", "-1", "WITHSCORES"},
      {"ZRANGE", "z1", "(1", "+inf", "BYSCORE", "LIMIT", "0", "10"},
      {"ZRANGEBYSCORE", "z1", "-inf", "+inf"}, {"ZREVRANGEBYSCORE", "z1", "+inf", "-inf"},
      {"ZRANGEBYLEX", "z1", "-", "+"}, {"ZREVRANGEBYLEX", "z1", "+", "-"},
      {"ZLEXCOUNT", "z1", "-", "+"}, {"ZREVRANGE", "z1", "0", "-1"},
      {"ZREMRANGEBYRANK", "z1", "0", "1"}, {"ZREMRANGEBYSCORE", "z1", "0", "1"},
      {"ZREMRANGEBYLEX", "z1", "[a", "[b"}, {"ZPOPMIN", "z1", "2"}, {"ZPOPMAX", "z1"},
      {"BZPOPMIN", "z1", "z2", "0"}, {"BZPOPMAX", "z1", "z2", "1"},
      {"ZRANDMEMBER", "z1", "2", "WITHSCORES"},
      {"ZUNION", "2", "z1", "z2", "WEIGHTS", "1", "2", "AGGREGATE", "MAX", "WITHSCORES"},
      {"ZINTER", "2", "z1", "z2"}, {"ZDIFF", "2", "z1", "z2", "WITHSCORES"},
      {"ZUNIONSTORE", "d1", "2", "z1", "z2"},
      {"ZINTERSTORE", "d1", "3", "z1", "z2", "z3", "AGGREGATE", "SUM"},
      {"ZDIFFSTORE", "d1", "2", "z1", "z2"}, {"ZINTERCARD", "2", "z1", "z2", "LIMIT", "1"},
      {"ZMPOP", "2", "z1", "z2", "MIN", "COUNT", "2"}, {"BZMPOP", "0", "2", "z1", "z2", "MAX"},
      {"ZRANGESTORE", "d1", "z1", "0", "-1"}, {"ZSCAN", "z1", "0", "COUNT", "5"},
      // streams
      {"XADD", "x1", "*", "f", "v"}, {"XADD", "x1", "MAXLEN", "~", "1000", "*", "f", "v"},
      {"XADD", "x1", "NOMKSTREAM", "MINID", "0", "*", "f", "v"}, {"XLEN", "x1"},
      {"XRANGE", "x1", "-", "+", "COUNT", "10"}, {"XREVRANGE", "x1", "+", "-"},
      {"XDEL", "x1", "1-0"}, {"XTRIM", "x1", "MAXLEN", "10"},
      {"XREAD", "COUNT", "10", "STREAMS", "x1", "x2", "0", "0"},
      {"XREAD", "BLOCK", "100", "STREAMS", "x1", "$"},
      {"XREADGROUP", "GROUP", "g1", "c1", "COUNT", "1", "STREAMS", "x1", ">"},
      {"XREADGROUP", "GROUP", "g1", "c1", "BLOCK", "0", "NOACK", "STREAMS", "x1", "x2", ">", ">"},
      {"XREADGROUP", "GROUP", "streams", "c1", "STREAMS", "x1", ">"},
      {"XGROUP", "CREATE", "x1", "g1", "$", "MKSTREAM"}, {"XGROUP", "SETID", "x1", "g1", "0"},
      {"XGROUP", "DESTROY", "x1", "g1"}, {"XGROUP", "CREATECONSUMER", "x1", "g1", "c1"},
      {"XGROUP", "DELCONSUMER", "x1", "g1", "c1"}, {"XACK", "x1", "g1", "1-0", "2-0"},
      {"XPENDING", "x1", "g1", "-", "+", "10", "c1"},
      {"XCLAIM", "x1", "g1", "c1", "0", "1-0", "JUSTID"},
      {"XAUTOCLAIM", "x1", "g1", "c1", "0", "0-0", "COUNT", "10"},
      {"XINFO", "STREAM", "x1", "FULL", "COUNT", "5"}, {"XINFO", "GROUPS", "x1"},
      {"XINFO", "CONSUMERS", "x1", "g1"}, {"XSETID", "x1", "5-0"},
      // geo
      {"GEOADD", "g1", "13.36", "38.11", "Palermo"},
      {"GEOADD", "g1", "NX", "CH", "13.36", "38.11", "P"}, {"GEODIST", "g1", "a", "b", "km"},
      {"GEOHASH", "g1", "a", "b"}, {"GEOPOS", "g1", "a"},
      {"GEORADIUS", "g1", "15", "37", "200", "km", "WITHDIST", "ASC"},
      {"GEORADIUS", "g1", "15", "37", "200", "km", "STORE", "d1"},
      {"GEORADIUS", "g1", "15", "37", "200", "km", "COUNT", "3", "STOREDIST", "d2"},
      {"GEORADIUS_RO", "g1", "15", "37", "200", "km"},
      {"GEORADIUSBYMEMBER", "g1", "a", "100", "km", "STORE", "d1"},
      {"GEORADIUSBYMEMBER_RO", "g1", "a", "100", "km", "WITHCOORD"},
      {"GEOSEARCH", "g1", "FROMLONLAT", "15", "37", "BYRADIUS", "200", "km", "ASC"},
      {"GEOSEARCH", "g1", "FROMMEMBER", "a", "BYBOX", "400", "400", "km", "WITHCOORD"},
      {"GEOSEARCHSTORE", "d1", "g1", "FROMMEMBER", "a", "BYRADIUS", "100", "km", "STOREDIST"},
      // generic keyspace
      {"DEL", "k1", "k2", "k3"}, {"UNLINK", "k1", "k2"}, {"EXISTS", "k1", "k2"},
      {"TOUCH", "k1", "k2"}, {"EXPIRE", "k1", "10"}, {"EXPIRE", "k1", "10", "NX"},
      {"EXPIRE", "k1", "10", "XX"}, {"EXPIRE", "k1", "10", "GT"}, {"EXPIRE", "k1", "10", "LT"},
      {"PEXPIRE", "k1", "100", "GT"}, {"EXPIREAT", "k1", "1700000000", "XX"},
      {"PEXPIREAT", "k1", "1700000000000"}, {"EXPIRETIME", "k1"}, {"PEXPIRETIME", "k1"},
      {"TTL", "k1"}, {"PTTL", "k1"}, {"PERSIST", "k1"}, {"TYPE", "k1"},
      {"RENAME", "k1", "k2"}, {"RENAMENX", "k1", "k2"}, {"COPY", "k1", "k2", "REPLACE"},
      {"COPY", "k1", "k2", "DB", "0"}, {"OBJECT", "ENCODING", "k1"}, {"OBJECT", "FREQ", "k1"},
      {"OBJECT", "IDLETIME", "k1"}, {"OBJECT", "REFCOUNT", "k1"}, {"DUMP", "k1"},
      {"RESTORE", "k1", "0", "payload", "REPLACE", "ABSTTL"},
      {"MEMORY", "USAGE", "k1", "SAMPLES", "5"}, {"SORT", "k1"},
      {"SORT", "k1", "BY", "w_*", "LIMIT", "0", "10", "GET", "#", "GET", "o_*", "DESC", "ALPHA",
       "STORE", "d1"},
      {"SORT", "k1", "STORE", "d1"}, {"SORT", "k1", "LIMIT", "0", "store"},
      {"SORT_RO", "k1", "BY", "w_*", "GET", "o_*"},
      {"MIGRATE", "127.0.0.1", "6379", "k1", "0", "5000", "COPY", "REPLACE"},
      {"MIGRATE", "127.0.0.1", "6379", "", "0", "5000", "REPLACE", "AUTH", "pw", "KEYS", "k1",
       "k2", "k3"},
      {"MIGRATE", "127.0.0.1", "6379", "", "0", "5000", "AUTH2", "u", "keys", "KEYS", "k1"},
      {"WATCH", "k1", "k2"},
      // scripting
      {"EVAL", "return 1", "0"}, {"EVAL", "return 1", "2", "k1", "k2", "a1", "a2"},
      {"EVAL_RO", "return 1", "1", "k1"}, {"EVALSHA", "abc", "1", "k1", "a"},
      {"EVALSHA_RO", "abc", "0"}, {"FCALL", "f", "2", "k1", "k2", "a"},
      {"FCALL_RO", "f", "1", "k1"}, {"FCALL", "f", "0", "a"},
      // no key arguments (GETKEYS: "The command has no key arguments")
      {"PING", "hello"}, {"ECHO", "hi"}, {"PUBLISH", "ch", "m"}, {"SPUBLISH", "ch", "m"},
      {"CLUSTER", "KEYSLOT", "k1"},
      // requests Redis rejects (GETKEYS: "Invalid arguments specified for command")
      {"ZUNIONSTORE", "d1", "0", "z1"}, {"XREAD", "COUNT", "1", "BLOCK", "0"},
      {"MIGRATE", "h", "6379", "k1", "0", "5000", "KEYS", "k2"}, {"LMPOP", "3", "l1", "l2"},
      {"XREAD", "COUNT", "1", "STREAMS", "x1"},
  };
  return kCorpus;
}

std::string describe(const Args& args) {
  std::string out;
  for (const std::string& a : args) out += (out.empty() ? "" : " ") + (a.empty() ? "\"\"" : a);
  return out;
}

resp::Command makeCommand(const Args& args, std::string* storage) {
  storage->clear();
  resp::Command cmd;
  for (const std::string& a : args) {
    cmd.args.push_back({static_cast<uint32_t>(storage->size()), static_cast<uint32_t>(a.size())});
    storage->append(a);
  }
  cmd.base = storage->data();
  return cmd;
}

// Our answer in GETKEYS terms: the key names, or nullopt for "malformed".
std::optional<Args> ourKeys(const Args& args) {
  std::string storage;
  const resp::Command cmd = makeCommand(args, &storage);
  const CommandInfo* info = router::resolveCommand(cmd);
  if (info == nullptr || !router::arityOk(*info, cmd.argc())) {
    ADD_FAILURE() << "not resolvable: " << describe(args);
    return std::nullopt;
  }
  std::vector<uint32_t> positions;
  if (!router::extractKeys(*info, cmd, &positions)) return std::nullopt;
  Args names;
  for (uint32_t pos : positions) names.emplace_back(cmd.arg(pos));
  return names;
}

TEST_F(CommandTableLive, ExtractKeysMatchesCommandGetkeys) {
  ASSERT_GE(corpus().size(), 150u);
  size_t compared = 0;
  for (const Args& args : corpus()) {
    Args request = {"COMMAND", "GETKEYS"};
    request.insert(request.end(), args.begin(), args.end());
    const RespValue live = client_->command(request);
    ASSERT_FALSE(live.str.rfind("IOERR", 0) == 0) << live.str;
    const std::optional<Args> ours = ourKeys(args);
    const std::string ctx = describe(args);
    if (live.isError()) {
      if (live.str.find("no key arguments") != std::string::npos) {
        EXPECT_TRUE(ours && ours->empty()) << ctx << ": server has no keys";
      } else {
        EXPECT_FALSE(ours.has_value()) << ctx << ": server says " << live.str;
      }
    } else {
      Args live_names;
      for (const RespValue& v : live.elements) live_names.push_back(v.str);
      ASSERT_TRUE(ours.has_value()) << ctx << ": we call it malformed";
      EXPECT_EQ(*ours, live_names) << ctx;
    }
    ++compared;
  }
  EXPECT_EQ(compared, corpus().size());
}

// Every family named in the corpus header is present (guards against the corpus shrinking).
TEST_F(CommandTableLive, CorpusCoversEveryFamily) {
  std::set<std::string> names;
  for (const Args& args : corpus()) names.insert(args[0]);
  for (const char* required :
       {"GETEX", "GETDEL", "LCS", "SETBIT", "PFMERGE", "HSET", "LPOS", "LMPOP", "SMISMEMBER",
        "SINTERCARD", "ZUNION", "ZINTER", "ZDIFF", "ZMPOP", "ZRANGESTORE", "XADD", "XREADGROUP",
        "GEOSEARCH", "GEOSEARCHSTORE", "EXPIRETIME", "TTL", "TYPE", "RENAME", "COPY", "OBJECT",
        "DUMP", "RESTORE", "MEMORY", "EVAL", "FCALL", "SORT", "SORT_RO"}) {
    EXPECT_TRUE(names.count(required)) << required;
  }
}

}  // namespace
}  // namespace slotwise::test
