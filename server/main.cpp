// gemma-serve: one binary, one subcommand per job.
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "server/commands.h"

namespace {

void PrintUsage() {
  std::fprintf(stderr,
               "usage: gemma-serve <command> [flags]\n"
               "\n"
               "commands:\n"
               "  serve      the OpenAI-compatible HTTP server\n"
               "  generate   run a prompt or a chat message and stream the text to stdout\n"
               "  tokenize   text -> token ids\n"
               "  bench      prompt processing and token generation speed (like llama-bench)\n"
               "  info       a GGUF file's metadata and tensor table\n"
               "  grammar-bench  MaskBench offline: schema compile and token-mask speed/accuracy\n"
               "  synth      write a synthetic model (a shape, random weights) as a GGUF file\n"
               "\n"
               "Run `gemma-serve <command> --help` for its flags.\n");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h")) {
    PrintUsage();
    return argc < 2 ? 2 : 0;
  }
  const std::string command = argv[1];
  const std::vector<std::string> args(argv + 2, argv + argc);
  if (command == "serve") return gs::RunServe(args);
  if (command == "generate") return gs::RunGenerate(args);
  if (command == "tokenize") return gs::RunTokenize(args);
  if (command == "bench") return gs::RunBench(args);
  if (command == "info") return gs::RunInfo(args);
  if (command == "grammar-bench") return gs::RunGrammarBench(args);
  if (command == "synth") return gs::RunSynth(args);
  std::fprintf(stderr, "gemma-serve: unknown command '%s'\n\n", command.c_str());
  PrintUsage();
  return 2;
}
