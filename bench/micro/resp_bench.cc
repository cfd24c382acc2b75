// Microbenchmarks for the RESP hot path: request parsing and reply framing.
// Build: cmake --build build --target slotwise_micro_bench (built with the tests)
// Run:   build/bench/micro/slotwise_micro_bench
#include <benchmark/benchmark.h>

#include <string>
#include <string_view>

#include "resp/encoder.h"
#include "resp/reply_scanner.h"
#include "resp/request_parser.h"

namespace slotwise::resp {
namespace {

constexpr int kPipelineDepth = 100;

// A pipeline alternating SET key value / GET key, as a client library would send it.
std::string setGetPipeline(size_t value_size) {
  std::string buffer;
  const std::string value(value_size, 'v');
  for (int i = 0; i < kPipelineDepth; ++i) {
    const std::string key = "key:" + std::to_string(i);
    appendCommand(buffer, {"SET", key, value});
    appendCommand(buffer, {"GET", key});
  }
  return buffer;
}

// Replies a node would send to setGetPipeline: +OK and a bulk value per pair.
std::string setGetReplies(size_t value_size) {
  std::string buffer;
  const std::string value(value_size, 'v');
  for (int i = 0; i < kPipelineDepth; ++i) {
    appendSimpleString(buffer, "OK");
    appendBulk(buffer, value);
  }
  return buffer;
}

void BM_ParseSetGetPipeline(benchmark::State& state) {
  const std::string buffer = setGetPipeline(static_cast<size_t>(state.range(0)));
  RequestParser parser;
  Command cmd;
  for (auto _ : state) {
    std::string_view rest = buffer;
    while (parser.parse(rest, &cmd) == ParseStatus::kOk) rest.remove_prefix(cmd.frame_len);
    benchmark::DoNotOptimize(rest.data());
  }
  state.SetItemsProcessed(state.iterations() * kPipelineDepth * 2);
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(buffer.size()));
}
BENCHMARK(BM_ParseSetGetPipeline)->Arg(16)->Arg(1024);

void BM_ParseInline(benchmark::State& state) {
  const std::string line = "SET \"some key\" value\r\n";
  RequestParser parser;
  Command cmd;
  for (auto _ : state) {
    benchmark::DoNotOptimize(parser.parse(line, &cmd));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ParseInline);

void BM_ScanReplies(benchmark::State& state) {
  const std::string buffer = setGetReplies(static_cast<size_t>(state.range(0)));
  ReplyScanner scanner;
  ReplyInfo info;
  for (auto _ : state) {
    std::string_view rest = buffer;
    while (scanner.scan(rest, &info) == ScanStatus::kOk) rest.remove_prefix(info.frame_len);
    benchmark::DoNotOptimize(rest.data());
  }
  state.SetItemsProcessed(state.iterations() * kPipelineDepth * 2);
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(buffer.size()));
}
BENCHMARK(BM_ScanReplies)->Arg(16)->Arg(1024);

void BM_ScanNestedArray(benchmark::State& state) {
  // An LRANGE-like reply: one array of 100 bulk strings.
  std::string reply;
  appendArrayHeader(reply, 100);
  for (int i = 0; i < 100; ++i) appendBulk(reply, "element-" + std::to_string(i));
  ReplyScanner scanner;
  ReplyInfo info;
  for (auto _ : state) {
    benchmark::DoNotOptimize(scanner.scan(reply, &info));
  }
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(reply.size()));
}
BENCHMARK(BM_ScanNestedArray);

}  // namespace
}  // namespace slotwise::resp

BENCHMARK_MAIN();
