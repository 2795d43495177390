# shellcheck shell=bash
# One `start_<backend>` function per server backend, started by scripts/test for each name in
# TOOZ_TEST_BACKENDS (space-separated; default "redis zookeeper memcached etcd", see scripts/test).
# The helpers and the contract are in scripts/lib/servers.sh. Sourced, not run.
#
# The backends to come (postgresql, mariadb-server) follow start_memcached's shape.

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

# zookeeper_srvr PORT: the reply of the ZooKeeper server on 127.0.0.1:PORT to the `srvr`
# four-letter word (fails when nothing answers within 5 s).
zookeeper_srvr() {
    # shellcheck disable=SC2016 # expanded by the inner bash
    timeout 5 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$0" && printf srvr >&3 && cat <&3' "$1" 2>/dev/null
}

# zookeeper_answers PORT: whether the ZooKeeper server on 127.0.0.1:PORT serves: `srvr` reports
# a mode. An open port is not enough: a server that is still loading its data (or has no
# quorum) accepts connections and answers that it is not serving requests.
zookeeper_answers() {
    local reply
    reply=$(zookeeper_srvr "$1") || return 1
    [[ $reply == *"Mode: "* ]]
}

# start_zookeeper: a throwaway standalone ZooKeeper server on 127.0.0.1, run in the foreground
# from the Debian package's jars (the system service is never used), with its data in this
# run's temp dir. Exports TOOZ_TEST_ZOOKEEPER_URL (zookeeper://127.0.0.1:PORT) and adds it to
# TOOZ_TEST_URLS for the conformance suite. The ZooKeeper client tests
# start their own servers (standalone and a three-server ensemble) from the same jars.
start_zookeeper() {
    ensure_debian_packages zookeeper || return 1
    local jar=/usr/share/java/zookeeper.jar classpath port dir version
    [[ -r $jar ]] || {
        warn "zookeeper: $jar is missing (package zookeeper)"
        return 1
    }
    # The jar's manifest lists the jars it needs; an slf4j binding sends the log to our file.
    classpath=$jar
    [[ -r /usr/share/java/slf4j-simple.jar ]] && classpath+=":/usr/share/java/slf4j-simple.jar"
    port=$(free_port) || return 1
    dir=$(new_data_dir zookeeper) || return 1
    # A short tick, so that tests may ask for sessions from 1 s; sessions up to 60 s.
    cat >"$dir/zoo.cfg" <<EOF || return 1
tickTime=500
minSessionTimeout=1000
maxSessionTimeout=60000
dataDir=$dir/data
clientPort=$port
clientPortAddress=127.0.0.1
admin.enableServer=false
4lw.commands.whitelist=srvr,ruok,stat,mntr,cons,wchs
EOF
    start_server zookeeper "$dir/server.log" java \
        -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 \
        -Djava.net.preferIPv4Stack=true \
        -Dzookeeper.jmx.log4j.disable=true \
        -cp "$classpath" \
        org.apache.zookeeper.server.ZooKeeperServerMain "$dir/zoo.cfg" || return 1
    wait_until zookeeper 60 zookeeper_answers "$port" || return 1
    export TOOZ_TEST_ZOOKEEPER_URL="zookeeper://127.0.0.1:$port"
    add_test_url "$TOOZ_TEST_ZOOKEEPER_URL"
    version=$(zookeeper_srvr "$port" | sed -n 's/^Zookeeper version: \([^-,]*\).*/\1/p') || true
    log "zookeeper: ${version:-unknown version} at $TOOZ_TEST_ZOOKEEPER_URL"
}

# memcached_answers PORT: whether the memcached on 127.0.0.1:PORT speaks the meta protocol
# (answers `mn` with `MN`), which swift-tooz needs (memcached 1.6 or later).
memcached_answers() {
    # shellcheck disable=SC2016 # expanded by the inner bash
    [[ $(timeout 5 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$0" && printf "mn\r\n" >&3 && head -c 4 <&3' "$1" 2>/dev/null) == MN* ]]
}

# start_memcached: a throwaway memcached on 127.0.0.1 (TCP only, no UDP), run in the
# foreground so that the pid we record is the server's. Exports TOOZ_TEST_MEMCACHED_URL
# (memcached://127.0.0.1:PORT) and adds it to TOOZ_TEST_URLS. Tests that restart, freeze or
# kill a server (and the TLS tests) start their own from the same binary.
start_memcached() {
    ensure_debian_packages memcached || return 1
    local port dir user=()
    port=$(free_port) || return 1
    dir=$(new_data_dir memcached) || return 1
    # memcached refuses to run as root unless told which user to be.
    [[ $(id -u) == 0 ]] && user=(-u root)
    start_server memcached "$dir/server.log" memcached -l 127.0.0.1 -p "$port" -U 0 "${user[@]}" || return 1
    wait_until memcached 30 memcached_answers "$port" || return 1
    export TOOZ_TEST_MEMCACHED_URL="memcached://127.0.0.1:$port"
    add_test_url "$TOOZ_TEST_MEMCACHED_URL"
    log "memcached: $(memcached -V | awk '{ print $2 }') at $TOOZ_TEST_MEMCACHED_URL"
}

# etcd_answers PORT: whether the etcd on 127.0.0.1:PORT reports itself healthy (its HTTP
# /health, served on the client port beside gRPC, says "health":"true" once it has a leader).
etcd_answers() {
    # shellcheck disable=SC2016 # expanded by the inner bash
    timeout 5 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$0" && printf "GET /health HTTP/1.0\r\n\r\n" >&3 && cat <&3' "$1" 2>/dev/null \
        | grep -q '"health":"true"'
}

# start_etcd: a throwaway single-member etcd on 127.0.0.1 (client and peer ports free, data in
# this run's temp dir), run in the foreground so that the pid we record is the server's.
# Exports TOOZ_TEST_ETCD_URL (etcd3+http://127.0.0.1:PORT, also added to TOOZ_TEST_URLS). The cluster tests start their own
# three members from the same binary.
start_etcd() {
    # etcdctl (etcd-client) turns authentication on for the auth tests.
    ensure_debian_packages etcd-server etcd-client || return 1
    local port peer dir
    port=$(free_port) || return 1
    peer=$(free_port) || return 1
    dir=$(new_data_dir etcd) || return 1
    start_server etcd "$dir/server.log" etcd --name tooz-test --data-dir "$dir/data" \
        --listen-client-urls "http://127.0.0.1:$port" --advertise-client-urls "http://127.0.0.1:$port" \
        --listen-peer-urls "http://127.0.0.1:$peer" --initial-advertise-peer-urls "http://127.0.0.1:$peer" \
        --initial-cluster "tooz-test=http://127.0.0.1:$peer" --initial-cluster-state new \
        --log-level warn || return 1
    wait_until etcd 60 etcd_answers "$port" || return 1
    export TOOZ_TEST_ETCD_URL="etcd3+http://127.0.0.1:$port"
    add_test_url "$TOOZ_TEST_ETCD_URL"
    log "etcd: $(etcd --version | awk '/etcd Version/ { print $3 }') at $TOOZ_TEST_ETCD_URL"
}
