# shellcheck shell=bash
# Throwaway backend servers for the tests: start on 127.0.0.1, wait until they answer,
# record their pids, stop exactly those. Sourced by scripts/test, not run.
#
# Adding a backend means adding one function, `start_<name>`, to scripts/lib/backends.sh
# (the names `TOOZ_TEST_BACKENDS` lists are looked up there). A start function:
#   1. installs its Debian package when missing:    ensure_debian_packages redis-server || return 1
#   2. takes a free port and a throwaway data dir:   port=$(free_port); dir=$(new_data_dir redis)
#   3. starts the server in the foreground mode of that server (never a daemonizing mode, so the
#      pid we record is the server's):               start_server redis "$dir/log" redis-server --port "$port" ...
#   4. waits until it answers:                       wait_for_port redis 127.0.0.1 "$port" || return 1
#   5. publishes its URL:                            add_test_url "redis://127.0.0.1:$port"
# and returns non-zero on any failure. Under CI=true a backend that does not start fails the run.

SERVER_NAMES=()
SERVER_PIDS=()
SERVER_LOGS=()
STARTED_BACKENDS=()
FAILED_BACKENDS=()

# free_port: prints a TCP port on 127.0.0.1 that nothing listens on now.
free_port() {
    local python
    python=$(command -v python3 || true)
    if [[ -n $python ]]; then
        "$python" -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()'
        return
    fi
    local port _
    for _ in $(seq 1 100); do
        port=$((20000 + RANDOM % 40000))
        if ! port_answers 127.0.0.1 "$port"; then
            echo "$port"
            return
        fi
    done
    return 1
}

# port_answers HOST PORT: whether a TCP connection to HOST:PORT succeeds (within 2 s).
port_answers() {
    # shellcheck disable=SC2016 # expanded by the inner bash
    timeout 2 bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$1" "$2" 2>/dev/null
}

# new_data_dir NAME: makes and prints an empty directory under this run's temp dir.
new_data_dir() {
    local dir="$TOOZ_TEST_TMP/servers/$1"
    rm -rf "$dir"
    mkdir -p "$dir"
    echo "$dir"
}

# add_test_url URL: appends URL to the space-separated TOOZ_TEST_URLS the tests read.
add_test_url() {
    TOOZ_TEST_URLS="${TOOZ_TEST_URLS:+$TOOZ_TEST_URLS }$1"
    export TOOZ_TEST_URLS
}

# start_server NAME LOGFILE COMMAND [ARG...]: starts COMMAND in the background in a session
# (and so a process group) of its own, with its output in LOGFILE and no stdin, and records
# its pid, which is also left in LAST_SERVER_PID. Do not call it in $(...): the records would
# be lost with the subshell.
start_server() {
    local name=$1 logfile=$2
    shift 2
    command -v "$1" >/dev/null 2>&1 || {
        warn "$name: $1 is not installed"
        return 1
    }
    # setsid execs COMMAND in place (a background job is never a group leader), so $! is the
    # server itself, and it leads a process group that holds whatever it forks.
    setsid "$@" >"$logfile" 2>&1 </dev/null &
    LAST_SERVER_PID=$!
    SERVER_NAMES+=("$name")
    SERVER_PIDS+=("$LAST_SERVER_PID")
    SERVER_LOGS+=("$logfile")
    log "$name: started pid $LAST_SERVER_PID: $*"
}

# server_pid NAME: the pid recorded for NAME.
server_pid() {
    local i
    for i in "${!SERVER_NAMES[@]}"; do
        if [[ ${SERVER_NAMES[$i]} == "$1" ]]; then
            echo "${SERVER_PIDS[$i]}"
            return 0
        fi
    done
    return 1
}

server_log() {
    local i
    for i in "${!SERVER_NAMES[@]}"; do
        [[ ${SERVER_NAMES[$i]} == "$1" ]] && echo "${SERVER_LOGS[$i]}" && return 0
    done
    return 1
}

# pid_alive PID: whether PID runs (a zombie that we have not reaped yet counts as gone).
pid_alive() {
    [[ -r /proc/$1/stat ]] || return 1
    local state
    state=$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null) || return 1
    [[ $state != Z && $state != X ]]
}

# wait_until NAME TIMEOUT_SECONDS COMMAND [ARG...]: polls COMMAND until it succeeds. Fails
# early when server NAME has exited, and after TIMEOUT_SECONDS; either way shows its log.
wait_until() {
    local name=$1 limit=$2
    shift 2
    local pid deadline=$((SECONDS + limit))
    pid=$(server_pid "$name") || {
        warn "$name: no such server was started"
        return 1
    }
    while true; do
        if "$@" >/dev/null 2>&1; then
            log "$name: ready"
            return 0
        fi
        if ! pid_alive "$pid"; then
            warn "$name: exited before it was ready; its log:"
            tail -n 30 "$(server_log "$name")" >&2 || true
            return 1
        fi
        if ((SECONDS >= deadline)); then
            warn "$name: not ready after ${limit}s; its log:"
            tail -n 30 "$(server_log "$name")" >&2 || true
            return 1
        fi
        sleep 0.2
    done
}

