#pragma once
// Outputs are written whole or not at all (docs/cli.md, "Outputs").
//
// OutputDir: a command's --out folder is written as a fresh temporary folder beside
// it and renamed into place only once every file is complete, so no run leaves a
// half-written or mixed set. An existing non-empty --out is refused unless --force,
// which replaces it as a whole (nothing of the old set survives).
// OutputFiles: single-file outputs (gen, eval --csv/--json) are each written to a
// temporary file beside the target and renamed over it once all are written.
// Both refuse two outputs that name the same file.
#include <string>
#include <vector>

namespace coreroute::cli {

class OutputDir {
 public:
  /// Checks `dir` (flag `flag`) before any work: not a file, and empty or absent
  /// unless `force`. Creates nothing yet.
  OutputDir(std::string flag, std::string dir, bool force);
  ~OutputDir();  // removes the temporary folder of a run that did not commit
  OutputDir(const OutputDir&) = delete;
  OutputDir& operator=(const OutputDir&) = delete;

  /// Where to write file `name` now (in the temporary folder, created on first use).
  std::string stage(const std::string& name);
  /// The file's path once committed, for messages: "out/ids.npy".
  std::string final_path(const std::string& name) const;
  /// Renames the temporary folder into place (replacing an old --out under --force).
  void commit();

 private:
  std::string flag_, dir_, tmp_;
  bool force_, committed_ = false;
  std::vector<std::string> names_;
};

class OutputFiles {
 public:
  ~OutputFiles();  // removes the temporary files of a run that did not commit
  /// Registers output `path` given by `flag`; an output naming the same file as an
  /// earlier one (or as an input added with `input`) is an error naming both flags.
  void add(const std::string& flag, const std::string& path);
  void input(const std::string& flag, const std::string& path);
  /// Where to write `path` now.
  std::string stage(const std::string& path) const;
  void commit();

 private:
  struct Entry {
    std::string flag, path, tmp;
    bool output;
  };
  std::vector<Entry> entries_;
  bool committed_ = false;
};

}  // namespace coreroute::cli
