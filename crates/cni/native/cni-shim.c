// labyrinth-cni as installed in a node's /opt/cni/bin: a runtime execs it
// like any CNI plugin (CNI_* in the environment, the config on stdin), and
// it hands the call to the plugin inside the node agent over a unix socket,
// then prints the plugin's output and exits with its status.
//
// Why: a pod's CNI ADD was the single largest cost of starting it. The
// plugin's own work is a few netlink messages and an IPAM file; the exec of
// a glibc program around it cost more than that (freestanding.h says why).
// This program is an exec and a socket round trip.
//
// Without an agent listening (none installed, stopped, restarting), it
// execs the whole plugin instead (`labyrinth cni`), with the same
// environment and the stdin it has not touched: the call is never lost.
//
// Protocol (little-endian), request: "LCN1", u32 count, count × (u32 len,
// "KEY=VALUE"), u32 len, stdin. Response: "LCR1", i32 exit status, u32 len,
// stdout, u32 len, stderr. One call per connection.
//
// LABYRINTH_CNI_SOCKET and LABYRINTH_CNI_PLUGIN override the socket and
// the fallback plugin (tests).

#include "freestanding.h"
#include <linux/fcntl.h>
#include <linux/un.h>

#define AF_UNIX 1
#define SOCK_STREAM 1
#define SOCK_CLOEXEC O_CLOEXEC
#define MAX (1 << 20)

static const char SOCKET[] = "/run/labyrinth/cni.sock";
static const char PLUGIN[] = "/opt/labyrinth/bin/labyrinth";

// Request and response, in .bss: untouched pages cost nothing.
static unsigned char req[MAX + 64];
static unsigned char resp[2 * MAX + 64];

static const char *env_get(char **envp, const char *key) {
    for (; *envp; envp++) {
        const char *e = *envp, *k = key;
        while (*k && *e == *k)
            e++, k++;
        if (!*k && *e == '=')
            return e + 1;
    }
    return 0;
}

static int write_all(long fd, const void *buf, unsigned long n) {
    const char *p = buf;
    while (n) {
        long w = sys(__NR_write, fd, (long)p, (long)n, 0, 0);
        if (w == -4) // EINTR
            continue;
        if (w <= 0)
            return -1;
        p += w, n -= (unsigned long)w;
    }
    return 0;
}

// The spec's error result on stdout, status 1 (the call reached no plugin,
// or its answer was cut off).
static __attribute__((noreturn)) void cni_error(const char *msg, long err) {
    char buf[512];
    unsigned long at = 0;
    put(buf, &at, sizeof buf, "{\"cniVersion\":\"1.1.0\",\"code\":999,\"msg\":\"labyrinth-cni: ");
    put(buf, &at, sizeof buf, msg);
    put(buf, &at, sizeof buf, "\",\"details\":\"errno ");
    put_num(buf, &at, sizeof buf - 4, (unsigned long)(err < 0 ? -err : err));
    put(buf, &at, sizeof buf, "\"}\n");
    write_all(1, buf, at);
    quit(1);
}

static void put_u32(unsigned char *p, unsigned long v) {
    p[0] = (unsigned char)v, p[1] = (unsigned char)(v >> 8);
    p[2] = (unsigned char)(v >> 16), p[3] = (unsigned char)(v >> 24);
}

static unsigned long get_u32(const unsigned char *p) {
    return (unsigned long)p[0] | (unsigned long)p[1] << 8 | (unsigned long)p[2] << 16 | (unsigned long)p[3] << 24;
}

static __attribute__((noreturn)) void fall_back(char **envp) {
    const char *plugin = env_get(envp, "LABYRINTH_CNI_PLUGIN");
    if (!plugin)
        plugin = PLUGIN;
    char *argv[] = {"labyrinth", "cni", 0};
    long r = sys(__NR_execve, (long)plugin, (long)argv, (long)envp, 0, 0);
    cni_error("no node agent listening, and the plugin could not be run", r);
}

static long connect_agent(char **envp) {
    const char *path = env_get(envp, "LABYRINTH_CNI_SOCKET");
    if (!path)
        path = SOCKET;
    struct sockaddr_un addr;
    memset(&addr, 0, sizeof addr);
    addr.sun_family = AF_UNIX;
    unsigned long n = len(path);
    if (n >= sizeof addr.sun_path)
        return -1;
    memcpy(addr.sun_path, path, n);
    long s = sys(__NR_socket, AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, 0, 0);
    if (s < 0)
        return s;
    long r = sys(__NR_connect, s, (long)&addr, sizeof addr, 0, 0);
    if (r < 0) {
        sys(__NR_close, s, 0, 0, 0, 0);
        return r;
    }
    return s;
}

// Reads `fd` to its end into buf[*at..cap], or fails the call.
static void read_to_end(long fd, unsigned char *buf, unsigned long *at, unsigned long cap, const char *too_large,
                        const char *reading) {
    for (;;) {
        if (*at == cap)
            cni_error(too_large, 7); // E2BIG
        long r = sys(__NR_read, fd, (long)(buf + *at), (long)(cap - *at), 0, 0);
        if (r == -4) // EINTR
            continue;
        if (r < 0)
            cni_error(reading, r);
        if (r == 0)
            return;
        *at += (unsigned long)r;
    }
}

// Appends `n` bytes to the request, or fails the call.
static void add(unsigned long *at, const void *p, unsigned long n) {
    if (n > sizeof req - *at)
        cni_error("the call is too large to hand to the node agent", 7); // E2BIG
    memcpy(req + *at, p, n);
    *at += n;
}

__attribute__((used)) void start_c(long *sp) {
    long argc = sp[0];
    char **envp = (char **)(sp + 1 + argc + 1);

    long s = connect_agent(envp);
    if (s < 0)
        fall_back(envp);

    unsigned long at = 0, count = 0;
    add(&at, "LCN1", 4);
    for (char **e = envp; *e; e++)
        count++;
    unsigned char u[4];
    put_u32(u, count);
    add(&at, u, 4);
    for (char **e = envp; *e; e++) {
        unsigned long n = len(*e);
        put_u32(u, n);
        add(&at, u, 4);
        add(&at, *e, n);
    }
    // stdin, after a 4-byte length filled in once it is all read.
    unsigned long len_at = at;
    add(&at, "\0\0\0\0", 4);
    read_to_end(0, req, &at, sizeof req, "the network config is too large", "reading the network config from stdin");
    put_u32(req + len_at, at - len_at - 4);
    if (write_all(s, req, at) < 0)
        cni_error("sending the call to the node agent", 32); // EPIPE

    unsigned long got = 0;
    read_to_end(s, resp, &got, sizeof resp, "the node agent's answer is too large", "reading the node agent's answer");
    if (got < 16 || resp[0] != 'L' || resp[1] != 'C' || resp[2] != 'R' || resp[3] != '1')
        cni_error("the node agent ended the call without an answer", 71); // EPROTO
    int status = (int)get_u32(resp + 4);
    unsigned long out_len = get_u32(resp + 8);
    if (out_len > got - 16)
        cni_error("the node agent's answer is cut short", 71);
    unsigned long err_len = get_u32(resp + 12 + out_len);
    if (err_len > got - 16 - out_len)
        cni_error("the node agent's answer is cut short", 71);
    write_all(1, resp + 12, out_len);
    write_all(2, resp + 16 + out_len, err_len);
    quit(status);
}
