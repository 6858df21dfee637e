// Checks that every code block of a Markdown file announced by
//   <!-- snippet: path/in/repo#name -->
// equals the region of that file between two `// [name]` marker lines, so the
// documentation shows the code that is compiled and tested.
// Usage: doc_snippets <repo root> <doc.md>. Exit 0 when all agree (and there is at least one).
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

namespace {

std::vector<std::string> lines_of(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::vector<std::string> out;
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

std::string region(const std::vector<std::string>& file, const std::string& name) {
  const std::string marker = "// [" + name + "]";
  std::string out;
  int seen = 0;
  for (const std::string& line : file) {
    if (line == marker) {
      if (++seen == 2) return out;
      continue;
    }
    if (seen == 1) out += line + "\n";
  }
  throw std::runtime_error("no region '" + name + "' (two '" + marker + "' lines)");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::cerr << "usage: doc_snippets <repo root> <doc.md>\n";
    return 2;
  }
  try {
    const std::vector<std::string> doc = lines_of(argv[2]);
    const std::string tag = "<!-- snippet: ";
    int checked = 0, bad = 0;
    for (size_t i = 0; i < doc.size(); ++i) {
      if (doc[i].rfind(tag, 0) != 0) continue;
      const std::string ref = doc[i].substr(tag.size(), doc[i].find(" -->") - tag.size());
      const size_t hash = ref.find('#');
      const std::string want = region(lines_of(std::string(argv[1]) + "/" + ref.substr(0, hash)), ref.substr(hash + 1));
      if (i + 1 >= doc.size() || doc[i + 1].rfind("```", 0) != 0)
        throw std::runtime_error(ref + ": no code block follows");
      std::string got;
      size_t j = i + 2;
      for (; j < doc.size() && doc[j].rfind("```", 0) != 0; ++j) got += doc[j] + "\n";
      ++checked;
      if (got != want) {
        ++bad;
        std::cerr << argv[2] << ": the block of " << ref << " differs from the file\n";
      }
    }
    std::cerr << checked << " snippet(s) checked, " << bad << " differ\n";
    return checked > 0 && bad == 0 ? 0 : 1;
  } catch (const std::exception& e) {
    std::cerr << e.what() << "\n";
    return 1;
  }
}
