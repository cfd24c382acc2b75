#include "router/command_table.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <optional>
#include <string>
#include <vector>

namespace slotwise::router {
namespace {

// Builds a Command whose arguments point into `storage`; `storage` must outlive the Command and
// must not be modified afterwards.
resp::Command makeCommand(const std::vector<std::string>& args, std::string* storage) {
  storage->clear();
  resp::Command cmd;
  for (const std::string& a : args) {
    cmd.args.push_back({static_cast<uint32_t>(storage->size()), static_cast<uint32_t>(a.size())});
    storage->append(a);
  }
  cmd.base = storage->data();
  return cmd;
}

std::string upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

// ---- lookup ------------------------------------------------------------------------------------

TEST(CommandTableLookup, FindsCommandsCaseInsensitively) {
  for (std::string_view name : {"get", "GET", "gEt"}) {
    const CommandInfo* info = lookupCommand(name);
    ASSERT_NE(info, nullptr) << name;
    EXPECT_EQ(info->name, "get");
  }
  EXPECT_EQ(lookupCommand("restore-asking")->name, "restore-asking");
  EXPECT_EQ(lookupCommand("GEORADIUSBYMEMBER_RO")->name, "georadiusbymember_ro");
}

TEST(CommandTableLookup, UnknownNamesGiveNull) {
  EXPECT_EQ(lookupCommand(""), nullptr);
  EXPECT_EQ(lookupCommand("nosuchcommand"), nullptr);
  EXPECT_EQ(lookupCommand("ge"), nullptr);
  EXPECT_EQ(lookupCommand("gett"), nullptr);
  EXPECT_EQ(lookupCommand(std::string(4096, 'g')), nullptr);
  EXPECT_EQ(lookupCommand(std::string_view("get\0", 4)), nullptr);
}

TEST(CommandTableLookup, EveryEntryRoundTrips) {
  size_t subcommands = 0;
  for (const CommandInfo& info : allCommands()) {
    EXPECT_EQ(lookupCommand(info.name), &info);
    EXPECT_EQ(lookupCommand(upper(info.name)), &info);
    for (const CommandInfo& sub : info.subcommands) {
      ++subcommands;
      EXPECT_EQ(lookupCommand(sub.name), &sub);
      EXPECT_EQ(lookupCommand(upper(sub.name)), &sub);
      EXPECT_EQ(findSubcommand(info, sub.name.substr(info.name.size() + 1)), &sub);
    }
  }
  EXPECT_GE(allCommands().size(), 230u);
  EXPECT_GE(subcommands, 120u);
}

TEST(CommandTableLookup, TableIsSortedLowercaseAndWellFormed) {
  std::string_view previous;
  for (const CommandInfo& info : allCommands()) {
    EXPECT_LT(previous, info.name);
    previous = info.name;
    for (char c : info.name) EXPECT_FALSE(std::isupper(static_cast<unsigned char>(c))) << info.name;
    EXPECT_NE(info.arity, 0) << info.name;
    for (const CommandInfo& sub : info.subcommands) {
      EXPECT_EQ(sub.name.substr(0, info.name.size() + 1), std::string(info.name) + "|");
      EXPECT_TRUE(sub.subcommands.empty()) << sub.name;
    }
  }
}

TEST(CommandTableLookup, SubcommandNames) {
  const CommandInfo* enc = lookupCommand("object|encoding");
  ASSERT_NE(enc, nullptr);
  EXPECT_EQ(enc->name, "object|encoding");
  EXPECT_EQ(lookupCommand("OBJECT|Encoding"), enc);
  EXPECT_EQ(lookupCommand("object|nosuch"), nullptr);
  EXPECT_EQ(lookupCommand("object|"), nullptr);
  EXPECT_EQ(lookupCommand("get|encoding"), nullptr);
  EXPECT_EQ(lookupCommand("nosuch|encoding"), nullptr);
  const CommandInfo* object = lookupCommand("object");
  ASSERT_NE(object, nullptr);
  EXPECT_EQ(findSubcommand(*object, "ENCODING"), enc);
  EXPECT_EQ(findSubcommand(*object, "encodin"), nullptr);
  EXPECT_EQ(findSubcommand(*lookupCommand("get"), "encoding"), nullptr);
}

TEST(CommandTableLookup, ArityAndLegacyRange) {
  const CommandInfo* get = lookupCommand("get");
  EXPECT_EQ(get->arity, 2);
  EXPECT_TRUE(arityOk(*get, 2));
  EXPECT_FALSE(arityOk(*get, 1));
  EXPECT_FALSE(arityOk(*get, 3));
  EXPECT_EQ(get->first_key, 1);
  EXPECT_EQ(get->last_key, 1);
  EXPECT_EQ(get->key_step, 1);

  const CommandInfo* mset = lookupCommand("mset");
  EXPECT_EQ(mset->arity, -3);
  EXPECT_FALSE(arityOk(*mset, 2));
  EXPECT_TRUE(arityOk(*mset, 3));
  EXPECT_TRUE(arityOk(*mset, 101));
  EXPECT_EQ(mset->last_key, -1);
  EXPECT_EQ(mset->key_step, 2);

  const CommandInfo* usage = lookupCommand("memory|usage");
  EXPECT_EQ(usage->arity, -3);
  EXPECT_EQ(usage->first_key, 2);
}

TEST(CommandTableLookup, Flags) {
  EXPECT_TRUE(lookupCommand("get")->hasFlag(kReadonly));
  EXPECT_TRUE(lookupCommand("get")->hasFlag(kFast));
  EXPECT_FALSE(lookupCommand("get")->hasFlag(kWrite));
  EXPECT_TRUE(lookupCommand("set")->hasFlag(kWrite | kDenyOom));
  EXPECT_TRUE(lookupCommand("blpop")->hasFlag(kBlocking));
  EXPECT_TRUE(lookupCommand("eval")->hasFlag(kNoMandatoryKeys));
  EXPECT_TRUE(lookupCommand("eval")->hasFlag(kMovableKeys));
  EXPECT_TRUE(lookupCommand("auth")->hasFlag(kNoAuth));
  EXPECT_TRUE(lookupCommand("shutdown")->hasFlag(kAdmin));
  EXPECT_EQ(lookupCommand("spublish")->key_specs[0].flags, kKeyNotKey);
  EXPECT_TRUE(lookupCommand("migrate")->key_specs[1].flags & kKeyIncomplete);
}

TEST(CommandTableLookup, Containers) {
  const CommandInfo* object = lookupCommand("object");
  EXPECT_TRUE(object->isContainer());
  EXPECT_GE(object->subcommands.size(), 5u);
  EXPECT_FALSE(lookupCommand("get")->isContainer());
  for (std::string_view name : {"acl", "client", "cluster", "command", "config", "function",
                                "memory", "pubsub", "script", "xgroup", "xinfo"}) {
    EXPECT_TRUE(lookupCommand(name)->isContainer()) << name;
  }
}

TEST(CommandTableResolve, ResolvesContainersAndReportsBadSubcommands) {
  std::string storage;
  const CommandInfo* container = nullptr;
  resp::Command cmd = makeCommand({"OBJECT", "Encoding", "k"}, &storage);
  const CommandInfo* info = resolveCommand(cmd, &container);
  ASSERT_NE(info, nullptr);
  EXPECT_EQ(info->name, "object|encoding");
  EXPECT_EQ(container, nullptr);

  cmd = makeCommand({"object"}, &storage);
  EXPECT_EQ(resolveCommand(cmd, &container), nullptr);
  ASSERT_NE(container, nullptr);
  EXPECT_EQ(container->name, "object");

  cmd = makeCommand({"client", "frobnicate"}, &storage);
  EXPECT_EQ(resolveCommand(cmd, &container), nullptr);
  EXPECT_EQ(container, lookupCommand("client"));
  EXPECT_EQ(resolveCommand(cmd), nullptr);  // container out-param is optional

  cmd = makeCommand({"frobnicate", "x"}, &storage);
  EXPECT_EQ(resolveCommand(cmd, &container), nullptr);
  EXPECT_EQ(container, nullptr);

  cmd = makeCommand({}, &storage);
  EXPECT_EQ(resolveCommand(cmd, &container), nullptr);
  EXPECT_EQ(container, nullptr);

  cmd = makeCommand({"gEt", "k"}, &storage);
  EXPECT_EQ(resolveCommand(cmd, &container), lookupCommand("get"));
}

TEST(CommandTableClass, RoutingClasses) {
  const std::vector<std::pair<std::string_view, ProxyClass>> cases = {
      {"get", ProxyClass::kKeyed},
      {"eval", ProxyClass::kKeyed},
      {"spublish", ProxyClass::kKeyed},
      {"object|encoding", ProxyClass::kKeyed},
      {"migrate", ProxyClass::kKeyed},
      {"publish", ProxyClass::kKeyless},
      {"time", ProxyClass::kKeyless},
      {"command|info", ProxyClass::kKeyless},
      {"cluster|keyslot", ProxyClass::kLocal},
      {"xinfo|help", ProxyClass::kKeyless},
      {"ping", ProxyClass::kLocal},
      {"echo", ProxyClass::kLocal},
      {"client|setname", ProxyClass::kLocal},
      {"hello", ProxyClass::kLocal},
      {"keys", ProxyClass::kAllMasters},
      {"scan", ProxyClass::kAllMasters},
      {"script|load", ProxyClass::kAllMasters},
      {"function|list", ProxyClass::kAllMasters},
      {"config|get", ProxyClass::kAllMasters},
      {"multi", ProxyClass::kTransaction},
      {"watch", ProxyClass::kTransaction},
      {"subscribe", ProxyClass::kPubSub},
      {"ssubscribe", ProxyClass::kPubSub},
      {"pubsub|channels", ProxyClass::kPubSub},
      {"shutdown", ProxyClass::kUnsupported},
      {"move", ProxyClass::kUnsupported},
      {"cluster|nodes", ProxyClass::kLocal},
      {"acl|setuser", ProxyClass::kLocal},
      {"readonly", ProxyClass::kLocal},
      {"swapdb", ProxyClass::kUnsupported},
  };
  for (const auto& [name, expected] : cases) {
    const CommandInfo* info = lookupCommand(name);
    ASSERT_NE(info, nullptr) << name;
    EXPECT_EQ(toString(info->proxy_class), toString(expected)) << name;
  }
}

TEST(CommandTableClass, CommandsWithKeysAreKeyedUnlessDeliberatelyNot) {
  const std::vector<std::string_view> exceptions = {"watch", "ssubscribe", "sunsubscribe", "move",
                                                    "restore-asking"};
  auto check = [&](const CommandInfo& info) {
    bool has_keys = false;
    for (const KeySpec& spec : info.key_specs) has_keys |= !(spec.flags & kKeyNotKey);
    bool listed = std::find(exceptions.begin(), exceptions.end(), info.name) != exceptions.end();
    if (has_keys && !listed) {
      EXPECT_EQ(info.proxy_class, ProxyClass::kKeyed) << info.name;
    }
    if (!has_keys && !info.isContainer() && info.name != "spublish") {
      EXPECT_NE(info.proxy_class, ProxyClass::kKeyed) << info.name;
    }
  };
  for (const CommandInfo& info : allCommands()) {
    check(info);
    for (const CommandInfo& sub : info.subcommands) check(sub);
  }
}

// ---- extractKeys on real table entries ----------------------------------------------------------

struct KeyCase {
  std::vector<std::string> args;
  std::optional<std::vector<uint32_t>> keys;  // nullopt: malformed, extractKeys returns false
};

std::string describe(const std::vector<std::string>& args) {
  std::string out;
  for (const std::string& a : args) out += (out.empty() ? "" : " ") + (a.empty() ? "\"\"" : a);
  return out;
}

void expectKeys(const KeyCase& c, KeyFilter filter = KeyFilter::kKeysOnly) {
  std::string storage;
  const resp::Command cmd = makeCommand(c.args, &storage);
  const CommandInfo* info = resolveCommand(cmd);
  ASSERT_NE(info, nullptr) << describe(c.args);
  ASSERT_TRUE(arityOk(*info, cmd.argc())) << describe(c.args);
  std::vector<uint32_t> keys = {99};  // must be cleared
  const bool ok = extractKeys(*info, cmd, &keys, filter);
  if (!c.keys) {
    EXPECT_FALSE(ok) << describe(c.args);
    EXPECT_TRUE(keys.empty()) << describe(c.args);
    return;
  }
  EXPECT_TRUE(ok) << describe(c.args);
  EXPECT_EQ(keys, *c.keys) << describe(c.args);
}

using Keys = std::vector<uint32_t>;
const std::optional<Keys> kMalformed = std::nullopt;

TEST(ExtractKeys, SimpleAndMultiKeyCommands) {
  const std::vector<KeyCase> cases = {
      {{"GET", "k"}, Keys{1}},
      {{"set", "k", "v", "GET"}, Keys{1}},
      {{"SET", "k", "v", "EX", "10"}, Keys{1}},
      {{"MSET", "a", "1", "b", "2", "c", "3"}, Keys{1, 3, 5}},
      {{"MGET", "a", "b", "c"}, Keys{1, 2, 3}},
      {{"DEL", "a", "b"}, Keys{1, 2}},
      {{"RENAME", "a", "b"}, Keys{1, 2}},
      {{"COPY", "a", "b", "DB", "0", "REPLACE"}, Keys{1, 2}},
      {{"BLPOP", "a", "b", "0"}, Keys{1, 2}},
      {{"BITOP", "AND", "d", "a", "b"}, Keys{2, 3, 4}},
      {{"LCS", "a", "b", "LEN"}, Keys{1, 2}},
      {{"SMOVE", "a", "b", "m"}, Keys{1, 2}},
      {{"ZRANGESTORE", "dst", "src", "0", "-1"}, Keys{1, 2}},
      {{"GEOSEARCHSTORE", "d", "s", "FROMMEMBER", "m", "BYRADIUS", "1", "km"}, Keys{1, 2}},
      {{"PFMERGE", "d", "a", "b"}, Keys{1, 2, 3}},
      {{"WATCH", "a", "b"}, Keys{1, 2}},
      {{"PING"}, Keys{}},
      {{"PUBLISH", "ch", "m"}, Keys{}},
  };
  for (const KeyCase& c : cases) expectKeys(c);
}

TEST(ExtractKeys, Subcommands) {
  const std::vector<KeyCase> cases = {
      {{"OBJECT", "ENCODING", "k"}, Keys{2}},
      {{"object", "freq", "k"}, Keys{2}},
      {{"XINFO", "STREAM", "s", "FULL"}, Keys{2}},
      {{"XGROUP", "CREATE", "s", "g", "$", "MKSTREAM"}, Keys{2}},
      {{"MEMORY", "USAGE", "k", "SAMPLES", "5"}, Keys{2}},
      {{"OBJECT", "HELP"}, Keys{}},
  };
  for (const KeyCase& c : cases) expectKeys(c);
}

TEST(ExtractKeys, KeynumCommands) {
  const std::vector<KeyCase> cases = {
      {{"EVAL", "return 1", "0"}, Keys{}},
      {{"EVAL", "return 1", "0", "arg"}, Keys{}},
      {{"EVAL", "s", "2", "k1", "k2", "a1"}, Keys{3, 4}},
      {{"EVALSHA", "abc", "1", "k"}, Keys{3}},
      {{"FCALL", "f", "1", "k", "a"}, Keys{3}},
      {{"FCALL_RO", "f", "0"}, Keys{}},
      {{"ZUNIONSTORE", "d", "2", "a", "b", "WEIGHTS", "1", "2"}, Keys{1, 3, 4}},
      {{"ZINTERSTORE", "d", "1", "a"}, Keys{1, 3}},
      {{"ZUNION", "2", "a", "b", "WITHSCORES"}, Keys{2, 3}},
      {{"ZINTERCARD", "2", "a", "b", "LIMIT", "5"}, Keys{2, 3}},
      {{"SINTERCARD", "2", "a", "b"}, Keys{2, 3}},
      {{"LMPOP", "2", "a", "b", "LEFT", "COUNT", "2"}, Keys{2, 3}},
      {{"BLMPOP", "0", "2", "a", "b", "LEFT"}, Keys{3, 4}},
      {{"ZMPOP", "1", "z", "MIN"}, Keys{2}},
      {{"BZMPOP", "1.5", "2", "a", "b", "MAX"}, Keys{3, 4}},
  };
  for (const KeyCase& c : cases) expectKeys(c);
}

TEST(ExtractKeys, MalformedNumkeys) {
  const std::vector<KeyCase> cases = {
      {{"EVAL", "s", "3", "k1"}, kMalformed},
      {{"EVAL", "s", "-1"}, kMalformed},
      {{"EVAL", "s", "abc", "k"}, kMalformed},
      {{"EVAL", "s", "01", "k"}, kMalformed},
      {{"EVAL", "s", "99999999999999999999", "k"}, kMalformed},
      {{"ZUNIONSTORE", "d", "0", "a"}, kMalformed},
      {{"ZUNION", "3", "a", "b"}, kMalformed},
      {{"SINTERCARD", "0", "a"}, kMalformed},
      {{"LMPOP", "5", "a", "b", "LEFT"}, kMalformed},
      {{"BLMPOP", "0", "-2", "a", "LEFT"}, kMalformed},
  };
  for (const KeyCase& c : cases) expectKeys(c);
}

TEST(ExtractKeys, KeywordCommands) {
  const std::vector<KeyCase> cases = {
      {{"XREAD", "COUNT", "2", "STREAMS", "s1", "s2", "0", "0"}, Keys{4, 5}},
      {{"xread", "streams", "s", "0"}, Keys{2}},
      {{"XREAD", "BLOCK", "0", "STREAMS", "a", "b", "c", "1", "2", "3"}, Keys{4, 5, 6}},
      {{"XREADGROUP", "GROUP", "g", "c", "STREAMS", "s1", "s2", ">", ">"}, Keys{5, 6}},
      // The group is named "streams": the search starts after GROUP g c.
      {{"XREADGROUP", "GROUP", "streams", "c", "STREAMS", "s", ">"}, Keys{5}},
      {{"XREAD", "COUNT", "1", "STREAMS", "s"}, kMalformed},  // a key without its ID
      {{"XREAD", "COUNT", "1", "BLOCK", "0"}, kMalformed},    // no STREAMS: Redis rejects it
      {{"GEORADIUS", "g", "0", "0", "1", "km", "STORE", "dst"}, Keys{1, 7}},
      {{"GEORADIUS", "g", "0", "0", "1", "km", "STOREDIST", "d"}, Keys{1, 7}},
      {{"GEORADIUS", "g", "0", "0", "1", "km", "WITHDIST"}, Keys{1}},
      {{"GEORADIUSBYMEMBER", "g", "m", "1", "km", "store", "d"}, Keys{1, 6}},
  };
  for (const KeyCase& c : cases) expectKeys(c);
}

TEST(ExtractKeys, GetkeysProcedures) {
  const std::vector<KeyCase> cases = {
      {{"SORT", "src"}, Keys{1}},
      {{"SORT", "src", "BY", "w_*", "GET", "o_*", "STORE", "dst"}, Keys{1, 7}},
      {{"SORT", "src", "STORE", "d1", "store", "d2"}, Keys{1, 5}},
      {{"SORT", "src", "LIMIT", "0", "store"}, Keys{1}},  // "store" is LIMIT's count
      {{"SORT", "src", "GET", "store", "ALPHA"}, Keys{1}},
      {{"SORT_RO", "src", "BY", "x", "GET", "y"}, Keys{1}},
      {{"MIGRATE", "h", "6379", "k", "0", "5000"}, Keys{3}},
      {{"MIGRATE", "h", "6379", "", "0", "5000", "COPY", "KEYS", "a", "b"}, Keys{8, 9}},
      {{"MIGRATE", "h", "6379", "", "0", "5000", "AUTH", "keys", "KEYS", "a"}, Keys{9}},
      {{"MIGRATE", "h", "6379", "", "0", "5000", "AUTH2", "u", "keys", "KEYS", "a"}, Keys{10}},
      {{"MIGRATE", "h", "6379", "k", "0", "5000", "KEYS", "a"}, kMalformed},
  };
  for (const KeyCase& c : cases) expectKeys(c);
}

TEST(ExtractKeys, NotKeySpecsOnlyOnRequest) {
  expectKeys({{"SPUBLISH", "ch", "m"}, Keys{}});
  expectKeys({{"SPUBLISH", "ch", "m"}, Keys{1}}, KeyFilter::kIncludeNotKeys);
  expectKeys({{"SSUBSCRIBE", "a", "b"}, Keys{1, 2}}, KeyFilter::kIncludeNotKeys);
  expectKeys({{"GET", "k"}, Keys{1}}, KeyFilter::kIncludeNotKeys);
}

// ---- extractKeys on synthetic specs (semantics not exercised by the 7.0 table) -----------------

Keys synthetic(std::initializer_list<KeySpec> specs, const std::vector<std::string>& args,
               bool* ok, uint32_t flags = 0) {
  const std::vector<KeySpec> spec_storage(specs);
  const CommandInfo info{"synthetic", -1, flags, 0, 0, 0, spec_storage, ProxyClass::kKeyed, {},
                         GetKeysProc::kNone};
  std::string storage;
  const resp::Command cmd = makeCommand(args, &storage);
  Keys keys;
  *ok = extractKeys(info, cmd, &keys);
  return keys;
}

TEST(ExtractKeysSynthetic, BackwardKeywordSearch) {
  bool ok = false;
  const KeySpec spec{keywordSearch("KEYS", -2), rangeKeys(-1, 1, 0), kKeyRw};
  EXPECT_EQ(synthetic({spec}, {"c", "x", "KEYS", "a", "b"}, &ok), (Keys{3, 4}));
  EXPECT_TRUE(ok);
  // The last KEYS before the end wins when searching backwards.
  EXPECT_EQ(synthetic({spec}, {"c", "KEYS", "x", "keys", "a", "b"}, &ok), (Keys{4, 5}));
  // Index 1 is never examined by a backward search (Redis stops before it).
  EXPECT_EQ(synthetic({spec}, {"c", "KEYS", "a"}, &ok), Keys{});
  EXPECT_FALSE(ok);  // a keyed command without keys is malformed
  EXPECT_EQ(synthetic({spec}, {"c", "KEYS", "a"}, &ok, kNoMandatoryKeys), Keys{});
  EXPECT_TRUE(ok);
}

TEST(ExtractKeysSynthetic, ForwardKeywordNeverMatchesTheLastArgument) {
  bool ok = false;
  const KeySpec spec{keywordSearch("STORE", 2), rangeKeys(0, 1, 0), kKeyOw};
  const KeySpec first{indexSearch(1), rangeKeys(0, 1, 0), kKeyRo};
  EXPECT_EQ(synthetic({first, spec}, {"c", "k", "STORE"}, &ok), Keys{1});
  EXPECT_TRUE(ok);
  EXPECT_EQ(synthetic({first, spec}, {"c", "k", "x", "store", "d"}, &ok), (Keys{1, 4}));
  // The search starts at startfrom: a STORE at index 1 is not seen.
  EXPECT_EQ(synthetic({first, spec}, {"c", "STORE", "d"}, &ok), Keys{1});
}

TEST(ExtractKeysSynthetic, RangeWithLimitAndStep) {
  bool ok = false;
  // Keys fill the first half of the arguments after the keyword (XREAD STREAMS).
  const KeySpec half{keywordSearch("S", 1), rangeKeys(-1, 1, 2), kKeyRo};
  EXPECT_EQ(synthetic({half}, {"c", "S", "a", "b", "c", "1", "2", "3"}, &ok), (Keys{2, 3, 4}));
  EXPECT_TRUE(ok);
  // Every other argument up to the second-to-last (lastkey -2), step 2.
  const KeySpec pairs{indexSearch(1), rangeKeys(-2, 2, 0), kKeyRw};
  EXPECT_EQ(synthetic({pairs}, {"c", "k1", "v1", "k2", "v2", "tail"}, &ok), (Keys{1, 3}));
  EXPECT_TRUE(ok);
  // A range that ends before it starts is malformed.
  EXPECT_EQ(synthetic({pairs}, {"c", "k1"}, &ok), Keys{});
  EXPECT_FALSE(ok);
}

TEST(ExtractKeysSynthetic, KeynumWithOffsets) {
  bool ok = false;
  // numkeys at start+1, keys from start+2.
  const KeySpec spec{indexSearch(1), keynumKeys(1, 2, 1), kKeyRo};
  EXPECT_EQ(synthetic({spec}, {"c", "x", "2", "k1", "k2", "v"}, &ok), (Keys{3, 4}));
  EXPECT_TRUE(ok);
  EXPECT_EQ(synthetic({spec}, {"c", "x"}, &ok), Keys{});  // numkeys index past the end
  EXPECT_FALSE(ok);
}

TEST(ExtractKeysSynthetic, UnknownSpecWithoutProcKeepsCompleteSpecs) {
  bool ok = false;
  const KeySpec known{indexSearch(1), rangeKeys(0, 1, 0), kKeyRo};
  const KeySpec unknown{unknownSearch(), unknownKeys(), kKeyRw | kKeyIncomplete};
  EXPECT_EQ(synthetic({known, unknown}, {"c", "k", "x"}, &ok), Keys{1});
  EXPECT_TRUE(ok);
}

}  // namespace
}  // namespace slotwise::router
