// Stop strings over text that arrives a token at a time. A stop string may span any number of
// tokens, so text that could still turn out to be the start of one is held back until it cannot.
// The stop string itself is never returned, nor anything after it.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace gs::api {

class StopMatcher {
 public:
  explicit StopMatcher(std::vector<std::string> stops);

  // Appends text; returns what is now safe to emit. After a match (matched() turns true) the
  // result ends right before the stop string and every later call returns nothing.
  std::string Push(std::string_view text);
  // End of the stream: the text still held back.
  std::string Flush();
  bool matched() const { return matched_; }

 private:
  std::vector<std::string> stops_;  // non-empty, valid UTF-8
  std::string held_;
  bool matched_ = false;
};

}  // namespace gs::api
