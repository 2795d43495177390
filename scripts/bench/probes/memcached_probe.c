/* memcached_probe: the floor of each memcached:// row of scripts/bench/compare, measured with
 * plain blocking sockets (one connection per role, TCP_NODELAY, memcached's meta protocol, no
 * client library), so that nothing of swift-tooz or pymemcache is in it.
 *
 *   memcached_probe HOST PORT ITERATIONS
 *
 * Prints one JSON object per row (see probe_common.h):
 *   ping           mn -> MN: one round trip.
 *   lock           ms <lock> <n> F1 T30 ME c (an add that returns the item's CAS), then
 *                  md <lock> C<cas> (a compare-and-delete): the least a lock cycle needs whose
 *                  release cannot delete the next holder's lock; two round trips.
 *   lock_pipelined the requests swift-tooz's memcached:// backend sends for one cycle: the same
 *                  add and `ma <fence> N0 J<µs> D1 v` (its fencing counter) in one write, both
 *                  replies read, then md <lock> C<cas>; two round trips.
 *   handoff        A holds the lock; B, on a connection of its own, retries the add
 *                  (ms <lock> <n> F1 T30 ME c) in a tight loop, no sleep between tries, one try
 *                  per round trip (memcached cannot push, so a waiter must poll; this is polling
 *                  at the fastest rate the round trip allows, not a rate a client should use);
 *                  after 20 ms of that, A releases with md C<cas>. Timed from just before A's md
 *                  until B's add has answered HD: the release round trip, at most one refused
 *                  try in flight, and the winning try.
 *   join           ms _TOOZ_GROUP_<g> <n> F2 T0 of a one-member group record (tooz's msgpack):
 *                  one round trip (tooz and swift-tooz read the record first and store it with
 *                  CAS; this is the single store);
 *   members        mg _TOOZ_GROUP_<g> v f c: one round trip (no liveness check of the members);
 *   leave          ms _TOOZ_GROUP_<g> of the empty record: one round trip.
 * Each row but handoff is preceded by min(10, n/10) untimed cycles, as in `tooz bench`; the
 * membership rows by two.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "probe_common.h"
#include "probe_socket.h"

/* One meta reply: its status line (without CRLF), and its data block for VA. */
typedef struct {
    char line[256];
    char data[256];
    long data_len;
} reply_t;

/* The end of the reply that starts the buffer, or -1 when the buffer does not hold all of it. */
static long parse(const conn_t *c) {
    const char *nl = memchr(c->buf, '\n', c->len);
    if (!nl) return -1;
    size_t after = (size_t)(nl - c->buf) + 1;
    if (c->len >= 3 && memcmp(c->buf, "VA ", 3) == 0) {
        long size = strtol(c->buf + 3, NULL, 10);
        if (size < 0) {
            fprintf(stderr, "memcached_probe: bad VA line\n");
            exit(1);
        }
        return after + (size_t)size + 2 <= c->len ? (long)(after + (size_t)size + 2) : -1;
    }
    return (long)after;
}

/* Reads one whole reply; CLIENT_ERROR, SERVER_ERROR and ERROR end the probe. */
static void read_reply(conn_t *c, reply_t *r) {
    long end;
    while ((end = parse(c)) < 0) {
        if (c->len == sizeof c->buf) {
            fprintf(stderr, "memcached_probe: reply too long\n");
            exit(1);
        }
        ssize_t n = read(c->fd, c->buf + c->len, sizeof c->buf - c->len);
        if (n < 0) {
            if (errno == EINTR) continue;
            probe_die("read");
        }
        if (n == 0) {
            fprintf(stderr, "memcached_probe: the server closed the connection\n");
            exit(1);
        }
        c->len += (size_t)n;
    }
    const char *cr = memchr(c->buf, '\r', (size_t)end);
    size_t line = cr ? (size_t)(cr - c->buf) : 0;
    if (line > sizeof r->line - 1) line = sizeof r->line - 1;
    memcpy(r->line, c->buf, line);
    r->line[line] = 0;
    r->data_len = -1;
    if (memcmp(r->line, "VA ", 3) == 0) {
        long size = strtol(r->line + 3, NULL, 10);
        size_t copy = (size_t)size < sizeof r->data - 1 ? (size_t)size : sizeof r->data - 1;
        memcpy(r->data, cr + 2, copy);
        r->data[copy] = 0;
        r->data_len = size;
    }
    memmove(c->buf, c->buf + end, c->len - (size_t)end);
    c->len -= (size_t)end;
    if (strncmp(r->line, "CLIENT_ERROR", 12) == 0 || strncmp(r->line, "SERVER_ERROR", 12) == 0 ||
        strcmp(r->line, "ERROR") == 0) {
        fprintf(stderr, "memcached_probe: error reply: %s\n", r->line);
        exit(1);
    }
}

/* Whether the status line starts with the two-letter code (HD, NS, VA, EN, MN, ...). */
static int status_is(const reply_t *r, const char *code) {
    return strncmp(r->line, code, 2) == 0 && (r->line[2] == 0 || r->line[2] == ' ');
}

