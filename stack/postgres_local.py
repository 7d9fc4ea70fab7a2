"""PostgreSQL 15 from Debian's binaries, initialised into `.stack/postgres`.

The server refuses to run as root, so when the stack runs as root (CI does) it runs the
server as the `postgres` OS user that Debian's package creates.
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import subprocess
from pathlib import Path

from stack.settings import PG_PORT, local_pg_password_file
from stack.tls import TlsFiles

PG_BIN_DIRS = [Path("/usr/lib/postgresql/15/bin")]


def pg_bin(name: str) -> str:
    from stack.components import StackError

    for folder in PG_BIN_DIRS:
        if (folder / name).exists():
            return str(folder / name)
    found = shutil.which(name)
    if found is None:
        raise StackError(f"PostgreSQL's {name} not found", "install it: apt-get install postgresql-15")
    return found


def _as_server_user() -> list[str]:
    """Command prefix that runs a program as the server's OS user."""
    if os.geteuid() != 0:
        return []
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        from stack.components import StackError

        raise StackError("running as root, and there is no `postgres` user to run the server as",
                         "apt-get install postgresql-15 (it creates the user)") from None
    return ["runuser", "-u", "postgres", "--"]


def _chown_to_server_user(path: Path) -> None:
    if os.geteuid() != 0:
        return
    entry = pwd.getpwnam("postgres")
    for folder, _dirs, files in os.walk(path):
        os.chown(folder, entry.pw_uid, entry.pw_gid)
        for name in files:
            os.chown(os.path.join(folder, name), entry.pw_uid, entry.pw_gid)


def ensure_initdb(home: Path) -> None:
    from stack.components import StackError

    root = home / "postgres"
    data = root / "data"
    if (data / "PG_VERSION").exists():
        return
    root.mkdir(parents=True, exist_ok=True)
    password_file = local_pg_password_file(home)
    if not password_file.exists():
        password_file.write_text(secrets.token_urlsafe(24) + "\n")
        password_file.chmod(0o600)
    pwfile = root / "initdb.pw"
    shutil.copy(password_file, pwfile)
    data.mkdir(exist_ok=True)
    _chown_to_server_user(root)
    if os.geteuid() == 0:
        check = subprocess.run(_as_server_user() + ["test", "-w", str(data)])
        if check.returncode != 0:
            raise StackError(f"the postgres user cannot write {data}",
                             "make every parent folder of the repo readable (chmod o+x), "
                             "or set STRIDE_HOME to a folder it can reach")
    result = subprocess.run(
        _as_server_user() + [pg_bin("initdb"), "-D", str(data), "-U", "stride",
                             f"--pwfile={pwfile}", "--auth-host=scram-sha-256",
                             "--auth-local=peer", "-E", "UTF8", "--locale=C.UTF-8"],
        capture_output=True, text=True, timeout=300,
    )
    pwfile.unlink(missing_ok=True)
    if result.returncode != 0:
        shutil.rmtree(data, ignore_errors=True)
        raise StackError("initdb failed:\n" + (result.stdout + result.stderr)[-2000:])


HBA_PLAIN = """\
# Written by `stride stack up` on every start (stack/postgres_local.py): plain TCP, passwords.
host all all 127.0.0.1/32 scram-sha-256
host all all ::1/128 scram-sha-256
"""

HBA_TLS = """\
# Written by `stride stack up` on every start (stack/postgres_local.py): TLS only, and only a
# client whose certificate our CA signed and whose CN is the database user, with its password.
# No `host` line: a plain connection matches nothing and is refused.
hostssl all all 127.0.0.1/32 scram-sha-256 clientcert=verify-full
hostssl all all ::1/128 scram-sha-256 clientcert=verify-full
"""


def write_hba(home: Path, tls: bool) -> None:
    """pg_hba.conf for this start: plain, or mutual TLS only."""
    hba = home / "postgres" / "data" / "pg_hba.conf"
    hba.write_text(HBA_TLS if tls else HBA_PLAIN)
    _chown_to_server_user(hba)


def _server_tls_files(home: Path, tls: TlsFiles) -> TlsFiles:
    """The server's certificate, key and CA copied where its OS user owns them: PostgreSQL
    refuses a key another user owns unless it is group-readable only by root's group."""
    folder = home / "postgres" / "tls"
    folder.mkdir(parents=True, exist_ok=True)
    copies = TlsFiles(folder / "ca.crt", folder / "server.crt", folder / "server.key")
    for src, dst in ((tls.ca, copies.ca), (tls.cert, copies.cert), (tls.key, copies.key)):
        dst.unlink(missing_ok=True)
        shutil.copyfile(src, dst)
        dst.chmod(0o600)
    _chown_to_server_user(folder)
    return copies


def server_argv(home: Path, port: int = PG_PORT, tls: TlsFiles | None = None) -> list[str]:
    data = home / "postgres" / "data"
    settings = {
        "listen_addresses": "127.0.0.1",
        "port": str(port),
        "unix_socket_directories": "",
        "max_connections": "200",
        "shared_buffers": "256MB",
        "wal_compression": "on",
        "log_min_duration_statement": "1000",
        # Logs never carry data: no bind parameters, no "Failing row contains (…)" details.
        "log_parameter_max_length": "0",
        "log_parameter_max_length_on_error": "0",
        "log_error_verbosity": "terse",
    }
    if tls is not None:
        copies = _server_tls_files(home, tls)
        settings.update({"ssl": "on", "ssl_cert_file": str(copies.cert),
                         "ssl_key_file": str(copies.key), "ssl_ca_file": str(copies.ca),
                         "ssl_min_protocol_version": "TLSv1.2"})
    argv = _as_server_user() + [pg_bin("postgres"), "-D", str(data)]
    for key, value in settings.items():
        argv += ["-c", f"{key}={value}"]
    return argv


def clear_stale_lock(home: Path) -> bool:
    """Remove `postmaster.pid` left by a server that was killed; True if one was removed.

    PostgreSQL refuses to start while the PID in that file is alive, and a SIGKILLed
    postmaster stays a zombie until its parent (here: init, once `stride stack up` has
    exited) reaps it — which can take a while. A PID that is gone, a zombie, or no postgres
    process at all cannot be a running server.
    """
    lock = home / "postgres" / "data" / "postmaster.pid"
    try:
        pid = int(lock.read_text().split("\n", 1)[0])
    except (FileNotFoundError, ValueError):
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        alive = stat[stat.rindex(")") + 2] != "Z" and "postgres" in Path(f"/proc/{pid}/cmdline").read_text()
    except (FileNotFoundError, ProcessLookupError):
        alive = False
    if alive:
        return False
    lock.unlink(missing_ok=True)
    return True


def ensure_database(dsn: str) -> None:
    """Create the application's database named in `dsn` if it does not exist."""
    import psycopg
    from psycopg import sql
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    try:
        with psycopg.connect(dsn, connect_timeout=5):
            return
    except psycopg.OperationalError:
        pass  # most likely: the database does not exist yet
    dbname = str(conninfo_to_dict(dsn).get("dbname", "stride"))
    admin = make_conninfo(dsn, dbname="postgres", connect_timeout=5)
    with psycopg.connect(admin, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (dbname,)).fetchone()
        if exists is None:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))
