// `gemma-serve serve` configuration: flags, the --config JSON file, and API keys from flags, a
// key file and the environment. A mistyped flag or key must be an error, never a silent default.
#include "server/server_config.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

namespace gs {
namespace {

constexpr const char* kKeyEnv = "GEMMA_SERVE_API_KEY";

class ServerConfigTest : public ::testing::Test {
 protected:
  // The environment is process-wide: keep whatever the caller had and start from none, so the
  // key tests see only the keys they set.
  void SetUp() override {
    if (const char* env = std::getenv(kKeyEnv)) saved_env_ = env;
    unsetenv(kKeyEnv);
  }
  void TearDown() override {
    if (saved_env_) {
      setenv(kKeyEnv, saved_env_->c_str(), 1);
    } else {
      unsetenv(kKeyEnv);
    }
    for (const std::string& f : files_) std::filesystem::remove(f);
  }

  // A temporary file holding `text`, removed after the test.
  std::string WriteFile(const std::string& text) {
    const std::string path = (std::filesystem::temp_directory_path() /
                              ("gs_server_config_test_" + std::to_string(getpid()) + "_" +
                               std::to_string(files_.size()) + "_" +
                               ::testing::UnitTest::GetInstance()->current_test_info()->name()))
                                 .string();
    std::ofstream(path) << text;
    files_.push_back(path);
    return path;
  }

