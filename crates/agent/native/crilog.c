// labyrinth-crilog: a container's log writer, in containerd's place.
//
//   labyrinth-crilog FILE
//       Read the container's stdout on fd 0 and its stderr on fd 1 (pipes,
//       handed over as this program's stdin and stdout: with no fd to place
//       elsewhere, the agent spawns it without forking its own big address
//       space, which cost more CPU than the rest of a container's start)
//       and append every line to FILE in the CRI log format the kubelet
//       reads: "<RFC3339Nano time> <stdout|stderr> <F|P> <text>\n", P for
//       a piece of a line longer than the buffer, F for a line's end. Ends
//       when both pipes are closed (every writer gone).
//
// It forks once FILE is open and the parent exits: the agent waits only for
// that parent (an error opening FILE is its exit status and stderr), and
// the writer, no child of the agent's, neither becomes its zombie nor dies
// with it (a restarted agent adopts running containers whose output must
// still land somewhere). Without a libc, as pause.c: one runs per
// container start.

#include "freestanding.h"
#include <linux/fcntl.h>

#define SIGCHLD 17
#define POLLIN 0x1
#define CLOCK_REALTIME 0
#define EINTR 4
#define EAGAIN 11
// A line is cut into P pieces beyond this, as containerd does at 16 KiB.
#define LINE_MAX 16384

struct stream {
    int fd;
    const char *name;
    unsigned long used;
    char buf[LINE_MAX];
};

static long out_fd;

static void put2(char *b, unsigned long *at, unsigned long v) {
    b[(*at)++] = (char)('0' + v / 10 % 10);
    b[(*at)++] = (char)('0' + v % 10);
}

// Now as RFC 3339 with nanoseconds, trailing zeros of the fraction dropped
// (Go's RFC3339Nano, what containerd writes); `b` has room for 36 bytes.
static unsigned long timestamp(char *b) {
    struct {
        long sec, nsec;
    } ts = {0, 0};
    sys(__NR_clock_gettime, CLOCK_REALTIME, (long)&ts, 0, 0, 0);
    unsigned long s = (unsigned long)ts.sec, days = s / 86400, rem = s % 86400;
    // Days since 1970-01-01 to a civil date (proleptic Gregorian).
    unsigned long z = days + 719468, era = z / 146097, doe = z - era * 146097;
    unsigned long yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned long doy = doe - (365 * yoe + yoe / 4 - yoe / 100), mp = (5 * doy + 2) / 153;
    unsigned long d = doy - (153 * mp + 2) / 5 + 1, m = mp < 10 ? mp + 3 : mp - 9;
    unsigned long y = yoe + era * 400 + (m <= 2);
    unsigned long at = 0;
    put2(b, &at, y / 100);
    put2(b, &at, y);
    b[at++] = '-';
    put2(b, &at, m);
    b[at++] = '-';
    put2(b, &at, d);
    b[at++] = 'T';
    put2(b, &at, rem / 3600);
    b[at++] = ':';
    put2(b, &at, rem / 60 % 60);
    b[at++] = ':';
    put2(b, &at, rem % 60);
    unsigned long ns = (unsigned long)ts.nsec;
    if (ns) {
        b[at++] = '.';
        for (unsigned long div = 100000000; div && ns; div /= 10) {
            b[at++] = (char)('0' + ns / div);
            ns %= div;
        }
    }
    b[at++] = 'Z';
    return at;
}

// One record, in one write: the file is O_APPEND, so a reader sees whole
// records only.
static void emit(struct stream *s, const char *text, unsigned long n, char tag) {
    static char rec[LINE_MAX + 64];
    unsigned long at = timestamp(rec);
    rec[at++] = ' ';
    put(rec, &at, sizeof rec, s->name);
    rec[at++] = ' ';
    rec[at++] = tag;
    rec[at++] = ' ';
    memcpy(rec + at, text, n);
    at += n;
    rec[at++] = '\n';
    for (unsigned long done = 0; done < at;) {
        long w = sys(__NR_write, out_fd, (long)(rec + done), (long)(at - done), 0, 0);
        if (w == -EINTR)
            continue;
        if (w <= 0)
            return;
        done += (unsigned long)w;
    }
}

