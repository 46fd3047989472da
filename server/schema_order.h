// Request bodies are parsed into nlohmann::json, whose objects sort their keys; but a JSON
// Schema's `properties` order is the order a constrained answer emits them in (OpenAI's
// structured outputs keep the schema's order, and clients read the fields in that order). So a
// schema the client gave as an object is read again, in the order it was written, from the
// body's text (by the grammar engine's order-keeping JSON reader).
#pragma once

#include <string_view>

#include "api/output_constraint.h"

namespace gs {

// Replaces constraint->text (a JSON Schema's text) with the same schema in the order `body`
// writes it, found at `path` ("response_format.json_schema.schema", "structured_outputs.json",
// "text.format.schema", ...; chat requests pass the constraint's param). No change when the
// constraint is not a JSON Schema, was given as text (its order is the client's already), or the
// path does not lead to an object or a boolean in the body.
void KeepSchemaOrder(std::string_view body, std::string_view path,
                     api::OutputConstraint* constraint);

}  // namespace gs
