// A Responses API response as it is built from a generation's pieces: the output items
// (reasoning, message, function_call) and the typed stream events that announce them, with
// increasing sequence numbers. The non-streamed body is the object the last event carries, so a
// streamed response is the non-streamed one cut into pieces.
//
// Items open and close in the order the model writes them: reasoning text opens a reasoning item,
// answer text a message item, each call one function_call item (a call arrives whole, so its
// arguments travel as one delta); opening one item closes the one before. Whitespace-only text
// between items (the newline after a thought, before a call) opens no message item: it is held
// and goes to the message only when real text follows.
//
// Events per item (OpenAI's):
//   response.output_item.added, then for reasoning and messages response.content_part.added,
//   response.reasoning_text.delta / response.output_text.delta..., *.done, content_part.done;
//   for calls response.function_call_arguments.delta and .done; then response.output_item.done.
// Around them: response.created and response.in_progress first, response.completed (or
// response.incomplete when max_output_tokens cut the answer, or response.failed) last.
#pragma once

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace gs::api {

// What identifies one response and what it echoes from its request (ResponsesRequest::echo).
struct ResponseMeta {
  std::string id;  // "resp_..."
  int64_t created_at = 0;
  std::string model;
  nlohmann::json echo = nlohmann::json::object();
};

struct ResponseUsage {
  int64_t input_tokens = 0;
  int64_t output_tokens = 0;
  int64_t cached_tokens = 0;
  int64_t reasoning_tokens = 0;
};

class ResponseBuilder {
 public:
  // Makes item ids from a prefix ("msg_", "rs_", "fc_", "call_"); tests pass a counter.
  using IdMaker = std::function<std::string(const char* prefix)>;

  ResponseBuilder(ResponseMeta meta, IdMaker make_id);

  // Each call returns the events it produced, in order (none is an empty list).
  std::vector<nlohmann::json> Start();  // response.created, response.in_progress
  std::vector<nlohmann::json> AddReasoning(std::string_view text);
  std::vector<nlohmann::json> AddText(std::string_view text);
  std::vector<nlohmann::json> AddFunctionCall(const std::string& name,
                                              const std::string& arguments);
  // The generation ended with `finish_reason`: "length" makes the response (and the item it
  // cut) incomplete with reason max_output_tokens; anything else completes it.
  std::vector<nlohmann::json> Finish(const std::string& finish_reason, const ResponseUsage& usage);
  // The engine failed: the open item is closed incomplete and the response fails.
  std::vector<nlohmann::json> Fail(const std::string& message);

  // The response object as it stands (status in_progress until Finish or Fail).
  nlohmann::json Response() const;
  // The output items so far (closed ones final; the open one as it stands).
  const std::vector<nlohmann::json>& output() const { return output_; }

 private:
  enum class Open { kNone, kReasoning, kMessage };

  nlohmann::json Event(const char* type, nlohmann::json fields);
  // Closes the open item (if any) with `status`, appending its closing events.
  void Close(const char* status, std::vector<nlohmann::json>* events);
  // Opens a reasoning or message item with one empty content part.
  void OpenItem(Open kind, std::vector<nlohmann::json>* events);
  // Appends `text` to the open item's part, as one delta event.
  void AppendText(std::string_view text, std::vector<nlohmann::json>* events);
  std::vector<nlohmann::json> End(const char* event_type, const std::string& status);

  ResponseMeta meta_;
  IdMaker make_id_;
  int64_t num_events_ = 0;  // the next sequence_number
  std::vector<nlohmann::json> output_;
  Open open_ = Open::kNone;  // when not kNone, output_.back() is the open item
  std::string held_whitespace_;
  std::string status_ = "in_progress";
  nlohmann::json incomplete_details_;  // null or {"reason": ...}
  nlohmann::json error_;               // null or {"code", "message"}
  nlohmann::json usage_;               // null until Finish
};

// SSE framing with the event's type as the `event:` line: "event: T\ndata: {...}\n\n".
std::string ResponseSseEvent(const nlohmann::json& event);

}  // namespace gs::api
