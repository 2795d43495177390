# shellcheck shell=bash
# One `start_<backend>` function per server backend, started by scripts/test for each name in
# TOOZ_TEST_BACKENDS (space-separated; default "redis zookeeper memcached etcd postgres mysql",
# see scripts/test). The helpers and the contract are in scripts/lib/servers.sh. Sourced, not run.

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

# postgres_bin_dir: prints the bin directory of the newest PostgreSQL under /usr/lib/postgresql
# (Debian's layout: /usr/lib/postgresql/15/bin on Debian 12), or TOOZ_POSTGRES_BIN when set.
# Fails when it lacks initdb, postgres, pg_isready or psql.
postgres_bin_dir() {
    local dir=${TOOZ_POSTGRES_BIN:-}
    if [[ -z $dir ]]; then
        dir=$(find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -type d -name bin 2>/dev/null | sort -V | tail -n 1)
    fi
    [[ -n $dir && -x $dir/initdb && -x $dir/postgres && -x $dir/pg_isready && -x $dir/psql ]] || return 1
    echo "$dir"
}

# postgres_os_user: the OS user the throwaway servers run as. initdb and postgres refuse to run
# as root, so under root it is `postgres` (the system user Debian's postgresql-common makes), or
# `nobody` when there is no such user; otherwise the current user, and nothing is printed.
postgres_os_user() {
    [[ $(id -u) -eq 0 ]] || return 0
    if getent passwd postgres >/dev/null 2>&1; then
        echo postgres
    else
        echo nobody
    fi
}

# postgres_run_as USER: prints, one word a line, the command prefix that runs a command as USER
# (with USER's groups), execing it in place, so that the pid start_server records is postgres's
# own (runuser and su fork and wait instead); nothing when USER is empty.
postgres_run_as() {
    [[ -n $1 ]] || return 0
    local group
    group=$(id -gn "$1") || return 1
    command -v setpriv >/dev/null 2>&1 || {
        warn "postgres: setpriv (util-linux) is needed to run as $1"
        return 1
    }
    printf '%s\n' setpriv "--reuid=$1" "--regid=$group" --init-groups --
}

# postgres_answers BIN SOCKET_DIR PORT: whether the server accepts connections (pg_isready over
# the unix socket, as the bootstrap role, which exists from the start).
postgres_answers() {
    timeout 5 "$1/pg_isready" -q -h "$2" -p "$3" -U tooz -d postgres
}

# postgres_fast_shutdown: asks the postgres that start_postgres started (its recorded pid only)
# for a fast shutdown (SIGINT: client sessions are ended, then a checkpoint) and waits up to 15 s
# for it to exit. Call it before stop_servers: the SIGTERM that stop_servers sends to the
# server's process group reaches the postmaster alone (each backend calls setsid()), and to
# the postmaster SIGTERM means a smart shutdown, which waits for every client to disconnect;
# a client still connected then holds it until stop_servers' SIGKILL, which leaves the
# backends to exit by themselves and the server's shared memory behind.
postgres_fast_shutdown() {
    local pid deadline
    pid=$(server_pid postgres) || return 0
    pid_alive "$pid" || return 0
    kill -INT "$pid" 2>/dev/null || return 0
    deadline=$((SECONDS + 15))
    while pid_alive "$pid" && ((SECONDS < deadline)); do sleep 0.1; done
    pid_alive "$pid" && warn "postgres (pid $pid) still runs 15 s after SIGINT (fast shutdown)"
    return 0
}