static void expect(const reply_t *r, const char *code, const char *what) {
    if (!status_is(r, code)) {
        fprintf(stderr, "memcached_probe: %s: expected %s, got '%s'\n", what, code, r->line);
        exit(1);
    }
}

/* The value of the return flag `letter` in a status line ("HD c123" -> 123 for 'c'). */
static unsigned long long flag_value(const reply_t *r, char letter, const char *what) {
    for (const char *p = strchr(r->line, ' '); p; p = strchr(p + 1, ' ')) {
        if (p[1] == letter) return strtoull(p + 2, NULL, 10);
    }
    fprintf(stderr, "memcached_probe: %s: no %c flag in '%s'\n", what, letter, r->line);
    exit(1);
}

/* The request buffers: a command line, or a command line with its data block. */
static char out[4096];

static size_t add_request(char *to, size_t room, const char *key, const char *value) {
    return (size_t)snprintf(to, room, "ms %s %zu F1 T30 ME c\r\n%s\r\n", key, strlen(value), value);
}

static void simple(conn_t *c, reply_t *r, const char *fmt, const char *key, unsigned long long number) {
    size_t len = (size_t)snprintf(out, sizeof out, fmt, key, number);
    send_all(c, out, len);
    read_reply(c, r);
}

static char lock_key[160], fence_key[200], group_key[160];

static long long now_us_since_epoch(void) {
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (long long)tv.tv_sec * 1000000LL + tv.tv_usec;
}

/* The hand-off's waiter: its own connection, its own outgoing buffer. */
static void *waiter(void *arg) {
    (void)arg;
    conn_t *c = conn_open();
    char request[512], release[512];
    size_t request_len = add_request(request, sizeof request, lock_key, "bench-b");
    reply_t r;
    probe_set_state(0);
    for (;;) {
        if (probe_wait_state(1, -1) == -1) break;
        send_all(c, request, request_len);
        read_reply(c, &r);
        expect(&r, "NS", "the waiter's first add");
        probe_set_state(2);
        for (;;) {
            send_all(c, request, request_len);
            read_reply(c, &r);
            if (status_is(&r, "HD")) break;
            expect(&r, "NS", "the waiter's add");
        }
        long long now = probe_now_ns();
        unsigned long long cas = flag_value(&r, 'c', "the waiter's add");
        probe_acquired_at = now;
        size_t len = (size_t)snprintf(release, sizeof release, "md %s C%llu\r\n", lock_key, cas);
        send_all(c, release, len);
        read_reply(c, &r);
        expect(&r, "HD", "the waiter's release");
        probe_set_state(3);
    }
    close(c->fd);
    free(c);
    return NULL;
}

/* A msgpack map {bin member: {bin "capabilities": nil}} (tooz's group record, one member). */
static size_t group_record(char *to, const char *member) {
    size_t m = strlen(member), pos = 0;
    to[pos++] = (char)0x81;
    to[pos++] = (char)0xc4;
    to[pos++] = (char)m;
    memcpy(to + pos, member, m);
    pos += m;
    to[pos++] = (char)0x81;
    to[pos++] = (char)0xc4;
    to[pos++] = 12;
    memcpy(to + pos, "capabilities", 12);
    pos += 12;
    to[pos++] = (char)0xc0;
    return pos;
}

