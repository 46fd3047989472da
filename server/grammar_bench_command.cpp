// `gemma-serve grammar-bench DIR`: MaskBench offline, no forward pass. For each *.json in DIR
// ({"schema", "tests": [{"valid", "data"}]}): compile the schema, then walk every test instance
// token by token (serialised as Python's json.dumps writes it, tokenized with the model's
// tokenizer), computing the full mask before each token and checking the token is in it; at the
// end the mask must allow end-of-generation. A valid instance rejected is a validation error, an
// invalid one accepted an invalidation error. One thread; times in microseconds.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "engine/gguf/gguf_file.h"
#include "engine/grammar/json_schema.h"
#include "engine/grammar/json_value.h"
#include "engine/grammar/matcher.h"
#include "engine/grammar/token_trie.h"
#include "engine/tokenizer/tokenizer.h"
#include "server/cli_args.h"
#include "server/commands.h"

namespace gs {
namespace {

using Clock = std::chrono::steady_clock;

constexpr const char* kHelp =
    "usage: gemma-serve grammar-bench DIR [--model GGUF] [--json] [--every N] [--limit N]\n"
    "  DIR                 MaskBench data: *.json files of {\"schema\", \"tests\"}\n"
    "  --every N           only every Nth file in sorted order (default 1)\n"
    "  --limit N           at most N files\n"
    "  --schema-timeout S  seconds per schema before it counts as a timeout (default 30)\n"
    "  --no-mask-cache     compute every mask (no reuse of masks of states seen before)\n"
    "  --errors            print each compile error and wrongly judged instance\n"
    "  --dump-tokens F     write the vocabulary and every test's token ids to F (JSON lines),\n"
    "                      for running other engines on the same tokens\n"
    "  --json              the summary as one JSON object\n";

double Micros(Clock::duration d) { return std::chrono::duration<double, std::micro>(d).count(); }

struct Percentiles {
  double mean = 0, p50 = 0, p99 = 0, p999 = 0, max = 0;
  size_t count = 0;
};

Percentiles Summarize(std::vector<double> v) {
  Percentiles p;
  p.count = v.size();
  if (v.empty()) return p;
  std::sort(v.begin(), v.end());
  double sum = 0;
  for (const double x : v) sum += x;
  p.mean = sum / v.size();
  auto at = [&](double q) { return v[std::min(v.size() - 1, static_cast<size_t>(q * v.size()))]; };
  p.p50 = at(0.5);
  p.p99 = at(0.99);
  p.p999 = at(0.999);
  p.max = v.back();
  return p;
}

std::string PercentilesJson(const Percentiles& p) {
  char buf[256];
  std::snprintf(buf, sizeof buf,
                "{\"count\": %zu, \"mean\": %.1f, \"p50\": %.1f, \"p99\": %.1f, \"p999\": %.1f, "
                "\"max\": %.1f}",
                p.count, p.mean, p.p50, p.p99, p.p999, p.max);
  return buf;
}

}  // namespace

int RunGrammarBench(const std::vector<std::string>& raw_args) {
  std::string dir;
  std::vector<std::string> flag_args = raw_args;
  if (!flag_args.empty() && flag_args[0].rfind("--", 0) != 0) {
    dir = flag_args[0];
    flag_args.erase(flag_args.begin());
  }
  CliArgs args(flag_args, {"help", "json", "no-mask-cache", "errors"});
  if (args.Has("help")) {
    std::fputs(kHelp, stdout);
    return 0;
  }
  if (!args.Validate({"help", "json", "no-mask-cache", "errors", "model", "every", "limit",
                      "schema-timeout", "dump-tokens"})) {
    std::fprintf(stderr, "gemma-serve grammar-bench: %s\n%s", args.error().c_str(), kHelp);
    return 2;
  }
  const int64_t every = args.GetInt("every", 1, 1, 1 << 30);
  const int64_t limit = args.GetInt("limit", 1 << 30, 1, 1 << 30);
  const double schema_timeout_s = args.GetDouble("schema-timeout", 30, 0.001, 1e6);
  if (!args.error().empty() || dir.empty()) {
    std::fprintf(stderr, "gemma-serve grammar-bench: %s\n%s",
                 dir.empty() ? "missing DIR" : args.error().c_str(), kHelp);
    return 2;
  }
  const bool print_errors = args.Has("errors");
  const std::optional<std::string> path = ResolveModelPathOrReport(args, "grammar-bench");
  if (!path) return 2;
  StatusOr<std::unique_ptr<GgufFile>> file = GgufFile::Open(*path);
  if (!file.ok()) {
    std::fprintf(stderr, "gemma-serve grammar-bench: %s\n", file.status().message().c_str());
    return 1;
  }
  StatusOr<std::unique_ptr<Tokenizer>> tok = Tokenizer::FromGguf(**file);
  if (!tok.ok()) {
    std::fprintf(stderr, "gemma-serve grammar-bench: %s\n", tok.status().message().c_str());
    return 1;
  }
  const Tokenizer& tokenizer = **tok;
  const auto trie_start = Clock::now();
  const grammar::TokenTrie trie = grammar::TokenTrie::FromTokenizer(tokenizer);
  const double trie_ms = Micros(Clock::now() - trie_start) / 1000;

  // --dump-tokens: first line the vocabulary (hex bytes per token, end-of-generation ids), then
  // {"file", "test", "valid", "ids"} per test instance.
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> dump(nullptr, std::fclose);
  if (const std::optional<std::string> dump_path = args.Get("dump-tokens")) {
    dump.reset(std::fopen(dump_path->c_str(), "w"));
    if (!dump) {
      std::fprintf(stderr, "gemma-serve grammar-bench: cannot write %s\n", dump_path->c_str());
      return 1;
    }
    std::fputs("{\"eos\": [", dump.get());
    for (size_t i = 0; i < trie.eos_ids().size(); ++i) {
      std::fprintf(dump.get(), "%s%d", i ? ", " : "", trie.eos_ids()[i]);
    }
    std::fputs("], \"tokens\": [", dump.get());
    for (int32_t id = 0; id < trie.num_vocab(); ++id) {
      std::fputs(id ? ", \"" : "\"", dump.get());
      for (const char c : trie.piece(id)) std::fprintf(dump.get(), "%02x", static_cast<uint8_t>(c));
      std::fputs("\"", dump.get());
    }
    std::fputs("]}\n", dump.get());
  }

  auto dump_test = [&](const std::string& name, size_t t, bool valid,
                       const std::vector<int32_t>& ids) {
    if (!dump) return;
    std::fprintf(dump.get(), "{\"file\": \"%s\", \"test\": %zu, \"valid\": %s, \"ids\": [",
                 name.c_str(), t, valid ? "true" : "false");
    for (size_t i = 0; i < ids.size(); ++i) std::fprintf(dump.get(), "%s%d", i ? ", " : "", ids[i]);
    std::fputs("]}\n", dump.get());
  };

  std::vector<std::filesystem::path> files;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    if (entry.path().extension() == ".json") files.push_back(entry.path());
  }
  if (ec) {
    std::fprintf(stderr, "gemma-serve grammar-bench: %s: %s\n", dir.c_str(), ec.message().c_str());
    return 1;
  }
  std::sort(files.begin(), files.end());