// Read what is there; true while the pipe stays open.
static int drain(struct stream *s) {
    long n = sys(__NR_read, s->fd, (long)(s->buf + s->used), (long)(LINE_MAX - s->used), 0, 0);
    if (n == -EINTR || n == -EAGAIN)
        return 1;
    if (n <= 0) {
        // Closed: a last line without its newline is still a whole line.
        if (s->used)
            emit(s, s->buf, s->used, 'F');
        s->used = 0;
        return 0;
    }
    s->used += (unsigned long)n;
    unsigned long start = 0;
    for (unsigned long i = 0; i < s->used; i++) {
        if (s->buf[i] == '\n') {
            emit(s, s->buf + start, i - start, 'F');
            start = i + 1;
        }
    }
    if (start == 0 && s->used == LINE_MAX) {
        emit(s, s->buf, s->used, 'P');
        start = s->used;
    }
    for (unsigned long i = start; i < s->used; i++)
        s->buf[i - start] = s->buf[i];
    s->used -= start;
    return 1;
}

static struct stream out = {3, "stdout", 0, {0}}, err = {4, "stderr", 0, {0}};

__attribute__((used)) void start_c(long *sp) {
    long argc = sp[0];
    char **argv = (char **)(sp + 1);
    if (argc != 2) {
        static const char usage[] = "usage: labyrinth-crilog FILE (stdout on fd 0, stderr on fd 1)\n";
        sys(__NR_write, 2, (long)usage, sizeof usage - 1, 0, 0);
        quit(2);
    }
    // Read on 3 and 4 from here on: 0, 1 and 2 are let go below.
    if (sys(__NR_dup3, 0, 3, 0, 0, 0) < 0 || sys(__NR_dup3, 1, 4, 0, 0, 0) < 0)
        quit(1);
    out_fd = sys(__NR_openat, AT_FDCWD, (long)argv[1], O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640, 0);
    if (out_fd < 0) {
        char msg[512];
        unsigned long at = 0;
        put(msg, &at, sizeof msg, "opening ");
        put(msg, &at, sizeof msg, argv[1]);
        put(msg, &at, sizeof msg, ": errno ");
        put_num(msg, &at, sizeof msg - 1, (unsigned long)(-out_fd));
        msg[at++] = '\n';
        sys(__NR_write, 2, (long)msg, (long)at, 0, 0);
        quit(1);
    }
    // fork(): clone with only the exit signal (aarch64 has no fork call).
    long pid = sys(__NR_clone, SIGCHLD, 0, 0, 0, 0);
    if (pid < 0)
        quit(1);
    if (pid > 0)
        quit(0);
    sys(__NR_setsid, 0, 0, 0, 0, 0);
    // The agent reads our stderr until it closes: let go of 0, 1 and 2.
    long null = sys(__NR_openat, AT_FDCWD, (long)"/dev/null", O_RDWR | O_CLOEXEC, 0, 0);
    for (long fd = 0; fd < 3 && null >= 0; fd++)
        sys(__NR_dup3, null, fd, 0, 0, 0);
    struct {
        int fd;
        short events, revents;
    } fds[2] = {{3, POLLIN, 0}, {4, POLLIN, 0}};
    struct stream *streams[2] = {&out, &err};
    int open = 2;
    while (open) {
        long r = sys(__NR_ppoll, (long)fds, 2, 0, 0, 0);
        if (r == -EINTR)
            continue;
        if (r < 0)
            quit(1);
        for (int i = 0; i < 2; i++) {
            // Readable or hung up: read tells which (0 at the end).
            if (fds[i].fd >= 0 && fds[i].revents && !drain(streams[i])) {
                sys(__NR_close, fds[i].fd, 0, 0, 0, 0);
                // A negative fd is skipped by poll.
                fds[i].fd = -1;
                open--;
            }
        }
    }
    quit(0);
}