  std::optional<std::string> saved_env_;
  std::vector<std::string> files_;
};

// Parses `args` that must be valid.
ServerConfig Parse(const std::vector<std::string>& args) {
  bool help = true;
  StatusOr<ServerConfig> c = ParseServerConfig(args, &help);
  EXPECT_TRUE(c.ok()) << c.status().message();
  EXPECT_FALSE(help);
  return c.ok() ? c.value() : ServerConfig{};
}

// The error message for `args` that must be rejected ("" if they were accepted).
std::string Error(const std::vector<std::string>& args) {
  bool help = false;
  StatusOr<ServerConfig> c = ParseServerConfig(args, &help);
  EXPECT_FALSE(c.ok());
  return c.ok() ? "" : c.status().message();
}

std::vector<std::string> Sorted(std::vector<std::string> v) {
  std::sort(v.begin(), v.end());
  return v;
}

TEST_F(ServerConfigTest, Defaults) {
  const ServerConfig c = Parse({"--model", "/models/g.gguf"});
  EXPECT_EQ(c.model_path, "/models/g.gguf");
  EXPECT_EQ(c.host, "127.0.0.1");
  EXPECT_EQ(c.port, 8080);
  EXPECT_EQ(c.backend.num_threads, 0);
  EXPECT_EQ(c.max_num_seqs, 32);
  EXPECT_EQ(c.num_http_threads, 32 + 16);  // enough for every sequence plus cheap requests
  EXPECT_EQ(c.max_http_queue, 0);
  EXPECT_EQ(c.kv_cache_bytes, int64_t{1} << 30);
  EXPECT_TRUE(c.kv_cache_default);
  EXPECT_EQ(c.block_size, 16);
  EXPECT_EQ(c.max_model_len, 0);
  EXPECT_EQ(c.max_num_batched_tokens, 512);
  EXPECT_EQ(c.max_num_waiting, 128);
  EXPECT_EQ(c.max_tokens_cap, 0);
  EXPECT_EQ(c.max_n, 16);
  EXPECT_EQ(c.max_body_bytes, int64_t{20} << 20);
  EXPECT_EQ(c.read_timeout_s, 10);
  EXPECT_EQ(c.write_timeout_s, 30);
  EXPECT_EQ(c.keep_alive_timeout_s, 5);
  EXPECT_EQ(c.sse_ping_interval_s, 15);
  EXPECT_EQ(c.shutdown_grace_s, 30);
  EXPECT_EQ(c.health_stall_s, 60);
  EXPECT_TRUE(c.served_model_names.empty());
  EXPECT_TRUE(c.api_keys.empty());
  EXPECT_FALSE(c.auth_health);
  EXPECT_TRUE(c.auth_metrics);
  EXPECT_TRUE(c.cors_origins.empty());
  EXPECT_EQ(c.log_format, "text");
}

TEST_F(ServerConfigTest, FlagsParse) {
  // One flag and its value per line.
  // clang-format off
  const ServerConfig c = Parse({
      "--model", "/m.gguf",
      "--host", "0.0.0.0",
      "--port=9000",
      "--threads", "4",
      "--http-threads", "8",
      "--max-http-queue", "3",
      "--kv-cache-mb", "256",
      "--block-size", "32",
      "--max-model-len", "4096",
      "--max-num-seqs", "8",
      "--max-num-batched-tokens", "256",
      "--max-num-waiting", "10",
      "--max-tokens-cap", "1000",
      "--max-n", "4",
      "--max-body-mb", "2",
      "--read-timeout", "11",
      "--write-timeout", "12",
      "--keep-alive-timeout", "13",
      "--sse-ping-interval", "14",
      "--shutdown-grace", "15",
      "--health-stall", "16",
      "--served-model-name", "gemma,g3",
      "--api-key", "k1,k2",
      "--auth-health",
      "--public-metrics",
      "--cors-origin", "http://a.example,http://b.example",
      "--log-format", "json"});
  // clang-format on
  EXPECT_EQ(c.model_path, "/m.gguf");
  EXPECT_EQ(c.host, "0.0.0.0");
  EXPECT_EQ(c.port, 9000);
  EXPECT_EQ(c.backend.num_threads, 4);
  EXPECT_EQ(c.num_http_threads, 8);
  EXPECT_EQ(c.max_http_queue, 3);
  EXPECT_EQ(c.kv_cache_bytes, int64_t{256} << 20);
  EXPECT_FALSE(c.kv_cache_default);
  EXPECT_EQ(c.block_size, 32);
  EXPECT_EQ(c.max_model_len, 4096);
  EXPECT_EQ(c.max_num_seqs, 8);
  EXPECT_EQ(c.max_num_batched_tokens, 256);
  EXPECT_EQ(c.max_num_waiting, 10);
  EXPECT_EQ(c.max_tokens_cap, 1000);
  EXPECT_EQ(c.max_n, 4);
  EXPECT_EQ(c.max_body_bytes, int64_t{2} << 20);
  EXPECT_EQ(c.read_timeout_s, 11);
  EXPECT_EQ(c.write_timeout_s, 12);
  EXPECT_EQ(c.keep_alive_timeout_s, 13);
  EXPECT_EQ(c.sse_ping_interval_s, 14);
  EXPECT_EQ(c.shutdown_grace_s, 15);
  EXPECT_EQ(c.health_stall_s, 16);
  EXPECT_EQ(c.served_model_names, (std::vector<std::string>{"gemma", "g3"}));
  EXPECT_EQ(c.api_keys, (std::vector<std::string>{"k1", "k2"}));
  EXPECT_TRUE(c.auth_health);
  EXPECT_FALSE(c.auth_metrics);
  EXPECT_EQ(c.cors_origins, (std::vector<std::string>{"http://a.example", "http://b.example"}));
  EXPECT_EQ(c.log_format, "json");
}

TEST_F(ServerConfigTest, HttpThreadsFollowMaxNumSeqs) {
  EXPECT_EQ(Parse({"--model", "m", "--max-num-seqs", "4"}).num_http_threads, 4 + 16);
}

TEST_F(ServerConfigTest, UnknownFlagIsAnError) {
  EXPECT_NE(Error({"--model", "m", "--prot", "9000"}).find("prot"), std::string::npos);
  EXPECT_FALSE(Error({"--model", "m", "stray"}).empty());
  EXPECT_FALSE(Error({"--model", "m", "--port"}).empty());  // a value flag with no value
}

TEST_F(ServerConfigTest, BadNumberIsAnError) {
  for (const char* bad : {"abc", "80x", "", "70000", "-1", "1.5"}) {
    SCOPED_TRACE(bad);
    EXPECT_NE(Error({"--model", "m", "--port", bad}).find("--port"), std::string::npos);
  }
  EXPECT_FALSE(Error({"--model", "m", "--max-num-seqs", "0"}).empty());
  EXPECT_FALSE(Error({"--model", "m", "--kv-cache-mb", "lots"}).empty());
  EXPECT_FALSE(Error({"--model", "m", "--max-n", "1000"}).empty());
}

TEST_F(ServerConfigTest, LogFormatMustBeTextOrJson) {
  EXPECT_EQ(Parse({"--model", "m", "--log-format", "text"}).log_format, "text");
  EXPECT_NE(Error({"--model", "m", "--log-format", "xml"}).find("log-format"), std::string::npos);
  EXPECT_FALSE(Error({"--model", "m", "--log-format", "JSON"}).empty());
}

TEST_F(ServerConfigTest, HelpSetsHelp) {
  bool help = false;
  EXPECT_TRUE(ParseServerConfig({"--help"}, &help).ok());
  EXPECT_TRUE(help);
  // --help is honoured without the other flags having to be valid numbers.
  help = false;
  EXPECT_TRUE(ParseServerConfig({"--port", "nope", "--help"}, &help).ok());
  EXPECT_TRUE(help);
  EXPECT_NE(std::string(kServeHelp).find("--config"), std::string::npos);
}

TEST_F(ServerConfigTest, ConfigFile) {
  // Snake case and dash keys both work; lists are arrays; switches are booleans.
  const std::string path = WriteFile(R"({
    "model": "/from/file.gguf",
    "host": "0.0.0.0",
    "port": 9000,
    "max_num_seqs": 8,
    "max-num-waiting": 5,
    "kv_cache_mb": 64,
    "served_model_name": ["gemma", "g3"],
    "api_key": ["k1", "k2"],
    "cors_origin": ["*"],
    "auth_health": true,
    "public-metrics": false,
    "log_format": "json"
  })");
  const ServerConfig c = Parse({"--config", path});
  EXPECT_EQ(c.model_path, "/from/file.gguf");
  EXPECT_EQ(c.host, "0.0.0.0");
  EXPECT_EQ(c.port, 9000);
  EXPECT_EQ(c.max_num_seqs, 8);
  EXPECT_EQ(c.num_http_threads, 8 + 16);
  EXPECT_EQ(c.max_num_waiting, 5);
  EXPECT_EQ(c.kv_cache_bytes, int64_t{64} << 20);
  EXPECT_EQ(c.served_model_names, (std::vector<std::string>{"gemma", "g3"}));
  EXPECT_EQ(c.api_keys, (std::vector<std::string>{"k1", "k2"}));
  EXPECT_EQ(c.cors_origins, (std::vector<std::string>{"*"}));
  EXPECT_TRUE(c.auth_health);
  EXPECT_TRUE(c.auth_metrics);  // public_metrics: false leaves the default
  EXPECT_EQ(c.log_format, "json");
}

TEST_F(ServerConfigTest, FlagsOverrideTheConfigFile) {
  const std::string path = WriteFile(R"({"model": "/file.gguf", "port": 9000,
                                        "served_model_name": ["a", "b"], "log_format": "json"})");
  // Flags win wherever they stand relative to --config.
  for (bool config_first : {true, false}) {
    SCOPED_TRACE(config_first);
    std::vector<std::string> args = {"--port", "9001",         "--served-model-name",
                                     "c",      "--log-format", "text"};
    args.insert(config_first ? args.begin() : args.end(), {"--config", path});
    const ServerConfig c = Parse(args);
    EXPECT_EQ(c.port, 9001);
    EXPECT_EQ(c.served_model_names, (std::vector<std::string>{"c"}));
    EXPECT_EQ(c.log_format, "text");
    EXPECT_EQ(c.model_path, "/file.gguf");  // not given as a flag: the file's
  }
}

