#include "engine/grammar/json_schema.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace gs::grammar {
namespace {

using Clock = std::chrono::steady_clock;

enum TypeBit : uint8_t {
  kNull = 1,
  kBoolean = 2,
  kInteger = 4,
  kNumber = 8,  // non-integral numbers too
  kString = 16,
  kArray = 32,
  kObject = 64,
  kAllTypes = 127,
};

// Pattern lists of merged schemas (allOf) go here, beside the schema's own "pattern".
constexpr std::string_view kExtraPatterns = "\x01patterns";

// Keywords that only annotate: ignored. Unknown keywords are ignored too (as JSON Schema says);
// only known constraining keywords that are not implemented are errors.
const std::set<std::string_view> kUnsupported = {
    "not",        "if",          "dependencies",  "dependentRequired", "dependentSchemas",
    "contains",   "minContains", "maxContains",   "propertyNames",     "unevaluatedItems",
    "multipleOf", "$dynamicRef", "$recursiveRef",
};

std::string EscapePointer(std::string_view token) {
  std::string out;
  for (const char c : token) {
    if (c == '~') {
      out += "~0";
    } else if (c == '/') {
      out += "~1";
    } else {
      out += c;
    }
  }
  return out;
}

// Regex for the non-negative integers in [lo, hi] written without leading zeros; hi < 0 means
// unbounded.
std::string SameLengthRange(const std::string& lo, const std::string& hi) {
  if (lo.empty()) return "";
  if (lo.size() == 1) return lo == hi ? lo : "[" + lo + "-" + hi + "]";
  if (lo[0] == hi[0]) return std::string(1, lo[0]) + SameLengthRange(lo.substr(1), hi.substr(1));
  const size_t rest = lo.size() - 1;
  std::string out =
      "(" + std::string(1, lo[0]) + SameLengthRange(lo.substr(1), std::string(rest, '9'));
  if (hi[0] - lo[0] > 1) {
    out += "|[" + std::string(1, lo[0] + 1) + "-" + std::string(1, hi[0] - 1) + "][0-9]{" +
           std::to_string(rest) + "}";
  }
  out += "|" + std::string(1, hi[0]) + SameLengthRange(std::string(rest, '0'), hi.substr(1)) + ")";
  return out;
}

std::string UIntRange(int64_t lo, int64_t hi) {
  std::vector<std::string> parts;
  const std::string lo_s = std::to_string(lo);
  const size_t max_len = hi < 0 ? lo_s.size() : std::to_string(hi).size();
  int64_t pow10 = 1;
  for (size_t len = 1; len <= max_len; ++len, pow10 *= 10) {
    const int64_t len_lo = std::max(lo, len == 1 ? int64_t{0} : pow10);
    const int64_t len_hi = hi < 0 ? pow10 * 10 - 1 : std::min(hi, pow10 * 10 - 1);
    if (len_lo > len_hi) continue;
    parts.push_back(SameLengthRange(std::to_string(len_lo), std::to_string(len_hi)));
  }
  if (hi < 0) parts.push_back("[1-9][0-9]{" + std::to_string(lo_s.size()) + ",}");
  if (parts.empty()) return "";
  std::string out = "(";
  for (size_t i = 0; i < parts.size(); ++i) out += (i ? "|" : "") + parts[i];
  return out + ")";
}

// A numeric bound, inclusive or exclusive; absent when !set.
struct Bound {
  bool set = false;
  double value = 0;
  bool exclusive = false;
};

class SchemaCompiler {
 public:
  SchemaCompiler(const JsonValue& root, const JsonSchemaOptions& options)
      : root_(root), options_(options), b_(options.grammar_limits), start_(Clock::now()) {}

  StatusOr<Grammar> Compile() {
    uint32_t start;
    const uint32_t rule = b_.NewRule(&start);
    const uint32_t end = b_.NewNode();
    b_.SetFinal(end);
    GS_RETURN_IF_ERROR(EmitValue(root_, start, end, "", 0));
    return b_.Build(rule);
  }

  StatusOr<Grammar> CompileAny(bool object_only) {
    uint32_t start;
    const uint32_t rule = b_.NewRule(&start);
    const uint32_t end = b_.NewNode();
    b_.SetFinal(end);
    if (object_only) {
      EmitAnyObject(start, end);
    } else {
      b_.AddCall(start, AnyRule(), end);
    }
    return b_.Build(rule);
  }

 private:
  static Status Error(const std::string& path, const std::string& what) {
    return Status::Error((path.empty() ? "/" : path) + ": " + what);
  }

  Status CheckBudget(const std::string& path, int depth) {
    if (depth > options_.max_schema_depth) {
      return Error(path, "schema nested deeper than " + std::to_string(options_.max_schema_depth));
    }
    const double ms = std::chrono::duration<double, std::milli>(Clock::now() - start_).count();
    if (ms > options_.max_compile_ms) return Error(path, "compile time limit exceeded");
    if (b_.overflow()) return Error(path, "grammar too large");
    return Status::Ok();
  }

  // ---- whitespace and any-value rules ----

  uint32_t WsRule() {
    if (ws_rule_ >= 0) return static_cast<uint32_t>(ws_rule_);
    uint32_t start;
    ws_rule_ = b_.NewRule(&start);
    // start -[ \t]-> s1 ... s_K ; start -\n-> n0 -[ \t]-> n1 ... n_K; every node may return.
    auto chain = [&](uint32_t first) {
      uint32_t cur = first;
      b_.SetFinal(cur);
      for (int i = 0; i < options_.max_indent; ++i) {
        const uint32_t next = b_.NewNode();
        b_.AddBytes(cur, ' ', ' ', next);
        b_.AddBytes(cur, '\t', '\t', next);
        b_.SetFinal(next);
        cur = next;
      }
    };
    chain(start);
    if (options_.allow_newline) {
      const uint32_t nl = b_.NewNode();
      b_.AddBytes(start, '\n', '\n', nl);
      const uint32_t cr = b_.NewNode();
      b_.AddBytes(start, '\r', '\r', cr);
      b_.AddBytes(cr, '\n', '\n', nl);
      chain(nl);
    }
    return static_cast<uint32_t>(ws_rule_);
  }

  // from -ws-> returned node.
  uint32_t Ws(uint32_t from) {
    const uint32_t to = b_.NewNode();
    b_.AddCall(from, WsRule(), to);
    b_.AddEpsilon(from, to);
    return to;
  }

  uint32_t Lit(uint32_t from, std::string_view text) { return b_.AddLiteral(from, text); }

  // Automata every compile needs, built once per process.
  static const Dfa& AnyStringDfa() {
    static const Dfa dfa = CompileAnchoredRegex("[\\s\\S]*").value();
    return dfa;
  }

  void EmitNumberDfa(uint32_t from, uint32_t to, bool integer) {
    static const Dfa kInteger = CompileAnchoredRegex("-?(0|[1-9][0-9]*)").value();
    static const Dfa kNumber =
        CompileAnchoredRegex("-?(0|[1-9][0-9]*)(\\.[0-9]+)?([eE][+-]?[0-9]+)?").value();
    b_.AddCall(from, DfaRule(integer ? "integer" : "number", integer ? kInteger : kNumber), to);
  }

  // One rule per distinct lexeme (string constraints, number ranges), shared by every use.
  uint32_t DfaRule(const std::string& key, const Dfa& dfa, bool json_string = false) {
    const std::string full_key = (json_string ? "s:" : "d:") + key;
    if (const auto it = lexeme_rules_.find(full_key); it != lexeme_rules_.end()) return it->second;
    uint32_t start;
    const uint32_t rule = b_.NewRule(&start);
    const uint32_t end = b_.NewNode();
    b_.SetFinal(end);
    if (json_string) {
      b_.AddJsonString(start, dfa, end);
    } else {
      b_.AddDfa(start, dfa, end);
    }
    lexeme_rules_[full_key] = rule;
    return rule;
  }

