/* openloop: an open-loop HTTP/1.1 load generator at a fixed request rate.
 *
 * wrk (Debian) only runs closed loops: each connection waits for its answer before it sends
 * again, so a slow server slows the load and hides its own queueing (coordinated omission).
 * Debian has no wrk2, so this program does what wrk2's -R does: request i is due at
 * t0 + i/rate whatever happened before, goes out on the first idle keep-alive connection, and
 * its latency is counted from the time it was due, queueing included.
 *
 *   openloop HOST PORT PATH BODYFILE RATE SECONDS CONNECTIONS WARMUP_S [HEADER...]
 *
 * Prints one JSON object on stdout. Single thread, epoll, a timerfd tick; responses are
 * framed by Content-Length or chunked encoding. Built by bench/load/tools.py with cc -O2.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#define INBUF (1 << 20)

typedef struct {
    int fd;
    int busy;        /* a request is in flight */
    int connecting;
    size_t sent;     /* bytes of the request written */
    size_t got;      /* bytes of the response read */
    double due;      /* when the request in flight was due */
    int measured;    /* counts toward the latency figures */
    char *in;
} conn_t;

static struct sockaddr_in addr;
static char *request;
static size_t request_len;
static int epfd;
static double *lat;
static size_t nlat, caplat;
static long completed, errors, non2xx, reconnects;
/* worst latency of the requests due in each second of the run: shows when a stall happened */
static double *worst;
static size_t nworst;
static double t_zero;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void die(const char *what) {
    perror(what);
    exit(2);
}

static void open_conn(conn_t *c) {
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (c->fd < 0) die("socket");
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c->connecting = 1;
    if (connect(c->fd, (struct sockaddr *)&addr, sizeof addr) < 0 && errno != EINPROGRESS)
        die("connect");
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.ptr = c};
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, c->fd, &ev) < 0) die("epoll_ctl");
    c->busy = 0;
    c->sent = c->got = 0;
}

static void reopen(conn_t *c) {
    epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    reconnects++;
    open_conn(c);
}

static void want(conn_t *c, uint32_t events) {
    struct epoll_event ev = {.events = events, .data.ptr = c};
    epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
}

static void record(double latency) {
    if (nlat == caplat) {
        caplat = caplat ? caplat * 2 : 65536;
        lat = realloc(lat, caplat * sizeof *lat);
        if (!lat) die("realloc");
    }
    lat[nlat++] = latency;
}

/* Bytes of a complete response at the start of buf, 0 while incomplete, -1 when unparsable. */
static long framed(const char *buf, size_t n, int *status) {
    const char *end = memmem(buf, n, "\r\n\r\n", 4);
    if (!end) return 0;
    size_t head = (size_t)(end - buf) + 4;
    if (n < 12 || strncmp(buf, "HTTP/1.", 7) != 0) return -1;
    *status = atoi(buf + 9);
    long length = -1;
    int chunked = 0;
    for (const char *p = buf; p < end;) {
        const char *eol = memmem(p, (size_t)(end - p) + 2, "\r\n", 2);
        if (!eol) break;
        if (strncasecmp(p, "content-length:", 15) == 0) length = atol(p + 15);
        if (strncasecmp(p, "transfer-encoding:", 18) == 0 && memmem(p, (size_t)(eol - p), "chunked", 7))
            chunked = 1;
        p = eol + 2;
    }
    if (chunked) {
        /* the last chunk: a size line "0" right after a CRLF (the head's own, when empty) */
        const char *last = memmem(buf + head - 2, n - head + 2, "\r\n0\r\n\r\n", 7);
        if (!last) return 0;
        return (long)(last - buf) + 7;
    }
    if (length < 0) return -1; /* close-delimited bodies are not supported */
    return n >= head + (size_t)length ? (long)(head + (size_t)length) : 0;
}

