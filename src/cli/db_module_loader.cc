// The CLI side of db_module.h: find diskinv-db.so, dlopen it and call its entry point.
#include <dlfcn.h>
#include <fmt/format.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string_view>
#include <vector>

#include "cli/cli.h"
#include "cli/db_module.h"
#include "common/version.h"

#ifndef DISKINV_DB_MODULE_RELPATH
#error "DISKINV_DB_MODULE_RELPATH: the module's path relative to the executable's directory"
#endif

namespace diskinv {
namespace {

std::string ExecutableDir() {
  char buf[4096];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf));
  if (n <= 0 || static_cast<size_t>(n) == sizeof(buf)) return {};
  std::string_view exe(buf, static_cast<size_t>(n));
  size_t slash = exe.rfind('/');
  return slash == std::string_view::npos ? std::string() : std::string(exe.substr(0, slash));
}

// dlopen(path) with GnuTLS's library constructor off. libpq pulls GnuTLS in through libldap, and
// GnuTLS initialises itself (CPU features, crypto backends, PKCS#11) when it is loaded unless
// GNUTLS_NO_IMPLICIT_INIT=1 (gnutls_global_init(3)). Nothing in diskinv uses GnuTLS: libpq's
// TLS is OpenSSL, and libldap calls gnutls_global_init itself before it would use TLS. Without
// the constructor the agent keeps 0.6-0.8 MiB less resident. The variable is set only around
// the dlopen (the CLI is single-threaded here), and not at all when the operator set it.
void* DlopenWithoutGnutlsInit(const char* path) {
  constexpr const char* kVar = "GNUTLS_NO_IMPLICIT_INIT";
  const bool preset = std::getenv(kVar) != nullptr;
  if (!preset) setenv(kVar, "1", 0);
  // RTLD_LOCAL: the module's copies of the diskinv libraries stay its own.
  void* handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (!preset) unsetenv(kVar);
  return handle;
}

}  // namespace

std::vector<std::string> DbModuleCandidates() {
  std::string dir = ExecutableDir();
  if (dir.empty()) return {};
  return {dir + "/" + kDbModuleFile, dir + "/" + DISKINV_DB_MODULE_RELPATH};
}

int RunInDbModule(const std::vector<std::string>& args, const DbModuleLogging& logging) {
  static void* handle = nullptr;
  std::vector<std::string> candidates = DbModuleCandidates();
  if (!handle) {
    std::string errors;
    for (const std::string& path : candidates) {
      if (access(path.c_str(), F_OK) != 0) continue;
      handle = DlopenWithoutGnutlsInit(path.c_str());
      if (handle) break;
      errors += fmt::format("\n  {}", dlerror());
    }
    if (!handle) {
      std::string tried;
      for (const auto& c : candidates) tried += "\n  " + c;
      std::fprintf(stderr,
                   "diskinv %s: the database commands live in %s, which could not be loaded "
                   "(is the installation complete?); looked for:%s%s\n",
                   args[0].c_str(), kDbModuleFile, tried.c_str(), errors.c_str());
      return kExitFailure;
    }
  }
  auto run = reinterpret_cast<int (*)(const DiskinvDbModuleCall*)>(dlsym(handle, kDbModuleEntry));
  if (!run) {
    std::fprintf(stderr, "diskinv %s: %s has no %s: %s\n", args[0].c_str(), kDbModuleFile,
                 kDbModuleEntry, dlerror());
    return kExitFailure;
  }
  std::vector<const char*> argv;
  for (const auto& a : args) argv.push_back(a.c_str());
  argv.push_back(nullptr);
  DiskinvDbModuleCall call{kDbModuleAbi,
                           DISKINV_VERSION,
                           static_cast<int>(args.size()),
                           argv.data(),
                           logging.level.c_str(),
                           logging.json ? 1 : 0,
                           logging.level_from_command_line ? 1 : 0};
  return run(&call);
}

}  // namespace diskinv
