// JSON Schema compiled to a Grammar that matches exactly the JSON texts (within a whitespace
// policy) that validate against the schema, or an error naming the schema location (a JSON
// pointer) that cannot be honoured. Never a silent relaxation: a keyword that would constrain
// the instance and is not implemented is an error, not ignored.
//
// Supported: type (incl. arrays of types; OpenAPI's nullable is not JSON Schema and widens
// nothing), properties (emitted in definition order), required, additionalProperties (bool or
// schema), patternProperties (disjoint patterns), items/prefixItems (and draft-4 array
// items/additionalItems), minItems/maxItems, enum, const, anyOf, oneOf (when the alternatives
// are provably disjoint), allOf (merged), $ref/$defs/definitions (JSON pointers into the
// document, recursion included), min/maxLength, pattern (regex.h), format (date, time,
// date-time, email, uuid, uri, uri-reference, hostname, ipv4), integer bounds, number bounds
// that are whole numbers, minProperties: 1.
// Not supported (error): not, if/then/else, dependencies, dependentRequired/Schemas, contains,
// uniqueItems, propertyNames, unevaluated*, multipleOf, min/maxProperties beyond the above,
// remote or anchor $refs, other formats.
//
// Strings are written as Python's json.dumps writes them (raw UTF-8, short escapes); between
// tokens at most one newline and max_indent spaces or tabs are allowed.
#pragma once

#include <string_view>

#include "engine/grammar/grammar.h"
#include "engine/grammar/json_value.h"
#include "engine/grammar/regex.h"
#include "engine/status.h"

namespace gs::grammar {

struct JsonSchemaOptions {
  int max_indent = 20;            // spaces/tabs in one whitespace run
  bool allow_newline = true;      // one newline (or \r\n) per whitespace run
  int max_schema_depth = 64;      // nesting of subschemas being compiled, refs included
  int max_unrolled_items = 4096;  // minItems/maxItems/prefixItems positions spelled out
  int max_string_length = 20000;  // minLength/maxLength without a pattern or format
  double max_compile_ms = 2000;   // wall-clock budget
  RegexLimits regex_limits;
  GrammarLimits grammar_limits;
};

StatusOr<Grammar> CompileJsonSchema(const JsonValue& schema, const JsonSchemaOptions& options = {});
// Parses the schema text first (a malformed document is an error).
StatusOr<Grammar> CompileJsonSchema(std::string_view schema_text,
                                    const JsonSchemaOptions& options = {});
// Any JSON value (response_format json_object: any object).
StatusOr<Grammar> CompileAnyJson(bool object_only, const JsonSchemaOptions& options = {});

}  // namespace gs::grammar
