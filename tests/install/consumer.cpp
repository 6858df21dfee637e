// Routes two tokens that both prefer expert 2 into a one-expert coreset and checks
// the result, then checks that a bad config is rejected with coreroute's error.
#include <coreroute/reference.hpp>

#include <cstdio>
#include <vector>

int main() {
  coreroute::RouterConfig config;
  config.num_experts = 4;
  config.top_k = 2;
  const std::vector<float> logits = {0.0f, 1.0f, 3.0f, 0.5f,   // token 0: 2, then 1
                                     0.0f, 0.5f, 2.0f, 1.0f};  // token 1: 2, then 3
  const auto x = coreroute::make_logits_view(logits.data(), 1, 2, 4);
  const auto R = coreroute::reference::route(x, config, coreroute::SaliencyVotePolicy::with_core(1));
  const bool ok = R.coreset_size[0] == 1 && R.id(0, 0, 0) == 2 && R.id(0, 0, 1) == -1 && R.id(0, 1, 0) == 2 &&
                  R.weight(0, 0, 1) == 0.0f && R.weight(0, 0, 0) > 0.5f;
  if (!ok) {
    std::printf("consumer: unexpected routing\n");
    return 1;
  }
  config.top_k = 5;
  try {
    coreroute::validate(config);
    std::printf("consumer: top_k = 5 > num_experts was accepted\n");
    return 1;
  } catch (const coreroute::invalid_argument&) {
  }
  std::printf("consumer: ok\n");
  return 0;
}
