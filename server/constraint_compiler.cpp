#include "server/constraint_compiler.h"

#include <nlohmann/json.hpp>
#include <set>

#include "engine/grammar/gbnf.h"
#include "engine/grammar/json_schema.h"

namespace gs {
namespace {

using nlohmann::json;
using SharedGrammar = std::shared_ptr<const grammar::CompiledGrammar>;

constexpr size_t kMaxCachedOther = 256;
// Calls in one answer when parallel calls are allowed: a small model under a grammar that
// allows another call after each one tends to repeat it until max_tokens.
constexpr int kMaxParallelCalls = 4;
constexpr std::string_view kFenceOpen = "```tool_call\n";
constexpr std::string_view kFenceClose = "\n```";

api::ApiError CompileError(const std::string& param, const std::string& message) {
  return api::InvalidParam(param, "Invalid value for '" + param + "': " + message);
}

GrammarOrError FromStatus(StatusOr<SharedGrammar> g, const std::string& param) {
  if (!g.ok()) return CompileError(param, g.status().message());
  return std::move(g).value();
}

// The pattern that matches exactly one of `choices` (regex metacharacters escaped).
std::string ChoicePattern(const std::vector<std::string>& choices) {
  std::string pattern;
  for (const std::string& choice : choices) {
    if (!pattern.empty()) pattern += '|';
    pattern += "(?:";
    for (const char ch : choice) {
      if (std::string_view("\\^$.|?*+()[]{}/-").find(ch) != std::string_view::npos) {
        pattern += '\\';
      }
      pattern += ch;
    }
    pattern += ')';
  }
  return pattern;
}

const json& Parameters(const json& tool) {
  static const json kAnyObject = {{"type", "object"}};
  const json& function = tool.at("function");
  const auto it = function.find("parameters");
  return it == function.end() || it->is_null() ? kAnyObject : *it;
}

}  // namespace

grammar::JsonSchemaOptions ConstraintCompiler::SchemaOptions() {
  grammar::JsonSchemaOptions options;
  options.max_indent = 12;  // pretty-printed JSON a few levels deep, no more
  return options;
}

ConstraintCompiler::ConstraintCompiler(const Tokenizer& tokenizer,
                                       const std::vector<int32_t>& end_ids)
    : cache_(256, SchemaOptions()) {
  std::vector<std::string> pieces(tokenizer.num_vocab());
  for (int32_t id = 0; id < tokenizer.num_vocab(); ++id) {
    pieces[id] = tokenizer.TokenToPiece(id, /*render_special=*/false);
  }
  trie_ = std::make_shared<const grammar::TokenTrie>(pieces, end_ids);
}

template <typename CompileFn>
StatusOr<SharedGrammar> ConstraintCompiler::GetOrCompile(const std::string& key,
                                                         CompileFn compile) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (const auto it = other_.find(key); it != other_.end()) return it->second;
  }
  StatusOr<grammar::Grammar> g = compile();
  StatusOr<SharedGrammar> entry =
      g.ok() ? StatusOr<SharedGrammar>(
                   std::make_shared<const grammar::CompiledGrammar>(std::move(g).value()))
             : StatusOr<SharedGrammar>(g.status());
  std::lock_guard<std::mutex> lock(mu_);
  if (other_.size() >= kMaxCachedOther) other_.clear();  // rare: a client cycling sources
  other_.emplace(key, entry);
  return entry;
}

GrammarOrError ConstraintCompiler::Compile(const api::OutputConstraint& c) {
  switch (c.kind) {
    case api::OutputConstraintKind::kJsonSchema:
      return FromStatus(cache_.GetJsonSchema(c.text), c.param);
    case api::OutputConstraintKind::kRegex:
      return FromStatus(cache_.GetRegex(c.text), c.param);
    case api::OutputConstraintKind::kChoice:
      return FromStatus(cache_.GetRegex(ChoicePattern(c.choices)), c.param);
    case api::OutputConstraintKind::kGrammar:
      return FromStatus(
          GetOrCompile("gbnf:" + c.text, [&] { return grammar::CompileGbnf(c.text); }), c.param);
    case api::OutputConstraintKind::kJsonObject:
      return FromStatus(
          GetOrCompile(
              "json_object",
              [] { return grammar::CompileAnyJson(/*object_only=*/true, SchemaOptions()); }),
          c.param);
    case api::OutputConstraintKind::kNone:
      break;
  }
  return SharedGrammar{};
}

