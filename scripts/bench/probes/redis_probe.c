/* redis_probe: the floor of each redis:// row of scripts/bench/compare, measured with plain
 * blocking sockets (one connection per role, TCP_NODELAY, RESP2, no client library), so that
 * nothing of swift-tooz or redis-py is in it.
 *
 *   redis_probe HOST PORT ITERATIONS
 *
 * Prints one JSON object per row (see probe_common.h):
 *   ping        PING: one round trip.
 *   lock_setdel SET key token NX PX 30000, then DEL key: the cheapest lock cycle, two round
 *               trips (a DEL that does not check the token is not a safe release).
 *   lock        SET key token NX PX 30000, then EVALSHA of redis-py's release script (GET, compare
 *               with the token, DEL), which is what tooz's redis driver does (redis-py's Lock):
 *               two round trips, the second one a Lua script.
 *   handoff     A holds the key; B has tried SET NX once (refused) and blocks reading its
 *               SUBSCRIBEd connection; after 20 ms A releases with one script (compare, DEL,
 *               PUBLISH); B, woken by the message, takes the key with SET NX PX. Timed from just
 *               before A's release until B's SET has answered OK: release round trip + push +
 *               acquire round trip, and two thread wake-ups.
 *   join        HSET group member value (one round trip);
 *   members     HKEYS group (one round trip, one member);
 *   leave       HDEL group member (one round trip).
 * Each row but handoff is preceded by min(10, n/10) untimed cycles, as in `tooz bench`.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

#include "probe_common.h"
#include "probe_socket.h"

typedef struct {
    char type;     /* '+', '-', ':', '$', '*' */
    long long num; /* the integer, the bulk length or the array count */
    char line[256];
} reply_t;

/* Sends one command as a RESP array of bulk strings, in one write. */
static void command(conn_t *c, int argc, const char **argv) {
    char out[4096];
    size_t pos = (size_t)snprintf(out, sizeof out, "*%d\r\n", argc);
    for (int i = 0; i < argc; i++) {
        size_t len = strlen(argv[i]);
        if (pos + len + 32 > sizeof out) {
            fprintf(stderr, "redis_probe: command too long\n");
            exit(1);
        }
        pos += (size_t)snprintf(out + pos, sizeof out - pos, "$%zu\r\n", len);
        memcpy(out + pos, argv[i], len);
        pos += len;
        memcpy(out + pos, "\r\n", 2);
        pos += 2;
    }
    send_all(c, out, pos);
}

/* The end of the reply that starts at pos, or -1 when the buffer does not hold all of it. */
static long parse(const char *b, size_t len, size_t pos) {
    if (pos >= len) return -1;
    const char *nl = memchr(b + pos, '\n', len - pos);
    if (!nl) return -1;
    size_t after = (size_t)(nl - b) + 1;
    char type = b[pos];
    long long num = strtoll(b + pos + 1, NULL, 10);
    switch (type) {
    case '+':
    case '-':
    case ':':
        return (long)after;
    case '$':
        if (num < 0) return (long)after;
        return after + (size_t)num + 2 <= len ? (long)(after + (size_t)num + 2) : -1;
    case '*': {
        size_t at = after;
        for (long long i = 0; i < num; i++) {
            long end = parse(b, len, at);
            if (end < 0) return -1;
            at = (size_t)end;
        }
        return (long)at;
    }
    default:
        fprintf(stderr, "redis_probe: unexpected reply byte %c\n", type);
        exit(1);
    }
}

/* Reads one whole reply; an error reply ends the probe. */
static void read_reply(conn_t *c, reply_t *r) {
    long end;
    while ((end = parse(c->buf, c->len, 0)) < 0) {
        if (c->len == sizeof c->buf) {
            fprintf(stderr, "redis_probe: reply too long\n");
            exit(1);
        }
        ssize_t n = read(c->fd, c->buf + c->len, sizeof c->buf - c->len);
        if (n < 0) {
            if (errno == EINTR) continue;
            probe_die("read");
        }
        if (n == 0) {
            fprintf(stderr, "redis_probe: the server closed the connection\n");
            exit(1);
        }
        c->len += (size_t)n;
    }
    r->type = c->buf[0];
    r->num = strtoll(c->buf + 1, NULL, 10);
    /* line: the first line (without the CRLF), or a bulk string's body. */
    const char *from = c->buf;
    const char *nl = memchr(c->buf, '\r', (size_t)end);
    size_t line = nl ? (size_t)(nl - c->buf) : 0;
    if (r->type == '$' && r->num >= 0) {
        from = nl + 2;
        line = (size_t)r->num;
    }
    if (line > sizeof r->line - 1) line = sizeof r->line - 1;
    memcpy(r->line, from, line);
    r->line[line] = 0;
    memmove(c->buf, c->buf + end, c->len - (size_t)end);
    c->len -= (size_t)end;
    if (r->type == '-') {
        fprintf(stderr, "redis_probe: error reply: %s\n", r->line);
        exit(1);
    }
}

