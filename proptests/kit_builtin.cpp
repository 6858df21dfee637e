// The conformance kit on each built-in policy, against docs/spec.md section 4's definitions
// (oracles.hpp) and on both host backends. argv[1]: vanilla | union | vote | blockdist.
#include <cstring>
#include <iostream>

#include <coreroute/testing/kit.hpp>

namespace ct = coreroute::testing;

int main(int argc, char** argv) {
  const std::string which = argc > 1 ? argv[1] : "";
  ct::PropertySuite suite("kit, " + which);
  if (which == "vanilla")
    ct::check_policy<coreroute::VanillaPolicy>(suite, "vanilla", ct::gen::vanilla_policy,
                                               ct::builtin_oracle<coreroute::VanillaPolicy>());
  else if (which == "union")
    ct::check_policy<coreroute::UnionPolicy>(suite, "union", ct::gen::union_policy,
                                             ct::builtin_oracle<coreroute::UnionPolicy>());
  else if (which == "vote")
    ct::check_policy<coreroute::SaliencyVotePolicy>(suite, "vote", ct::gen::vote_policy,
                                                    ct::builtin_oracle<coreroute::SaliencyVotePolicy>());
  else if (which == "blockdist")
    ct::check_policy<coreroute::BlockDistributionPolicy>(suite, "blockdist", ct::gen::blockdist_policy,
                                                         ct::builtin_oracle<coreroute::BlockDistributionPolicy>());
  else {
    std::cerr << "usage: " << argv[0] << " vanilla|union|vote|blockdist\n";
    return 2;
  }
  return suite.finish();
}
