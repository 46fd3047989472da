// The /metrics page: Prometheus text exposition under vLLM's metric names with our prefix, so
// that scrapers accept it and dashboards written for vLLM work after a rename.
#include "server/metrics.h"

#include <gtest/gtest.h>

#include <cctype>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace gs {
namespace {

constexpr const char* kPrefix = "gemma_serve:";

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) lines.push_back(line);
  return lines;
}

bool IsNameStart(char c) {
  return std::isalpha(static_cast<unsigned char>(c)) || c == '_' || c == ':';
}
bool IsNameChar(char c) { return IsNameStart(c) || std::isdigit(static_cast<unsigned char>(c)); }

// One sample line, `name{label="value",...} number`, parsed by the exposition format's rules.
struct Sample {
  std::string name;
  std::map<std::string, std::string> labels;  // values unescaped
  double value = 0;
};

bool Fail(std::string* why, std::string message) {
  *why = std::move(message);
  return false;
}

// Parses `line` into `s`; false (with a reason in `why`) when it is not a well-formed sample.
bool ParseSample(const std::string& line, Sample* s, std::string* why) {
  size_t i = 0;
  if (line.empty() || !IsNameStart(line[0])) return Fail(why, "bad metric name start");
  while (i < line.size() && IsNameChar(line[i])) ++i;
  s->name = line.substr(0, i);
  if (i < line.size() && line[i] == '{') {
    ++i;
    while (i < line.size() && line[i] != '}') {
      const size_t start = i;
      if (!IsNameStart(line[i]) || line[i] == ':') return Fail(why, "bad label name");
      while (i < line.size() && IsNameChar(line[i]) && line[i] != ':') ++i;
      const std::string key = line.substr(start, i - start);
      if (line.compare(i, 2, "=\"") != 0) return Fail(why, "label without =\"");
      i += 2;
      std::string value;
      for (;;) {
        if (i >= line.size()) return Fail(why, "unterminated label value");
        const char c = line[i++];
        if (c == '"') break;
        if (c != '\\') {
          value += c;
          continue;
        }
        if (i >= line.size()) return Fail(why, "dangling backslash");
        const char e = line[i++];
        if (e == 'n') {
          value += '\n';
        } else if (e == '\\' || e == '"') {
          value += e;
        } else {
          return Fail(why, "bad escape");
        }
      }
      if (s->labels.count(key)) return Fail(why, "repeated label " + key);
      s->labels[key] = value;
      if (i < line.size() && line[i] == ',') {
        ++i;
      } else if (i < line.size() && line[i] != '}') {
        return Fail(why, "no ',' or '}' after a label");
      }
    }
    if (i >= line.size()) return Fail(why, "unterminated label set");
    ++i;  // '}'
  }
  if (i >= line.size() || line[i] != ' ') return Fail(why, "no space before the value");
  const std::string number = line.substr(i + 1);
  if (number == "+Inf" || number == "-Inf" || number == "NaN") {
    s->value = number == "NaN" ? NAN : (number[0] == '+' ? INFINITY : -INFINITY);
    return true;
  }
  char* end = nullptr;
  s->value = std::strtod(number.c_str(), &end);
  if (number.empty() || *end != '\0' || std::isspace(static_cast<unsigned char>(number[0]))) {
    return Fail(why, "bad value '" + number + "'");
  }
  return true;
}

// A whole page: comments and samples, checked as it is parsed.
struct Page {
  std::map<std::string, std::string> types;  // family -> counter/gauge/histogram
  std::set<std::string> helps;
  std::vector<Sample> samples;
};

// The family a sample belongs to: a histogram's _bucket/_sum/_count lines belong to it.
std::string FamilyOf(const std::string& name, const std::map<std::string, std::string>& types) {
  for (const char* suffix : {"_bucket", "_sum", "_count"}) {
    const std::string sfx = suffix;
    if (name.size() > sfx.size() && name.compare(name.size() - sfx.size(), sfx.size(), sfx) == 0) {
      const std::string base = name.substr(0, name.size() - sfx.size());
      auto it = types.find(base);
      if (it != types.end() && it->second == "histogram") return base;
    }
  }
  return name;
}