# wait_for_port NAME HOST PORT [TIMEOUT_SECONDS=60]: waits until HOST:PORT accepts connections.
wait_for_port() {
    wait_until "$1" "${4:-60}" port_answers "$2" "$3"
}

# stop_servers: stops every recorded server, newest first: SIGTERM to its process group, up to
# 15 s to exit, then SIGKILL. Only the recorded pids (and their groups) are signalled.
stop_servers() {
    local i pid name deadline
    for ((i = ${#SERVER_PIDS[@]} - 1; i >= 0; i--)); do
        pid=${SERVER_PIDS[$i]}
        name=${SERVER_NAMES[$i]}
        if pid_alive "$pid"; then
            kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
            deadline=$((SECONDS + 15))
            while pid_alive "$pid" && ((SECONDS < deadline)); do sleep 0.1; done
            if pid_alive "$pid"; then
                warn "$name (pid $pid) ignored SIGTERM; sending SIGKILL"
                kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
            fi
        fi
        wait "$pid" 2>/dev/null || true
        log "$name: stopped (pid $pid)"
    done
    SERVER_NAMES=()
    SERVER_PIDS=()
    SERVER_LOGS=()
}

# Servers that the tests start themselves (redis-server and redis-sentinel for the restart and
# failover tests) record each pid in $TOOZ_TEST_TMP/test-servers/<pid>.pid, and normally stop
# them and remove the file. stop_test_servers, run after `swift test` whatever way it ended,
# stops those still running: SIGTERM, then SIGKILL after 5 s, to each listed pid only.

# process_start_epoch PID: when PID started, in whole seconds since the epoch.
process_start_epoch() {
    local ticks boot hz
    # Field 22 of /proc/PID/stat; the command name (field 2) may hold spaces, so count after it.
    ticks=$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | awk '{ print $20 }') || return 1
    boot=$(awk '$1 == "btime" { print $2 }' /proc/stat) || return 1
    hz=$(getconf CLK_TCK) || return 1
    [[ $ticks =~ ^[0-9]+$ && $boot =~ ^[0-9]+$ && $hz =~ ^[0-9]+$ ]] || return 1
    echo $((boot + ticks / hz))
}

# stop_test_servers: stops the test-started servers still listed and alive. A pid is signalled
# only when its process started during this run and no later than its pid file was written:
# the pid of a server that has exited since may be an unrelated process's by now.
stop_test_servers() {
    local dir="$TOOZ_TEST_TMP/test-servers"
    [[ -d $dir ]] || return 0
    local run_started file pid started written pids=() described=()
    run_started=$(process_start_epoch $$) || run_started=0
    for file in "$dir"/*.pid; do
        [[ -e $file ]] || continue
        pid=$(basename "$file" .pid)
        if [[ ! $pid =~ ^[1-9][0-9]*$ ]]; then
            warn "test servers: ignoring $file (not named <pid>.pid)"
            continue
        fi
        pid_alive "$pid" || continue
        [[ $pid -ne $$ && $pid -ne $PPID ]] || continue
        started=$(process_start_epoch "$pid") || continue
        written=$(stat -c %Y "$file" 2>/dev/null) || continue
        if ((started + 1 < run_started || started > written + 2)); then
            warn "test servers: pid $pid is not the process that $file names (it started at $started, the file was written at $written); leaving it alone"
            continue
        fi
        pids+=("$pid")
        described+=("$pid ($(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | cut -c1-120 | sed 's/ *$//'))")
    done
    [[ ${#pids[@]} -eq 0 ]] && return 0
    log "test servers: ${#pids[@]} left running by the tests; sending SIGTERM: ${described[*]}"
    kill -TERM "${pids[@]}" 2>/dev/null || true
    local deadline=$((SECONDS + 5)) alive
    while true; do
        alive=()
        for pid in "${pids[@]}"; do
            pid_alive "$pid" && alive+=("$pid")
        done
        [[ ${#alive[@]} -eq 0 ]] && break
        if ((SECONDS >= deadline)); then
            warn "test servers: pid ${alive[*]} ignored SIGTERM for 5 s; sending SIGKILL"
            kill -KILL "${alive[@]}" 2>/dev/null || true
            break
        fi
        sleep 0.1
    done
    log "test servers: stopped pid ${pids[*]}"
}

# known_backends: the backends that have a start_<name> function.
known_backends() {
    declare -F | awk '$3 ~ /^start_/ { sub(/^start_/, "", $3); print $3 }' | grep -vx 'server\|backends' | tr '\n' ' '
}

# start_backends NAME...: runs start_<NAME> for each; a failure fails the run under CI=true
# and is a warning otherwise (the tests for that backend then do not run).
start_backends() {
    local backend
    for backend in "$@"; do
        if ! declare -F "start_$backend" >/dev/null; then
            FAILED_BACKENDS+=("$backend")
            require_or_warn "unknown backend '$backend' in TOOZ_TEST_BACKENDS (known: $(known_backends))" || continue
        fi
        if "start_$backend"; then
            STARTED_BACKENDS+=("$backend")
        else
            FAILED_BACKENDS+=("$backend")
            require_or_warn "backend '$backend' could not be started" || continue
        fi
    done
}
