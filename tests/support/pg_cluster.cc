#include "support/pg_cluster.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "common/subprocess.h"

namespace diskinv::testing {
namespace {

namespace fs = std::filesystem;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The server's and the tools' processes (common/subprocess.h).
Result<pid_t> Spawn(const std::vector<std::string>& argv, const std::string& log, bool as_user,
                    uid_t uid, gid_t gid) {
  return SpawnProcess({argv, log, as_user, uid, gid});
}

Status Wait(pid_t pid, const std::string& what, const std::string& log) {
  return WaitProcess(pid, what, log);
}

std::string Tail(const std::string& path) { return FileTail(path, 1500); }

Result<int> FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Status::FromErrno(errno, "socket");
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(a);
  if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) < 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) < 0) {
    int e = errno;
    close(fd);
    return Status::FromErrno(e, "bind 127.0.0.1:0");
  }
  close(fd);
  return static_cast<int>(ntohs(a.sin_port));
}

// postmaster.pid: line 1 pid, 4 port, 5 socket dir, 8 status ("ready" once it accepts).
std::vector<std::string> PidFileLines(const std::string& data_dir) {
  std::vector<std::string> lines;
  std::istringstream in(ReadFile(data_dir + "/postmaster.pid"));
  for (std::string l; std::getline(in, l);) lines.push_back(l);
  return lines;
}

bool WaitGone(pid_t pid, std::chrono::milliseconds timeout, bool child) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (child) {
      int st;
      if (waitpid(pid, &st, WNOHANG) == pid) return true;
    } else if (kill(pid, 0) < 0 && errno == ESRCH) {
      return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

}  // namespace

Result<std::unique_ptr<PgCluster>> PgCluster::Create(PgClusterOptions options) {
  std::unique_ptr<PgCluster> c(new PgCluster(std::move(options)));
  if (Status s = c->Init(); !s.ok()) return s;
  if (Status s = c->Start(); !s.ok()) return s;
  return c;
}

Status PgCluster::Init() {
  const char* env = std::getenv("DISKINV_PG_BINDIR");
  bin_ = !opt_.bin_dir.empty() ? opt_.bin_dir : env ? env : "/usr/lib/postgresql/15/bin";
  if (access((bin_ + "/postgres").c_str(), X_OK) < 0 || access((bin_ + "/initdb").c_str(), X_OK) < 0) {
    return Status::FromErrno(errno, bin_ + "/postgres (install the Debian package postgresql-15)");
  }
  if (geteuid() == 0) {
    as_user_ = true;
    if (getpwnam(opt_.user.c_str()) == nullptr) {
      auto pid = Spawn({"/usr/sbin/useradd", "--system", "--no-create-home", "--home-dir",
                        "/nonexistent", "--shell", "/usr/sbin/nologin", opt_.user},
                       "/dev/null", false, 0, 0);
      if (!pid.ok()) return pid.status();
      (void)Wait(*pid, "useradd " + opt_.user, "/dev/null");  // a parallel run may have won
    }
    const passwd* pw = getpwnam(opt_.user.c_str());
    if (pw == nullptr) return Status::Invalid("cannot create the system user " + opt_.user);
    uid_ = pw->pw_uid;
    gid_ = pw->pw_gid;
  }
  dir_ = opt_.dir;
  if (dir_.empty()) {
    char tmpl[] = "/tmp/diskinv-pg.XXXXXX";
    if (mkdtemp(tmpl) == nullptr) return Status::FromErrno(errno, "mkdtemp /tmp/diskinv-pg.XXXXXX");
    dir_ = tmpl;
  } else if (mkdir(dir_.c_str(), 0700) < 0 && errno != EEXIST) {
    return Status::FromErrno(errno, "mkdir " + dir_);
  }
  if (as_user_ && chown(dir_.c_str(), uid_, gid_) < 0) return Status::FromErrno(errno, "chown " + dir_);
  auto port = FreePort();
  if (!port.ok()) return port.status();
  port_ = *port;
  if (access((dir_ + "/data/PG_VERSION").c_str(), F_OK) == 0) return Status::Ok();  // reuse
  std::string log = dir_ + "/initdb.log";
  auto pid = Spawn({bin_ + "/initdb", "-D", dir_ + "/data", "-U", "postgres", "-A", "trust", "-E",
                    "UTF8", "--no-locale", "--no-sync"},
                   log, as_user_, uid_, gid_);
  if (!pid.ok()) return pid.status();
  return Wait(*pid, "initdb", log);
}

