#!/usr/bin/env bash
# Installs what the lab needs from the operating system, only where it is missing:
# Java 17+ (Spark), a PostgreSQL server, a MariaDB server, npm (fetches the pinned JDBC drivers: labkit.jdbc), Graphviz, Chromium,
# the venv module of the system's Python of the lock's version (scripts/venv_python.py may make .venv from it),
# and, when the lab is run by root, the unprivileged account the database servers run as.
set -euo pipefail

need=()
java_ok() {
  local j="${JAVA_HOME:+$JAVA_HOME/bin/}java"
  command -v "$j" >/dev/null 2>&1 || return 1
  local v; v=$("$j" -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -1)
  [ -n "$v" ] && [ "$v" -ge 17 ]
}
java_ok || need+=(openjdk-17-jre-headless)
compgen -G "/usr/lib/postgresql/*/bin/postgres" >/dev/null || command -v postgres >/dev/null || need+=(postgresql)
[ -x /usr/sbin/mariadbd ] || command -v mariadbd >/dev/null || need+=(mariadb-server)
command -v npm >/dev/null || need+=(npm)   # `make jars`: the pinned JDBC drivers come from the npm registry
command -v dot >/dev/null || need+=(graphviz)   # draws images/ (labkit.architecture)
command -v chromium >/dev/null || need+=(chromium)   # screenshots of the Airflow UI (labkit.screenshots)
# Debian's Python of the lock's version makes a venv only with its python3.X-venv package.
py=$(sed -n '1s/.*(Python \([0-9]*\.[0-9]*\).*/\1/p' requirements.txt)
if [ -n "$py" ] && [ -x "/usr/bin/python$py" ] && ! "/usr/bin/python$py" -c 'import ensurepip' 2>/dev/null; then
  need+=("python$py-venv")
fi

if [ ${#need[@]} -gt 0 ]; then
  if ! command -v apt-get >/dev/null; then
    echo "setup: this machine has no apt-get; install these yourself, then run make again: ${need[*]}" >&2
    exit 1
  fi
  if [ "$(id -u)" -eq 0 ]; then sudo=(); elif sudo -n true 2>/dev/null; then sudo=(sudo -n); else
    echo "setup: needs root to install: ${need[*]}" >&2
    echo "       run: sudo apt-get install -y ${need[*]}   (then make again)" >&2
    exit 1
  fi
  echo "setup: installing ${need[*]}"
  "${sudo[@]}" apt-get update -qq
  # policy-rc.d keeps the packages from starting their own system-wide servers where it is honoured;
  # the lab starts its own private instances on other ports either way.
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# PostgreSQL's initdb and mariadbd refuse to run as root: when the lab is run by root, they run as this account.
user="${LAB_SERVICE_USER:-labkit}"
if [ "$(id -u)" -eq 0 ] && ! id "$user" >/dev/null 2>&1; then
  echo "setup: creating the unprivileged account '$user' for the database servers"
  useradd --system --no-create-home --shell /usr/sbin/nologin "$user"
fi