TEST_F(ServerConfigTest, BadConfigFilesAreErrors) {
  EXPECT_NE(Error({"--config", WriteFile(R"({"model": "m", "prot": 9000})")}).find("prot"),
            std::string::npos);
  // A file cannot name another file or ask for help.
  EXPECT_FALSE(Error({"--config", WriteFile(R"({"config": "other.json"})")}).empty());
  EXPECT_FALSE(Error({"--config", WriteFile(R"({"help": true})")}).empty());
  // Switches take booleans, lists take strings, numbers are integers.
  EXPECT_FALSE(Error({"--config", WriteFile(R"({"auth_health": "yes"})")}).empty());
  EXPECT_FALSE(Error({"--config", WriteFile(R"({"api_key": ["k1", 2]})")}).empty());
  EXPECT_FALSE(Error({"--config", WriteFile(R"({"port": 80.5})")}).empty());
  EXPECT_FALSE(Error({"--config", WriteFile(R"({"port": "eighty"})")}).empty());
  EXPECT_FALSE(Error({"--config", WriteFile(R"({"port": {"a": 1}})")}).empty());
  // Not JSON, not an object, not there.
  EXPECT_FALSE(Error({"--config", WriteFile("{\"port\": ")}).empty());
  EXPECT_FALSE(Error({"--config", WriteFile("[1, 2]")}).empty());
  EXPECT_FALSE(Error({"--config", "/nonexistent/gs_server_config_test.json"}).empty());
}

TEST_F(ServerConfigTest, ApiKeysFromFlagFileAndEnvironmentAreAllCollected) {
  const std::string key_file = WriteFile(
      "# keys for the staging clients\n"
      "\n"
      "k3\n"
      "   \n"
      "\t\n"
      "  # an indented comment\n"
      "k4\r\n"
      "  k5  \n");
  setenv(kKeyEnv, "k6,k7", 1);
  const ServerConfig c = Parse({"--model", "m", "--api-key", "k1,k2", "--api-key-file", key_file});
  // Blank lines (spaces or tabs only) and comments must not become keys: a whitespace key
  // would be a credential nobody chose.
  EXPECT_EQ(Sorted(c.api_keys),
            (std::vector<std::string>{"k1", "k2", "k3", "k4", "k5", "k6", "k7"}));
}

TEST_F(ServerConfigTest, ApiKeyFromEnvironmentAlone) {
  setenv(kKeyEnv, "secret", 1);
  EXPECT_EQ(Parse({"--model", "m"}).api_keys, (std::vector<std::string>{"secret"}));
  setenv(kKeyEnv, "", 1);
  EXPECT_TRUE(Parse({"--model", "m"}).api_keys.empty());
}

TEST_F(ServerConfigTest, MissingApiKeyFileIsAnError) {
  EXPECT_FALSE(Error({"--model", "m", "--api-key-file", "/nonexistent/gs_keys.txt"}).empty());
}

}  // namespace
}  // namespace gs
