# shellcheck shell=bash
# One `start_<backend>` function per server backend, started by scripts/test for each name in
# TOOZ_TEST_BACKENDS (space-separated; empty by default until server backends exist).
# The helpers and the contract are in scripts/lib/servers.sh. Sourced, not run.
#
# The shape of one, for the backends to come (redis-server, zookeeper, etcd-server, memcached,
# postgresql, mariadb-server):
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