  void EmitAnyObject(uint32_t from, uint32_t to) {
    // "{" ws ( key ws ":" ws value ws ( "," ws key ws ":" ws value ws )* )? "}"
    const uint32_t open = Ws(Lit(from, "{"));
    const uint32_t more = b_.NewNode();
    const uint32_t kv_start = b_.NewNode();
    b_.AddEpsilon(open, kv_start);
    const uint32_t comma = Ws(Lit(more, ","));
    b_.AddEpsilon(comma, kv_start);
    const uint32_t key_end = b_.NewNode();
    b_.AddCall(kv_start, DfaRule("", AnyStringDfa(), true), key_end);
    const uint32_t colon = Ws(Lit(Ws(key_end), ":"));
    const uint32_t value_end = b_.NewNode();
    b_.AddCall(colon, AnyRule(), value_end);
    b_.AddEpsilon(Ws(value_end), more);
    const uint32_t close = b_.NewNode();
    b_.AddEpsilon(open, close);
    b_.AddEpsilon(more, close);
    b_.AddEpsilon(Lit(close, "}"), to);
  }

  uint32_t AnyRule() {
    if (any_rule_ >= 0) return static_cast<uint32_t>(any_rule_);
    uint32_t start;
    any_rule_ = b_.NewRule(&start);
    const uint32_t end = b_.NewNode();
    b_.SetFinal(end);
    b_.AddEpsilon(Lit(start, "null"), end);
    b_.AddEpsilon(Lit(start, "true"), end);
    b_.AddEpsilon(Lit(start, "false"), end);
    EmitNumberDfa(start, end, false);
    b_.AddCall(start, DfaRule("", AnyStringDfa(), true), end);
    EmitAnyObject(start, end);
    // "[" ws ( value ws ( "," ws value ws )* )? "]"
    const uint32_t open = Ws(Lit(start, "["));
    const uint32_t more = b_.NewNode();
    const uint32_t item = b_.NewNode();
    b_.AddEpsilon(open, item);
    b_.AddEpsilon(Ws(Lit(more, ",")), item);
    const uint32_t item_end = b_.NewNode();
    b_.AddCall(item, static_cast<uint32_t>(any_rule_), item_end);
    b_.AddEpsilon(Ws(item_end), more);
    const uint32_t close = b_.NewNode();
    b_.AddEpsilon(open, close);
    b_.AddEpsilon(more, close);
    b_.AddEpsilon(Lit(close, "]"), end);
    return static_cast<uint32_t>(any_rule_);
  }

  // ---- $ref ----

  StatusOr<const JsonValue*> LookupRef(const std::string& ref, const std::string& path) {
    if (ref.empty() || ref[0] != '#')
      return Error(path, "remote $ref \"" + ref + "\" is not supported");
    if (ref.size() > 1 && ref[1] != '/') {
      return Error(path, "anchor $ref \"" + ref + "\" is not supported");
    }
    const JsonValue* cur = &root_;
    size_t pos = 1;
    while (pos < ref.size()) {
      size_t next = ref.find('/', pos + 1);
      if (next == std::string::npos) next = ref.size();
      std::string token;
      for (size_t i = pos + 1; i < next; ++i) {
        if (ref[i] == '~' && i + 1 < next) {
          token += ref[i + 1] == '1' ? '/' : '~';
          ++i;
        } else if (ref[i] == '%' && i + 2 < next) {
          token += static_cast<char>(std::stoi(ref.substr(i + 1, 2), nullptr, 16));
          i += 2;
        } else {
          token += ref[i];
        }
      }
      if (cur->is_object()) {
        cur = cur->Find(token);
      } else if (cur->is_array() && !token.empty() &&
                 token.find_first_not_of("0123456789") == std::string::npos &&
                 std::stoul(token) < cur->items().size()) {
        cur = &cur->items()[std::stoul(token)];
      } else {
        cur = nullptr;
      }
      if (cur == nullptr) return Error(path, "$ref \"" + ref + "\" does not resolve");
      pos = next;
    }
    return cur;
  }

  // A rule per referenced location, so recursive schemas become recursive rules.
  StatusOr<uint32_t> RefRule(const std::string& ref, const std::string& path, int depth) {
    if (const auto it = ref_rules_.find(ref); it != ref_rules_.end()) return it->second;
    StatusOr<const JsonValue*> target = LookupRef(ref, path);
    if (!target.ok()) return target.status();
    uint32_t start;
    const uint32_t rule = b_.NewRule(&start);
    ref_rules_[ref] = rule;
    const uint32_t end = b_.NewNode();
    b_.SetFinal(end);
    GS_RETURN_IF_ERROR(EmitValue(**target, start, end, ref.substr(1), depth + 1));
    return rule;
  }

  static bool IsAnnotation(std::string_view key) {
    static const std::set<std::string_view> kAnnotations = {"$schema",
                                                            "$id",
                                                            "id",
                                                            "$comment",
                                                            "title",
                                                            "description",
                                                            "default",
                                                            "examples",
                                                            "example",
                                                            "readOnly",
                                                            "writeOnly",
                                                            "deprecated",
                                                            "$defs",
                                                            "definitions",
                                                            "contentMediaType",
                                                            "contentEncoding",
                                                            "$anchor",
                                                            "discriminator",
                                                            "markdownDescription",
                                                            "$vocabulary"};
    return kAnnotations.count(key) > 0 || key.substr(0, 2) == "x-";
  }

  // ---- schema merging (allOf, $ref with siblings, anyOf with siblings) ----

  static uint8_t TypeBitOf(std::string_view name) {
    if (name == "null") return kNull;
    if (name == "boolean") return kBoolean;
    if (name == "integer") return kInteger;
    if (name == "number") return kInteger | kNumber;
    if (name == "string") return kString;
    if (name == "array") return kArray;
    if (name == "object") return kObject;
    return 0;
  }

  static uint8_t ValueTypeBit(const JsonValue& v) {
    switch (v.kind()) {
      case JsonValue::Kind::kNull:
        return kNull;
      case JsonValue::Kind::kBool:
        return kBoolean;
      case JsonValue::Kind::kNumber:
        return v.is_integer_literal() || v.number_value() == std::floor(v.number_value()) ? kInteger
                                                                                          : kNumber;
      case JsonValue::Kind::kString:
        return kString;
      case JsonValue::Kind::kArray:
        return kArray;
      case JsonValue::Kind::kObject:
        return kObject;
    }
    return 0;
  }

  StatusOr<uint8_t> TypesOf(const JsonValue& s, const std::string& path) {
    uint8_t types = kAllTypes;
    if (const JsonValue* t = s.Find("type")) {
      types = 0;
      if (t->is_string()) {
        types = TypeBitOf(t->text());
        if (!types) return Error(path + "/type", "unknown type \"" + t->text() + "\"");
      } else if (t->is_array()) {
        for (const JsonValue& v : t->items()) {
          const uint8_t bit = v.is_string() ? TypeBitOf(v.text()) : 0;
          if (!bit) return Error(path + "/type", "unknown type");
          types |= bit;
        }
      } else {
        return Error(path + "/type", "type must be a string or an array");
      }
    }
    return types;
  }

  static JsonValue AllOf2(const JsonValue& a, const JsonValue& b) {
    JsonValue out = JsonValue::Parse("{\"allOf\": []}").value();
    out.mutable_members()[0].second.mutable_items() = {a, b};
    return out;
  }

  static void Set(JsonValue& obj, const std::string& key, JsonValue value) {
    for (auto& [k, v] : obj.mutable_members()) {
      if (k == key) {
        v = std::move(value);
        return;
      }
    }
    obj.mutable_members().emplace_back(key, std::move(value));
  }

  static void Erase(JsonValue& obj, std::string_view key) {
    std::erase_if(obj.mutable_members(), [&](const auto& kv) { return kv.first == key; });
  }

  static JsonValue TypeValue(uint8_t types) {
    JsonValue arr = JsonValue::Parse("[]").value();
    for (const char* name : {"null", "boolean", "integer", "number", "string", "array", "object"}) {
      const uint8_t bit = TypeBitOf(name);
      if (std::string_view(name) == "integer" && (types & kNumber)) continue;
      if ((types & bit) == bit) arr.mutable_items().push_back(JsonValue::String(name));
    }
    return arr;
  }