Page ParsePage(const std::string& text) {
  Page page;
  EXPECT_FALSE(text.empty());
  EXPECT_EQ(text.back(), '\n') << "the last line must end with a newline";
  for (const std::string& line : Lines(text)) {
    SCOPED_TRACE(line);
    EXPECT_FALSE(line.empty()) << "blank line";
    if (line.empty()) continue;
    if (line[0] == '#') {
      std::istringstream in(line);
      std::string hash, kind, name, rest;
      in >> hash >> kind >> name;
      std::getline(in, rest);
      if (kind == "HELP") {
        EXPECT_TRUE(page.helps.insert(name).second) << "second HELP for " << name;
        EXPECT_FALSE(rest.empty()) << "HELP without text";
      } else if (kind == "TYPE") {
        const std::string type = rest.empty() ? "" : rest.substr(1);
        EXPECT_TRUE(type == "counter" || type == "gauge" || type == "histogram") << type;
        EXPECT_TRUE(page.helps.count(name)) << "TYPE before HELP for " << name;
        EXPECT_TRUE(page.types.emplace(name, type).second) << "second TYPE for " << name;
      } else {
        ADD_FAILURE() << "comment that is neither HELP nor TYPE";
      }
      continue;
    }
    Sample s;
    std::string why;
    if (!ParseSample(line, &s, &why)) {
      ADD_FAILURE() << "not `name{labels} value`: " << why;
      continue;
    }
    const std::string family = FamilyOf(s.name, page.types);
    EXPECT_TRUE(page.helps.count(family)) << "no HELP for " << family;
    EXPECT_TRUE(page.types.count(family)) << "no TYPE for " << family;
    page.samples.push_back(std::move(s));
  }
  return page;
}

std::vector<const Sample*> Find(const Page& page, const std::string& name) {
  std::vector<const Sample*> out;
  for (const Sample& s : page.samples) {
    if (s.name == name) out.push_back(&s);
  }
  return out;
}

// The single sample `name` (without le or finished_reason labels); fails the test if absent.
double Value(const Page& page, const std::string& name) {
  const std::vector<const Sample*> found = Find(page, name);
  EXPECT_EQ(found.size(), 1u) << name;
  return found.empty() ? NAN : found[0]->value;
}

// Histogram buckets as (le, cumulative count), in page order.
std::vector<std::pair<std::string, double>> Buckets(const Page& page, const std::string& name) {
  std::vector<std::pair<std::string, double>> out;
  for (const Sample* s : Find(page, name + "_bucket")) {
    out.emplace_back(s->labels.at("le"), s->value);
  }
  return out;
}

EngineStats Stats() {
  EngineStats e;
  e.num_running = 3;
  e.num_waiting = 2;
  e.kv_usage = 0.25;
  e.num_prompt_tokens = 1000;
  e.num_generation_tokens = 500;
  e.num_preemptions = 4;
  e.num_steps = 77;
  return e;
}

TEST(HistogramTest, BucketsAreCumulativeAndEndWithInfEqualToCount) {
  Histogram h({1, 2, 5});
  // A value on a bound belongs to that bucket (le is "less than or equal").
  for (double v : {0.5, 1.0, 1.5, 3.0, 10.0}) h.Observe(v);
  std::string out;
  h.Render("x", "", &out);
  EXPECT_EQ(out,
            "x_bucket{le=\"1\"} 2\n"
            "x_bucket{le=\"2\"} 3\n"
            "x_bucket{le=\"5\"} 4\n"
            "x_bucket{le=\"+Inf\"} 5\n"
            "x_sum 16\n"
            "x_count 5\n");
  std::string labelled;
  h.Render("x", "a=\"b\"", &labelled);
  EXPECT_NE(labelled.find("x_bucket{a=\"b\",le=\"1\"} 2\n"), std::string::npos) << labelled;
  EXPECT_NE(labelled.find("x_sum{a=\"b\"} 16\n"), std::string::npos) << labelled;
  EXPECT_NE(labelled.find("x_count{a=\"b\"} 5\n"), std::string::npos) << labelled;
}

TEST(HistogramTest, EmptyHistogramRendersZeros) {
  Histogram h({0.5, 1});
  std::string out;
  h.Render("y", "", &out);
  EXPECT_EQ(out,
            "y_bucket{le=\"0.5\"} 0\n"
            "y_bucket{le=\"1\"} 0\n"
            "y_bucket{le=\"+Inf\"} 0\n"
            "y_sum 0\n"
            "y_count 0\n");
}