# start_postgres: a throwaway PostgreSQL cluster (initdb into this run's temp dir), run in the
# foreground (postgres -D, not pg_ctl, so that the pid we record is the postmaster's) on
# 127.0.0.1 and on a unix socket in this run's temp dir, with fsync on. Socket connections are
# trusted; TCP connections from 127.0.0.1 need a password (scram-sha-256). The bootstrap
# superuser is `tooz`, password `tooz-secret`, and a database `tooz` is made. initdb and postgres
# refuse to run as root: under root, the cluster belongs to and the server runs as an
# unprivileged user (postgres_os_user), which is let traverse (not list) this run's temp dir.
# To stop it, call postgres_fast_shutdown before stop_servers (see there). Exports
#   TOOZ_TEST_POSTGRES_URL         postgresql://tooz:tooz-secret@127.0.0.1:PORT/tooz (also added
#                                  to TOOZ_TEST_URLS);
#   TOOZ_TEST_POSTGRES_BIN         the bin dir of initdb, postgres, pg_ctl, pg_isready, psql;
#   TOOZ_TEST_POSTGRES_SOCKET_DIR  the directory of the server's unix socket (.s.PGSQL.PORT);
#   TOOZ_TEST_POSTGRES_OS_USER     the user that tests starting their own cluster must run initdb
#                                  and postgres as (`postgres` under root; empty otherwise: the
#                                  current user).
start_postgres() {
    local bin
    if ! bin=$(postgres_bin_dir); then
        ensure_debian_packages postgresql postgresql-client || return 1
        bin=$(postgres_bin_dir) || {
            warn "postgres: no initdb, postgres, pg_isready and psql under /usr/lib/postgresql/*/bin (packages postgresql, postgresql-client)"
            return 1
        }
    fi
    local port dir data socket_dir os_user run_as=()
    port=$(free_port) || return 1
    dir=$(new_data_dir postgres) || return 1
    data="$dir/data"
    socket_dir="$dir/socket"
    # sockaddr_un holds 108 bytes with the NUL; postgres refuses a longer socket path.
    if ((${#socket_dir} + ${#port} + 10 > 107)); then
        warn "postgres: the socket path $socket_dir/.s.PGSQL.$port is longer than 107 bytes; set TMPDIR to a shorter directory"
        return 1
    fi
    mkdir -p "$socket_dir" || return 1
    printf 'tooz-secret\n' >"$dir/pwfile" || return 1
    os_user=$(postgres_os_user)
    if [[ -n $os_user ]]; then
        mapfile -t run_as < <(postgres_run_as "$os_user")
        [[ ${#run_as[@]} -gt 0 ]] || {
            warn "postgres: cannot run commands as user $os_user"
            return 1
        }
        # The user only needs to reach its own directory: traverse, not list, the ones above it.
        chmod o+x "$TOOZ_TEST_TMP" "$TOOZ_TEST_TMP/servers" || return 1
        chown -R "$os_user:" "$dir" || return 1
        "${run_as[@]}" test -w "$dir" || {
            warn "postgres: user $os_user cannot write to $dir (is a directory above it closed to other users? set TMPDIR)"
            return 1
        }
    fi
    # initdb runs in $dir: the user may not be let into the directory we were called from. No
    # fsync of the new cluster's files (-N): it is thrown away; the server runs with fsync on.
    if ! (cd "$dir" && "${run_as[@]}" "$bin/initdb" -D "$data" -U tooz --pwfile="$dir/pwfile" \
        --auth-local=trust --auth-host=scram-sha-256 -E UTF8 --locale=C -N) >"$dir/initdb.log" 2>&1; then
        warn "postgres: initdb failed; its output:"
        tail -n 20 "$dir/initdb.log" >&2
        return 1
    fi
    rm -f "$dir/pwfile"
    cat >"$data/pg_hba.conf" <<'EOF' || return 1
# Written by start_postgres (scripts/lib/backends.sh).
# TYPE  DATABASE  USER  ADDRESS       METHOD
local   all       all                 trust
host    all       all   127.0.0.1/32  scram-sha-256
EOF
    # Entered for the same reason as for initdb; start_server must not run in a subshell.
    local here=$PWD started=0
    cd "$dir" || return 1
    # max_connections=1000: Python tooz opens a connection per lock acquisition, a swift-tooz
    # coordinator keeps a few (main, membership, one per held lock, events), and the
    # conformance suite runs its cases side by side: 200 ran out ("too many clients").
    start_server postgres "$dir/server.log" "${run_as[@]}" "$bin/postgres" -D "$data" -k "$socket_dir" \
        -p "$port" -c listen_addresses=127.0.0.1 -c fsync=on -c max_connections=1000 || started=1
    cd "$here" || return 1
    ((started == 0)) || return 1
    wait_until postgres 60 postgres_answers "$bin" "$socket_dir" "$port" || return 1
    "$bin/psql" -X -q -v ON_ERROR_STOP=1 -h "$socket_dir" -p "$port" -U tooz -d postgres \
        -c 'CREATE DATABASE tooz' >>"$dir/psql.log" 2>&1 || {
        warn "postgres: CREATE DATABASE tooz failed: $(tail -n 3 "$dir/psql.log" | tr '\n' ' ')"
        return 1
    }
    local url="postgresql://tooz:tooz-secret@127.0.0.1:$port/tooz"
    # The path the tests take: TCP, the tooz role, its password (scram-sha-256).
    [[ $("$bin/psql" -X -tA "$url" -c 'SELECT 1' 2>>"$dir/psql.log") == 1 ]] || {
        warn "postgres: cannot log in as tooz over TCP at 127.0.0.1:$port: $(tail -n 3 "$dir/psql.log" | tr '\n' ' ')"
        return 1
    }
    export TOOZ_TEST_POSTGRES_URL="$url"
    export TOOZ_TEST_POSTGRES_BIN="$bin"
    export TOOZ_TEST_POSTGRES_SOCKET_DIR="$socket_dir"
    export TOOZ_TEST_POSTGRES_OS_USER="$os_user"
    # The conformance suite runs many tests at once: with tooz's keys (65,536 of them) two of
    # its lock names can share a key and block each other. The interop and server tests use
    # tooz's keys; the suite uses collision-free ones. It also connects over the unix socket
    # (trusted): its hundred-odd coordinators each logging in with scram-sha-256 over TCP, at
    # the start of the run, starved the rest of the suite on a 2-core machine. The interop and
    # process tests keep the TCP URL with its password.
    add_test_url "postgresql://tooz@/tooz?host=$socket_dir&port=$port&lock_keys=bigint"
    log "postgres: $("$bin/postgres" --version | awk '{ print $3 }') at $TOOZ_TEST_POSTGRES_URL and $socket_dir${os_user:+ (running as $os_user)}"
}

# mysql_bin_dir: prints the directory of mariadbd (Debian: /usr/sbin), or TOOZ_MYSQL_BIN when set
# (a directory that holds mariadbd and mariadb-install-db, as TOOZ_TEST_MYSQL_BIN below). Fails
# when mariadbd, mariadb-install-db or the mariadb client cannot be found.
mysql_bin_dir() {
    local dir=${TOOZ_MYSQL_BIN:-}
    if [[ -n $dir ]]; then
        [[ -x $dir/mariadbd && -x $dir/mariadb-install-db ]] || return 1
    else
        dir=/usr/sbin
        [[ -x $dir/mariadbd ]] || dir=$(dirname "$(command -v mariadbd 2>/dev/null || echo /nonexistent/mariadbd)")
        [[ -x $dir/mariadbd ]] && command -v mariadb-install-db >/dev/null 2>&1 || return 1
    fi
    command -v mariadb >/dev/null 2>&1 || [[ -x $dir/mariadb ]] || return 1
    echo "$dir"
}

# mysql_program BIN NAME: the path of NAME (mariadb-install-db, mariadb, mariadb-admin): BIN's own
# when BIN has it, else the one on PATH.
mysql_program() {
    if [[ -x $1/$2 ]]; then echo "$1/$2"; else command -v "$2"; fi
}

# mysql_make_tls DIR: a throwaway CA (DIR/ca.crt, ca.key) and a server certificate for 127.0.0.1
# and localhost signed by it (DIR/server.crt, server.key), EC P-256, valid for 7 days, made with
# openssl; the server's key is readable by its owner only.
mysql_make_tls() {
    local dir=$1
    command -v openssl >/dev/null 2>&1 || ensure_debian_packages openssl || return 1
    # One && chain: `set -e` does not hold on the left of ||.
    (
        cd "$dir" && umask 077 \
            && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout ca.key -out ca.crt \
                -days 7 -subj "/CN=swift-tooz test MariaDB CA" \
                -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
            && openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout server.key -out server.csr \
                -subj "/CN=localhost" \
            && printf '%s\n' "basicConstraints=CA:FALSE" "keyUsage=critical,digitalSignature" \
                "extendedKeyUsage=serverAuth" "subjectAltName=IP:127.0.0.1,DNS:localhost" >server.ext \
            && openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out server.crt -days 7 \
                -extfile server.ext \
            && openssl verify -CAfile ca.crt server.crt \
            && chmod 644 ca.crt server.crt
    ) >"$dir/openssl.log" 2>&1 || {
        warn "mysql: making the TLS certificates failed: $(tail -n 3 "$dir/openssl.log" | tr '\n' ' ')"
        return 1
    }
}

# mysql_admin_user: the MariaDB account that the current OS user reaches over the unix socket
# without a password (mariadb-install-db's unix_socket account, named after the OS user).
mysql_admin_user() {
    id -un
}

# mysql_answers CLIENT SOCKET: whether the server answers a query over its unix socket, as the
# unix_socket admin account (which exists from the start).
mysql_answers() {
    [[ $(timeout 5 "$1" --no-defaults --skip-ssl --protocol=socket --socket="$2" -u "$(mysql_admin_user)" -N -B \
        -e 'SELECT 1' 2>/dev/null) == 1 ]]
}

# mysql_server_args DATA_DIR PORT SOCKET RUN_DIR: mariadbd's options, one a line, for a throwaway
# server: loopback only, no option files (--no-defaults), a small footprint, room for the
# connections that held locks pin, and what Debian's own configuration sets (utf8mb4). Shared
# with scripts/torture-servers and scripts/bench/compare.
#   innodb_flush_log_at_trx_commit stays at its durable default (1: the redo log is written and
#   fsynced at each commit): on this machine's disk 200 single-row commits took 0.13 s with it and
#   0.08 s with 2, too little to matter for the tests, and what a production server does.
#   max_connections=1000: each held lock pins a session (GET_LOCK belongs to its connection), a
#   coordinator keeps a few more, Python tooz connects per acquisition, and the suite runs its
#   cases side by side (as for postgres, where 200 ran out).
#   max_connect_errors at its maximum: tests that cut connections mid-handshake must not get
#   127.0.0.1 blocked ("Host is blocked because of many connection errors").
mysql_server_args() {
    local data=$1 port=$2 socket=$3 run=$4
    printf '%s\n' --no-defaults "--datadir=$data" --bind-address=127.0.0.1 "--port=$port" "--socket=$socket" \
        "--pid-file=$run/mariadbd.pid" "--tmpdir=$run" --skip-name-resolve --skip-log-bin \
        --skip-performance-schema --innodb-buffer-pool-size=64M --innodb-log-file-size=16M \
        --innodb-flush-log-at-trx-commit=1 --max-connections=1000 --max-connect-errors=4294967295 \
        --character-set-server=utf8mb4 --collation-server=utf8mb4_general_ci
    # mariadbd refuses to run as root unless told to.
    [[ $(id -u) -ne 0 ]] || echo --user=root
}

# mysql_install_db BIN DATA_DIR LOG: mariadb-install-db into DATA_DIR (system tables, no test
# database), with the unix_socket admin account for the current OS user, and the tests' user and
# databases (mysql_setup_sql, run by the bootstrap: the server starts with them). Fails with its log.
mysql_install_db() {
    local bin=$1 data=$2 log=$3 user=() setup
    [[ $(id -u) -ne 0 ]] || user=(--user=root)
    setup="$(dirname "$data")/tooz-setup.sql"
    mysql_setup_sql >"$setup" || return 1
    "$(mysql_program "$bin" mariadb-install-db)" --no-defaults "--datadir=$data" "${user[@]}" \
        --auth-root-authentication-method=socket "--auth-root-socket-user=$(mysql_admin_user)" \
        --skip-test-db --skip-name-resolve --extra-file="$setup" \
        --innodb-log-file-size=16M --innodb-buffer-pool-size=64M >"$log" 2>&1 || {
        warn "mysql: mariadb-install-db failed; its errors:"
        grep -m 10 -E 'ERROR|error' "$log" >&2 || tail -n 20 "$log" >&2
        return 1
    }
}

# mysql_setup_sql: the statements that make the tests' databases and user (the same as
# Tests/ToozServerTestSupport/MySQLTestServer.swift's).
mysql_setup_sql() {
    # The bootstrap runs without grant tables, where CREATE USER and GRANT are refused: FLUSH
    # PRIVILEGES loads them first.
    cat <<'SQL'
FLUSH PRIVILEGES;
CREATE DATABASE IF NOT EXISTS tooz;
CREATE DATABASE IF NOT EXISTS tooz_other;
CREATE USER IF NOT EXISTS 'tooz'@'127.0.0.1' IDENTIFIED VIA mysql_native_password USING PASSWORD('tooz-secret');
CREATE USER IF NOT EXISTS 'tooz'@'localhost' IDENTIFIED VIA mysql_native_password USING PASSWORD('tooz-secret');
GRANT ALL PRIVILEGES ON *.* TO 'tooz'@'127.0.0.1' WITH GRANT OPTION;
GRANT ALL PRIVILEGES ON *.* TO 'tooz'@'localhost' WITH GRANT OPTION;
SQL
}

# start_mysql: a throwaway MariaDB (mariadb-install-db into this run's temp dir), run in the
# foreground (mariadbd itself, never mysqld_safe or a service, so that the pid we record is the
# server's) on 127.0.0.1 and on a unix socket in its directory, with TLS (a throwaway CA and a
# server certificate for 127.0.0.1 and localhost). Databases `tooz` and `tooz_other`; the user
# `tooz`@`127.0.0.1` and `tooz`@`localhost` (the socket), password `tooz-secret`
# (mysql_native_password), with ALL PRIVILEGES on *.* (the backend kills its own sessions and
# makes its tables). The admin account is the current OS user's unix_socket one (root under
# root). SIGTERM is a normal shutdown that ends the client sessions, so stop_servers needs no
# extra step. Exports
#   TOOZ_TEST_MYSQL_URL     mysql://tooz:tooz-secret@127.0.0.1:PORT/tooz (also added to
#                           TOOZ_TEST_URLS);
#   TOOZ_TEST_MYSQL_SOCKET  the server's unix socket;
#   TOOZ_TEST_MYSQL_CA      the CA certificate (PEM) that signed the server's certificate;
#   TOOZ_TEST_MYSQL_BIN     a directory with mariadbd, mariadb-install-db, mariadb, mariadb-admin
#                           (links to the installed programs), for tests that start their own.
start_mysql() {
    local bin
    # mariadb-server-core and mariadb-client are the programs of Debian's mariadb-server without
    # its system service: installing mariadb-server itself starts a MariaDB of the system's
    # (mysqld_safe on port 3306) where there is no systemd, which nothing here would stop.
    # mariadb-client brings mariadb-admin and mariadb-slap (scripts/bench/compare's probe).
    ensure_debian_packages mariadb-server-core mariadb-client || return 1
    bin=$(mysql_bin_dir) || {
        warn "mysql: no mariadbd, mariadb-install-db and mariadb (packages mariadb-server-core, mariadb-client)"
        return 1
    }
    local port dir socket client links name
    port=$(free_port) || return 1
    dir=$(new_data_dir mysql) || return 1
    socket="$dir/mysqld.sock"
    # sockaddr_un holds 108 bytes with the NUL; mariadbd refuses a longer socket path.
    if ((${#socket} > 107)); then
        warn "mysql: the socket path $socket is longer than 107 bytes; set TMPDIR to a shorter directory"
        return 1
    fi
    client=$(mysql_program "$bin" mariadb) || return 1
    # One directory for the programs, whichever of /usr/sbin and /usr/bin each is in.
    links="$dir/bin"
    mkdir -p "$links" || return 1
    for name in mariadbd mariadb-install-db mariadb mariadb-admin mariadb-slap; do
        local program
        program=$(mysql_program "$bin" "$name") || continue
        ln -sf "$program" "$links/$name" || return 1
    done
    mysql_make_tls "$dir" || return 1
    mysql_install_db "$bin" "$dir/data" "$dir/install.log" || return 1
    local args=()
    mapfile -t args < <(mysql_server_args "$dir/data" "$port" "$socket" "$dir")
    start_server mysql "$dir/server.log" "$bin/mariadbd" "${args[@]}" "--log-error=$dir/error.log" \
        "--ssl-ca=$dir/ca.crt" "--ssl-cert=$dir/server.crt" "--ssl-key=$dir/server.key" || return 1
    if ! wait_until mysql 60 mysql_answers "$client" "$socket"; then
        tail -n 20 "$dir/error.log" >&2 2>/dev/null || true
        return 1
    fi
    local url="mysql://tooz:tooz-secret@127.0.0.1:$port/tooz"
    # The path the tests take: TCP, the tooz user, its password (in plain text: Debian's client
    # turns TLS on by itself when the server offers it); and TLS, verified against our CA.
    [[ $("$client" --no-defaults --skip-ssl -h 127.0.0.1 -P "$port" -u tooz -ptooz-secret -N -B tooz \
        -e 'SELECT 1' 2>>"$dir/client.log") == 1 ]] || {
        warn "mysql: cannot log in as tooz over TCP at 127.0.0.1:$port: $(tail -n 3 "$dir/client.log" | tr '\n' ' ')"
        return 1
    }
    local cipher
    cipher=$("$client" --no-defaults -h 127.0.0.1 -P "$port" -u tooz -ptooz-secret -N -B tooz \
        --ssl --ssl-ca="$dir/ca.crt" --ssl-verify-server-cert \
        -e "SHOW SESSION STATUS LIKE 'Ssl_version'" 2>>"$dir/client.log" | awk '{ print $2 }')
    [[ -n $cipher ]] || {
        warn "mysql: no TLS session with the tooz user at 127.0.0.1:$port: $(tail -n 3 "$dir/client.log" | tr '\n' ' ')"
        return 1
    }
    export TOOZ_TEST_MYSQL_URL="$url"
    export TOOZ_TEST_MYSQL_SOCKET="$socket"
    export TOOZ_TEST_MYSQL_CA="$dir/ca.crt"
    export TOOZ_TEST_MYSQL_BIN="$links"
    add_test_url "$url"
    log "mysql: MariaDB $("$bin/mariadbd" --version | awk '{ sub(/-.*/, "", $3); print $3 }') at $url and $socket ($cipher with $TOOZ_TEST_MYSQL_CA)"
}
