// `gemma-serve tokenize`: text -> token ids, as a plain list or JSON with each token's piece.
#include <cstdio>

#include "engine/gguf/gguf_file.h"
#include "engine/tokenizer/tokenizer.h"
#include "server/cli_args.h"
#include "server/commands.h"

namespace gs {
namespace {

constexpr const char* kHelp =
    "usage: gemma-serve tokenize [--model PATH] (--prompt TEXT | --prompt-file F) [--json]\n"
    "  --no-bos          do not add BOS\n"
    "  --parse-special   turn control-token texts (<start_of_turn>, ...) into those tokens\n"
    "  --json            {\"tokens\": [...], \"pieces\": [...], \"count\": N}\n";

void AppendJsonString(std::string& out, const std::string& s) {
  out += '"';
  for (unsigned char ch : s) {
    switch (ch) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\r':
        out += "\\r";
        break;
      default:
        if (ch < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", ch);
          out += buf;
        } else {
          out += static_cast<char>(ch);
        }
    }
  }
  out += '"';
}

}  // namespace

int RunTokenize(const std::vector<std::string>& raw_args) {
  CliArgs args(raw_args, {"help", "json", "no-bos", "parse-special"});
  if (args.Has("help")) {
    std::fputs(kHelp, stdout);
    return 0;
  }
  std::string error;
  std::optional<std::string> text;
  if (args.Validate(
          {"help", "json", "no-bos", "parse-special", "model", "prompt", "prompt-file"})) {
    text = ReadPromptFlag(args, &error);
  } else {
    error = args.error();
  }
  if (!text) {
    std::fprintf(stderr, "gemma-serve tokenize: %s\n%s", error.c_str(), kHelp);
    return 2;
  }
  const std::optional<std::string> path = ResolveModelPathOrReport(args, "tokenize");
  if (!path) return 2;
  StatusOr<std::unique_ptr<GgufFile>> file = GgufFile::Open(*path);
  if (!file.ok()) {
    std::fprintf(stderr, "gemma-serve tokenize: %s\n", file.status().message().c_str());
    return 1;
  }
  StatusOr<std::unique_ptr<Tokenizer>> tok = Tokenizer::FromGguf(**file);
  if (!tok.ok()) {
    std::fprintf(stderr, "gemma-serve tokenize: %s\n", tok.status().message().c_str());
    return 1;
  }
  const std::vector<int32_t> ids =
      (*tok)->Encode(*text, !args.Has("no-bos"), args.Has("parse-special"));
  std::string out;
  if (args.Has("json")) {
    out = "{\"tokens\": [";
    for (size_t i = 0; i < ids.size(); ++i) out += (i ? ", " : "") + std::to_string(ids[i]);
    out += "], \"pieces\": [";
    for (size_t i = 0; i < ids.size(); ++i) {
      if (i) out += ", ";
      AppendJsonString(out, (*tok)->TokenText(ids[i]));
    }
    out += "], \"count\": " + std::to_string(ids.size()) + "}\n";
  } else {
    for (size_t i = 0; i < ids.size(); ++i) out += (i ? " " : "") + std::to_string(ids[i]);
    out += "\n";
  }
  std::fputs(out.c_str(), stdout);
  return 0;
}

}  // namespace gs
