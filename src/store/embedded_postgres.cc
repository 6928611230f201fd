#include "store/embedded_postgres.h"

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "common/logging.h"
#include "store/pg_connection.h"

namespace diskinv {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

std::string ReadText(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string Tail(const std::string& path) {
  std::string s = ReadText(path);
  return s.size() > 2000 ? "..." + s.substr(s.size() - 2000) : s;
}

// fork + exec, output appended to `log`, in a new session (a ^C in the terminal must reach
// diskinv, which then stops the server in order), with the signal mask the agent may have set
// cleared, optionally as another user.
Result<pid_t> Spawn(const std::vector<std::string>& argv, const std::string& log, bool as_user,
                    uid_t uid, gid_t gid) {
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = fork();
  if (pid < 0) return Status::FromErrno(errno, "fork");
  if (pid == 0) {
    setsid();
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (fd < 0 || null < 0) _exit(126);
    dup2(null, 0);
    dup2(fd, 1);
    dup2(fd, 2);
    if (as_user && (setgroups(0, nullptr) != 0 || setgid(gid) != 0 || setuid(uid) != 0)) {
      _exit(126);
    }
    execv(args[0], args.data());
    _exit(127);
  }
  return pid;
}

Status Wait(pid_t pid, const std::string& what, const std::string& log) {
  int st = 0;
  while (waitpid(pid, &st, 0) < 0) {
    if (errno != EINTR) return Status::FromErrno(errno, "waitpid " + what);
  }
  if (WIFEXITED(st) && WEXITSTATUS(st) == 0) return Status::Ok();
  return Status::Invalid(fmt::format("{} failed (exit status {}); {}:\n{}", what,
                                     WIFEXITED(st) ? WEXITSTATUS(st) : -1, log, Tail(log)));
}

// postmaster.pid: line 1 pid, 2 data directory, 4 port, 5 socket dir, 8 status ("ready").
std::vector<std::string> PidFile(const std::string& pgdata) {
  std::vector<std::string> lines;
  std::istringstream in(ReadText(pgdata + "/postmaster.pid"));
  for (std::string l; std::getline(in, l);) lines.push_back(l);
  return lines;
}

std::string FindBinDir(const std::string& configured) {
  if (!configured.empty()) return configured;
  if (const char* env = std::getenv("DISKINV_PG_BINDIR"); env && *env) return env;
  std::string best;
  int best_version = -1;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator("/usr/lib/postgresql", ec)) {
    int v = std::atoi(e.path().filename().c_str());
    if (v > best_version && access((e.path() / "bin/postgres").c_str(), X_OK) == 0) {
      best_version = v;
      best = (e.path() / "bin").string();
    }
  }
  return best.empty() ? "/usr/lib/postgresql/15/bin" : best;
}

Status MakeDir(const std::string& path, mode_t mode, bool chown_to, uid_t uid, gid_t gid) {
  if (mkdir(path.c_str(), mode) < 0 && errno != EEXIST) {
    return Status::FromErrno(errno, "mkdir " + path);
  }
  if (chown_to && chown(path.c_str(), uid, gid) < 0) {
    return Status::FromErrno(errno, "chown " + path);
  }
  if (chmod(path.c_str(), mode) < 0) return Status::FromErrno(errno, "chmod " + path);
  return Status::Ok();
}

}  // namespace

Result<std::unique_ptr<EmbeddedPostgres>> EmbeddedPostgres::Start(
    const EmbeddedPostgresOptions& options) {
  if (options.state_dir.empty() || options.state_dir[0] != '/') {
    return Status::Invalid("the state directory must be an absolute path");
  }
  std::unique_ptr<EmbeddedPostgres> pg(new EmbeddedPostgres(options));
  if (Status s = pg->Prepare(); !s.ok()) return s;
  if (Status s = pg->Init(); !s.ok()) return s;
  if (Status s = pg->Launch(); !s.ok()) return s;
  if (Status s = pg->CreateDatabase(); !s.ok()) return s;
  return pg;
}

Status EmbeddedPostgres::Prepare() {
  bin_ = FindBinDir(opt_.bin_dir);
  for (const char* tool : {"postgres", "initdb"}) {
    if (access((bin_ + "/" + tool).c_str(), X_OK) < 0) {
      return Status::FromErrno(
          errno, fmt::format("{}/{} (install the Debian package postgresql-15, or set "
                             "DISKINV_DATABASE_URL to use an existing database)",
                             bin_, tool));
    }
  }
  version_ = fs::path(bin_).parent_path().filename().string();
  if (geteuid() == 0) {
    as_user_ = true;
    if (getpwnam(opt_.user.c_str()) == nullptr) {
      Logger("store")->info("creating the system user {} for PostgreSQL", opt_.user);
      auto pid = Spawn({"/usr/sbin/useradd", "--system", "--user-group", "--no-create-home",
                        "--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin", opt_.user},
                       "/dev/null", false, 0, 0);
      if (!pid.ok()) return pid.status();
      (void)Wait(*pid, "useradd " + opt_.user, "/dev/null");  // a parallel run may have won
    }
    const passwd* pw = getpwnam(opt_.user.c_str());
    if (pw == nullptr) return Status::Invalid("cannot create the system user " + opt_.user);
    uid_ = pw->pw_uid;
    gid_ = pw->pw_gid;
  }
  std::error_code ec;
  fs::create_directories(opt_.state_dir, ec);
  if (ec) return Status(ec.value(), fmt::format("mkdir {}: {}", opt_.state_dir, ec.message()));
  if (Status s = MakeDir(opt_.state_dir + "/run", 0700, as_user_, uid_, gid_); !s.ok()) return s;
  return Status::Ok();
}

