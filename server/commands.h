// The gemma-serve subcommands. Each returns the process exit code.
#pragma once

#include <string>
#include <vector>

namespace gs {

int RunServe(const std::vector<std::string>& args);
int RunGenerate(const std::vector<std::string>& args);
int RunTokenize(const std::vector<std::string>& args);
int RunBench(const std::vector<std::string>& args);
int RunInfo(const std::vector<std::string>& args);
int RunGrammarBench(const std::vector<std::string>& args);
int RunSynth(const std::vector<std::string>& args);

}  // namespace gs