  // Whether `key` matches one of the schema's patternProperties.
  StatusOr<bool> MatchesPatternProperty(const JsonValue& s, const std::string& key,
                                        const std::string& path) {
    const JsonValue* pp = s.Find("patternProperties");
    if (pp == nullptr) return false;
    for (const auto& [pattern, sub] : pp->members()) {
      StatusOr<Dfa> dfa = CompileRegex(pattern, options_.regex_limits);
      if (!dfa.ok()) return Error(path + "/patternProperties", dfa.status().message());
      if (dfa->Matches(key)) return true;
    }
    return false;
  }

  // a ∧ b as one schema; both already resolved (no top-level $ref or allOf).
  StatusOr<JsonValue> Merge(const JsonValue& a, const JsonValue& b, const std::string& path) {
    if (a.is_bool()) return a.bool_value() ? b : a;
    if (b.is_bool()) return b.bool_value() ? a : b;
    JsonValue out = a;
    for (const auto& [key, vb] : b.members()) {
      const JsonValue* va = a.Find(key);
      if (va == nullptr) {
        Set(out, key, vb);
        continue;
      }
      if (key == "type") {
        StatusOr<uint8_t> ta = TypesOf(a, path), tb = TypesOf(b, path);
        if (!ta.ok()) return ta.status();
        if (!tb.ok()) return tb.status();
        Set(out, key, TypeValue(*ta & *tb));
      } else if (key == "properties" || key == "patternProperties") {
        JsonValue merged = *va;
        for (const auto& [pk, pv] : vb.members()) {
          const JsonValue* existing = merged.Find(pk);
          Set(merged, pk, existing ? AllOf2(*existing, pv) : pv);
        }
        Set(out, key, std::move(merged));
      } else if (key == "required") {
        JsonValue merged = *va;
        for (const JsonValue& r : vb.items()) {
          if (std::find(merged.items().begin(), merged.items().end(), r) == merged.items().end()) {
            merged.mutable_items().push_back(r);
          }
        }
        Set(out, key, std::move(merged));
      } else if (key == "additionalProperties" || key == "items" || key == "additionalItems") {
        if (va->is_array() || vb.is_array()) {
          if (!(*va == vb)) return Error(path, "allOf with different tuple items is not supported");
        } else {
          Set(out, key, AllOf2(*va, vb));
        }
      } else if (key == "enum" || key == "const") {
        // Both become an enum: the values in both.
        auto values = [](const std::string& k, const JsonValue& v) {
          return k == "const" ? std::vector<JsonValue>{v} : v.items();
        };
        JsonValue merged = JsonValue::Parse("[]").value();
        for (const JsonValue& x : values(key, *va)) {
          const auto ys = values(key, vb);
          if (std::find(ys.begin(), ys.end(), x) != ys.end()) merged.mutable_items().push_back(x);
        }
        Erase(out, "const");
        Set(out, "enum", std::move(merged));
      } else if (key == "minLength" || key == "minItems" || key == "minimum" ||
                 key == "minProperties") {
        if (vb.number_value() > va->number_value()) Set(out, key, vb);
      } else if (key == "maxLength" || key == "maxItems" || key == "maximum" ||
                 key == "maxProperties") {
        if (vb.number_value() < va->number_value()) Set(out, key, vb);
      } else if (key == "exclusiveMinimum" || key == "exclusiveMaximum") {
        if (va->is_bool() || vb.is_bool()) {
          if (!(*va == vb)) return Error(path, "allOf mixing boolean and numeric " + key);
        } else if ((key == "exclusiveMinimum") == (vb.number_value() > va->number_value())) {
          Set(out, key, vb);
        }
      } else if (key == "pattern") {
        if (!(*va == vb)) {
          JsonValue extra =
              a.Find(kExtraPatterns) ? *a.Find(kExtraPatterns) : JsonValue::Parse("[]").value();
          extra.mutable_items().push_back(vb);
          Set(out, std::string(kExtraPatterns), std::move(extra));
        }
      } else if (key == std::string_view(kExtraPatterns)) {
        JsonValue extra = *va;
        for (const JsonValue& p : vb.items()) extra.mutable_items().push_back(p);
        Set(out, key, std::move(extra));
      } else if (key == "format") {
        if (!(*va == vb)) return Error(path, "allOf with two different formats");
      } else if (key == "anyOf") {
        JsonValue alts = JsonValue::Parse("[]").value();
        if (va->items().size() * vb.items().size() > 256) {
          return Error(path, "allOf of two anyOf: too many combinations");
        }
        for (const JsonValue& x : va->items()) {
          for (const JsonValue& y : vb.items()) alts.mutable_items().push_back(AllOf2(x, y));
        }
        Set(out, key, std::move(alts));
      } else if (key == "uniqueItems") {
        const bool either =
            (va->is_bool() && va->bool_value()) || (vb.is_bool() && vb.bool_value());
        Set(out, key, JsonValue::Bool(either));
      } else if (!IsAnnotation(key) && !(*va == vb)) {
        if (kUnsupported.count(key) || key == "prefixItems") {
          return Error(path, "allOf combining two \"" + key + "\" is not supported");
        }
      }
    }
    // A property one side defines and the other does not is subject to the other side's
    // additionalProperties (unless the other side's patternProperties take it).
    for (const auto* side : {&a, &b}) {
      const JsonValue& other = side == &a ? b : a;
      const JsonValue* props = side->Find("properties");
      const JsonValue* other_ap = other.Find("additionalProperties");
      if (props == nullptr || other_ap == nullptr) continue;
      const JsonValue* other_props = other.Find("properties");
      JsonValue merged = *out.Find("properties");
      for (const auto& [pk, pv] : props->members()) {
        if (other_props && other_props->Find(pk)) continue;
        StatusOr<bool> by_pattern = MatchesPatternProperty(other, pk, path);
        if (!by_pattern.ok()) return by_pattern.status();
        if (*by_pattern) return Error(path, "allOf with patternProperties is not supported");
        Set(merged, pk, AllOf2(*merged.Find(pk), *other_ap));
      }
      Set(out, "properties", std::move(merged));
    }
    return out;
  }

  // The schema with its top-level $ref, allOf and oneOf folded in: a plain schema (possibly
  // with anyOf) or a boolean.
  StatusOr<JsonValue> Resolve(const JsonValue& s, const std::string& path, int depth) {
    GS_RETURN_IF_ERROR(CheckBudget(path, depth));
    if (!s.is_object()) {
      if (s.is_bool()) return s;
      return Error(path, "a schema must be an object or a boolean");
    }
    JsonValue out = s;
    Erase(out, "$ref");
    Erase(out, "allOf");
    Erase(out, "oneOf");
    if (const JsonValue* ref = s.Find("$ref")) {
      if (!ref->is_string()) return Error(path + "/$ref", "$ref must be a string");
      StatusOr<const JsonValue*> target = LookupRef(ref->text(), path);
      if (!target.ok()) return target.status();
      StatusOr<JsonValue> r = Resolve(**target, ref->text().substr(1), depth + 1);
      if (!r.ok()) return r;
      StatusOr<JsonValue> m = Merge(*r, out, path);
      if (!m.ok()) return m;
      out = std::move(*m);
    }
    if (const JsonValue* all = s.Find("allOf")) {
      if (!all->is_array()) return Error(path + "/allOf", "allOf must be an array");
      for (size_t i = 0; i < all->items().size(); ++i) {
        const std::string sub = path + "/allOf/" + std::to_string(i);
        StatusOr<JsonValue> r = Resolve(all->items()[i], sub, depth + 1);
        if (!r.ok()) return r;
        StatusOr<JsonValue> m = Merge(out, *r, sub);
        if (!m.ok()) return m;
        out = std::move(*m);
      }
    }
    if (const JsonValue* one = s.Find("oneOf")) {
      if (!one->is_array()) return Error(path + "/oneOf", "oneOf must be an array");
      GS_RETURN_IF_ERROR(CheckDisjoint(*one, path + "/oneOf", depth));
      JsonValue as_any = JsonValue::Parse("{}").value();
      Set(as_any, "anyOf", *one);
      if (out.is_object()) {
        StatusOr<JsonValue> m = Merge(out, as_any, path);
        if (!m.ok()) return m;
        out = std::move(*m);
      }
    }
    return out;
  }

