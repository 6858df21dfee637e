#include "output.hpp"

#include <unistd.h>

#include <filesystem>
#include <random>
#include <system_error>

#include <coreroute/error.hpp>

namespace coreroute::cli {

namespace fs = std::filesystem;

namespace {

using coreroute::detail::fail;

/// A name no other run uses at the same time: pid and a random draw.
std::string unique_suffix() {
  std::random_device rd;
  return std::to_string(::getpid()) + "-" + std::to_string(rd() % 1000000);
}

/// The same file, whether or not it exists yet (a path compared in canonical form).
std::string identity(const std::string& path) {
  std::error_code ec;
  const fs::path p = fs::weakly_canonical(fs::absolute(path, ec), ec);
  return (ec ? fs::absolute(path) : p).lexically_normal().string();
}

}  // namespace

OutputDir::OutputDir(std::string flag, std::string dir, bool force)
    : flag_(std::move(flag)), dir_(std::move(dir)), force_(force) {
  std::error_code ec;
  while (dir_.size() > 1 && dir_.back() == '/') dir_.pop_back();  // "routed/" is the folder routed
  const fs::path p = fs::path(dir_).lexically_normal();
  const std::string last = p.filename().string();
  if (dir_.empty() || last.empty() || last == "." || last == "..")
    fail(flag_, dir_, "must name a folder to create, not the current, parent or root folder");
  if (fs::exists(p, ec) || fs::is_symlink(p, ec)) {
    if (!fs::is_directory(p, ec)) fail(flag_, dir_, "exists and is not a folder");
    if (!fs::is_empty(p, ec) && !force_)
      fail(flag_, dir_, "is a non-empty folder; give --force to replace it as a whole, or another folder");
  }
}

OutputDir::~OutputDir() {
  if (!committed_ && !tmp_.empty()) {
    std::error_code ec;
    fs::remove_all(tmp_, ec);
  }
}

std::string OutputDir::stage(const std::string& name) {
  for (const std::string& n : names_)
    if (n == name) fail(flag_, dir_, "two outputs of this run are both named " + name);
  names_.push_back(name);
  if (tmp_.empty()) {
    const fs::path p = fs::absolute(fs::path(dir_).lexically_normal());
    std::error_code ec;
    fs::create_directories(p.parent_path(), ec);
    const fs::path tmp = p.parent_path() / ("." + p.filename().string() + ".tmp-" + unique_suffix());
    if (ec || !fs::create_directory(tmp, ec))
      fail(flag_, dir_, "cannot create a temporary folder beside it" + (ec ? " (" + ec.message() + ")" : ""));
    tmp_ = tmp.string();
  }
  return (fs::path(tmp_) / name).string();
}

std::string OutputDir::final_path(const std::string& name) const {
  return (fs::path(dir_) / name).lexically_normal().string();
}

void OutputDir::commit() {
  if (tmp_.empty()) stage(".");  // nothing written: still create the (empty) folder
  std::error_code ec;
  const fs::path p = fs::path(dir_).lexically_normal();
  fs::path old;
  if (fs::exists(p, ec)) {
    if (fs::is_empty(p, ec)) {
      fs::remove(p, ec);
    } else {
      old = p.parent_path() / ("." + p.filename().string() + ".old-" + unique_suffix());
      fs::rename(p, old, ec);  // --force (checked in the constructor)
    }
    if (ec) fail(flag_, dir_, "cannot replace the existing folder (" + ec.message() + ")");
  }
  fs::rename(tmp_, p, ec);
  if (ec) {
    if (!old.empty()) fs::rename(old, p, ec);  // put the old set back
    fail(flag_, dir_, "cannot move the finished outputs into place");
  }
  committed_ = true;
  if (!old.empty()) fs::remove_all(old, ec);
}

OutputFiles::~OutputFiles() {
  if (committed_) return;
  std::error_code ec;
  for (const Entry& e : entries_)
    if (e.output) fs::remove(e.tmp, ec);
}

void OutputFiles::input(const std::string& flag, const std::string& path) {
  entries_.push_back({flag, identity(path), "", false});
}

void OutputFiles::add(const std::string& flag, const std::string& path) {
  const std::string id = identity(path);
  for (const Entry& e : entries_)
    if (e.path == id)
      fail(flag, path, std::string("names the same file as ") + e.flag + (e.output ? "" : " (an input)"));
  std::error_code ec;
  if (fs::is_directory(path, ec)) fail(flag, path, "is a folder; it must name a file");
  const fs::path p(path);
  entries_.push_back(
      {flag, id, (p.parent_path() / ("." + p.filename().string() + ".tmp-" + unique_suffix())).string(), true});
}

std::string OutputFiles::stage(const std::string& path) const {
  const std::string id = identity(path);
  for (const Entry& e : entries_)
    if (e.output && e.path == id) return e.tmp;
  fail("output", path, "was not registered (a bug)");
}

void OutputFiles::commit() {
  std::error_code ec;
  for (const Entry& e : entries_) {
    if (!e.output) continue;
    fs::rename(e.tmp, e.path, ec);
    if (ec) fail(e.flag, e.path, "cannot move the finished file into place (" + ec.message() + ")");
  }
  committed_ = true;
}

}  // namespace coreroute::cli
