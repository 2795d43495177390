/* mysql_probe: the floor of the mysql:// rows of scripts/bench/compare, measured with the C
 * client library libmariadb (Debian's libmariadb-dev), blocking calls, no TLS, so that nothing
 * of swift-tooz or PyMySQL is in it.
 *
 *   mysql_probe HOST PORT USER PASSWORD DATABASE ITERATIONS
 *
 * Prints one JSON object per row (see probe_common.h):
 *   ping          SELECT 1 on a kept connection: one round trip.
 *   lock          SELECT GET_LOCK(name, 0), then SELECT RELEASE_LOCK(name), on a kept connection:
 *                 two round trips, the cycle of a lock whose session is kept.
 *   lock_connect  the same cycle on a new connection each time: connect, mysql_native_password
 *                 login (greeting, answer, OK), GET_LOCK, RELEASE_LOCK, COM_QUIT and close, as
 *                 Python tooz's lock does (it connects in acquire and closes in release).
 *   handoff       A holds the lock; B (a thread, its own connection) blocks in the server in
 *                 GET_LOCK(name, 60); after 20 ms A sends RELEASE_LOCK: timed from just before A's
 *                 release until B's GET_LOCK has answered 1 (the server hands the lock over).
 * Each row but handoff is preceded by min(10, n/10) untimed cycles, as in `tooz bench`;
 * lock_connect takes n cycles, handoff min(n, 50).
 */
#define _GNU_SOURCE
#include <mysql.h>
#include <pthread.h>
#include <unistd.h>

#include "probe_common.h"

static const char *host, *user, *password, *database;
static unsigned int port;
static char lock_name[128], get_lock_sql[256], get_lock_wait_sql[256], release_sql[256];

static MYSQL *conn_open(void) {
    MYSQL *m = mysql_init(NULL);
    if (!m) probe_die("mysql_init");
    /* Plain TCP, as the URLs the other two columns use: no TLS, whatever the server offers. */
    my_bool off = 0;
    mysql_optionsv(m, MYSQL_OPT_SSL_ENFORCE, &off);
    mysql_optionsv(m, MYSQL_OPT_SSL_VERIFY_SERVER_CERT, &off);
    unsigned int protocol = MYSQL_PROTOCOL_TCP;
    mysql_optionsv(m, MYSQL_OPT_PROTOCOL, &protocol);
    if (!mysql_real_connect(m, host, user, password, database, port, NULL, 0)) {
        fprintf(stderr, "mysql_probe: connect to %s:%u: %s\n", host, port, mysql_error(m));
        exit(1);
    }
    return m;
}

/* Runs `sql`, which returns one row of one integer, and checks the value. */
static void query_int(MYSQL *m, const char *sql, long long expected, const char *what) {
    if (mysql_real_query(m, sql, (unsigned long)strlen(sql)) != 0) {
        fprintf(stderr, "mysql_probe: %s: %s\n", what, mysql_error(m));
        exit(1);
    }
    MYSQL_RES *result = mysql_store_result(m);
    if (!result) {
        fprintf(stderr, "mysql_probe: %s: no result: %s\n", what, mysql_error(m));
        exit(1);
    }
    MYSQL_ROW row = mysql_fetch_row(result);
    if (!row || !row[0] || atoll(row[0]) != expected) {
        fprintf(stderr, "mysql_probe: %s answered %s, not %lld\n", what, row && row[0] ? row[0] : "NULL", expected);
        exit(1);
    }
    mysql_free_result(result);
}

static void lock_cycle(MYSQL *m) {
    query_int(m, get_lock_sql, 1, "GET_LOCK");
    query_int(m, release_sql, 1, "RELEASE_LOCK");
}

