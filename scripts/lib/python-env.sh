# shellcheck shell=bash
# The Python tooz 9.1.0 virtual environment for the interop tests. Sourced, not run.

TOOZ_VERSION=9.1.0
# What the interop peer imports: tooz itself, sysv_ipc for ipc://, redis-py for redis:// (tooz's
# `redis` extra asks for redis>=4.0.0; 8.1.0 is the version the reference was checked with),
# kazoo for zookeeper:// (tooz's `zookeeper` extra asks for kazoo>=2.6; 2.11.0 is the version the
# reference was checked with), pymemcache for memcached:// (tooz's `memcached` extra asks for
# pymemcache>=1.2.9; 4.0.0 is the version the reference was checked with), etcd3gw for
# etcd3+http:// (tooz's `etcd3gw` extra asks for etcd3gw>=2.3.0; 2.7.0 is the version the
# reference was checked with), psycopg2-binary for postgresql:// (tooz's `postgresql` extra asks
# for psycopg2>=2.5; psycopg2-binary is the same module with libpq inside the wheel, so nothing
# needs compiling; 2.9.10 is the version the reference was checked with), PyMySQL for mysql://
# (tooz's `mysql` extra asks for PyMySQL>=0.6.2; pure Python, 1.1.2 of the 1.1 series), msgpack, and
# fasteners for the file:// driver's locks (a dependency of tooz, named so that a broken resolver
# shows here). A venv made before one of these was added gets it (upgrade_venv).
TOOZ_PIP_PACKAGES=("tooz==$TOOZ_VERSION" "sysv_ipc==1.2.0" "redis==8.1.0" "kazoo==2.11.0" "pymemcache==4.0.0" "etcd3gw==2.7.0" "psycopg2-binary==2.9.10" "PyMySQL==1.1.2" msgpack fasteners)
TOOZ_VENV_STATUS="not prepared"

# Succeeds when the venv at $1 imports everything at the right tooz version.
venv_is_ready() {
    [[ -x $1/bin/python ]] && "$1/bin/python" - "$TOOZ_VERSION" >/dev/null 2>&1 <<'PY'
import sys
from importlib import metadata
import tooz, tooz.coordination, tooz.drivers.file, tooz.drivers.ipc, sysv_ipc, msgpack, fasteners
import redis, tooz.drivers.redis
import kazoo, tooz.drivers.zookeeper
import pymemcache, tooz.drivers.memcached
import etcd3gw, tooz.drivers.etcd3gw
import psycopg2, tooz.drivers.pgsql
import pymysql, tooz.drivers.mysql
assert metadata.version("tooz") == sys.argv[1], metadata.version("tooz")
PY
}

# Succeeds when the venv at $1 exists and runs the right tooz, so that what it lacks (a driver's
# client library added since it was made) can be pip-installed into it instead of rebuilding it.
venv_has_tooz() {
    [[ -x $1/bin/python ]] && "$1/bin/python" - "$TOOZ_VERSION" >/dev/null 2>&1 <<'PY'
import sys
from importlib import metadata
sys.exit(0 if metadata.version("tooz") == sys.argv[1] else 1)
PY
}

# upgrade_venv VENV: installs the missing packages into a venv that already has the right tooz.
upgrade_venv() {
    local venv=$1
    log "adding what the Python tooz $TOOZ_VERSION venv at $venv lacks: ${TOOZ_PIP_PACKAGES[*]}"
    "$venv/bin/python" -m pip install --disable-pip-version-check --no-input -q \
        "${TOOZ_PIP_PACKAGES[@]}" >"$TOOZ_TEST_TMP/venv.log" 2>&1 || {
        tail -n 30 "$TOOZ_TEST_TMP/venv.log" >&2
        warn "pip install into $venv failed"
        return 1
    }
    venv_is_ready "$venv"
}