  // oneOf means "exactly one": it is compiled as anyOf only when no value can match two
  // alternatives, which is checked by types, by required const/enum discriminators, and by
  // closed objects requiring a key the other does not allow.
  Status CheckDisjoint(const JsonValue& alts, const std::string& path, int depth) {
    struct Info {
      uint8_t types = kAllTypes;
      JsonValue schema;
      std::vector<JsonValue> values;  // enum/const values, empty when none
      bool has_values = false;
    };
    std::vector<Info> infos;
    for (size_t i = 0; i < alts.items().size(); ++i) {
      const std::string sub = path + "/" + std::to_string(i);
      StatusOr<JsonValue> r = Resolve(alts.items()[i], sub, depth + 1);
      if (!r.ok()) return r.status();
      Info info;
      if (r->is_bool()) {
        info.types = r->bool_value() ? kAllTypes : 0;
        info.schema = JsonValue::Parse("{}").value();
      } else {
        StatusOr<uint8_t> t = TypesOf(*r, sub);
        if (!t.ok()) return t.status();
        info.types = *t;
        info.schema = *r;
        if (const JsonValue* c = r->Find("const")) {
          info.values = {*c};
          info.has_values = true;
        } else if (const JsonValue* e = r->Find("enum"); e && e->is_array()) {
          info.values = e->items();
          info.has_values = true;
        }
        if (info.has_values) {
          uint8_t vt = 0;
          for (const JsonValue& v : info.values) vt |= ValueTypeBit(v);
          info.types &= vt | (vt & kInteger ? kNumber : 0);
        }
      }
      infos.push_back(std::move(info));
    }
    auto types_overlap = [](uint8_t x, uint8_t y) {
      const uint8_t nx = x & (kInteger | kNumber) ? (x | kInteger) : x;
      const uint8_t ny = y & (kInteger | kNumber) ? (y | kInteger) : y;
      return (nx & ny) != 0;
    };
    auto closed_excludes = [](const JsonValue& x, const JsonValue& y) {
      // y is a closed object and x requires a key y cannot have.
      const JsonValue* ap = y.Find("additionalProperties");
      if (ap == nullptr || !ap->is_bool() || ap->bool_value() || y.Find("patternProperties")) {
        return false;
      }
      const JsonValue* req = x.Find("required");
      const JsonValue* props = y.Find("properties");
      if (req == nullptr) return false;
      for (const JsonValue& k : req->items()) {
        if (k.is_string() && (props == nullptr || props->Find(k.text()) == nullptr)) return true;
      }
      return false;
    };
    auto discriminated = [](const JsonValue& x, const JsonValue& y) {
      const JsonValue* px = x.Find("properties");
      const JsonValue* py = y.Find("properties");
      const JsonValue* rx = x.Find("required");
      const JsonValue* ry = y.Find("required");
      if (!px || !py || !rx || !ry) return false;
      for (const auto& [k, sx] : px->members()) {
        const JsonValue* sy = py->Find(k);
        const JsonValue key = JsonValue::String(k);
        if (!sy || std::find(rx->items().begin(), rx->items().end(), key) == rx->items().end() ||
            std::find(ry->items().begin(), ry->items().end(), key) == ry->items().end()) {
          continue;
        }
        auto vals = [](const JsonValue& s, std::vector<JsonValue>& out) {
          if (!s.is_object()) return false;
          if (const JsonValue* c = s.Find("const")) return out = {*c}, true;
          if (const JsonValue* e = s.Find("enum"); e && e->is_array())
            return out = e->items(), true;
          return false;
        };
        std::vector<JsonValue> vx, vy;
        if (!vals(sx, vx) || !vals(*sy, vy)) continue;
        bool overlap = false;
        for (const JsonValue& v : vx) {
          overlap = overlap || std::find(vy.begin(), vy.end(), v) != vy.end();
        }
        if (!overlap) return true;
      }
      return false;
    };
    for (size_t i = 0; i < infos.size(); ++i) {
      for (size_t j = i + 1; j < infos.size(); ++j) {
        const Info& x = infos[i];
        const Info& y = infos[j];
        if (!types_overlap(x.types, y.types)) continue;
        if (x.has_values && y.has_values) {
          bool overlap = false;
          for (const JsonValue& v : x.values) {
            overlap = overlap || std::find(y.values.begin(), y.values.end(), v) != y.values.end();
          }
          if (!overlap) continue;
        }
        const bool objects_only = !((x.types & y.types) & ~kObject);
        if (objects_only &&
            (closed_excludes(x.schema, y.schema) || closed_excludes(y.schema, x.schema) ||
             discriminated(x.schema, y.schema))) {
          continue;
        }
        // Overlapping only as strings: disjoint when their string languages do not intersect.
        if ((x.types & y.types) == kString) {
          StatusOr<Dfa> dx = AltStrings(x.schema, x.values, x.has_values, path);
          if (!dx.ok()) return dx.status();
          StatusOr<Dfa> dy = AltStrings(y.schema, y.values, y.has_values, path);
          if (!dy.ok()) return dy.status();
          StatusOr<Dfa> both = ProductDfa(*dx, *dy, false, options_.regex_limits);
          if (both.ok() && both->empty()) continue;
        }
        return Error(path, "oneOf alternatives " + std::to_string(i) + " and " + std::to_string(j) +
                               " may both match (not provably exclusive)");
      }
    }
    return Status::Ok();
  }

  // The strings a oneOf alternative allows: its string enum values, else its string keywords.
  StatusOr<Dfa> AltStrings(const JsonValue& schema, const std::vector<JsonValue>& values,
                           bool has_values, const std::string& path) {
    if (has_values) {
      std::vector<std::string> strings;
      for (const JsonValue& v : values) {
        if (v.is_string()) strings.push_back(v.text());
      }
      return LiteralsDfa(strings);
    }
    return StringDfa(schema, path);
  }

  // ---- values ----

  static bool OnlyRef(const JsonValue& s) {
    if (!s.is_object() || s.Find("$ref") == nullptr) return false;
    for (const auto& [k, v] : s.members()) {
      if (k != "$ref" && !IsAnnotation(k)) return false;
    }
    return true;
  }

  Status EmitValue(const JsonValue& schema, uint32_t from, uint32_t to, const std::string& path,
                   int depth) {
    GS_RETURN_IF_ERROR(CheckBudget(path, depth));
    if (OnlyRef(schema)) {
      StatusOr<uint32_t> rule = RefRule(schema.Find("$ref")->text(), path, depth);
      if (!rule.ok()) return rule.status();
      b_.AddCall(from, *rule, to);
      return Status::Ok();
    }
    StatusOr<JsonValue> resolved = Resolve(schema, path, depth);
    if (!resolved.ok()) return resolved.status();
    const JsonValue& s = *resolved;
    if (s.is_bool()) {
      if (s.bool_value()) b_.AddCall(from, AnyRule(), to);
      return Status::Ok();  // false: no path, the caller's branch becomes unproductive
    }
    for (const auto& [key, value] : s.members()) {
      if (kUnsupported.count(key)) return Error(path + "/" + key, key + " is not supported");
      if (key == "uniqueItems" && value.is_bool() && value.bool_value()) {
        return Error(path + "/uniqueItems", "uniqueItems is not supported");
      }
      // unevaluatedProperties: false reads as additionalProperties: false when there is none.
      if (key == "unevaluatedProperties" && !(value.is_bool() && value.bool_value()) &&
          !(value.is_bool() && s.Find("additionalProperties") == nullptr)) {
        return Error(path + "/unevaluatedProperties", "unevaluatedProperties is not supported");
      }
    }
    if (const JsonValue* any = s.Find("anyOf")) {
      if (!any->is_array()) return Error(path + "/anyOf", "anyOf must be an array");
      JsonValue rest = s;
      Erase(rest, "anyOf");
      bool trivial_rest = true;
      for (const auto& [k, v] : rest.members()) trivial_rest = trivial_rest && IsAnnotation(k);
      for (size_t i = 0; i < any->items().size(); ++i) {
        const std::string sub = path + "/anyOf/" + std::to_string(i);
        if (trivial_rest) {
          GS_RETURN_IF_ERROR(EmitValue(any->items()[i], from, to, sub, depth + 1));
          continue;
        }
        StatusOr<JsonValue> alt = Resolve(any->items()[i], sub, depth + 1);
        if (!alt.ok()) return alt.status();
        StatusOr<JsonValue> merged = Merge(rest, *alt, sub);
        if (!merged.ok()) return merged.status();
        GS_RETURN_IF_ERROR(EmitValue(*merged, from, to, sub, depth + 1));
      }
      return Status::Ok();
    }
    StatusOr<uint8_t> types = TypesOf(s, path);
    if (!types.ok()) return types.status();
    if (s.Find("const") || s.Find("enum")) return EmitEnum(s, *types, from, to, path);
    if (*types & kNull) b_.AddEpsilon(Lit(from, "null"), to);
    if (*types & kBoolean) {
      b_.AddEpsilon(Lit(from, "true"), to);
      b_.AddEpsilon(Lit(from, "false"), to);
    }
    if (*types & (kInteger | kNumber)) {
      GS_RETURN_IF_ERROR(EmitNumber(s, (*types & kNumber) == 0, from, to, path));
    }
    if (*types & kString) {
      const std::string key = StringKey(s);
      const bool lengths_only = !s.Find("pattern") && !s.Find(kExtraPatterns) && !s.Find("format");
      if (const auto it = lexeme_rules_.find("s:" + key); it != lexeme_rules_.end()) {
        b_.AddCall(from, it->second, to);
      } else if (lengths_only && (s.Find("minLength") || s.Find("maxLength"))) {
        GS_RETURN_IF_ERROR(EmitLengthString(s, key, from, to, path));
      } else {
        StatusOr<Dfa> dfa = StringDfa(s, path);
        if (!dfa.ok()) return dfa.status();
        b_.AddCall(from, DfaRule(key, *dfa, true), to);
      }
    }
    if (*types & kArray) GS_RETURN_IF_ERROR(EmitArray(s, from, to, path, depth));
    if (*types & kObject) GS_RETURN_IF_ERROR(EmitObject(s, from, to, path, depth));
    return Status::Ok();
  }