/* The hand-off's waiter, on a connection of its own. */
static void *waiter(void *arg) {
    (void)arg;
    MYSQL *m = conn_open();
    probe_set_state(0);
    for (;;) {
        if (probe_wait_state(1, -1) == -1) break;
        probe_set_state(2);
        query_int(m, get_lock_wait_sql, 1, "GET_LOCK (the waiter's)");
        probe_acquired_at = probe_now_ns();
        query_int(m, release_sql, 1, "RELEASE_LOCK (the waiter's)");
        probe_set_state(3);
    }
    mysql_close(m);
    return NULL;
}

int main(int argc, char **argv) {
    if (argc != 7) {
        fprintf(stderr, "usage: mysql_probe HOST PORT USER PASSWORD DATABASE ITERATIONS\n");
        return 2;
    }
    host = argv[1];
    port = (unsigned int)atoi(argv[2]);
    user = argv[3];
    password = argv[4];
    database = argv[5];
    int n = atoi(argv[6]);
    if (n < 1) n = 1;
    int warmup = n / 10 < 1 ? 1 : (n / 10 > 10 ? 10 : n / 10);
    long long *samples = calloc((size_t)n, sizeof *samples);
    if (!samples) probe_die("calloc");
    if (mysql_library_init(0, NULL, NULL) != 0) probe_die("mysql_library_init");
    snprintf(lock_name, sizeof lock_name, "tooz-probe-%d", (int)getpid());
    snprintf(get_lock_sql, sizeof get_lock_sql, "SELECT GET_LOCK('%s', 0)", lock_name);
    snprintf(get_lock_wait_sql, sizeof get_lock_wait_sql, "SELECT GET_LOCK('%s', 60)", lock_name);
    snprintf(release_sql, sizeof release_sql, "SELECT RELEASE_LOCK('%s')", lock_name);

    MYSQL *c = conn_open();

    /* ping */
    for (int i = -warmup; i < n; i++) {
        long long start = probe_now_ns();
        query_int(c, "SELECT 1", 1, "SELECT 1");
        if (i >= 0) samples[i] = probe_now_ns() - start;
    }
    probe_report("ping", "SELECT 1 on a kept connection (libmariadb)", samples, n);

    /* lock */
    for (int i = -warmup; i < n; i++) {
        long long start = probe_now_ns();
        lock_cycle(c);
        if (i >= 0) samples[i] = probe_now_ns() - start;
    }
    probe_report("lock", "GET_LOCK(name, 0) + RELEASE_LOCK(name) on a kept connection (libmariadb)", samples, n);

    /* lock_connect */
    for (int i = -warmup; i < n; i++) {
        long long start = probe_now_ns();
        MYSQL *fresh = conn_open();
        lock_cycle(fresh);
        mysql_close(fresh);
        if (i >= 0) samples[i] = probe_now_ns() - start;
    }
    probe_report("lock_connect",
                 "connect + mysql_native_password login + GET_LOCK + RELEASE_LOCK + close, a new connection each (libmariadb)",
                 samples, n);

    /* handoff */
    int handoffs = n < 50 ? n : 50;
    probe_state = -2;
    pthread_t thread;
    if (pthread_create(&thread, NULL, waiter, NULL) != 0) probe_die("pthread_create");
    probe_wait_state(0, 0);
    for (int i = 0; i < handoffs; i++) {
        query_int(c, get_lock_sql, 1, "GET_LOCK (the holder's)");
        probe_set_state(1);
        probe_wait_state(2, 2);
        /* The waiter has sent its GET_LOCK by now, or does within the pause: it blocks in the server. */
        struct timespec pause = {0, 20 * 1000 * 1000};
        nanosleep(&pause, NULL);
        long long released = probe_now_ns();
        query_int(c, release_sql, 1, "RELEASE_LOCK (the holder's)");
        probe_wait_state(3, 3);
        samples[i] = probe_acquired_at - released;
    }
    probe_set_state(-1);
    pthread_join(thread, NULL);
    probe_report("handoff", "RELEASE_LOCK on A -> the server wakes B's GET_LOCK(name, 60) (libmariadb)", samples, handoffs);

    mysql_close(c);
    mysql_library_end();
    return 0;
}
