// labyrinth-pause: the pod sandbox's process (the pause container's role),
// and the process of a container that has no command.
//
//   labyrinth-pause sandbox HOSTNAME RESOLV_CONF HOSTS HOSTNAME_FILE
//       Unshare the pod's network, UTS, IPC and mount namespaces; show the
//       pod its own /etc/resolv.conf, /etc/hosts and /etc/hostname and a
//       private /tmp; set the hostname; bring loopback up; print "ready"
//       (or "error STEP: ERRNO") on stdout; then wait.
//   labyrinth-pause enter PID
//       Join PID's IPC, UTS, network and mount namespaces; then wait.
//
// Waiting ends with SIGTERM or SIGINT (status 0); children are reaped.
//
// Without a libc (freestanding.h says why): a node starts this once or
// twice per pod. (Kubernetes' own pause image is a small static C program
// for the same reason.)

#include "freestanding.h"
#include <linux/fcntl.h>
#include <linux/mount.h>
#include <linux/sched.h>
#include <linux/sockios.h>

#define SIGINT 2
#define SIGTERM 15
#define SIGCHLD 17
#define SIG_BLOCK 0
#define WNOHANG 1
#define AF_INET 2
#define SOCK_DGRAM 2
#define IFF_UP 0x1
#define SOCK_CLOEXEC O_CLOEXEC

// Reports "error STEP: ERRNO" on stdout (the agent turns the number into
// its text) and exits.
static __attribute__((noreturn)) void fail(const char *step, const char *what, long err) {
    char buf[512];
    unsigned long at = 0;
    put(buf, &at, sizeof buf, "error ");
    put(buf, &at, sizeof buf, step);
    put(buf, &at, sizeof buf, what);
    put(buf, &at, sizeof buf, ": ");
    put_num(buf, &at, sizeof buf - 1, (unsigned long)(-err));
    buf[at++] = '\n';
    sys(__NR_write, 1, (long)buf, (long)at, 0, 0);
    quit(1);
}

static void check(long r, const char *step, const char *what) {
    if (r < 0)
        fail(step, what, r);
}

static long mount(const char *src, const char *dst, const char *type, unsigned long flags, const char *data) {
    return sys(__NR_mount, (long)src, (long)dst, (long)type, (long)flags, (long)data);
}

// Shows `src` at `dst`, making `dst` first if the node has no such file.
static void bind_file(const char *src, const char *dst) {
    long fd = sys(__NR_openat, AT_FDCWD, (long)dst, O_RDONLY | O_CREAT | O_CLOEXEC, 0644, 0);
    check(fd, "creating ", dst);
    sys(__NR_close, fd, 0, 0, 0, 0);
    check(mount(src, dst, 0, MS_BIND, 0), "showing the pod's file at ", dst);
}

static void loopback_up(void) {
    struct {
        char name[16];
        short flags;
        char rest[22];
    } ifr;
    memset(&ifr, 0, sizeof ifr);
    ifr.name[0] = 'l';
    ifr.name[1] = 'o';
    long s = sys(__NR_socket, AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0, 0, 0);
    check(s, "opening a socket", "");
    check(sys(__NR_ioctl, s, SIOCGIFFLAGS, (long)&ifr, 0, 0), "reading loopback's flags", "");
    ifr.flags |= IFF_UP;
    check(sys(__NR_ioctl, s, SIOCSIFFLAGS, (long)&ifr, 0, 0), "bringing loopback up", "");
    sys(__NR_close, s, 0, 0, 0, 0);
}

static void sandbox(char **argv) {
    const char *hostname = argv[2], *resolv = argv[3], *hosts = argv[4], *hostname_file = argv[5];
    check(sys(__NR_unshare, CLONE_NEWNET | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWNS, 0, 0, 0, 0),
          "unsharing the pod's namespaces", "");
    check(mount(0, "/", 0, MS_REC | MS_PRIVATE, 0), "making / private", "");
    bind_file(resolv, "/etc/resolv.conf");
    bind_file(hosts, "/etc/hosts");
    bind_file(hostname_file, "/etc/hostname");
    // A container's /tmp is its own, as with an image's root filesystem.
    check(mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777"), "mounting the pod's /tmp", "");
    check(sys(__NR_sethostname, (long)hostname, (long)len(hostname), 0, 0, 0), "setting the pod's hostname", "");
    loopback_up();
    sys(__NR_write, 1, (long)"ready\n", 6, 0, 0);
    // Nobody reads our stdout after this.
    long null = sys(__NR_openat, AT_FDCWD, (long)"/dev/null", O_RDWR | O_CLOEXEC, 0, 0);
    if (null >= 0 && null != 1) {
        sys(__NR_dup3, null, 1, 0, 0, 0);
        sys(__NR_close, null, 0, 0, 0, 0);
    }
}

static void enter(const char *pid) {
    static const char *const kinds[] = {"ipc", "uts", "net", "mnt"};
    long fds[4];
    // All opened before the first setns: /proc is read in the node's view.
    for (int i = 0; i < 4; i++) {
        char path[64];
        unsigned long at = 0;
        put(path, &at, sizeof path, "/proc/");
        put(path, &at, sizeof path, pid);
        put(path, &at, sizeof path, "/ns/");
        put(path, &at, sizeof path, kinds[i]);
        path[at] = 0;
        fds[i] = sys(__NR_openat, AT_FDCWD, (long)path, O_RDONLY | O_CLOEXEC, 0, 0);
        check(fds[i], "opening ", path);
    }
    for (int i = 0; i < 4; i++) {
        check(sys(__NR_setns, fds[i], 0, 0, 0, 0), "joining the pod's namespace ", kinds[i]);
        sys(__NR_close, fds[i], 0, 0, 0, 0);
    }
    check(sys(__NR_chdir, (long)"/", 0, 0, 0, 0), "changing to /", "");
}

static __attribute__((noreturn)) void wait_for_stop(void) {
    unsigned long set = (1UL << (SIGINT - 1)) | (1UL << (SIGTERM - 1)) | (1UL << (SIGCHLD - 1));
    // Blocked, the signals queue (SIGCHLD too, though ignored by default)
    // for sigtimedwait: no handlers needed.
    sys(__NR_rt_sigprocmask, SIG_BLOCK, (long)&set, 0, sizeof set, 0);
    for (;;) {
        long sig = sys(__NR_rt_sigtimedwait, (long)&set, 0, 0, sizeof set, 0);
        if (sig == SIGINT || sig == SIGTERM)
            quit(0);
        if (sig == SIGCHLD)
            while (sys(__NR_wait4, -1, 0, WNOHANG, 0, 0) > 0) {
            }
    }
}

__attribute__((used)) void start_c(long *sp) {
    long argc = sp[0];
    char **argv = (char **)(sp + 1);
    if (argc == 6 && is(argv[1], "sandbox")) {
        sandbox(argv);
    } else if (argc == 3 && is(argv[1], "enter")) {
        enter(argv[2]);
    } else if (argc != 1) {
        static const char usage[] = "usage: labyrinth-pause [sandbox HOSTNAME RESOLV_CONF HOSTS HOSTNAME_FILE | enter PID]\n";
        sys(__NR_write, 2, (long)usage, sizeof usage - 1, 0, 0);
        quit(2);
    }
    wait_for_stop();
}