  size_t num_schemas = 0, num_passing = 0, num_compile_errors = 0, num_timeouts = 0;
  size_t num_bad_files = 0, num_tests = 0, num_validation_errors = 0;
  size_t num_invalidation_errors = 0, num_schemas_validation = 0, num_schemas_invalidation = 0;
  size_t num_mask_consume_mismatches = 0, num_tokens = 0, num_roundtrip_mismatches = 0;
  std::vector<double> tbm_us, ttfm_us, compile_us;
  std::vector<uint32_t> mask(trie.num_mask_words());
  const auto bench_start = Clock::now();
  for (size_t file_idx = 0; file_idx < files.size() && num_schemas < static_cast<size_t>(limit);
       file_idx += every) {
    const std::string name = files[file_idx].filename().string();
    std::ifstream in(files[file_idx], std::ios::binary);
    std::stringstream text;
    text << in.rdbuf();
    StatusOr<grammar::JsonValue> doc = grammar::JsonValue::Parse(text.str());
    if (!doc.ok() || doc->Find("schema") == nullptr) {
      ++num_bad_files;
      continue;
    }
    ++num_schemas;
    const auto compile_start = Clock::now();
    StatusOr<grammar::Grammar> compiled = grammar::CompileJsonSchema(*doc->Find("schema"));
    const double compile_time = Micros(Clock::now() - compile_start);
    const grammar::JsonValue* tests = doc->Find("tests");
    const size_t num_schema_tests = tests && tests->is_array() ? tests->items().size() : 0;
    if (!compiled.ok()) {
      ++num_compile_errors;
      for (size_t t = 0; dump && t < num_schema_tests; ++t) {
        const grammar::JsonValue& test = tests->items()[t];
        if (test.Find("data") == nullptr || test.Find("valid") == nullptr) continue;
        dump_test(name, t, test.Find("valid")->bool_value(),
                  tokenizer.Encode(test.Find("data")->ToPythonJson(), false, false));
      }
      if (print_errors) {
        std::fprintf(stderr, "%s: compile error: %s\n", name.c_str(),
                     compiled.status().message().c_str());
      }
      continue;
    }
    compile_us.push_back(compile_time);
    auto shared = std::make_shared<const grammar::CompiledGrammar>(
        std::move(*compiled),
        args.Has("no-mask-cache") ? 0 : grammar::CompiledGrammar::kDefaultMaskCacheBytes);
    bool pass = true, timed_out = false, first_mask = true;
    bool schema_validation_error = false, schema_invalidation_error = false;
    const auto schema_start = Clock::now();
    for (size_t t = 0; t < num_schema_tests && !timed_out; ++t) {
      const grammar::JsonValue& test = tests->items()[t];
      const grammar::JsonValue* data = test.Find("data");
      const grammar::JsonValue* valid = test.Find("valid");
      if (data == nullptr || valid == nullptr) continue;
      ++num_tests;
      const std::string instance = data->ToPythonJson();
      const std::vector<int32_t> ids = tokenizer.Encode(instance, false, false);
      if (tokenizer.Decode(ids, false) != instance) ++num_roundtrip_mismatches;
      dump_test(name, t, valid->bool_value(), ids);
      grammar::Matcher matcher(shared, &trie);
      bool accepted = true;
      for (size_t i = 0; i <= ids.size(); ++i) {
        const auto mask_start = Clock::now();
        matcher.FillMask(mask.data());
        const double us = Micros(Clock::now() - mask_start);
        tbm_us.push_back(us);
        if (first_mask) {
          ttfm_us.push_back(compile_time + us);
          first_mask = false;
        }
        ++num_tokens;
        if (i == ids.size()) {
          accepted = matcher.IsAccepting();
          break;
        }
        const int32_t id = ids[i];
        const bool in_mask = (mask[id >> 5] >> (id & 31)) & 1;
        const bool consumed = matcher.Consume(id);
        if (in_mask != consumed) {
          ++num_mask_consume_mismatches;
          if (print_errors) {
            std::fprintf(stderr, "%s: test %zu: token %zu (%d, \"%s\") %s the mask but %s\n",
                         name.c_str(), t, i, id, trie.piece(id).c_str(), in_mask ? "in" : "not in",
                         consumed ? "consumed" : "rejected");
          }
        }
        if (!in_mask || !consumed) {
          accepted = false;
          break;
        }
      }
      const bool ok = accepted == valid->bool_value();
      if (!ok) {
        pass = false;
        if (valid->bool_value()) {
          ++num_validation_errors;
          schema_validation_error = true;
        } else {
          ++num_invalidation_errors;
          schema_invalidation_error = true;
        }
        if (print_errors) {
          std::fprintf(stderr, "%s: test %zu: %s instance %s: %.300s\n", name.c_str(), t,
                       valid->bool_value() ? "valid" : "invalid",
                       accepted ? "accepted" : "rejected", instance.c_str());
        }
      }
      if (Micros(Clock::now() - schema_start) > schema_timeout_s * 1e6) timed_out = true;
    }
    num_schemas_validation += schema_validation_error;
    num_schemas_invalidation += schema_invalidation_error;
    if (timed_out) {
      ++num_timeouts;
      pass = false;
    }
    num_passing += pass;
  }
  const double total_s = Micros(Clock::now() - bench_start) / 1e6;
  const Percentiles tbm = Summarize(tbm_us), ttfm = Summarize(ttfm_us);
  const Percentiles compile = Summarize(compile_us);
  if (args.Has("json")) {
    std::printf(
        "{\"schemas\": %zu, \"passing\": %zu, \"compile_errors\": %zu, \"timeouts\": %zu, "
        "\"crashes\": 0, \"bad_files\": %zu, \"tests\": %zu, \"validation_errors\": %zu, "
        "\"validation_error_schemas\": %zu, \"invalidation_errors\": %zu, "
        "\"invalidation_error_schemas\": %zu, \"mask_consume_mismatches\": %zu, "
        "\"roundtrip_mismatches\": %zu, \"tokens\": %zu, \"vocab\": %d, \"trie_nodes\": %u, "
        "\"trie_build_ms\": %.1f, \"seconds\": %.1f, \"tbm_us\": %s, \"ttfm_us\": %s, "
        "\"compile_us\": %s}\n",
        num_schemas, num_passing, num_compile_errors, num_timeouts, num_bad_files, num_tests,
        num_validation_errors, num_schemas_validation, num_invalidation_errors,
        num_schemas_invalidation, num_mask_consume_mismatches, num_roundtrip_mismatches, num_tokens,
        trie.num_vocab(), trie.num_nodes(), trie_ms, total_s, PercentilesJson(tbm).c_str(),
        PercentilesJson(ttfm).c_str(), PercentilesJson(compile).c_str());
    return 0;
  }
  std::printf("vocabulary: %d tokens, trie %u nodes (built in %.1f ms)\n", trie.num_vocab(),
              trie.num_nodes(), trie_ms);
  std::printf("schemas: %zu  passing: %zu  compile errors: %zu  timeouts: %zu  crashes: 0\n",
              num_schemas, num_passing, num_compile_errors, num_timeouts);
  std::printf("tests: %zu  validation errors (valid rejected): %zu in %zu schemas\n", num_tests,
              num_validation_errors, num_schemas_validation);
  std::printf("invalidation errors (invalid accepted): %zu in %zu schemas\n",
              num_invalidation_errors, num_schemas_invalidation);
  std::printf("mask/consume mismatches: %zu  tokenization round-trip mismatches: %zu\n",
              num_mask_consume_mismatches, num_roundtrip_mismatches);
  auto line = [](const char* what, const Percentiles& p) {
    std::printf("%-8s n=%-8zu mean %8.1f  p50 %8.1f  p99 %9.1f  p99.9 %9.1f  max %10.1f us\n", what,
                p.count, p.mean, p.p50, p.p99, p.p999, p.max);
  };
  line("TBM", tbm);
  line("TTFM", ttfm);
  line("compile", compile);
  std::printf("wall time %.1f s\n", total_s);
  return 0;
}

}  // namespace gs
