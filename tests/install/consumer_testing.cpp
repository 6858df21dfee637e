// A consumer of the testing kit (coreroute::testing): the parity harness on the
// reference's own adapter, and one rapidcheck generator of the kit, so that both the
// headers and the rapidcheck dependency reach a downstream project.
#include <coreroute/testing/kit.hpp>

#include <cstdio>
#include <vector>

int main() {
  namespace ct = coreroute::testing;
  coreroute::RouterConfig config;
  config.num_experts = 4;
  config.top_k = 2;
  const std::vector<float> logits = {0.0f, 1.0f, 3.0f, 0.5f, 0.0f, 0.5f, 2.0f, 1.0f};
  const auto x = coreroute::make_logits_view(logits.data(), 1, 2, 4);
  const ct::ParityReport rep = ct::check_parity<ct::ReferenceBackend>(x, config, coreroute::UnionPolicy{1});
  if (!rep.ok()) {
    std::printf("consumer_testing: %s\n", rep.summary().c_str());
    return 1;
  }
  const bool held = rc::check("generated configs validate", [] {
    const coreroute::RouterConfig c = *ct::gen::config(8);
    coreroute::validate(c);
  });
  if (!held) return 1;
  std::printf("consumer_testing: ok\n");
  return 0;
}