static void start(conn_t *c, double due, int measured) {
    c->busy = 1;
    c->sent = c->got = 0;
    c->due = due;
    c->measured = measured;
    ssize_t w = write(c->fd, request, request_len);
    if (w > 0) c->sent = (size_t)w;
    want(c, c->sent < request_len ? EPOLLIN | EPOLLOUT : EPOLLIN);
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double pct(double q) {
    if (!nlat) return -1;
    size_t i = (size_t)(q * (double)nlat);
    if (i >= nlat) i = nlat - 1;
    return lat[i] * 1e3;
}

int main(int argc, char **argv) {
    if (argc < 9) {
        fprintf(stderr,
                "usage: openloop HOST PORT PATH BODYFILE RATE SECONDS CONNECTIONS WARMUP_S [HEADER...]\n");
        return 2;
    }
    const char *host = argv[1], *path = argv[3];
    double rate = atof(argv[5]), seconds = atof(argv[6]), warmup = atof(argv[8]);
    int nconn = atoi(argv[7]);
    if (rate <= 0 || seconds <= 0 || nconn < 1) {
        fprintf(stderr, "openloop: RATE, SECONDS and CONNECTIONS must be positive\n");
        return 2;
    }
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)atoi(argv[2]));
    if (inet_pton(AF_INET, host, &addr.sin_addr) != 1) {
        fprintf(stderr, "openloop: HOST must be an IPv4 address\n");
        return 2;
    }
    FILE *f = fopen(argv[4], "rb");
    if (!f) die("body file");
    fseek(f, 0, SEEK_END);
    long body_len = ftell(f);
    rewind(f);
    char *body = malloc((size_t)body_len + 1);
    if (fread(body, 1, (size_t)body_len, f) != (size_t)body_len) die("read body");
    fclose(f);
    size_t extra = 0;
    for (int i = 9; i < argc; i++) extra += strlen(argv[i]) + 2;
    request = malloc((size_t)body_len + extra + 512);
    int n = sprintf(request,
                    "POST %s HTTP/1.1\r\nHost: %s:%s\r\nContent-Type: application/json\r\n"
                    "Content-Length: %ld\r\n",
                    path, host, argv[2], body_len);
    for (int i = 9; i < argc; i++) n += sprintf(request + n, "%s\r\n", argv[i]);
    n += sprintf(request + n, "\r\n");
    memcpy(request + n, body, (size_t)body_len);
    request_len = (size_t)n + (size_t)body_len;

    epfd = epoll_create1(0);
    conn_t *conns = calloc((size_t)nconn, sizeof *conns);
    for (int i = 0; i < nconn; i++) {
        conns[i].in = malloc(INBUF);
        open_conn(&conns[i]);
    }
    int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK);
    double tick = 1.0 / rate < 0.0005 ? 1.0 / rate : 0.0005; /* at most 0.5 ms late */
    struct itimerspec its = {.it_interval = {0, (long)(tick * 1e9)}, .it_value = {0, (long)(tick * 1e9)}};
    timerfd_settime(tfd, 0, &its, NULL);
    struct epoll_event tev = {.events = EPOLLIN, .data.ptr = NULL};
    epoll_ctl(epfd, EPOLL_CTL_ADD, tfd, &tev);

    /* due requests that found no idle connection wait here, oldest first */
    size_t qcap = 1 << 16, qhead = 0, qtail = 0;
    double *queue = malloc(qcap * sizeof *queue);
    long scheduled = 0, late = 0;
    double t0 = now_s(), t_end = t0 + warmup + seconds, measure_from = t0 + warmup;
    t_zero = t0;
    nworst = (size_t)(warmup + seconds) + 1;
    worst = calloc(nworst, sizeof *worst);
    double drain_until = t_end + 2.0;
    struct epoll_event events[256];
    for (;;) {
        double now = now_s();
        if (now < t_end) {
            /* request i is due at t0 + i/rate: it goes out as soon as that moment has come */
            long due_count = (long)((now - t0) * rate) + 1;
            while (scheduled < due_count) {
                double due = t0 + (double)scheduled / rate;
                scheduled++;
                if (qtail - qhead == qcap) { late++; continue; }
                queue[qtail++ % qcap] = due;
            }
        }
        for (int i = 0; i < nconn && qhead < qtail; i++) {
            if (!conns[i].busy && !conns[i].connecting) {
                double due = queue[qhead++ % qcap];
                start(&conns[i], due, due >= measure_from);
            }
        }
        int busy = 0;
        for (int i = 0; i < nconn; i++) busy += conns[i].busy;
        if (now >= t_end && (busy == 0 || now >= drain_until)) break;
        int k = epoll_wait(epfd, events, 256, 10);
        for (int e = 0; e < k; e++) {
            conn_t *c = events[e].data.ptr;
            if (!c) {
                uint64_t ticks;
                if (read(tfd, &ticks, sizeof ticks) < 0) { /* spurious */ }
                continue;
            }
            if (c->connecting) {
                int err = 0;
                socklen_t len = sizeof err;
                getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
                if (err) { errors++; reopen(c); continue; }
                c->connecting = 0;
                want(c, EPOLLIN);
                continue;
            }
            if ((events[e].events & EPOLLOUT) && c->busy && c->sent < request_len) {
                ssize_t w = write(c->fd, request + c->sent, request_len - c->sent);
                if (w > 0) c->sent += (size_t)w;
                if (c->sent == request_len) want(c, EPOLLIN);
            }
            if (events[e].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
                ssize_t r = read(c->fd, c->in + c->got, INBUF - c->got);
                if (r <= 0) {
                    if (r < 0 && errno == EAGAIN) continue;
                    if (c->busy) errors++;
                    reopen(c);
                    continue;
                }
                if (!c->busy) continue; /* unsolicited bytes: ignore */
                c->got += (size_t)r;
                int status = 0;
                long used = framed(c->in, c->got, &status);
                if (used < 0 || (used == 0 && c->got == INBUF)) { errors++; reopen(c); continue; }
                if (used == 0) continue;
                double done = now_s();
                completed++;
                if (status < 200 || status >= 300) non2xx++;
                if (c->measured) record(done - c->due);
                size_t second = (size_t)(c->due - t_zero);
                if (second < nworst && done - c->due > worst[second]) worst[second] = done - c->due;
                c->busy = 0;
                c->got = 0;
                if (qhead < qtail) {
                    double due = queue[qhead++ % qcap];
                    start(c, due, due >= measure_from);
                }
            }
        }
    }
    double elapsed = now_s() - t0;
    long unfinished = (long)(qtail - qhead);
    for (int i = 0; i < nconn; i++) unfinished += conns[i].busy;
    qsort(lat, nlat, sizeof *lat, cmp);
    double sum = 0;
    for (size_t i = 0; i < nlat; i++) sum += lat[i];
    printf("{\"rate\": %.3f, \"seconds\": %.3f, \"warmup_s\": %.3f, \"connections\": %d, "
           "\"scheduled\": %ld, \"completed\": %ld, \"measured\": %zu, \"errors\": %ld, "
           "\"non2xx\": %ld, \"unfinished\": %ld, \"dropped\": %ld, \"reconnects\": %ld, "
           "\"elapsed_s\": %.3f, \"achieved_rps\": %.3f, \"mean_ms\": %.4f, \"p50_ms\": %.4f, "
           "\"p90_ms\": %.4f, \"p99_ms\": %.4f, \"p999_ms\": %.4f, \"max_ms\": %.4f, ",
           rate, seconds, warmup, nconn, scheduled, completed, nlat, errors, non2xx, unfinished,
           late, reconnects - (long)0, elapsed, (double)nlat / seconds, nlat ? sum / (double)nlat * 1e3 : -1,
           pct(0.5), pct(0.9), pct(0.99), pct(0.999), nlat ? lat[nlat - 1] * 1e3 : -1);
    printf("\"worst_ms_per_second\": [");
    for (size_t i = 0; i < nworst; i++) printf("%s%.2f", i ? ", " : "", worst[i] * 1e3);
    printf("]}\n");
    return 0;
}