# The interpreter to build the venv with: TOOZ_BASE_PYTHON, else the first python3 on PATH that
# is 3.11 or newer (tooz 9 needs 3.11), else Debian's.
base_python() {
    local candidate
    for candidate in "${TOOZ_BASE_PYTHON:-}" python3 python3.11 /usr/bin/python3; do
        [[ -n $candidate ]] || continue
        candidate=$(command -v "$candidate" 2>/dev/null) || continue
        if "$candidate" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null; then
            echo "$candidate"
            return 0
        fi
    done
    return 1
}

create_venv() {
    local venv=$1 python
    python=$(base_python) || {
        warn "no Python 3.11 or newer found"
        return 1
    }
    log "creating the Python tooz $TOOZ_VERSION venv at $venv with $python"
    mkdir -p "$(dirname "$venv")"
    if ! "$python" -m venv --clear "$venv" >"$TOOZ_TEST_TMP/venv.log" 2>&1; then
        # Debian's own python3 needs python3-venv (ensurepip) for `-m venv`.
        if [[ $python == /usr/bin/* ]]; then
            ensure_debian_packages python3-venv || return 1
            "$python" -m venv --clear "$venv" >"$TOOZ_TEST_TMP/venv.log" 2>&1 || {
                tail -n 20 "$TOOZ_TEST_TMP/venv.log" >&2
                return 1
            }
        else
            tail -n 20 "$TOOZ_TEST_TMP/venv.log" >&2
            return 1
        fi
    fi
    "$venv/bin/python" -m pip install --disable-pip-version-check --no-input -q \
        "${TOOZ_PIP_PACKAGES[@]}" >>"$TOOZ_TEST_TMP/venv.log" 2>&1 || {
        tail -n 30 "$TOOZ_TEST_TMP/venv.log" >&2
        warn "pip install ${TOOZ_PIP_PACKAGES[*]} failed"
        return 1
    }
    venv_is_ready "$venv" || {
        warn "the new venv at $venv does not import tooz $TOOZ_VERSION and its drivers"
        return 1
    }
}

# ensure_tooz_python: makes or reuses the venv and exports TOOZ_PYTHON. When that fails, the
# run fails under CI=true; elsewhere TOOZ_PYTHON stays unset and the interop tests show as
# skipped.
ensure_tooz_python() {
    local venv=${TOOZ_VENV:-$HOME/.cache/swift-tooz/venv-tooz-$TOOZ_VERSION}
    mkdir -p "$(dirname "$venv")"
    # Two runs at once must not build the same venv together.
    local lock_fd
    exec {lock_fd}>"$venv.lock"
    flock -w 600 "$lock_fd" || warn "waited 600 s for $venv.lock; going on"
    local ok=0
    if venv_is_ready "$venv"; then
        TOOZ_VENV_STATUS="reused $venv"
        ok=1
    elif venv_has_tooz "$venv" && upgrade_venv "$venv"; then
        TOOZ_VENV_STATUS="upgraded $venv"
        ok=1
    elif create_venv "$venv"; then
        TOOZ_VENV_STATUS="created $venv"
        ok=1
    fi
    exec {lock_fd}>&-
    if [[ $ok -eq 0 ]]; then
        TOOZ_VENV_STATUS="unavailable"
        unset TOOZ_PYTHON
        require_or_warn "could not make the Python tooz $TOOZ_VERSION venv at $venv; the interop tests will not run" || true
        return 0
    fi
    export TOOZ_PYTHON="$venv/bin/python"
    local ipc_info
    ipc_info=$("$TOOZ_PYTHON" -c 'import sysv_ipc; print(f"sysv_ipc {sysv_ipc.VERSION}, SEMAPHORE_TIMEOUT_SUPPORTED={sysv_ipc.SEMAPHORE_TIMEOUT_SUPPORTED}")')
    TOOZ_VENV_STATUS+=" (tooz $TOOZ_VERSION, $ipc_info)"
    log "Python: $TOOZ_VENV_STATUS"
}
