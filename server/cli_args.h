// Command-line flags of the form --name value, --name=value or a bare --switch. Every flag a
// command reads is declared, so an unknown or misspelled flag is an error instead of a silent
// no-op.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace gs {

class CliArgs {
 public:
  // args: everything after the command name. switches: flags that take no value.
  CliArgs(std::vector<std::string> args, std::set<std::string> switches);

  // Fails on a flag not in `known` or a value that does not parse; message in error().
  bool Validate(const std::set<std::string>& known);
  const std::string& error() const { return error_; }

  bool Has(const std::string& name) const { return values_.count(name) > 0; }
  std::optional<std::string> Get(const std::string& name) const;
  std::string GetOr(const std::string& name, const std::string& fallback) const;
  // Number flags: on a malformed or out-of-range value, records the error and returns fallback.
  int64_t GetInt(const std::string& name, int64_t fallback, int64_t min, int64_t max);
  double GetDouble(const std::string& name, double fallback, double min, double max);

 private:
  std::map<std::string, std::string> values_;
  std::set<std::string> switches_;
  std::string error_;
};

// The text of --prompt, or of the file --prompt-file names ('-' for stdin); nullopt with an
// error message when neither or both are given or the file cannot be read.
std::optional<std::string> ReadPromptFlag(const CliArgs& args, std::string* error);

// The model path: --model, else $GS_MODEL, else the path that scripts/setup.sh recorded in
// .model-path (current directory, then the source tree).
std::optional<std::string> ResolveModelPath(const CliArgs& args);
// ResolveModelPath, printing "gemma-serve <command>: no model ..." to stderr when there is none.
std::optional<std::string> ResolveModelPathOrReport(const CliArgs& args, const char* command);

}  // namespace gs