Status PgCluster::Start() {
  if (pid_ > 0) return Status::Ok();
  std::vector<std::string> argv = {
      bin_ + "/postgres", "-D", dir_ + "/data", "-p", std::to_string(port_), "-k", dir_,
      "-c", fmt::format("listen_addresses={}", opt_.tcp ? "127.0.0.1" : ""),
      "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
      "-c", "wal_level=logical", "-c", "max_wal_senders=10", "-c", "max_replication_slots=10",
      "-c", "max_connections=50", "-c", "unix_socket_permissions=0777"};
  auto pid = Spawn(argv, log_file(), as_user_, uid_, gid_);
  if (!pid.ok()) return pid.status();
  pid_ = *pid;
  auto deadline = std::chrono::steady_clock::now() + opt_.start_timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    int st;
    if (waitpid(pid_, &st, WNOHANG) == pid_) {
      pid_ = 0;
      return Status::Invalid(fmt::format("postgres exited with status {:#x}; {}:\n{}", st,
                                         log_file(), Tail(log_file())));
    }
    auto lines = PidFileLines(dir_ + "/data");
    if (lines.size() >= 8 && lines[0] == std::to_string(pid_) && lines[7].starts_with("ready")) {
      return Status::Ok();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return Status::Invalid(fmt::format("postgres (pid {}) not ready within {} ms; {}:\n{}", pid_,
                                     opt_.start_timeout.count(), log_file(), Tail(log_file())));
}

Status PgCluster::Stop() {
  if (pid_ <= 0) return Status::Ok();
  kill(pid_, SIGINT);  // fast shutdown: disconnect clients, checkpoint, exit
  if (!WaitGone(pid_, std::chrono::seconds(20), true)) {
    kill(pid_, SIGQUIT);
    if (!WaitGone(pid_, std::chrono::seconds(5), true)) {
      kill(pid_, SIGKILL);
      WaitGone(pid_, std::chrono::seconds(5), true);
    }
  }
  pid_ = 0;
  return Status::Ok();
}

PgCluster::~PgCluster() {
  if (detached_) return;
  (void)Stop();
  if (!opt_.keep && !dir_.empty()) {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
}

std::string PgCluster::url(const std::string& db) const {
  return fmt::format("postgresql://postgres@/{}?host={}&port={}", db, dir_, port_);
}

std::string PgCluster::tcp_url(const std::string& db) const {
  return fmt::format("postgresql://postgres@127.0.0.1:{}/{}", port_, db);
}

Status PgCluster::Psql(const std::string& sql, const std::string& db, std::string* out) const {
  std::string log = dir_ + "/psql.out";
  unlink(log.c_str());
  auto pid = Spawn({bin_ + "/psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", url(db),
                    "-c", sql},
                   log, false, 0, 0);
  if (!pid.ok()) return pid.status();
  Status s = Wait(*pid, "psql", log);
  if (out != nullptr) *out = ReadFile(log);
  return s;
}

Result<PgCluster*> SharedPgCluster() {
  static Result<std::unique_ptr<PgCluster>> shared = PgCluster::Create();
  if (!shared.ok()) return shared.status();
  return shared->get();
}

Result<std::string> FreshDatabase(const PgCluster& c, const std::string& name) {
  // Two calls: DROP/CREATE DATABASE cannot share the implicit transaction of one psql -c.
  for (const char* sql : {"DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", "CREATE DATABASE \"{}\""}) {
    if (Status s = c.Psql(fmt::format(fmt::runtime(sql), name)); !s.ok()) return s;
  }
  return c.url(name);
}

int PgClusterMain(int argc, char** argv) {
  std::string cmd = argc > 1 ? argv[1] : "";
  if (cmd == "start") {
    PgClusterOptions o;
    o.keep = true;
    if (argc > 2) o.dir = argv[2];
    auto c = PgCluster::Create(o);
    if (!c.ok()) {
      std::fprintf(stderr, "%s\n", c.status().message().c_str());
      return 1;
    }
    std::printf("export DISKINV_PG_DIR='%s'\nexport DISKINV_DATABASE_URL='%s'\n"
                "export DISKINV_DATABASE_TCP_URL='%s'\nexport DISKINV_PG_PID=%d\n",
                (*c)->dir().c_str(), (*c)->url().c_str(), (*c)->tcp_url().c_str(), (*c)->pid());
    (*c)->Detach();
    return 0;
  }
  if ((cmd == "stop" || cmd == "url") && argc > 2) {
    auto lines = PidFileLines(std::string(argv[2]) + "/data");
    if (lines.size() < 5) {
      std::fprintf(stderr, "%s/data/postmaster.pid: no running server\n", argv[2]);
      return cmd == "stop" ? 0 : 1;
    }
    if (cmd == "url") {
      std::printf("postgresql://postgres@/postgres?host=%s&port=%s\n", lines[4].c_str(),
                  lines[3].c_str());
      return 0;
    }
    pid_t pid = static_cast<pid_t>(std::atoi(lines[0].c_str()));
    if (pid > 0 && kill(pid, SIGINT) == 0 && !WaitGone(pid, std::chrono::seconds(20), false)) {
      kill(pid, SIGKILL);
    }
    return 0;
  }
  std::fprintf(stderr, "usage: %s start [DIR] | stop DIR | url DIR\n", argc > 0 ? argv[0] : "pgcluster");
  return 2;
}

}  // namespace diskinv::testing