Status EmbeddedPostgres::Init() {
  std::string pgdata = opt_.state_dir + "/pgdata";
  if (access((pgdata + "/PG_VERSION").c_str(), F_OK) == 0) return Status::Ok();
  if (Status s = MakeDir(pgdata, 0700, as_user_, uid_, gid_); !s.ok()) return s;
  // A random password for TCP logins; initdb reads it from a file the server user can read.
  std::random_device rd;
  std::string password;
  const char* alphabet = "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
  for (int i = 0; i < 24; ++i) password += alphabet[rd() % 57];
  std::string pw_path = opt_.state_dir + "/password";
  std::string pw_tmp = opt_.state_dir + "/run/initdb-password";
  for (const std::string& path : {pw_path, pw_tmp}) {
    int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) return Status::FromErrno(errno, "create " + path);
    bool ok = write(fd, password.data(), password.size()) == ssize_t(password.size());
    if (path == pw_tmp && as_user_ && fchown(fd, uid_, gid_) < 0) ok = false;
    close(fd);
    if (!ok) return Status::FromErrno(errno, "write " + path);
  }
  std::string log = opt_.state_dir + "/initdb.log";
  Logger("store")->info("initdb {} (PostgreSQL {})", pgdata, version_);
  auto pid = Spawn({bin_ + "/initdb", "-D", pgdata, "-U", "diskinv", "--auth-local=trust",
                    "--auth-host=scram-sha-256", "--pwfile=" + pw_tmp, "-E", "UTF8",
                    "--no-locale"},
                   log, as_user_, uid_, gid_);
  Status s = pid.ok() ? Wait(*pid, "initdb", log) : pid.status();
  unlink(pw_tmp.c_str());
  if (s.ok()) initialized_ = true;
  return s;
}

Status EmbeddedPostgres::Launch() {
  std::string pgdata = opt_.state_dir + "/pgdata";
  auto lines = PidFile(pgdata);
  if (lines.size() >= 8) {
    pid_t other = static_cast<pid_t>(std::atoi(lines[0].c_str()));
    if (other > 0 && kill(other, 0) == 0 && lines[7].starts_with("ready")) {
      if (lines[3] != std::to_string(opt_.port)) {
        return Status::Invalid(fmt::format("a server (pid {}) already runs on {} with port {}, "
                                           "not {}: use --port {}",
                                           other, pgdata, lines[3], opt_.port, lines[3]));
      }
      Logger("store")->info("reusing the running server (pid {}) on {}", other, pgdata);
      return Status::Ok();
    }
  }
  std::string log = log_file();
  std::vector<std::string> argv = {bin_ + "/postgres",
                                   "-D", pgdata,
                                   "-p", std::to_string(opt_.port),
                                   "-k", opt_.state_dir + "/run",
                                   "-c", "listen_addresses=127.0.0.1",
                                   "-c", "unix_socket_permissions=0700",
                                   "-c", "wal_level=logical",
                                   "-c", "max_wal_senders=10",
                                   "-c", "max_replication_slots=10"};
  auto pid = Spawn(argv, log, as_user_, uid_, gid_);
  if (!pid.ok()) return pid.status();
  pid_ = *pid;
  auto deadline = Clock::now() + opt_.start_timeout;
  while (Clock::now() < deadline) {
    int st;
    if (waitpid(pid_, &st, WNOHANG) == pid_) {
      pid_ = 0;
      return Status::Invalid(fmt::format("postgres exited at start (is 127.0.0.1:{} in use? "
                                         "--port chooses another); {}:\n{}",
                                         opt_.port, log, Tail(log)));
    }
    lines = PidFile(pgdata);
    if (lines.size() >= 8 && lines[0] == std::to_string(pid_) && lines[7].starts_with("ready")) {
      return Status::Ok();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return Status::Invalid(fmt::format("postgres (pid {}) not ready within {} s; {}:\n{}", pid_,
                                     opt_.start_timeout.count(), log, Tail(log)));
}

Status EmbeddedPostgres::CreateDatabase() {
  std::string admin = fmt::format("postgresql://diskinv@/postgres?host={}/run&port={}",
                                  opt_.state_dir, opt_.port);
  auto c = PgConnection::Connect(admin);
  if (!c.ok()) return c.status();
  auto r = (*c)->Exec("SELECT 1 FROM pg_database WHERE datname = $1", {opt_.database});
  if (!r.ok()) return r.status();
  if (r->rows() == 1) return Status::Ok();
  auto made = (*c)->Exec(fmt::format("CREATE DATABASE \"{}\"", opt_.database));
  return made.status();
}

std::string EmbeddedPostgres::url() const {
  return fmt::format("postgresql://diskinv@/{}?host={}/run&port={}", opt_.database, opt_.state_dir,
                     opt_.port);
}

Status EmbeddedPostgres::Stop() {
  if (pid_ <= 0) return Status::Ok();
  kill(pid_, SIGINT);  // fast shutdown: disconnect clients, checkpoint, exit
  for (auto [sig, wait] : {std::pair{SIGQUIT, 30}, {SIGKILL, 5}}) {
    auto deadline = Clock::now() + std::chrono::seconds(wait);
    int st;
    while (Clock::now() < deadline) {
      if (waitpid(pid_, &st, WNOHANG) == pid_) {
        pid_ = 0;
        return Status::Ok();
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    kill(pid_, sig);
  }
  waitpid(pid_, nullptr, 0);
  pid_ = 0;
  return Status::Ok();
}

EmbeddedPostgres::~EmbeddedPostgres() { (void)Stop(); }

}  // namespace diskinv
