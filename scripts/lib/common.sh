# shellcheck shell=bash
# Logging, failure policy and Debian package installation for scripts/test.
# Sourced, not run.

# Under CI=true every missing prerequisite fails the run; elsewhere it is a warning and the
# tests that need it report themselves as not run.
is_ci() {
    case "${CI:-}" in
        true | TRUE | True | 1 | yes) return 0 ;;
        *) return 1 ;;
    esac
}

# Messages carry the name of the script that sourced this file (TOOZ_LOG_PREFIX, set before
# sourcing; scripts/test by default).
TOOZ_LOG_PREFIX=${TOOZ_LOG_PREFIX:-scripts/test}
log() { printf '[%s] %s\n' "$TOOZ_LOG_PREFIX" "$*" >&2; }
warn() { printf '[%s] WARNING: %s\n' "$TOOZ_LOG_PREFIX" "$*" >&2; }
die() {
    printf '[%s] ERROR: %s\n' "$TOOZ_LOG_PREFIX" "$*" >&2
    exit 1
}

# Fails under CI, warns otherwise. Returns 1 so callers can skip what depended on it.
require_or_warn() {
    if is_ci; then
        die "$* (CI=true: a missing prerequisite fails the run)"
    fi
    warn "$*"
    return 1
}

# Runs a command as root: directly when we are root, through sudo when it exists.
as_root() {
    if [[ $(id -u) -eq 0 ]]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo -n "$@"
    else
        warn "not root and no sudo: cannot run $*"
        return 1
    fi
}

APT_UPDATED=0
INSTALLED_PACKAGES=()

# ensure_debian_packages PKG...: installs the packages that `dpkg -s` does not report as
# installed, running `apt-get update` once per run before the first install.
ensure_debian_packages() {
    local missing=() pkg
    for pkg in "$@"; do
        if ! dpkg -s "$pkg" 2>/dev/null | grep -q '^Status: install ok installed'; then
            missing+=("$pkg")
        fi
    done
    [[ ${#missing[@]} -eq 0 ]] && return 0
    command -v apt-get >/dev/null 2>&1 || {
        warn "apt-get is not available: cannot install ${missing[*]}"
        return 1
    }
    if [[ $APT_UPDATED -eq 0 ]]; then
        log "apt-get update"
        as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q >"$TOOZ_TEST_TMP/apt.log" 2>&1 || {
            tail -n 20 "$TOOZ_TEST_TMP/apt.log" >&2
            warn "apt-get update failed"
            return 1
        }
        APT_UPDATED=1
    fi
    log "installing Debian packages: ${missing[*]}"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
        "${missing[@]}" >>"$TOOZ_TEST_TMP/apt.log" 2>&1 || {
        tail -n 20 "$TOOZ_TEST_TMP/apt.log" >&2
        warn "apt-get install ${missing[*]} failed"
        return 1
    }
    INSTALLED_PACKAGES+=("${missing[@]}")
}