  StatusOr<Bound> ReadBound(const JsonValue& s, bool lower, const std::string& path) {
    Bound bound;
    const char* inclusive_key = lower ? "minimum" : "maximum";
    const char* exclusive_key = lower ? "exclusiveMinimum" : "exclusiveMaximum";
    if (const JsonValue* v = s.Find(inclusive_key)) {
      if (!v->is_number()) return Error(path + "/" + inclusive_key, "must be a number");
      bound = {true, v->number_value(), false};
    }
    if (const JsonValue* v = s.Find(exclusive_key)) {
      if (v->is_bool()) {  // draft 4: modifies minimum/maximum
        if (v->bool_value() && bound.set) bound.exclusive = true;
      } else if (v->is_number()) {
        const double x = v->number_value();
        if (!bound.set || (lower ? x >= bound.value : x <= bound.value)) bound = {true, x, true};
      } else {
        return Error(path + "/" + exclusive_key, "must be a number or a boolean");
      }
    }
    if (bound.set && std::fabs(bound.value) > 1e15) {
      return Error(path + "/" + (lower ? "minimum" : "maximum"),
                   "bounds beyond 1e15 are not supported");
    }
    return bound;
  }

  // Non-negative decimals (no exponent) within integral bounds: lo (>= 0) and hi (< 0: none).
  static std::string NonNegDecimal(int64_t lo, bool lo_excl, int64_t hi, bool hi_excl) {
    const std::string any_frac = "(\\.[0-9]+)?";
    const std::string zero_frac = "(\\.0+)?";
    const std::string nonzero_frac = "\\.[0-9]*[1-9][0-9]*";
    std::vector<std::string> parts;
    // Integer part D with any fraction: lo <= D (lo < D when exclusive), D <= hi - 1.
    const int64_t d_lo = lo_excl ? lo + 1 : lo;
    const int64_t d_hi = hi < 0 ? -1 : hi - 1;
    if (hi < 0 || d_lo <= d_hi) parts.push_back(UIntRange(d_lo, d_hi) + any_frac);
    // D = lo with a non-zero fraction when the lower bound is exclusive (lo < x < lo + 1).
    if (lo_excl && (hi < 0 || lo + 1 <= hi)) {
      parts.push_back(std::to_string(lo) + nonzero_frac);
    }
    // D = hi with a zero fraction when the upper bound is inclusive.
    if (hi >= 0 && !hi_excl && (lo_excl ? hi > lo : hi >= lo)) {
      parts.push_back(std::to_string(hi) + zero_frac);
    }
    std::string out;
    for (size_t i = 0; i < parts.size(); ++i) out += (i ? "|" : "") + parts[i];
    return out;
  }

  Status EmitNumber(const JsonValue& s, bool integer, uint32_t from, uint32_t to,
                    const std::string& path) {
    StatusOr<Bound> lo = ReadBound(s, true, path);
    if (!lo.ok()) return lo.status();
    StatusOr<Bound> hi = ReadBound(s, false, path);
    if (!hi.ok()) return hi.status();
    if (!lo->set && !hi->set) {
      EmitNumberDfa(from, to, integer);
      return Status::Ok();
    }
    std::string re;
    if (integer) {
      // Integers: the bounds rounded inward.
      int64_t l = INT64_MIN, h = INT64_MAX;
      if (lo->set) {
        const double c = std::ceil(lo->value);
        l = static_cast<int64_t>(lo->exclusive && c == lo->value ? c + 1 : c);
      }
      if (hi->set) {
        const double f = std::floor(hi->value);
        h = static_cast<int64_t>(hi->exclusive && f == hi->value ? f - 1 : f);
      }
      if (l > h) return Status::Ok();  // no integer fits: nothing to emit
      std::vector<std::string> parts;
      if (h >= 0) parts.push_back(UIntRange(std::max<int64_t>(l, 0), h == INT64_MAX ? -1 : h));
      if (l < 0) {
        const int64_t nl = std::max<int64_t>(h == INT64_MAX ? 1 : -h, 1);
        parts.push_back("-" + UIntRange(nl, l == INT64_MIN ? -1 : -l));
      }
      for (size_t i = 0; i < parts.size(); ++i) re += (i ? "|" : "") + parts[i];
    } else {
      for (const Bound* b : {&*lo, &*hi}) {
        if (b->set && b->value != std::floor(b->value)) {
          return Error(path, "number bounds that are not whole numbers are not supported");
        }
      }
      const int64_t l = lo->set ? static_cast<int64_t>(lo->value) : INT64_MIN;
      const int64_t h = hi->set ? static_cast<int64_t>(hi->value) : INT64_MAX;
      std::vector<std::string> parts;
      // x >= 0 part.
      if (!hi->set || h > 0 || (h == 0 && !hi->exclusive)) {
        const bool l_pos = lo->set && l >= 0;
        parts.push_back(
            NonNegDecimal(l_pos ? l : 0, l_pos && lo->exclusive, hi->set ? h : -1, hi->exclusive));
      }
      // x < 0 part: x = -y, y > 0.
      if (!lo->set || l < 0) {
        const bool y_lo_from_hi = hi->set && h < 0;
        const std::string y =
            NonNegDecimal(y_lo_from_hi ? -h : 0, y_lo_from_hi ? hi->exclusive : true,
                          lo->set ? -l : -1, lo->exclusive);
        if (!y.empty()) parts.push_back("-(" + y + ")");
      }
      for (size_t i = 0; i < parts.size(); ++i) {
        if (!parts[i].empty()) re += (re.empty() ? "" : "|") + parts[i];
      }
    }
    if (re.empty()) return Status::Ok();
    if (const auto it = lexeme_rules_.find("d:" + re); it != lexeme_rules_.end()) {
      b_.AddCall(from, it->second, to);
      return Status::Ok();
    }
    StatusOr<Dfa> dfa = CompileAnchoredRegex(re, options_.regex_limits);
    if (!dfa.ok()) return Error(path, dfa.status().message());
    b_.AddCall(from, DfaRule(re, *dfa), to);
    return Status::Ok();
  }

