#include "lucid/models/config_text.h"

#include <sstream>
#include <stdexcept>

namespace lucid::models {

std::map<std::string, std::string> parse_config_text(const std::string& text) {
  std::map<std::string, std::string> kv;
  std::istringstream in(text);
  for (std::string item; std::getline(in, item, ';');) {
    const auto eq = item.find('=');
    if (eq == std::string::npos) throw std::invalid_argument("bad config item '" + item + "'");
    kv[item.substr(0, eq)] = item.substr(eq + 1);
  }
  return kv;
}

const std::string& config_value(const std::map<std::string, std::string>& kv, const char* key) {
  auto it = kv.find(key);
  if (it == kv.end()) throw std::invalid_argument(std::string("config lacks ") + key);
  return it->second;
}

}  // namespace lucid::models