static size_t store_group(char *to, size_t room, const char *record, size_t record_len) {
    size_t pos = (size_t)snprintf(to, room, "ms %s %zu F2 T0\r\n", group_key, record_len);
    memcpy(to + pos, record, record_len);
    pos += record_len;
    memcpy(to + pos, "\r\n", 2);
    return pos + 2;
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: memcached_probe HOST PORT ITERATIONS\n");
        return 2;
    }
    host = argv[1];
    port = argv[2];
    int n = atoi(argv[3]);
    if (n < 1) n = 1;
    int warmup = n / 10 < 1 ? 1 : (n / 10 > 10 ? 10 : n / 10);
    long long *samples = calloc((size_t)n, sizeof *samples);
    if (!samples) probe_die("calloc");
    /* tooz's layout: __TOOZ_LOCK_<name>, _TOOZ_GROUP_<g>; ours: _TOOZ_FENCE_<lock key>. */
    snprintf(lock_key, sizeof lock_key, "__TOOZ_LOCK_tooz-probe-%d", (int)getpid());
    snprintf(fence_key, sizeof fence_key, "_TOOZ_FENCE_%s", lock_key);
    snprintf(group_key, sizeof group_key, "_TOOZ_GROUP_tooz-probe-%d", (int)getpid());

    conn_t *c = conn_open();
    reply_t r;

    /* ping */
    for (int i = -warmup; i < n; i++) {
        long long start = probe_now_ns();
        send_all(c, "mn\r\n", 4);
        read_reply(c, &r);
        if (i >= 0) samples[i] = probe_now_ns() - start;
        expect(&r, "MN", "mn");
    }
    probe_report("ping", "mn round trip", samples, n);

    char add[512];
    size_t add_len = add_request(add, sizeof add, lock_key, "bench-a");

    /* lock: add with CAS, compare-and-delete */
    for (int i = -warmup; i < n; i++) {
        long long start = probe_now_ns();
        send_all(c, add, add_len);
        read_reply(c, &r);
        expect(&r, "HD", "ms ME");
        unsigned long long cas = flag_value(&r, 'c', "ms ME");
        simple(c, &r, "md %s C%llu\r\n", lock_key, cas);
        if (i >= 0) samples[i] = probe_now_ns() - start;
        expect(&r, "HD", "md C");
    }
    probe_report("lock", "ms ME c + md C<cas>", samples, n);

    /* lock_pipelined: add with CAS and the fencing counter's ma in one write, then md C<cas> */
    for (int i = -warmup; i < n; i++) {
        long long start = probe_now_ns();
        size_t len = add_len;
        memcpy(out, add, add_len);
        len += (size_t)snprintf(out + len, sizeof out - len, "ma %s N0 J%lld D1 v\r\n", fence_key, now_us_since_epoch());
        send_all(c, out, len);
        read_reply(c, &r);
        expect(&r, "HD", "ms ME (pipelined)");
        unsigned long long cas = flag_value(&r, 'c', "ms ME (pipelined)");
        read_reply(c, &r);
        expect(&r, "VA", "ma N0 J D1 v");
        simple(c, &r, "md %s C%llu\r\n", lock_key, cas);
        if (i >= 0) samples[i] = probe_now_ns() - start;
        expect(&r, "HD", "md C");
    }
    probe_report("lock_pipelined", "(ms ME c + ma N0 J D1 v, one write) + md C<cas>", samples, n);

    /* handoff */
    int handoffs = n < 50 ? n : 50;
    probe_state = -2;
    pthread_t thread;
    if (pthread_create(&thread, NULL, waiter, NULL) != 0) probe_die("pthread_create");
    probe_wait_state(0, 0);
    for (int i = 0; i < handoffs; i++) {
        send_all(c, add, add_len);
        read_reply(c, &r);
        expect(&r, "HD", "ms ME (the holder's)");
        unsigned long long cas = flag_value(&r, 'c', "ms ME (the holder's)");
        probe_set_state(1);
        probe_wait_state(2, 2);
        struct timespec pause = {0, 20 * 1000 * 1000};
        nanosleep(&pause, NULL);
        long long released = probe_now_ns();
        simple(c, &r, "md %s C%llu\r\n", lock_key, cas);
        expect(&r, "HD", "md C (the holder's release)");
        probe_wait_state(3, 3);
        samples[i] = probe_acquired_at - released;
    }
    probe_set_state(-1);
    pthread_join(thread, NULL);
    probe_report("handoff", "md C<cas> -> B's next ms ME in a tight retry loop (no push, no sleep) answers HD",
                 samples, handoffs);

    /* join / members / leave */
    int members = n < 100 ? n : 100;
    long long *join = calloc((size_t)members, sizeof *join), *list = calloc((size_t)members, sizeof *list),
              *leave = calloc((size_t)members, sizeof *leave);
    if (!join || !list || !leave) probe_die("calloc");
    char record[128], join_req[512], leave_req[512];
    size_t record_len = group_record(record, "bench-a");
    size_t join_len = store_group(join_req, sizeof join_req, record, record_len);
    const char empty = (char)0x80; /* the empty msgpack map */
    size_t leave_len = store_group(leave_req, sizeof leave_req, &empty, 1);
    char get_req[256];
    size_t get_len = (size_t)snprintf(get_req, sizeof get_req, "mg %s v f c\r\n", group_key);
    for (int i = -2; i < members; i++) {
        long long t0 = probe_now_ns();
        send_all(c, join_req, join_len);
        read_reply(c, &r);
        long long t1 = probe_now_ns();
        expect(&r, "HD", "ms group (join)");
        send_all(c, get_req, get_len);
        read_reply(c, &r);
        long long t2 = probe_now_ns();
        expect(&r, "VA", "mg group");
        if (r.data_len != (long)record_len) {
            fprintf(stderr, "memcached_probe: mg group: %ld bytes, expected %zu\n", r.data_len, record_len);
            exit(1);
        }
        send_all(c, leave_req, leave_len);
        read_reply(c, &r);
        long long t3 = probe_now_ns();
        expect(&r, "HD", "ms group (leave)");
        if (i < 0) continue;
        join[i] = t1 - t0;
        list[i] = t2 - t1;
        leave[i] = t3 - t2;
    }
    probe_report("join", "ms group record (one member)", join, members);
    probe_report("members", "mg group v f c", list, members);
    probe_report("leave", "ms group record (empty)", leave, members);

    /* Leave nothing behind (the lock item is gone already). */
    const char *keys[] = {group_key, fence_key};
    for (int i = 0; i < 2; i++) {
        size_t len = (size_t)snprintf(out, sizeof out, "md %s\r\n", keys[i]);
        send_all(c, out, len);
        read_reply(c, &r);
    }
    close(c->fd);
    return 0;
}