GrammarOrError ConstraintCompiler::CompileToolCalls(const api::ToolConfig& tools,
                                                    api::ToolCallFormat format) {
  if (format != api::ToolCallFormat::kFencedJson) return SharedGrammar{};
  // One call object per function the choice allows: {"name": NAME, "arguments": PARAMETERS},
  // members in the order the parser and the prompt's convention use. Each parameters schema is
  // compiled alone first, so an error names the tool it is in.
  json alternatives = json::array();
  json defs = json::object();
  for (size_t tool_idx = 0; tool_idx < tools.tools.size(); ++tool_idx) {
    const std::string& name = tools.names[tool_idx];
    if (tools.choice.mode == api::ToolChoiceMode::kFunction && name != tools.choice.function) {
      continue;
    }
    const std::string param = "tools[" + std::to_string(tool_idx) + "].function.parameters";
    json parameters = Parameters(tools.tools[tool_idx]);
    if (StatusOr<SharedGrammar> alone = cache_.GetJsonSchema(parameters.dump()); !alone.ok()) {
      return CompileError(param, alone.status().message());
    }
    // Local references point at the document's root: the definitions move up to the call
    // schema's root, where they stay reachable by the same pointers.
    for (const char* key : {"$defs", "definitions"}) {
      const auto it = parameters.find(key);
      if (it == parameters.end()) continue;
      for (const auto& [def_name, def] : it->items()) {
        json& slot = defs[key][def_name];
        if (!slot.is_null() && slot != def) {
          return CompileError(param, std::string(key) + "/" + def_name +
                                         " differs from another tool's of the same name");
        }
        slot = def;
      }
      parameters.erase(key);
    }
    alternatives.push_back(
        {{"type", "object"},
         {"properties", {{"name", {{"const", name}}}, {"arguments", parameters}}},
         {"required", {"name", "arguments"}},
         {"additionalProperties", false}});
  }
  json call = alternatives.size() == 1 ? alternatives[0] : json{{"anyOf", alternatives}};
  for (const auto& [key, value] : defs.items()) call[key] = value;
  const std::string schema_text = call.dump();
  const int max_calls = tools.parallel_tool_calls ? kMaxParallelCalls : 1;
  StatusOr<SharedGrammar> g = GetOrCompile(
      "calls" + std::to_string(max_calls) + ":" + schema_text, [&]() -> StatusOr<grammar::Grammar> {
        StatusOr<grammar::Grammar> json_call =
            grammar::CompileJsonSchema(std::string_view(schema_text), SchemaOptions());
        if (!json_call.ok()) return json_call.status();
        return FencedCallGrammar(*json_call, max_calls);
      });
  return FromStatus(std::move(g), "tools");
}

StatusOr<grammar::Grammar> FencedCallGrammar(const grammar::Grammar& call, int max_calls) {
  grammar::GrammarBuilder b;
  // Copy the call grammar: every node, and every rule reachable from its root (a rule's start
  // node is reached by an epsilon from the new rule's own start node).
  std::vector<uint32_t> node_map(call.num_nodes());
  for (uint32_t& n : node_map) n = b.NewNode();
  std::unordered_map<uint32_t, uint32_t> rule_map;
  std::vector<uint32_t> rules = {call.root_rule()};
  for (uint32_t n = 0; n < call.num_nodes(); ++n) {
    for (const grammar::CallEdge* e = call.calls_begin(n); e != call.calls_end(n); ++e) {
      rules.push_back(e->rule_idx);
    }
  }
  for (const uint32_t rule_idx : rules) {
    if (rule_map.count(rule_idx)) continue;
    uint32_t start = 0;
    rule_map[rule_idx] = b.NewRule(&start);
    b.AddEpsilon(start, node_map[call.rule_start(rule_idx)]);
  }
  for (uint32_t n = 0; n < call.num_nodes(); ++n) {
    for (const grammar::ByteEdge* e = call.bytes_begin(n); e != call.bytes_end(n); ++e) {
      b.AddBytes(node_map[n], e->lo, e->hi, node_map[e->target]);
    }
    for (const grammar::CallEdge* e = call.calls_begin(n); e != call.calls_end(n); ++e) {
      b.AddCall(node_map[n], rule_map.at(e->rule_idx), node_map[e->ret_node]);
    }
    if (call.is_final(n)) b.SetFinal(node_map[n]);
  }
  // root: (fence_open call fence_close){1,max_calls}, back to back: a newline between them
  // would be content beside the calls.
  uint32_t start = 0;
  const uint32_t root = b.NewRule(&start);
  uint32_t at = start;
  for (int call_idx = 0; call_idx < max_calls; ++call_idx) {
    const uint32_t after_call = b.NewNode();
    b.AddCall(b.AddLiteral(at, kFenceOpen), rule_map.at(call.root_rule()), after_call);
    at = b.AddLiteral(after_call, kFenceClose);
    b.SetFinal(at);
  }
  return b.Build(root);
}

}  // namespace gs
