/* Shared by the network probes of scripts/bench/compare (redis, memcached): one blocking
 * TCP connection with TCP_NODELAY to the HOST and PORT the probe was given, with a read buffer,
 * and a write that sends everything. Include after probe_common.h, with _GNU_SOURCE defined. */
#ifndef PROBE_SOCKET_H
#define PROBE_SOCKET_H

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

typedef struct {
    int fd;
    char buf[1 << 16];
    size_t len;
} conn_t;

/* Set by main from the command line. */
static const char *host;
static const char *port;

static conn_t *conn_open(void) {
    struct addrinfo hints = {0}, *res;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    int rc = getaddrinfo(host, port, &hints, &res);
    if (rc != 0) {
        fprintf(stderr, "%s: getaddrinfo: %s\n", program_invocation_short_name, gai_strerror(rc));
        exit(1);
    }
    int fd = socket(res->ai_family, res->ai_socktype, res->ai_protocol);
    if (fd < 0) probe_die("socket");
    if (connect(fd, res->ai_addr, res->ai_addrlen) < 0) probe_die("connect");
    freeaddrinfo(res);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    conn_t *c = calloc(1, sizeof *c);
    if (!c) probe_die("calloc");
    c->fd = fd;
    return c;
}

static void send_all(conn_t *c, const char *data, size_t len) {
    while (len > 0) {
        ssize_t n = write(c->fd, data, len);
        if (n < 0) {
            if (errno == EINTR) continue;
            probe_die("write");
        }
        data += n;
        len -= (size_t)n;
    }
}

#endif
