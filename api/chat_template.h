// Chat messages -> prompt text, per model family, behind one interface (ChatTemplate) that the
// server picks once from the model file's metadata. Each renderer reproduces, output for output
// and error for error, the Jinja chat template its family ships: Gemma 3's
// (tests/golden/gemma3_chat_template.jinja, goldens in chat_template.json) and Gemma 4's
// (tests/golden/gemma4_chat_template.jinja, goldens in gemma4_chat_template.json);
// chat_template_test holds each renderer to what jinja2 renders.
//
// This library links nothing of the engine: the server passes in the strings it read from the
// GGUF (general.architecture, tokenizer.chat_template).
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "api/chat_message.h"
#include "api/reasoning_parser.h"
#include "api/tool_call_parser.h"
#include "api/tools.h"

namespace gs::api {

struct RenderedPrompt {
  std::string text;
  std::string error;  // non-empty: the template refuses the messages (and why)
};

// What a request may ask of the template besides the messages.
struct ChatTemplateOptions {
  bool add_generation_prompt = true;
  // Gemma 4: "<|think|>" in the system turn, and no empty thought channel after the generation
  // prompt, so that the model thinks first. Gemma 3 has no thinking mode and ignores it.
  bool enable_thinking = false;
  // Function declarations as OpenAI sends them ({"type": "function", "function": {name,
  // description, parameters}}), rendered into Gemma 4's system turn and into Gemma 3's first user
  // turn (api/tools.h). Empty when the model is not offered tools (tool_choice "none").
  std::vector<nlohmann::json> tools;
  // Gemma 3 words its tool instruction after these; Gemma 4's template has no such text.
  ToolChoice tool_choice;
  bool parallel_tool_calls = true;
};

enum class ChatFamily { kGemma3, kGemma4 };

class ChatTemplate {
 public:
  virtual ~ChatTemplate() = default;

  virtual ChatFamily family() const = 0;
  virtual std::string_view name() const = 0;  // "gemma3", "gemma4"
  // The messages as the client sent them: tool calls and `tool` messages are mapped onto the
  // family's own shapes here (api/tools.h).
  virtual RenderedPrompt Render(const std::vector<ChatMessage>& messages,
                                const ChatTemplateOptions& options) const = 0;
  // The syntax of the model's reasoning in its output, when the family has one.
  virtual std::optional<ReasoningSyntax> reasoning_syntax() const = 0;
  // How the model writes tool calls in its output (native tokens, or the prompted convention).
  virtual ToolCallFormat tool_call_format() const = 0;
  // Texts of the tokens that end the model's turn. The server stops at their ids as well as at
  // the tokenizer's end-of-generation ids, so that a tokenizer that does not know the family's
  // turn markers still stops where the template expects.
  virtual std::vector<std::string> end_of_turn_texts() const = 0;
  // Texts of the tokens the output parsers read (the reasoning and tool-call markers): the server
  // renders them as text even where the vocabulary types them as control tokens, which it
  // otherwise drops.
  virtual std::vector<std::string> marker_texts() const = 0;
};

struct ChatTemplateChoice {
  ChatFamily family = ChatFamily::kGemma3;
  std::string reason;  // for the startup log: which metadata decided it
};

// The family from the GGUF's general.architecture and tokenizer.chat_template (either may be
// empty). The template's text decides when it has a family's turn markers ("<|turn>" for
// Gemma 4, "<start_of_turn>" for Gemma 3): it is what the model was tuned on. Otherwise
// general.architecture "gemma4" means Gemma 4, and anything else Gemma 3's format.
ChatTemplateChoice ChooseChatTemplate(std::string_view architecture,
                                      std::string_view chat_template_text);
std::unique_ptr<ChatTemplate> MakeChatTemplate(ChatFamily family);

// What the Gemma 3 template does, quirks included, because the model was tuned on its output:
//   - "<bos>" first; a leading "system" message (only "system": "developer" is an ordinary role)
//     becomes a prefix of the first turn: its content untrimmed, or the first part's text when
//     it is a list, then "\n\n";
//   - the remaining messages must be user, any non-user role, user, ...; each renders as
//     "<start_of_turn>" role "\n" content "<end_of_turn>\n", with "assistant" renamed "model";
//   - string content is trimmed (Python's str.strip: Unicode whitespace); list content renders
//     each text part trimmed, "<start_of_image>" for an image part, nothing for other parts;
//   - add_generation_prompt appends "<start_of_turn>model\n".
// Empty messages, broken alternation and a system list without a leading text part are errors.
// Null content arrives as "" (ChatMessage cannot tell them apart) and renders as empty, where the
// template would raise. Tool calls, tool results and reasoning are not rendered (the template
// reads none of them). The Gemma 3 ChatTemplate renames "developer" to "system" first: OpenAI's
// newer name for the role the template knows.
RenderedPrompt RenderGemma3Chat(const std::vector<ChatMessage>& messages,
                                bool add_generation_prompt);

// What the Gemma 4 template does, quirks included:
//   - "<bos>"; a system turn "<|turn>system\n" ... "<turn|>\n" when thinking is on, tools are
//     given or the first message is "system" or "developer": "<|think|>" (thinking), that
//     message's content trimmed, then each tool as "<|tool>declaration:NAME{...}<tool|>";
//   - every other message as "<|turn>" role "\n" ... "<turn|>\n" in any order (no alternation
//     rule; "assistant" becomes "model", a later system or developer message keeps its name):
//     its tool calls "<|tool_call>call:NAME{k:v,...}<tool_call|>", its tool_responses
//     "<|tool_response>response:NAME{...}<tool_response|>", then its content: model text with
//     every "<|channel>...<channel|>" thought removed, then trimmed; other roles' text trimmed;
//     list content as its text parts so treated, "\n\n<|image|>\n\n", "<|audio|>",
//     "\n\n<|video|>\n\n" for media parts; a message with tool_responses and no content leaves
//     its turn open (the model goes on after the results);
//   - add_generation_prompt: "<|turn>model\n" (not after an open tool-response turn), then, with
//     thinking off, the empty thought "<|channel>thought\n<channel|>".
// Values in tool declarations, arguments and results print in the template's syntax (strings as
// <|"|>...<|"|>, keys sorted case-insensitively, numbers and None as Python prints them).
// `reasoning` and `name` are not rendered. A system or developer first message with list content
// renders as Python prints the list (the template applies `trim` to it): [{'type': 'text',
// 'text': '...'}], media parts as {'type': 'image'}. Errors where jinja raises: no messages, a
// tool without "function", properties that are not an object, a non-iterable `required`.
// jinja_text.h lists where printing values may differ from Python.
RenderedPrompt RenderGemma4Chat(const std::vector<ChatMessage>& messages,
                                const ChatTemplateOptions& options);

}  // namespace gs::api