TEST(HistogramTest, RandomObservationsMatchDirectCounts) {
  const std::vector<double> bounds = {0.001, 0.01, 0.1, 0.5, 1, 2.5, 10};
  Histogram h(bounds);
  std::mt19937 rng(7);
  std::exponential_distribution<double> dist(2.0);
  std::vector<double> values;
  double sum = 0;
  for (int i = 0; i < 500; ++i) {
    const double v = dist(rng);
    values.push_back(v);
    sum += v;
    h.Observe(v);
  }
  std::string out = "# HELP x Test.\n# TYPE x histogram\n";
  h.Render("x", "", &out);
  const Page page = ParsePage(out);
  const auto buckets = Buckets(page, "x");
  ASSERT_EQ(buckets.size(), bounds.size() + 1);
  for (size_t i = 0; i < bounds.size(); ++i) {
    // The le label must name the bound itself.
    EXPECT_EQ(std::strtod(buckets[i].first.c_str(), nullptr), bounds[i]);
    double expected = 0;
    for (double v : values) expected += v <= bounds[i];
    EXPECT_EQ(buckets[i].second, expected) << "le=" << buckets[i].first;
    if (i > 0) {
      EXPECT_GE(buckets[i].second, buckets[i - 1].second);
    }
  }
  EXPECT_EQ(buckets.back().first, "+Inf");
  EXPECT_EQ(buckets.back().second, 500);
  EXPECT_EQ(Value(page, "x_count"), 500);
  EXPECT_NEAR(Value(page, "x_sum"), sum, 1e-9 * sum);
}

TEST(MetricsTest, RendersEveryVllmMetricWithPrefixAndModelName) {
  Metrics m("gemma-3");
  const Page page = ParsePage(m.Render(Stats()));
  const std::string p = kPrefix;
  const std::map<std::string, std::string> expected_types = {
      {"num_requests_running", "gauge"},
      {"num_requests_waiting", "gauge"},
      {"kv_cache_usage_perc", "gauge"},
      {"prompt_tokens_total", "counter"},
      {"generation_tokens_total", "counter"},
      {"num_preemptions_total", "counter"},
      {"prefix_cache_queries_total", "counter"},
      {"prefix_cache_hits_total", "counter"},
      {"request_success_total", "counter"},
      {"time_to_first_token_seconds", "histogram"},
      {"inter_token_latency_seconds", "histogram"},
      {"e2e_request_latency_seconds", "histogram"},
      {"request_queue_time_seconds", "histogram"},
      {"request_prompt_tokens", "histogram"},
      {"request_generation_tokens", "histogram"},
  };
  for (const auto& [name, type] : expected_types) {
    auto it = page.types.find(p + name);
    ASSERT_NE(it, page.types.end()) << "missing " << p + name;
    EXPECT_EQ(it->second, type) << name;
  }
  for (const auto& [family, type] : page.types) {
    EXPECT_EQ(family.rfind(p, 0), 0u) << family;
  }
  for (const Sample& s : page.samples) {
    EXPECT_EQ(s.name.rfind(p, 0), 0u) << s.name;
    auto it = s.labels.find("model_name");
    ASSERT_NE(it, s.labels.end()) << s.name;
    EXPECT_EQ(it->second, "gemma-3") << s.name;
  }
  EXPECT_EQ(Value(page, p + "num_requests_running"), 3);
  EXPECT_EQ(Value(page, p + "num_requests_waiting"), 2);
  EXPECT_EQ(Value(page, p + "kv_cache_usage_perc"), 0.25);
  EXPECT_EQ(Value(page, p + "prompt_tokens_total"), 1000);
  EXPECT_EQ(Value(page, p + "generation_tokens_total"), 500);
  EXPECT_EQ(Value(page, p + "num_preemptions_total"), 4);
  // Before any request every finish reason is listed at zero, so rate() has a starting point.
  const auto success = Find(page, p + "request_success_total");
  ASSERT_FALSE(success.empty());
  for (const Sample* s : success) EXPECT_EQ(s->value, 0) << s->labels.at("finished_reason");
}