  StatusOr<const Dfa*> FormatDfa(const std::string& format, const std::string& path) {
    static const std::map<std::string, std::string> kFormats = [] {
      const std::string date =
          "([0-9]{4}-(0[13578]|1[02])-(0[1-9]|[12][0-9]|3[01])|"
          "[0-9]{4}-(0[469]|11)-(0[1-9]|[12][0-9]|30)|"
          "[0-9]{4}-02-(0[1-9]|1[0-9]|2[0-8])|"
          "([0-9]{2}(0[48]|[2468][048]|[13579][26])|([02468][048]|[13579][26])00)-02-29)";
      const std::string time =
          "([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\\.[0-9]+)?"
          "(Z|z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])";
      const std::string label = "[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?";
      const std::string octet = "(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])";
      const std::string uri_char = "([A-Za-z0-9\\-._~:/?#\\[\\]@!$&'()*+,;=]|%[0-9A-Fa-f]{2})";
      return std::map<std::string, std::string>{
          {"date", date},
          {"time", time},
          {"date-time", date + "[Tt]" + time},
          {"email", "[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*@" +
                        label + "(\\." + label + ")*\\.[A-Za-z]{2,63}"},
          {"uuid", "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"},
          {"uri", "[A-Za-z][A-Za-z0-9+.\\-]*:" + uri_char + "*"},
          {"uri-reference", uri_char + "*"},
          {"hostname", label + "(\\." + label + ")*"},
          {"ipv4", octet + "(\\." + octet + "){3}"},
      };
    }();
    static const std::map<std::string, Dfa> kFormatDfas = [] {
      std::map<std::string, Dfa> dfas;
      for (const auto& [name, re] : kFormats) dfas[name] = CompileAnchoredRegex(re).value();
      return dfas;
    }();
    // Formats the JSON Schema drafts define (draft 3's included) that are not implemented: an
    // error. Any other name is not a format validators know; they ignore it, and so do we
    // (nullptr: no constraint).
    static const std::set<std::string_view> kKnownUnsupported = {
        "duration",     "idn-email",    "idn-hostname",
        "ipv6",         "iri",          "iri-reference",
        "uri-template", "json-pointer", "relative-json-pointer",
        "regex",        "ip-address",   "host-name",
        "color",        "utc-millisec", "phone",
        "style"};
    const auto it = kFormatDfas.find(format);
    if (it != kFormatDfas.end()) return &it->second;
    if (kKnownUnsupported.count(format)) {
      return Error(path + "/format", "format \"" + format + "\" is not supported");
    }
    return static_cast<const Dfa*>(nullptr);
  }

  // A string with only length bounds, as a chain of positions (a length DFA would need a state
  // per position and UTF-8 byte, and 1 KiB of table each).
  Status EmitLengthString(const JsonValue& s, const std::string& key, uint32_t from, uint32_t to,
                          const std::string& path) {
    const JsonValue* min_len = s.Find("minLength");
    const JsonValue* max_len = s.Find("maxLength");
    const double lo = min_len ? min_len->number_value() : 0;
    const double hi = max_len ? max_len->number_value() : -1;
    if (lo > options_.max_string_length || hi > options_.max_string_length) {
      return Error(path + (hi > options_.max_string_length ? "/maxLength" : "/minLength"),
                   "string lengths above " + std::to_string(options_.max_string_length) +
                       " are not supported");
    }
    if (hi >= 0 && lo > hi) return Status::Ok();  // nothing fits
    uint32_t start;
    const uint32_t rule = b_.NewRule(&start);
    const uint32_t end = b_.NewNode();
    b_.SetFinal(end);
    b_.AddJsonStringOfLength(start, static_cast<int>(std::ceil(lo)),
                             hi < 0 ? -1 : static_cast<int>(std::floor(hi)), end);
    lexeme_rules_["s:" + key] = rule;
    b_.AddCall(from, rule, to);
    return Status::Ok();
  }

  // What StringDfa depends on, as a memo key.
  static std::string StringKey(const JsonValue& s) {
    std::string key;
    for (const std::string_view k :
         {std::string_view("pattern"), kExtraPatterns, std::string_view("format"),
          std::string_view("minLength"), std::string_view("maxLength")}) {
      if (const JsonValue* v = s.Find(k)) key += std::string(k) + "=" + v->ToPythonJson() + ";";
    }
    return key;
  }

  // The decoded string values the schema's string keywords allow.
  // Every constraint automaton accepts only well-formed UTF-8, so the first one stands in for
  // "any string" in the intersection.
  StatusOr<Dfa> StringDfa(const JsonValue& s, const std::string& path) {
    Dfa dfa;
    bool constrained = false;
    auto intersect = [&](const Dfa& other, const std::string& where) -> Status {
      if (!constrained) {
        dfa = other;
        constrained = true;
        return Status::Ok();
      }
      StatusOr<Dfa> d = ProductDfa(dfa, other, false, options_.regex_limits);
      if (!d.ok()) return Error(where, d.status().message());
      dfa = std::move(*d);
      return Status::Ok();
    };
    std::vector<std::pair<std::string, std::string>> patterns;
    if (const JsonValue* p = s.Find("pattern")) {
      if (!p->is_string()) return Error(path + "/pattern", "pattern must be a string");
      patterns.emplace_back(p->text(), path + "/pattern");
    }
    if (const JsonValue* extra = s.Find(kExtraPatterns)) {
      for (const JsonValue& p : extra->items()) patterns.emplace_back(p.text(), path + "/allOf");
    }
    for (const auto& [pattern, where] : patterns) {
      StatusOr<Dfa> d = CompileRegex(pattern, options_.regex_limits);
      if (!d.ok()) return Error(where, d.status().message());
      GS_RETURN_IF_ERROR(intersect(*d, where));
    }
    if (const JsonValue* f = s.Find("format")) {
      if (f->is_string()) {
        StatusOr<const Dfa*> d = FormatDfa(f->text(), path);
        if (!d.ok()) return d.status();
        if (*d != nullptr) GS_RETURN_IF_ERROR(intersect(**d, path + "/format"));
      }
    }
    const JsonValue* min_len = s.Find("minLength");
    const JsonValue* max_len = s.Find("maxLength");
    if (min_len || max_len) {
      const double lo = min_len ? min_len->number_value() : 0;
      const double hi = max_len ? max_len->number_value() : -1;
      if (lo > options_.max_unrolled_items || hi > options_.max_unrolled_items) {
        return Error(path + (max_len ? "/maxLength" : "/minLength"),
                     "string lengths above " + std::to_string(options_.max_unrolled_items) +
                         " are not supported");
      }
      std::string re = "[\\s\\S]{" + std::to_string(static_cast<int>(lo)) + ",";
      if (hi >= 0) re += std::to_string(static_cast<int>(hi));
      re += "}";
      StatusOr<Dfa> d = CompileAnchoredRegex(re, options_.regex_limits);
      if (!d.ok()) return Error(path + "/maxLength", d.status().message());
      GS_RETURN_IF_ERROR(intersect(*d, path + "/maxLength"));
    }
    if (!constrained) return AnyStringDfa();
    return dfa;
  }

  // Writes a JSON value exactly (const/enum members that are arrays or objects), with the
  // whitespace policy between its tokens.
  void EmitConstValue(const JsonValue& v, uint32_t from, uint32_t to) {
    switch (v.kind()) {
      case JsonValue::Kind::kArray: {
        uint32_t cur = Ws(Lit(from, "["));
        for (size_t i = 0; i < v.items().size(); ++i) {
          if (i) cur = Ws(Lit(cur, ","));
          const uint32_t next = b_.NewNode();
          EmitConstValue(v.items()[i], cur, next);
          cur = Ws(next);
        }
        b_.AddEpsilon(Lit(cur, "]"), to);
        return;
      }
      case JsonValue::Kind::kObject: {
        uint32_t cur = Ws(Lit(from, "{"));
        for (size_t i = 0; i < v.members().size(); ++i) {
          if (i) cur = Ws(Lit(cur, ","));
          std::string key;
          AppendPythonJsonString(key, v.members()[i].first);
          cur = Ws(Lit(Ws(Lit(cur, key)), ":"));
          const uint32_t next = b_.NewNode();
          EmitConstValue(v.members()[i].second, cur, next);
          cur = Ws(next);
        }
        b_.AddEpsilon(Lit(cur, "}"), to);
        return;
      }
      case JsonValue::Kind::kString: {
        std::string quoted;
        AppendPythonJsonString(quoted, v.text());
        b_.AddEpsilon(Lit(from, quoted), to);
        return;
      }
      default:
        b_.AddEpsilon(Lit(from, v.ToPythonJson()), to);
    }
  }

