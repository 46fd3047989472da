// Chat messages -> prompt text, per model family. Gemma 3's renderer reproduces, output for output
// and error for error, the Jinja chat template that Gemma 3 instruct checkpoints ship
// (tests/golden/gemma3_chat_template.jinja; tests/golden/chat_template.json holds what jinja2
// renders for it, and chat_template_test holds this renderer to that).
#pragma once

#include <string>
#include <vector>

#include "api/chat_message.h"

namespace gs::api {

struct RenderedPrompt {
  std::string text;
  std::string error;  // non-empty: the template refuses the messages (and why)
};

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
// template would raise.
RenderedPrompt RenderGemma3Chat(const std::vector<ChatMessage>& messages,
                                bool add_generation_prompt);

}  // namespace gs::api