TEST(MetricsTest, RecordCountsRequestsByFinishReasonAndFillsHistograms) {
  Metrics m("gemma-3");
  RequestRecord stop;
  stop.finished_reason = "stop";
  stop.queue_seconds = 0.002;
  stop.ttft_seconds = 0.05;
  stop.inter_token_seconds = {0.01, 0.02, 0.03};
  stop.e2e_seconds = 0.5;
  stop.num_prompt_tokens = 12;
  stop.num_generation_tokens = 4;
  m.Record(stop);
  m.Record(stop);
  RequestRecord length = stop;
  length.finished_reason = "length";
  length.inter_token_seconds = {0.04};
  m.Record(length);
  // An aborted request that never reached the engine: no queue time, no first token.
  RequestRecord abort;
  abort.finished_reason = "abort";
  abort.e2e_seconds = 0.1;
  abort.num_prompt_tokens = 30;
  m.Record(abort);

  const Page page = ParsePage(m.Render(Stats()));
  const std::string p = kPrefix;
  std::map<std::string, double> by_reason;
  for (const Sample* s : Find(page, p + "request_success_total")) {
    by_reason[s->labels.at("finished_reason")] = s->value;
  }
  EXPECT_EQ(by_reason["stop"], 2);
  EXPECT_EQ(by_reason["length"], 1);
  EXPECT_EQ(by_reason["abort"], 1);
  EXPECT_EQ(by_reason["error"], 0);

  EXPECT_EQ(Value(page, p + "e2e_request_latency_seconds_count"), 4);
  EXPECT_EQ(Value(page, p + "time_to_first_token_seconds_count"), 3);
  EXPECT_EQ(Value(page, p + "request_queue_time_seconds_count"), 3);
  EXPECT_EQ(Value(page, p + "inter_token_latency_seconds_count"), 7);
  EXPECT_NEAR(Value(page, p + "inter_token_latency_seconds_sum"), 0.16, 1e-12);
  EXPECT_NEAR(Value(page, p + "e2e_request_latency_seconds_sum"), 1.6, 1e-12);
  EXPECT_EQ(Value(page, p + "request_prompt_tokens_count"), 4);
  EXPECT_EQ(Value(page, p + "request_prompt_tokens_sum"), 66);
  EXPECT_EQ(Value(page, p + "request_generation_tokens_sum"), 12);

  // Every histogram on the page: cumulative buckets ending in +Inf equal to _count.
  for (const auto& [family, type] : page.types) {
    if (type != "histogram") continue;
    SCOPED_TRACE(family);
    const auto buckets = Buckets(page, family);
    ASSERT_GE(buckets.size(), 2u);
    for (size_t i = 1; i < buckets.size(); ++i) {
      EXPECT_GE(buckets[i].second, buckets[i - 1].second);
    }
    EXPECT_EQ(buckets.back().first, "+Inf");
    EXPECT_EQ(buckets.back().second, Value(page, family + "_count"));
    EXPECT_EQ(Find(page, family + "_sum").size(), 1u);
  }
}

TEST(MetricsTest, ModelNameIsEscaped) {
  // A served model name is operator input; unescaped, a quote or newline would break the page
  // for every scraper.
  const std::string name = "my \"model\"\\v2\nx";
  Metrics m(name);
  const std::string text = m.Render(Stats());
  EXPECT_NE(text.find("model_name=\"my \\\"model\\\"\\\\v2\\nx\""), std::string::npos) << text;
  const Page page = ParsePage(text);
  ASSERT_FALSE(page.samples.empty());
  for (const Sample& s : page.samples) EXPECT_EQ(s.labels.at("model_name"), name) << s.name;
}

}  // namespace
}  // namespace gs

namespace gs {
namespace {

TEST(MetricsNumberTest, BucketBoundsPrintAsWritten) {
  Histogram h({0.06, 2.5, 100000});
  h.Observe(0.1);
  std::string out;
  h.Render("x", "", &out);
  EXPECT_NE(out.find("x_bucket{le=\"0.06\"} 0\n"), std::string::npos) << out;
  EXPECT_NE(out.find("x_bucket{le=\"2.5\"} 1\n"), std::string::npos) << out;
  EXPECT_NE(out.find("x_bucket{le=\"100000\"} 1\n"), std::string::npos) << out;
  EXPECT_NE(out.find("x_sum 0.1\n"), std::string::npos) << out;
}

}  // namespace
}  // namespace gs
