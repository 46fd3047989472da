#include "server/cli_args.h"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <fstream>

namespace gs {

CliArgs::CliArgs(std::vector<std::string> args, std::set<std::string> switches)
    : switches_(std::move(switches)) {
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a.rfind("--", 0) != 0 || a.size() == 2) {
      error_ = "unexpected argument '" + a + "'";
      return;
    }
    const size_t eq = a.find('=');
    const auto name_end = eq == std::string::npos ? a.end() : a.begin() + eq;
    const std::string name(a.begin() + 2, name_end);
    if (eq != std::string::npos) {
      values_[name] = std::string(name_end + 1, a.end());
    } else if (switches_.count(name)) {
      values_[name] = "1";
    } else if (i + 1 < args.size()) {
      values_[name] = args[++i];
    } else {
      error_ = "flag --" + name + " needs a value";
      return;
    }
  }
}

bool CliArgs::Validate(const std::set<std::string>& known) {
  if (!error_.empty()) return false;
  for (const auto& [name, value] : values_) {
    if (!known.count(name)) {
      error_ = "unknown flag --" + name;
      return false;
    }
  }
  return true;
}

std::optional<std::string> CliArgs::Get(const std::string& name) const {
  auto it = values_.find(name);
  if (it == values_.end()) return std::nullopt;
  return it->second;
}

std::string CliArgs::GetOr(const std::string& name, const std::string& fallback) const {
  return Get(name).value_or(fallback);
}

int64_t CliArgs::GetInt(const std::string& name, int64_t fallback, int64_t min, int64_t max) {
  const std::optional<std::string> v = Get(name);
  if (!v) return fallback;
  errno = 0;
  char* end = nullptr;
  const long long x = std::strtoll(v->c_str(), &end, 10);
  if (v->empty() || *end != '\0' || errno != 0 || x < min || x > max) {
    error_ = "--" + name + " must be an integer in [" + std::to_string(min) + ", " +
             std::to_string(max) + "], got '" + *v + "'";
    return fallback;
  }
  return x;
}

double CliArgs::GetDouble(const std::string& name, double fallback, double min, double max) {
  const std::optional<std::string> v = Get(name);
  if (!v) return fallback;
  errno = 0;
  char* end = nullptr;
  const double x = std::strtod(v->c_str(), &end);
  if (v->empty() || *end != '\0' || errno != 0 || !(x >= min && x <= max)) {
    error_ = "--" + name + " must be a number in [" + std::to_string(min) + ", " +
             std::to_string(max) + "], got '" + *v + "'";
    return fallback;
  }
  return x;
}

std::optional<std::string> ReadPromptFlag(const CliArgs& args, std::string* error) {
  if (args.Has("prompt") == args.Has("prompt-file")) {
    *error = "give one of --prompt, --prompt-file";
    return std::nullopt;
  }
  if (args.Has("prompt")) return *args.Get("prompt");
  const std::string path = *args.Get("prompt-file");
  FILE* in = path == "-" ? stdin : std::fopen(path.c_str(), "rb");
  if (in == nullptr) {
    *error = "cannot open " + path;
    return std::nullopt;
  }
  std::string text;
  char buf[65536];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, in)) > 0) text.append(buf, n);
  if (in != stdin) std::fclose(in);
  return text;
}

std::optional<std::string> ResolveModelPath(const CliArgs& args) {
  if (std::optional<std::string> m = args.Get("model")) return m;
  if (const char* env = std::getenv("GS_MODEL"); env != nullptr && *env) return std::string(env);
  for (const std::string& f :
       {std::string(".model-path"), std::string(GS_SOURCE_DIR "/.model-path")}) {
    std::ifstream in(f);
    std::string path;
    if (in && std::getline(in, path) && !path.empty()) return path;
  }
  return std::nullopt;
}

std::optional<std::string> ResolveModelPathOrReport(const CliArgs& args, const char* command) {
  std::optional<std::string> path = ResolveModelPath(args);
  if (!path) {
    std::fprintf(stderr, "gemma-serve %s: no model (pass --model or run scripts/setup.sh)\n",
                 command);
  }
  return path;
}

}  // namespace gs
