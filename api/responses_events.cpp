#include "api/responses_events.h"

#include <algorithm>
#include <utility>

#include "api/json_body.h"

namespace gs::api {
namespace {

using json = nlohmann::json;

bool IsWhitespace(std::string_view text) {
  return std::all_of(text.begin(), text.end(),
                     [](char c) { return c == ' ' || c == '\n' || c == '\t' || c == '\r'; });
}

}  // namespace

ResponseBuilder::ResponseBuilder(ResponseMeta meta, IdMaker make_id)
    : meta_(std::move(meta)), make_id_(std::move(make_id)) {}

json ResponseBuilder::Event(const char* type, json fields) {
  fields["type"] = type;
  fields["sequence_number"] = num_events_++;
  return fields;
}

json ResponseBuilder::Response() const {
  json r = {
      {"id", meta_.id},       {"object", "response"}, {"created_at", meta_.created_at},
      {"status", status_},    {"error", error_},      {"incomplete_details", incomplete_details_},
      {"model", meta_.model}, {"output", output_},    {"usage", usage_}};
  for (const auto& [key, value] : meta_.echo.items()) r[key] = value;
  return r;
}

std::vector<json> ResponseBuilder::Start() {
  std::vector<json> events;
  events.push_back(Event("response.created", {{"response", Response()}}));
  events.push_back(Event("response.in_progress", {{"response", Response()}}));
  return events;
}

void ResponseBuilder::OpenItem(Open kind, std::vector<json>* events) {
  json item, part;
  if (kind == Open::kReasoning) {
    item = {{"id", make_id_("rs_")},
            {"type", "reasoning"},
            {"summary", json::array()},
            {"content", json::array()},
            {"status", "in_progress"}};
    part = {{"type", "reasoning_text"}, {"text", ""}};
  } else {
    item = {{"id", make_id_("msg_")},
            {"type", "message"},
            {"role", "assistant"},
            {"status", "in_progress"},
            {"content", json::array()}};
    part = {{"type", "output_text"},
            {"text", ""},
            {"annotations", json::array()},
            {"logprobs", json::array()}};
  }
  const int64_t output_idx = static_cast<int64_t>(output_.size());
  events->push_back(
      Event("response.output_item.added", {{"output_index", output_idx}, {"item", item}}));
  events->push_back(Event("response.content_part.added", {{"item_id", item["id"]},
                                                          {"output_index", output_idx},
                                                          {"content_index", 0},
                                                          {"part", part}}));
  item["content"].push_back(std::move(part));
  output_.push_back(std::move(item));
  open_ = kind;
}

void ResponseBuilder::AppendText(std::string_view text, std::vector<json>* events) {
  json& item = output_.back();
  item["content"][0]["text"].get_ref<std::string&>().append(text);
  json fields = {{"item_id", item["id"]},
                 {"output_index", static_cast<int64_t>(output_.size()) - 1},
                 {"content_index", 0},
                 {"delta", std::string(text)}};
  if (open_ == Open::kMessage) {
    fields["logprobs"] = json::array();
    events->push_back(Event("response.output_text.delta", std::move(fields)));
  } else {
    events->push_back(Event("response.reasoning_text.delta", std::move(fields)));
  }
}

void ResponseBuilder::Close(const char* status, std::vector<json>* events) {
  if (open_ == Open::kNone) return;
  json& item = output_.back();
  item["status"] = status;
  const json& part = item["content"][0];
  const int64_t output_idx = static_cast<int64_t>(output_.size()) - 1;
  json done = {{"item_id", item["id"]},
               {"output_index", output_idx},
               {"content_index", 0},
               {"text", part["text"]}};
  if (open_ == Open::kMessage) {
    done["logprobs"] = json::array();
    events->push_back(Event("response.output_text.done", std::move(done)));
  } else {
    events->push_back(Event("response.reasoning_text.done", std::move(done)));
  }
  events->push_back(Event("response.content_part.done", {{"item_id", item["id"]},
                                                         {"output_index", output_idx},
                                                         {"content_index", 0},
                                                         {"part", part}}));
  events->push_back(
      Event("response.output_item.done", {{"output_index", output_idx}, {"item", item}}));
  open_ = Open::kNone;
}

std::vector<json> ResponseBuilder::AddReasoning(std::string_view text) {
  std::vector<json> events;
  if (text.empty()) return events;
  if (open_ != Open::kReasoning) {
    Close("completed", &events);
    held_whitespace_.clear();  // between items it separates nothing the client sees
    OpenItem(Open::kReasoning, &events);
  }
  AppendText(text, &events);
  return events;
}

std::vector<json> ResponseBuilder::AddText(std::string_view text) {
  std::vector<json> events;
  if (text.empty()) return events;
  if (open_ == Open::kMessage) {
    AppendText(text, &events);
    return events;
  }
  if (IsWhitespace(text)) {
    held_whitespace_.append(text);
    return events;
  }
  Close("completed", &events);
  OpenItem(Open::kMessage, &events);
  AppendText(held_whitespace_ + std::string(text), &events);
  held_whitespace_.clear();
  return events;
}

std::vector<json> ResponseBuilder::AddFunctionCall(const std::string& name,
                                                   const std::string& arguments) {
  std::vector<json> events;
  Close("completed", &events);
  held_whitespace_.clear();
  json item = {{"id", make_id_("fc_")}, {"type", "function_call"}, {"call_id", make_id_("call_")},
               {"name", name},          {"arguments", ""},         {"status", "in_progress"}};
  const int64_t output_idx = static_cast<int64_t>(output_.size());
  events.push_back(
      Event("response.output_item.added", {{"output_index", output_idx}, {"item", item}}));
  events.push_back(
      Event("response.function_call_arguments.delta",
            {{"item_id", item["id"]}, {"output_index", output_idx}, {"delta", arguments}}));
  events.push_back(Event("response.function_call_arguments.done", {{"item_id", item["id"]},
                                                                   {"output_index", output_idx},
                                                                   {"name", name},
                                                                   {"arguments", arguments}}));
  item["arguments"] = arguments;
  item["status"] = "completed";
  events.push_back(
      Event("response.output_item.done", {{"output_index", output_idx}, {"item", item}}));
  output_.push_back(std::move(item));
  return events;
}

std::vector<json> ResponseBuilder::End(const char* event_type, const std::string& status) {
  status_ = status;
  std::vector<json> events;
  events.push_back(Event(event_type, {{"response", Response()}}));
  return events;
}

std::vector<json> ResponseBuilder::Finish(const std::string& finish_reason,
                                          const ResponseUsage& usage) {
  const bool cut = finish_reason == "length";
  std::vector<json> events;
  // A response answers with a message or with calls: a model that said nothing (or only
  // thought) still gets its empty message, which clients read as the final answer.
  const bool answered = std::any_of(output_.begin(), output_.end(),
                                    [](const json& item) { return item["type"] != "reasoning"; });
  if (!answered && open_ != Open::kMessage) {
    Close(cut ? "incomplete" : "completed", &events);
    OpenItem(Open::kMessage, &events);
  }
  Close(cut ? "incomplete" : "completed", &events);
  if (cut) incomplete_details_ = {{"reason", "max_output_tokens"}};
  usage_ = {{"input_tokens", usage.input_tokens},
            {"input_tokens_details", {{"cached_tokens", usage.cached_tokens}}},
            {"output_tokens", usage.output_tokens},
            {"output_tokens_details", {{"reasoning_tokens", usage.reasoning_tokens}}},
            {"total_tokens", usage.input_tokens + usage.output_tokens}};
  std::vector<json> end =
      End(cut ? "response.incomplete" : "response.completed", cut ? "incomplete" : "completed");
  events.insert(events.end(), end.begin(), end.end());
  return events;
}

std::vector<json> ResponseBuilder::Fail(const std::string& message) {
  std::vector<json> events;
  Close("incomplete", &events);
  error_ = {{"code", "server_error"}, {"message", message}};
  std::vector<json> end = End("response.failed", "failed");
  events.insert(events.end(), end.begin(), end.end());
  return events;
}

std::string ResponseSseEvent(const json& event) {
  return "event: " + event["type"].get<std::string>() + "\ndata: " + DumpJson(event) + "\n\n";
}

}  // namespace gs::api