static reply_t call(conn_t *c, int argc, const char **argv) {
    reply_t r;
    command(c, argc, argv);
    read_reply(c, &r);
    return r;
}

#define CALL(c, ...)                                                                               \
    call((c), (int)(sizeof((const char *[]){__VA_ARGS__}) / sizeof(const char *)),                \
         (const char *[]){__VA_ARGS__})

static void expect(const reply_t *r, char type, long long num, const char *what) {
    if (r->type != type || ((type == ':' || type == '$') && r->num != num)) {
        fprintf(stderr, "redis_probe: %s: unexpected reply %s\n", what, r->line);
        exit(1);
    }
}

/* redis-py's Lock release script (LUA_RELEASE_SCRIPT), which tooz 9.1.0's redis driver runs. */
static const char *RELEASE_SCRIPT = "local token = redis.call('get', KEYS[1])\n"
                                    "if not token or token ~= ARGV[1] then\n"
                                    "    return 0\n"
                                    "end\n"
                                    "redis.call('del', KEYS[1])\n"
                                    "return 1\n";

/* The hand-off's release: the same, and a message on KEYS[2] for the waiter. */
static const char *RELEASE_PUBLISH_SCRIPT = "if redis.call('get', KEYS[1]) ~= ARGV[1] then return 0 end\n"
                                            "redis.call('del', KEYS[1])\n"
                                            "redis.call('publish', KEYS[2], ARGV[1])\n"
                                            "return 1\n";

static char lock_key[128], channel[128], group_key[128];
static char release_sha[64], publish_sha[64];

