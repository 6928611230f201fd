"""A throwaway PostgreSQL 15 for scripts (fixture capture, benchmarks): initdb in a temporary
directory and pg_ctl start, as the user diskinv-test when run as root (postgres refuses root).

    with PgTmp(port=55499, settings={"wal_level": "logical"}) as pg:
        subprocess.run(["psql", "-d", pg.url(), "-c", "select 1"])
"""
import os
import pwd
import shutil
import subprocess
import tempfile


class PgTmp:
    def __init__(self, port, settings=None, bindir=None):
        self.port = port
        self.bindir = bindir or os.environ.get("DISKINV_PG_BINDIR", "/usr/lib/postgresql/15/bin")
        self.settings = settings or {}
        self.user = None
        self.dir = None

    def _run(self, cmd, check=True):
        if self.user:
            cmd = ["runuser", "-u", self.user, "--"] + cmd
        return subprocess.run(cmd, check=check, text=True, capture_output=True)

    def __enter__(self):
        if os.geteuid() == 0:
            self.user = "diskinv-test"
            try:
                pwd.getpwnam(self.user)
            except KeyError:
                subprocess.run(["useradd", "--system", "--no-create-home", "--shell",
                                "/usr/sbin/nologin", self.user], check=True)
        self.dir = tempfile.mkdtemp(prefix="diskinv-pgtmp.")
        if self.user:
            shutil.chown(self.dir, self.user)
        data = os.path.join(self.dir, "data")
        self._run([f"{self.bindir}/initdb", "-D", data, "-U", "postgres", "-A", "trust",
                   "--no-sync", "--no-locale", "-E", "UTF8"])
        opts = f"-p {self.port} -k {self.dir} -c listen_addresses=''"
        for k, v in self.settings.items():
            opts += f" -c {k}={v}"
        self._run([f"{self.bindir}/pg_ctl", "-D", data, "-l", os.path.join(self.dir, "log"),
                   "-w", "-o", opts, "start"])
        return self

    def url(self, db="postgres"):
        return f"postgresql://postgres@/{db}?host={self.dir}&port={self.port}"

    def psql(self, sql, db="postgres", stdin=None):
        cmd = ["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", self.url(db)]
        if stdin is None:
            cmd += ["-c", sql]
        return subprocess.run(cmd, check=True, text=True, capture_output=True,
                              input=stdin).stdout.strip()

    def __exit__(self, *exc):
        self._run([f"{self.bindir}/pg_ctl", "-D", os.path.join(self.dir, "data"), "-m", "fast",
                   "stop"], check=False)
        shutil.rmtree(self.dir, ignore_errors=True)
        return False
