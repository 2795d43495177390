# shellcheck shell=bash
# One `start_<backend>` function per server backend, started by scripts/test for each name in
# TOOZ_TEST_BACKENDS (space-separated; default "redis", see scripts/test).
# The helpers and the contract are in scripts/lib/servers.sh. Sourced, not run.
#
# The shape of one, for the backends to come (zookeeper, etcd-server, memcached, postgresql,
# mariadb-server):
#
# start_memcached() {
#     ensure_debian_packages memcached || return 1
#     local port dir
#     port=$(free_port) || return 1
#     dir=$(new_data_dir memcached) || return 1
#     start_server memcached "$dir/server.log" memcached -l 127.0.0.1 -p "$port" -U 0 || return 1
#     wait_for_port memcached 127.0.0.1 "$port" 30 || return 1
#     add_test_url "memcached://127.0.0.1:$port"
# }

# redis_answers PORT: whether the redis-server on 127.0.0.1:PORT answers PING with PONG. An open
# port is not enough: redis accepts connections while it still loads, and answers -LOADING.
redis_answers() {
    [[ $(timeout 5 redis-cli -h 127.0.0.1 -p "$1" ping 2>/dev/null) == PONG ]]
}

# start_redis: a throwaway redis-server on 127.0.0.1 and on a unix socket, with no persistence.
# Exports TOOZ_TEST_REDIS_URL (redis://127.0.0.1:PORT, also added to TOOZ_TEST_URLS) and
# TOOZ_TEST_REDIS_SOCKET (the socket's path). redis-sentinel is installed too, for the tests
# that build their own master/replica/sentinel setup (they start those processes themselves).
start_redis() {
    ensure_debian_packages redis-server redis-sentinel || return 1
    command -v redis-cli >/dev/null 2>&1 || {
        warn "redis: redis-cli is not installed (package redis-tools)"
        return 1
    }
    local port dir socket
    port=$(free_port) || return 1
    dir=$(new_data_dir redis) || return 1
    socket="$dir/redis.sock"
    # sockaddr_un holds 108 bytes with the NUL; redis refuses a longer path at startup.
    if ((${#socket} > 107)); then
        warn "redis: the socket path $socket is longer than 107 bytes; set TMPDIR to a shorter directory"
        return 1
    fi
    # No config file: redis-server's built-in defaults plus these. --daemonize no keeps the pid
    # we record the server's own; --save '' and --appendonly no keep it from writing to disk.
    start_server redis "$dir/server.log" redis-server \
        --daemonize no \
        --bind 127.0.0.1 \
        --port "$port" \
        --unixsocket "$socket" \
        --unixsocketperm 700 \
        --dir "$dir" \
        --save '' \
        --appendonly no \
        --protected-mode yes || return 1
    wait_until redis 30 redis_answers "$port" || return 1
    add_test_url "redis://127.0.0.1:$port"
    export TOOZ_TEST_REDIS_URL="redis://127.0.0.1:$port"
    export TOOZ_TEST_REDIS_SOCKET="$socket"
    log "redis: $(redis-server --version | awk '{ sub(/^v=/, "", $3); print $3 }') at $TOOZ_TEST_REDIS_URL and $TOOZ_TEST_REDIS_SOCKET"
}