/* The hand-off's waiter. */
static void *waiter(void *arg) {
    (void)arg;
    conn_t *cmd = conn_open();
    conn_t *sub = conn_open();
    reply_t r = CALL(sub, "SUBSCRIBE", channel);
    expect(&r, '*', 3, "SUBSCRIBE");
    probe_set_state(0);
    for (;;) {
        if (probe_wait_state(1, -1) == -1) break;
        r = CALL(cmd, "SET", lock_key, "token-b", "NX", "PX", "30000");
        expect(&r, '$', -1, "SET NX (the waiter's first try)");
        probe_set_state(2);
        read_reply(sub, &r); /* the release's message */
        expect(&r, '*', 3, "message");
        r = CALL(cmd, "SET", lock_key, "token-b", "NX", "PX", "30000");
        long long now = probe_now_ns();
        expect(&r, '+', 0, "SET NX (the waiter's acquisition)");
        probe_acquired_at = now;
        r = CALL(cmd, "EVALSHA", release_sha, "1", lock_key, "token-b");
        expect(&r, ':', 1, "release (the waiter's)");
        probe_set_state(3);
    }
    close(cmd->fd);
    close(sub->fd);
    free(cmd);
    free(sub);
    return NULL;
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: redis_probe HOST PORT ITERATIONS\n");
        return 2;
    }
    host = argv[1];
    port = argv[2];
    int n = atoi(argv[3]);
    if (n < 1) n = 1;
    int warmup = n / 10 < 1 ? 1 : (n / 10 > 10 ? 10 : n / 10);
    long long *samples = calloc((size_t)n, sizeof *samples);
    if (!samples) probe_die("calloc");
    snprintf(lock_key, sizeof lock_key, "tooz-probe-%d-lock", (int)getpid());
    snprintf(channel, sizeof channel, "tooz-probe-%d-channel", (int)getpid());
    snprintf(group_key, sizeof group_key, "tooz-probe-%d-group", (int)getpid());

    conn_t *c = conn_open();
    reply_t r = CALL(c, "SCRIPT", "LOAD", RELEASE_SCRIPT);
    expect(&r, '$', 40, "SCRIPT LOAD");
    memcpy(release_sha, r.line, 41);
    r = CALL(c, "SCRIPT", "LOAD", RELEASE_PUBLISH_SCRIPT);
    expect(&r, '$', 40, "SCRIPT LOAD");
    memcpy(publish_sha, r.line, 41);

    /* ping */
    for (int i = 0; i < warmup; i++) CALL(c, "PING");
    for (int i = 0; i < n; i++) {
        long long start = probe_now_ns();
        r = CALL(c, "PING");
        samples[i] = probe_now_ns() - start;
        expect(&r, '+', 0, "PING");
    }
    probe_report("ping", "PING round trip", samples, n);

    /* lock_setdel */
    for (int i = -warmup; i < n; i++) {
        long long start = probe_now_ns();
        r = CALL(c, "SET", lock_key, "token-a", "NX", "PX", "30000");
        expect(&r, '+', 0, "SET NX");
        r = CALL(c, "DEL", lock_key);
        if (i >= 0) samples[i] = probe_now_ns() - start;
        expect(&r, ':', 1, "DEL");
    }
    probe_report("lock_setdel", "SET NX PX + DEL", samples, n);

    /* lock: SET NX PX + EVALSHA release script */
    for (int i = -warmup; i < n; i++) {
        long long start = probe_now_ns();
        r = CALL(c, "SET", lock_key, "token-a", "NX", "PX", "30000");
        expect(&r, '+', 0, "SET NX");
        r = CALL(c, "EVALSHA", release_sha, "1", lock_key, "token-a");
        if (i >= 0) samples[i] = probe_now_ns() - start;
        expect(&r, ':', 1, "EVALSHA release");
    }
    probe_report("lock", "SET NX PX + EVALSHA release script", samples, n);

    /* handoff */
    int handoffs = n < 50 ? n : 50;
    probe_state = -2;
    pthread_t thread;
    if (pthread_create(&thread, NULL, waiter, NULL) != 0) probe_die("pthread_create");
    probe_wait_state(0, 0);
    for (int i = 0; i < handoffs; i++) {
        r = CALL(c, "SET", lock_key, "token-a", "NX", "PX", "30000");
        expect(&r, '+', 0, "SET NX (the holder's)");
        probe_set_state(1);
        probe_wait_state(2, 2);
        struct timespec pause = {0, 20 * 1000 * 1000};
        nanosleep(&pause, NULL);
        long long released = probe_now_ns();
        r = CALL(c, "EVALSHA", publish_sha, "2", lock_key, channel, "token-a");
        expect(&r, ':', 1, "release + publish");
        probe_wait_state(3, 3);
        samples[i] = probe_acquired_at - released;
    }
    probe_set_state(-1);
    pthread_join(thread, NULL);
    probe_report("handoff", "release+PUBLISH script -> message -> SET NX PX", samples, handoffs);

    /* join / members / leave */
    int members = n < 100 ? n : 100;
    long long *join = calloc((size_t)members, sizeof *join), *list = calloc((size_t)members, sizeof *list),
              *leave = calloc((size_t)members, sizeof *leave);
    if (!join || !list || !leave) probe_die("calloc");
    for (int i = -2; i < members; i++) {
        long long t0 = probe_now_ns();
        r = CALL(c, "HSET", group_key, "member-a", "capabilities");
        long long t1 = probe_now_ns();
        expect(&r, ':', 1, "HSET");
        r = CALL(c, "HKEYS", group_key);
        long long t2 = probe_now_ns();
        expect(&r, '*', 1, "HKEYS");
        r = CALL(c, "HDEL", group_key, "member-a");
        long long t3 = probe_now_ns();
        expect(&r, ':', 1, "HDEL");
        if (i < 0) continue;
        join[i] = t1 - t0;
        list[i] = t2 - t1;
        leave[i] = t3 - t2;
    }
    probe_report("join", "HSET group member", join, members);
    probe_report("members", "HKEYS group", list, members);
    probe_report("leave", "HDEL group member", leave, members);

    CALL(c, "DEL", lock_key, group_key);
    close(c->fd);
    return 0;
}