  Status EmitEnum(const JsonValue& s, uint8_t types, uint32_t from, uint32_t to,
                  const std::string& path) {
    std::vector<JsonValue> values;
    if (const JsonValue* c = s.Find("const")) values.push_back(*c);
    if (const JsonValue* e = s.Find("enum")) {
      if (!e->is_array()) return Error(path + "/enum", "enum must be an array");
      if (s.Find("const")) {
        std::erase_if(values, [&](const JsonValue& v) {
          return std::find(e->items().begin(), e->items().end(), v) == e->items().end();
        });
      } else {
        values = e->items();
      }
    }
    std::vector<std::string> strings;
    bool string_constraints = false;
    for (const char* k : {"pattern", "format", "minLength", "maxLength"}) {
      string_constraints = string_constraints || s.Find(k) != nullptr;
    }
    string_constraints = string_constraints || s.Find(kExtraPatterns) != nullptr;
    for (const JsonValue& v : values) {
      const uint8_t bit = ValueTypeBit(v);
      if (!(types & bit) && !(bit == kInteger && (types & kNumber))) continue;
      if (v.is_string()) {
        strings.push_back(v.text());
        continue;
      }
      if (v.is_number()) {
        for (const bool lower : {true, false}) {
          StatusOr<Bound> bound = ReadBound(s, lower, path);
          if (!bound.ok()) return bound.status();
          if (!bound->set) continue;
          const double x = v.number_value();
          const bool ok = lower ? (bound->exclusive ? x > bound->value : x >= bound->value)
                                : (bound->exclusive ? x < bound->value : x <= bound->value);
          if (!ok) goto next_value;
        }
      }
      if ((v.is_array() || v.is_object())) {
        for (const auto& [k, unused] : s.members()) {
          if (k != "enum" && k != "const" && k != "type" && !IsAnnotation(k)) {
            return Error(path + "/" + k,
                         "enum/const of arrays or objects beside \"" + k + "\" is not supported");
          }
        }
      }
      EmitConstValue(v, from, to);
    next_value:;
    }
    if (string_constraints && !strings.empty()) {
      StatusOr<Dfa> constraint = StringDfa(s, path);
      if (!constraint.ok()) return constraint.status();
      std::erase_if(strings, [&](const std::string& v) { return !constraint->Matches(v); });
    }
    // A trie of the quoted values: deterministic however many there are.
    for (std::string& v : strings) {
      std::string quoted;
      AppendPythonJsonString(quoted, v);
      v = std::move(quoted);
    }
    if (!strings.empty()) b_.AddLiteralTrie(from, strings, to);
    return Status::Ok();
  }

  Status EmitArray(const JsonValue& s, uint32_t from, uint32_t to, const std::string& path,
                   int depth) {
    std::vector<const JsonValue*> prefix;
    std::string prefix_path;
    const JsonValue* rest = nullptr;  // the schema of items after the prefix; null: any
    std::string rest_path = path + "/items";
    bool rest_forbidden = false;
    const JsonValue* items = s.Find("items");
    if (const JsonValue* p = s.Find("prefixItems")) {
      if (!p->is_array()) return Error(path + "/prefixItems", "prefixItems must be an array");
      for (const JsonValue& v : p->items()) prefix.push_back(&v);
      prefix_path = path + "/prefixItems/";
      rest = items;
    } else if (items && items->is_array()) {  // draft 4 tuples
      for (const JsonValue& v : items->items()) prefix.push_back(&v);
      prefix_path = path + "/items/";
      rest = s.Find("additionalItems");
      rest_path = path + "/additionalItems";
    } else {
      rest = items;
    }
    if (rest && rest->is_bool()) {
      rest_forbidden = !rest->bool_value();
      rest = nullptr;
    }
    const JsonValue* min_items = s.Find("minItems");
    const JsonValue* max_items = s.Find("maxItems");
    const int64_t min_n = min_items ? static_cast<int64_t>(min_items->number_value()) : 0;
    int64_t max_n = max_items ? static_cast<int64_t>(max_items->number_value()) : -1;
    if (rest_forbidden) {
      max_n =
          max_n < 0 ? static_cast<int64_t>(prefix.size()) : std::min<int64_t>(max_n, prefix.size());
    }
    const int64_t unrolled =
        std::max<int64_t>({min_n, static_cast<int64_t>(prefix.size()), max_n < 0 ? 0 : max_n});
    if (unrolled > options_.max_unrolled_items) {
      return Error(path, "more than " + std::to_string(options_.max_unrolled_items) +
                             " array positions to spell out (minItems/maxItems/prefixItems)");
    }
    if (max_n >= 0 && min_n > max_n) return Status::Ok();  // unsatisfiable
    // One rule for the repeated item schema, so its grammar is built once.
    auto item_rule = [&](const JsonValue* schema, const std::string& where) -> StatusOr<uint32_t> {
      if (schema == nullptr) return AnyRule();
      if (OnlyRef(*schema)) return RefRule(schema->Find("$ref")->text(), where, depth);
      uint32_t start;
      const uint32_t rule = b_.NewRule(&start);
      const uint32_t end = b_.NewNode();
      b_.SetFinal(end);
      GS_RETURN_IF_ERROR(EmitValue(*schema, start, end, where, depth + 1));
      return rule;
    };
    int64_t rest_rule = -1;
    const uint32_t open = Ws(Lit(from, "["));
    const uint32_t close = b_.NewNode();
    b_.AddEpsilon(Lit(close, "]"), to);
    uint32_t cur = open;  // before item i
    const int64_t limit = max_n < 0 ? std::max<int64_t>(min_n, prefix.size()) : max_n;
    for (int64_t i = 0; i < limit; ++i) {
      if (i >= min_n) b_.AddEpsilon(cur, close);
      const uint32_t item_start = i == 0 ? cur : Ws(Lit(cur, ","));
      const uint32_t item_end = b_.NewNode();
      if (i < static_cast<int64_t>(prefix.size())) {
        StatusOr<uint32_t> rule = item_rule(prefix[i], prefix_path + std::to_string(i));
        if (!rule.ok()) return rule.status();
        b_.AddCall(item_start, *rule, item_end);
      } else {
        if (rest_rule < 0) {
          StatusOr<uint32_t> rule = item_rule(rest, rest_path);
          if (!rule.ok()) return rule.status();
          rest_rule = *rule;
        }
        b_.AddCall(item_start, static_cast<uint32_t>(rest_rule), item_end);
      }
      cur = Ws(item_end);
    }
    b_.AddEpsilon(cur, close);
    if (max_n < 0 && !rest_forbidden) {
      // Unbounded tail: ( "," ws item ws )* after `limit` items, or (item ws ("," ws item ws)*)?
      // when no item was spelled out.
      if (rest_rule < 0) {
        StatusOr<uint32_t> rule = item_rule(rest, rest_path);
        if (!rule.ok()) return rule.status();
        rest_rule = *rule;
      }
      const uint32_t loop = b_.NewNode();
      b_.AddEpsilon(loop, close);
      const uint32_t item_end = b_.NewNode();
      b_.AddCall(Ws(Lit(loop, ",")), static_cast<uint32_t>(rest_rule), item_end);
      b_.AddEpsilon(Ws(item_end), loop);
      if (limit == 0) {
        const uint32_t first_end = b_.NewNode();
        b_.AddCall(cur, static_cast<uint32_t>(rest_rule), first_end);
        b_.AddEpsilon(Ws(first_end), loop);
      } else {
        b_.AddEpsilon(cur, loop);
      }
    }
    return Status::Ok();
  }

