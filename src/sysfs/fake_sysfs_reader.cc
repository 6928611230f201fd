#include "sysfs/fake_sysfs_reader.h"

#include <cerrno>

#include <fmt/format.h>

namespace diskinv {

void FakeSysfsReader::MakeParents(const std::string& path) {
  size_t pos = 0;
  while ((pos = path.find('/', pos)) != std::string::npos) {
    nodes_.try_emplace(path.substr(0, pos), Node{EntryType::kDir, {}, 0});
    ++pos;
  }
}

void FakeSysfsReader::AddFile(std::string_view path, std::string content) {
  std::string p = NormalizePath(path);
  MakeParents(p);
  nodes_[p] = Node{EntryType::kFile, std::move(content), 0};
}

void FakeSysfsReader::AddSymlink(std::string_view path, std::string target) {
  std::string p = NormalizePath(path);
  MakeParents(p);
  nodes_[p] = Node{EntryType::kSymlink, std::move(target), 0};
}

void FakeSysfsReader::AddDir(std::string_view path) {
  std::string p = NormalizePath(path);
  MakeParents(p);
  nodes_.try_emplace(p, Node{EntryType::kDir, {}, 0});
}

void FakeSysfsReader::SetError(std::string_view path, int err) {
  std::string p = NormalizePath(path);
  MakeParents(p);
  nodes_.try_emplace(p, Node{EntryType::kFile, {}, 0}).first->second.error = err;
}

void FakeSysfsReader::Remove(std::string_view path) {
  std::string p = NormalizePath(path);
  auto it = nodes_.lower_bound(p);
  while (it != nodes_.end() &&
         (it->first == p || (it->first.size() > p.size() && it->first.compare(0, p.size(), p) == 0 &&
                             it->first[p.size()] == '/'))) {
    it = nodes_.erase(it);
  }
}

void FakeSysfsReader::Touch(std::string_view path) {
  ++accesses_;
  if (hook_) hook_(path);
}

Result<std::string> FakeSysfsReader::Resolve(std::string_view path, bool follow_last) {
  std::string pending = NormalizePath(path);
  std::string done;
  int hops = 0;
  while (!pending.empty()) {
    size_t slash = pending.find('/');
    std::string comp = pending.substr(0, slash);
    pending = slash == std::string::npos ? "" : pending.substr(slash + 1);
    std::string cur = done.empty() ? comp : done + "/" + comp;
    auto it = nodes_.find(cur);
    if (it == nodes_.end()) return Status(ENOENT, fmt::format("{}: No such file or directory", path));
    if (it->second.error != 0 && pending.empty()) {
      return Status::FromErrno(it->second.error, std::string(path));
    }
    if (it->second.type == EntryType::kSymlink && (follow_last || !pending.empty())) {
      if (++hops > 40) return Status::FromErrno(ELOOP, std::string(path));
      std::string target = ResolveLinkTarget(cur, it->second.data);
      pending = pending.empty() ? target : target + "/" + pending;
      done.clear();
      continue;
    }
    if (!pending.empty() && it->second.type != EntryType::kDir) {
      return Status::FromErrno(ENOTDIR, std::string(path));
    }
    done = cur;
  }
  return done;
}

Result<std::string> FakeSysfsReader::ReadFile(std::string_view path, size_t max_bytes) {
  Touch(path);
  auto r = Resolve(path, true);
  if (!r.ok()) return r.status();
  const Node& n = nodes_.at(*r);
  if (n.type == EntryType::kDir) return Status::FromErrno(EISDIR, std::string(path));
  if (n.data.size() > max_bytes) {
    return Status(EFBIG, fmt::format("{}: larger than {} bytes", path, max_bytes));
  }
  return n.data;
}

Result<std::string> FakeSysfsReader::ReadLink(std::string_view path) {
  Touch(path);
  auto r = Resolve(path, false);
  if (!r.ok()) return r.status();
  const Node& n = nodes_.at(*r);
  if (n.type != EntryType::kSymlink) return Status::FromErrno(EINVAL, std::string(path));
  return n.data;
}

Result<std::vector<DirEntry>> FakeSysfsReader::ListDir(std::string_view path) {
  Touch(path);
  auto r = Resolve(path, true);
  if (!r.ok()) return r.status();
  const std::string& dir = *r;
  if (!dir.empty() && nodes_.at(dir).type != EntryType::kDir) {
    return Status::FromErrno(ENOTDIR, std::string(path));
  }
  std::vector<DirEntry> out;
  std::string prefix = dir.empty() ? "" : dir + "/";
  for (auto it = nodes_.lower_bound(prefix); it != nodes_.end(); ++it) {
    if (it->first.compare(0, prefix.size(), prefix) != 0) break;
    std::string_view rest = std::string_view(it->first).substr(prefix.size());
    if (rest.empty() || rest.find('/') != std::string_view::npos) continue;
    out.push_back({std::string(rest), it->second.type});
  }
  return out;
}

bool FakeSysfsReader::Exists(std::string_view path) {
  Touch(path);
  return Resolve(path, true).ok();
}

bool FakeSysfsReader::IsDir(std::string_view path) {
  Touch(path);
  auto r = Resolve(path, true);
  return r.ok() && (r->empty() || nodes_.at(*r).type == EntryType::kDir);
}

}  // namespace diskinv
