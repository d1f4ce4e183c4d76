// The "key=value;key=value" text in which weight files store a network's configuration.
#pragma once

#include <map>
#include <string>

namespace lucid::models {

// Splits the text into keys and values; throws std::invalid_argument for a malformed item.
std::map<std::string, std::string> parse_config_text(const std::string& text);
// The value of `key`; throws std::invalid_argument("config lacks KEY") if absent.
const std::string& config_value(const std::map<std::string, std::string>& kv, const char* key);

}  // namespace lucid::models
