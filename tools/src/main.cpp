// coreroute: block-level (coreset) MoE routing from the command line.
// Every failure ends in exactly one line on stderr and a non-zero exit status:
// 2 for bad usage (flags, values), 1 for bad input files or a failed run.
#include <cstdio>
#include <exception>
#include <string>

#include <CLI/CLI.hpp>

#include <coreroute/error.hpp>

#include "commands.hpp"
#include "npy.hpp"

namespace {

int fail(int code, std::string what) {
  const std::string prefix = "coreroute: ";
  if (what.compare(0, prefix.size(), prefix) == 0) what.erase(0, prefix.size());
  for (char& c : what)
    if (c == '\n' || c == '\r') c = ' ';
  std::fprintf(stderr, "coreroute: error: %s\n", what.c_str());
  return code;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "coreroute: block-level (coreset) MoE routing for diffusion LLMs.\n"
      "Start with 'coreroute demo'; see docs/cli.md.",
      "coreroute"};
  app.require_subcommand(1);
  app.set_help_all_flag("--help-all", "Help on every subcommand");
  app.set_version_flag("--version", "coreroute " COREROUTE_VERSION,
                       "Print the version (CMake's project version) and exit");
  coreroute::cli::add_demo(app);
  coreroute::cli::add_gen(app);
  coreroute::cli::add_route(app);
  coreroute::cli::add_eval(app);
  coreroute::cli::add_sweep(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {
    return app.exit(e);  // --help
  } catch (const CLI::ParseError& e) {
    std::string where;
    for (const CLI::App* sub : app.get_subcommands()) where = std::string(" ") + sub->get_name();
    return fail(2, std::string(e.what()) + " (see 'coreroute" + where + " --help')");
  } catch (const coreroute::invalid_argument& e) {
    return fail(2, e.what());
  } catch (const coreroute::cli::npy_error& e) {
    return fail(1, e.what());
  } catch (const std::bad_alloc&) {
    return fail(1, "out of memory");
  } catch (const std::exception& e) {
    return fail(1, e.what());
  }
  return 0;
}