  Status EmitObject(const JsonValue& s, uint32_t from, uint32_t to, const std::string& path,
                    int depth) {
    struct Prop {
      std::string name;
      JsonValue schema;
      bool required;
      std::string path;
    };
    std::vector<Prop> props;
    std::vector<std::string> required;
    if (const JsonValue* r = s.Find("required")) {
      if (!r->is_array()) return Error(path + "/required", "required must be an array");
      for (const JsonValue& k : r->items()) {
        if (!k.is_string()) return Error(path + "/required", "required must list strings");
        required.push_back(k.text());
      }
    }
    auto is_required = [&](const std::string& k) {
      return std::find(required.begin(), required.end(), k) != required.end();
    };
    const JsonValue* pattern_props = s.Find("patternProperties");
    struct PatternProp {
      Dfa keys;
      const JsonValue* schema;
      std::string path;
    };
    std::vector<PatternProp> patterns;
    if (pattern_props) {
      for (const auto& [pattern, sub] : pattern_props->members()) {
        const std::string where = path + "/patternProperties/" + EscapePointer(pattern);
        StatusOr<Dfa> dfa = CompileRegex(pattern, options_.regex_limits);
        if (!dfa.ok()) return Error(where, dfa.status().message());
        patterns.push_back({std::move(*dfa), &sub, where});
      }
      for (size_t i = 0; i < patterns.size(); ++i) {
        for (size_t j = i + 1; j < patterns.size(); ++j) {
          StatusOr<Dfa> both =
              ProductDfa(patterns[i].keys, patterns[j].keys, false, options_.regex_limits);
          if (!both.ok()) return Error(patterns[j].path, both.status().message());
          if (!both->empty()) {
            return Error(patterns[j].path, "overlapping patternProperties are not supported");
          }
        }
      }
    }
    JsonValue ap = JsonValue::Bool(true);
    if (const JsonValue* a = s.Find("additionalProperties")) ap = *a;
    if (const JsonValue* u = s.Find("unevaluatedProperties");
        u && u->is_bool() && !u->bool_value() && !s.Find("additionalProperties")) {
      ap = JsonValue::Bool(false);
    }
    if (const JsonValue* p = s.Find("properties")) {
      if (!p->is_object()) return Error(path + "/properties", "properties must be an object");
      for (const auto& [name, sub] : p->members()) {
        JsonValue schema = sub;
        for (const PatternProp& pp : patterns) {
          if (pp.keys.Matches(name)) schema = AllOf2(schema, *pp.schema);
        }
        props.push_back({name, std::move(schema), is_required(name),
                         path + "/properties/" + EscapePointer(name)});
      }
    }
    // Required keys without a property schema: after the defined ones, typed by the pattern
    // or additional-properties schema.
    for (const std::string& k : required) {
      bool defined = false;
      for (const Prop& p : props) defined = defined || p.name == k;
      if (defined) continue;
      JsonValue schema = ap;
      for (const PatternProp& pp : patterns) {
        if (pp.keys.Matches(k)) schema = *pp.schema;
      }
      props.push_back({k, schema, true, path + "/required"});
    }
    const JsonValue* min_props = s.Find("minProperties");
    const JsonValue* max_props = s.Find("maxProperties");
    size_t num_required = 0;
    for (const Prop& p : props) num_required += p.required;
    const bool closed = ap.is_bool() && !ap.bool_value() && patterns.empty();
    const int64_t min_p = min_props ? static_cast<int64_t>(min_props->number_value()) : 0;
    if (min_p > static_cast<int64_t>(num_required) && min_p > 1) {
      return Error(path + "/minProperties",
                   "minProperties above the required count is not supported");
    }
    if (max_props && !(closed && max_props->number_value() >= static_cast<double>(props.size()))) {
      return Error(path + "/maxProperties", "maxProperties is not supported");
    }
    // first[i]/more[i]: before property i with nothing / something written yet.
    const size_t n = props.size();
    std::vector<uint32_t> first(n + 1), more(n + 1);
    for (size_t i = 0; i <= n; ++i) first[i] = b_.NewNode(), more[i] = b_.NewNode();
    b_.AddEpsilon(Ws(Lit(from, "{")), first[0]);
    for (size_t i = 0; i < n; ++i) {
      const Prop& p = props[i];
      const uint32_t kv = b_.NewNode();
      b_.AddEpsilon(first[i], kv);
      b_.AddEpsilon(Ws(Lit(more[i], ",")), kv);
      const uint32_t key_end = b_.NewNode();
      std::string quoted_key;
      AppendPythonJsonString(quoted_key, p.name);
      b_.AddEpsilon(Lit(kv, quoted_key), key_end);
      const uint32_t value_start = Ws(Lit(Ws(key_end), ":"));
      const uint32_t value_end = b_.NewNode();
      GS_RETURN_IF_ERROR(EmitValue(p.schema, value_start, value_end, p.path, depth + 1));
      b_.AddEpsilon(Ws(value_end), more[i + 1]);
      if (!p.required) {
        b_.AddEpsilon(first[i], first[i + 1]);
        b_.AddEpsilon(more[i], more[i + 1]);
      }
    }
    // Other keys: by pattern, else additionalProperties; never a defined property's name.
    std::vector<std::string> names;
    for (const Prop& p : props) names.push_back(p.name);
    const Dfa defined = LiteralsDfa(names);
    std::vector<std::pair<Dfa, const JsonValue*>> extra;  // key set, value schema
    std::vector<std::string> extra_paths;
    for (const PatternProp& pp : patterns) {
      StatusOr<Dfa> keys = ProductDfa(pp.keys, defined, true, options_.regex_limits);
      if (!keys.ok()) return Error(pp.path, keys.status().message());
      if (!keys->empty()) {
        extra.emplace_back(std::move(*keys), pp.schema);
        extra_paths.push_back(pp.path);
      }
    }
    if (!(ap.is_bool() && !ap.bool_value())) {
      StatusOr<Dfa> keys = ProductDfa(AnyStringDfa(), defined, true, options_.regex_limits);
      if (!keys.ok()) return Error(path, keys.status().message());
      for (const PatternProp& pp : patterns) {
        if (keys->empty()) break;
        keys = ProductDfa(*keys, pp.keys, true, options_.regex_limits);
        if (!keys.ok()) return Error(pp.path, keys.status().message());
      }
      if (!keys->empty()) {
        extra.emplace_back(std::move(*keys), &ap);
        extra_paths.push_back(path + "/additionalProperties");
      }
    }
    const uint32_t close = b_.NewNode();
    b_.AddEpsilon(Lit(close, "}"), to);
    b_.AddEpsilon(more[n], close);
    if (min_p == 0) b_.AddEpsilon(first[n], close);
    if (!extra.empty()) {
      const uint32_t loop = b_.NewNode();  // after at least one extra key
      b_.AddEpsilon(loop, close);
      const uint32_t kv = b_.NewNode();
      b_.AddEpsilon(first[n], kv);
      b_.AddEpsilon(Ws(Lit(more[n], ",")), kv);
      b_.AddEpsilon(Ws(Lit(loop, ",")), kv);
      for (size_t i = 0; i < extra.size(); ++i) {
        const uint32_t key_end = b_.NewNode();
        b_.AddJsonString(kv, extra[i].first, key_end);
        const uint32_t value_start = Ws(Lit(Ws(key_end), ":"));
        const uint32_t value_end = b_.NewNode();
        if (extra[i].second->is_bool() && extra[i].second->bool_value()) {
          b_.AddCall(value_start, AnyRule(), value_end);
        } else {
          GS_RETURN_IF_ERROR(
              EmitValue(*extra[i].second, value_start, value_end, extra_paths[i], depth + 1));
        }
        b_.AddEpsilon(Ws(value_end), loop);
      }
    }
    return Status::Ok();
  }

  const JsonValue& root_;
  const JsonSchemaOptions& options_;
  GrammarBuilder b_;
  const Clock::time_point start_;
  int64_t ws_rule_ = -1;
  int64_t any_rule_ = -1;
  std::map<std::string, uint32_t> ref_rules_;
  std::map<std::string, uint32_t> lexeme_rules_;  // DfaRule's memo
};

}  // namespace

StatusOr<Grammar> CompileJsonSchema(const JsonValue& schema, const JsonSchemaOptions& options) {
  return SchemaCompiler(schema, options).Compile();
}

StatusOr<Grammar> CompileJsonSchema(std::string_view schema_text,
                                    const JsonSchemaOptions& options) {
  StatusOr<JsonValue> schema = JsonValue::Parse(schema_text);
  if (!schema.ok()) return Status::Error("schema: " + schema.status().message());
  return CompileJsonSchema(*schema, options);
}

StatusOr<Grammar> CompileAnyJson(bool object_only, const JsonSchemaOptions& options) {
  const JsonValue empty;
  return SchemaCompiler(empty, options).CompileAny(object_only);
}

}  // namespace gs::grammar
