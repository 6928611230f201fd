// packaging/diskinv.conf (installed as /etc/diskinv/diskinv.conf): every key the agent
// accepts is there, and the file parses both as shipped and with every example uncommented.
#include <gtest/gtest.h>

#include <set>
#include <sstream>

#include "agent/agent_config.h"
#include "support/lsblk_compare.h"
#include "support/shell.h"

namespace diskinv {
namespace {

std::string Example() {
  return testing::ReadWholeFile(testing::SourceDir() + "/packaging/diskinv.conf");
}

TEST(ExampleConfig, ParsesAsShippedAndUncommented) {
  std::string text = Example();
  ASSERT_FALSE(text.empty());
  AgentConfig shipped;
  Status st = ParseAgentConfig(text, "diskinv.conf", shipped);
  ASSERT_TRUE(st.ok()) << st.message();
  // "#key = value" lines are the examples; uncommented, each must be accepted.
  // "#key = value" (no std::regex: GCC 12 warns inside <regex> under ASan).
  std::ostringstream uncommented;
  std::set<std::string> keys;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    size_t eq = line.find(" = ");
    if (!line.starts_with("#") || eq == std::string::npos || eq < 2) continue;
    std::string key = line.substr(1, eq - 1);
    if (key.find_first_not_of("abcdefghijklmnopqrstuvwxyz_") != std::string::npos) continue;
    keys.insert(key);
    uncommented << key << " = " << line.substr(eq + 3) << "\n";
  }
  AgentConfig all;
  st = ParseAgentConfig(uncommented.str(), "diskinv.conf (uncommented)", all);
  ASSERT_TRUE(st.ok()) << st.message() << "\n" << uncommented.str();
  EXPECT_TRUE(ValidateAgentConfig(all).ok());
  for (std::string_view k : AgentConfigKeys()) {
    EXPECT_TRUE(keys.contains(std::string(k))) << "packaging/diskinv.conf does not show " << k;
  }
  EXPECT_EQ(keys.size(), AgentConfigKeys().size());
}

TEST(ExampleConfig, ManPageListsEveryKey) {
  std::string page = testing::ReadWholeFile(testing::SourceDir() + "/docs/diskinv.8");
  for (std::string_view k : AgentConfigKeys()) {
    EXPECT_NE(page.find(".B " + std::string(k) + "\n"), std::string::npos)
        << "docs/diskinv.8 has no '.B " << k << "' item under CONFIGURATION";
  }
}

}  // namespace
}  // namespace diskinv
