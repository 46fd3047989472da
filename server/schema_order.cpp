#include "server/schema_order.h"

#include <string>

#include "engine/grammar/json_value.h"

namespace gs {
namespace {

// Follows a param path ("a.b[2].c") from `root`; nullptr where it leaves the document.
const grammar::JsonValue* Follow(const grammar::JsonValue& root, std::string_view path) {
  const grammar::JsonValue* v = &root;
  while (!path.empty() && v != nullptr) {
    const size_t end = path.find_first_of(".[");
    const std::string_view key = path.substr(0, end);
    path = end == std::string_view::npos ? std::string_view() : path.substr(end);
    if (!key.empty()) v = v->Find(key);
    while (v != nullptr && !path.empty() && path[0] == '[') {
      const size_t close = path.find(']');
      if (close == std::string_view::npos || !v->is_array()) return nullptr;
      size_t idx = 0;
      for (char c : path.substr(1, close - 1)) {
        if (c < '0' || c > '9' || idx > v->items().size()) return nullptr;
        idx = idx * 10 + static_cast<size_t>(c - '0');
      }
      if (idx >= v->items().size()) return nullptr;
      v = &v->items()[idx];
      path.remove_prefix(close + 1);
    }
    if (!path.empty() && path[0] == '.') path.remove_prefix(1);
  }
  return v;
}

}  // namespace

void KeepSchemaOrder(std::string_view body, std::string_view path,
                     api::OutputConstraint* constraint) {
  if (constraint->kind != api::OutputConstraintKind::kJsonSchema) return;
  StatusOr<grammar::JsonValue> doc = grammar::JsonValue::Parse(body);
  if (!doc.ok()) return;  // the body parsed as JSON already; nothing to gain here
  const grammar::JsonValue* schema = Follow(*doc, path);
  if (schema == nullptr || !(schema->is_object() || schema->is_bool())) return;
  constraint->text = schema->ToPythonJson();
}

}  // namespace gs
