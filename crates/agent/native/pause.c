// labyrinth-pause: the pod sandbox's process (the pause container's role),
// and the process of a container that has no command.
//
//   labyrinth-pause sandbox HOSTNAME RESOLV_CONF HOSTS HOSTNAME_FILE [HOST [SYSCTLS]]
//       Unshare the pod's network, UTS, IPC, mount and PID namespaces (but
//       those HOST names: "net" keeps the node's network and UTS, as
//       hostNetwork does, "pid" its PID and "ipc" its IPC namespace); set
//       SYSCTLS (lines PATH=VALUE, PATH under /proc/sys) in them; show
//       the pod its own /etc/resolv.conf, /etc/hosts and /etc/hostname and a
//       private /tmp; set the hostname; bring loopback up; fork the pod's
//       PID 1, which mounts the pod's /proc, prints "ready" and waits; the
//       first process prints "pid PID" (PID 1's pid on the node) and exits.
//       Failures print "error STEP: ERRNO" on stdout.
//   labyrinth-pause enter PID CAPS
//       Join PID's IPC, UTS, network and mount namespaces; keep only CAPS
//       (see `limit`); then wait.
//   labyrinth-pause run POD_PID MNT_PID ROOT WORKDIR CAPS PROG ARG...
//       A container's process (container.rs says why): join the IPC, UTS,
//       network and PID namespaces of POD_PID and the mount namespace of
//       MNT_PID; unless ROOT is "-", make a mount namespace of its own with
//       a copy-on-write root (ROOT/m, layers ROOT/u/*, ROOT/w/*, made by the
//       agent), pivot into it and mount the container's volumes as
//       ROOT/mounts lists them (see `volumes`); chdir WORKDIR; keep only
//       CAPS; fork PROG (the pod's PID namespace holds only the child),
//       relay signals to it and exit as it does (128+N for signal N).
//
// Waiting ends with SIGTERM or SIGINT (status 0); children are reaped.
//
// Without a libc (freestanding.h says why): a node starts this once or
// twice per pod. (Kubernetes' own pause image is a small static C program
// for the same reason.)

#include "freestanding.h"
#include <linux/audit.h>
#include <linux/fcntl.h>
#include <linux/filter.h>
#include <linux/mount.h>
#include <linux/seccomp.h>
#include <linux/sched.h>
#include <linux/sockios.h>

#define SIGHUP 1
#define SIGINT 2
#define SIGQUIT 3
#define SIGKILL 9
#define SIGUSR1 10
#define SIGUSR2 12
#define SIGTERM 15
#define SIGCHLD 17
#define SIGWINCH 28
#define SIG_SETMASK 2
#define PR_SET_PDEATHSIG 1
#define PR_CAPBSET_DROP 24
#define PR_SET_NO_NEW_PRIVS 38
#define PR_CAP_AMBIENT 47
#define PR_CAP_AMBIENT_CLEAR_ALL 4
#define LINUX_CAPABILITY_VERSION_3 0x20080522
#define EPERM 1
#define EINVAL 22
#define ENOSYS 38
#define MNT_DETACH 2
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

// Whether the word `w` is in the comma-separated list `s`.
static int listed(const char *s, const char *w) {
    while (*s) {
        const char *a = s, *b = w;
        while (*a && *a != ',' && *a == *b)
            a++, b++;
        if ((*a == ',' || !*a) && !*b)
            return 1;
        while (*s && *s != ',')
            s++;
        if (*s == ',')
            s++;
    }
    return 0;
}

// What a container that is not privileged sees of the kernel through
// /proc and /sys, as runc shows it by default (Kubernetes' procMount
// Default). The kernel's settings are read-only: /proc/sys holds the
// node's own (kernel.panic, vm.*), which any root process could otherwise
// change, and /proc/sysrq-trigger crashes or reboots the machine. What
// tells of the host's hardware, timers and other processes' keys shows
// empty. Entries the kernel does not have are skipped.
static const char *const proc_read_only[] = {"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"};
static const char *const proc_masked[] = {
    "/proc/acpi",      "/proc/asound",   "/proc/kcore",       "/proc/keys",        "/proc/latency_stats",
    "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi",
};
static const char *const sys_masked[] = {"/firmware", "/devices/virtual/powercap"};

// AT shows nothing: an empty read-only folder, or /dev/null for a file.
static void mask(const char *at) {
    long fd = sys(__NR_openat, AT_FDCWD, (long)at, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC, 0, 0);
    if (fd == -2 /* ENOENT */)
        return;
    if (fd >= 0) {
        sys(__NR_close, fd, 0, 0, 0, 0);
        check(mount("tmpfs", at, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=0,mode=555"),
              "masking ", at);
        return;
    }
    long r = mount("/dev/null", at, 0, MS_BIND, 0);
    if (r != -2)
        check(r, "masking ", at);
}

// AT (and what is mounted below it) read-only.
static void read_only(const char *at) {
    long r = mount(at, at, 0, MS_BIND | MS_REC, 0);
    if (r == -2 /* ENOENT */)
        return;
    check(r, "making read-only ", at);
    check(mount(0, at, 0, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, 0),
          "making read-only ", at);
}

// The pod's /proc as its containers that are not privileged see it (they
// bind it with what is mounted below it; a privileged one binds it alone).
static void mask_proc(void) {
    for (unsigned long i = 0; i < sizeof proc_read_only / sizeof *proc_read_only; i++)
        read_only(proc_read_only[i]);
    for (unsigned long i = 0; i < sizeof proc_masked / sizeof *proc_masked; i++)
        mask(proc_masked[i]);
}

// Writes each line "PATH=VALUE" of SYSCTLS to /proc/sys/PATH: kernel
// settings of the namespaces just made (the agent admitted them, see
// kubelet/admission.rs). Written before PID 1 mounts the pod's /proc,
// whose /proc/sys its containers see read-only.
static void set_sysctls(const char *sysctls) {
    const char *at = sysctls;
    while (*at) {
        char path[512];
        unsigned long n = 0;
        put(path, &n, sizeof path, "/proc/sys/");
        while (*at && *at != '=' && *at != '\n' && n < sizeof path - 1)
            path[n++] = *at++;
        path[n] = 0;
        if (*at != '=')
            fail("reading the sysctl ", path, -EINVAL);
        const char *value = ++at;
        while (*at && *at != '\n')
            at++;
        long fd = sys(__NR_openat, AT_FDCWD, (long)path, O_WRONLY | O_CLOEXEC, 0, 0);
        check(fd, "opening the sysctl ", path);
        long w = sys(__NR_write, fd, (long)value, (long)(at - value), 0, 0);
        sys(__NR_close, fd, 0, 0, 0, 0);
        check(w, "setting the sysctl ", path);
        if (*at == '\n')
            at++;
    }
}

static void sandbox(char **argv, const char *host, const char *sysctls) {
    const char *hostname = argv[2], *resolv = argv[3], *hosts = argv[4], *hostname_file = argv[5];
    int host_net = listed(host, "net");
    long flags = CLONE_NEWNS;
    // A pod on the node's network has the node's hostname too (kubelet
    // shares the UTS namespace with the network).
    if (!host_net)
        flags |= CLONE_NEWNET | CLONE_NEWUTS;
    if (!listed(host, "pid"))
        flags |= CLONE_NEWPID;
    if (!listed(host, "ipc"))
        flags |= CLONE_NEWIPC;
    check(sys(__NR_unshare, flags, 0, 0, 0, 0), "unsharing the pod's namespaces", "");
    check(mount(0, "/", 0, MS_REC | MS_PRIVATE, 0), "making / private", "");
    bind_file(resolv, "/etc/resolv.conf");
    bind_file(hosts, "/etc/hosts");
    bind_file(hostname_file, "/etc/hostname");
    // A container's /tmp is its own, as with an image's root filesystem.
    check(mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777"), "mounting the pod's /tmp", "");
    // The pod's own POSIX shared memory, shared by its containers (as the
    // sandbox's /dev/shm of a CRI runtime), unless it shares the node's IPC.
    if (!listed(host, "ipc"))
        check(mount("shm", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=1777,size=65536k"),
              "mounting the pod's /dev/shm", "");
    if (!host_net) {
        check(sys(__NR_sethostname, (long)hostname, (long)len(hostname), 0, 0, 0), "setting the pod's hostname", "");
        loopback_up();
    }
    set_sysctls(sysctls);
    // unshare(CLONE_NEWPID) moves our children, not us: the child is the
    // pod's PID 1 and the process the agent keeps.
    long child = sys(__NR_clone, SIGCHLD, 0, 0, 0, 0);
    check(child, "forking the pod's PID 1", "");
    if (child > 0) {
        char buf[32];
        unsigned long at = 0;
        put(buf, &at, sizeof buf, "pid ");
        put_num(buf, &at, sizeof buf - 1, (unsigned long)child);
        buf[at++] = '\n';
        sys(__NR_write, 1, (long)buf, (long)at, 0, 0);
        quit(0);
    }
    // A /proc of the pod's PID namespace: `ps` in the pod lists the pod.
    check(mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, 0), "mounting the pod's /proc", "");
    mask_proc();
    sys(__NR_write, 1, (long)"ready\n", 6, 0, 0);
    // Nobody reads our stdout after this.
    long null = sys(__NR_openat, AT_FDCWD, (long)"/dev/null", O_RDWR | O_CLOEXEC, 0, 0);
    if (null >= 0 && null != 1) {
        sys(__NR_dup3, null, 1, 0, 0, 0);
        sys(__NR_close, null, 0, 0, 0, 0);
    }
}

// Reads the decimal number at *c (up to a ',', ':' or the end), moving past it.
static unsigned long number(const char **c, const char *whole) {
    unsigned long n = 0;
    const char *at = *c;
    for (; *at >= '0' && *at <= '9'; at++)
        n = n * 10 + (unsigned long)(*at - '0');
    if (at == *c || (*at && *at != ',' && *at != ':'))
        fail("reading the privileges ", whole, -EINVAL);
    *c = at;
    return n;
}

// The system calls a container's filter answers (seccompProfile
// RuntimeDefault), built for the capabilities MASK the container keeps.
//
// Not the container runtimes' allowlist: the kernel already refuses what
// needs a capability the container lacks (mount, modules, reboot, the
// clock). This refuses, with EPERM, what the kernel would let any process
// do but the runtimes' default profiles keep from a container, unless it
// holds the capability they tie it to:
//  - making namespaces (clone, clone3, unshare with a CLONE_NEW* flag),
//    without SYS_ADMIN: a user namespace would give the container every
//    capability over namespaces of its own, and the kernel's surface
//    behind them;
//  - the kernel's keyrings (add_key, keyctl, request_key), which no
//    namespace separates from the node's;
//  - io_uring (a large surface of its own, refused by current runtimes),
//    bpf without BPF or SYS_ADMIN, perf_event_open without PERFMON or
//    SYS_ADMIN, userfaultfd without SYS_PTRACE, file handles
//    (name_to_handle_at, open_by_handle_at) without DAC_READ_SEARCH, NUMA
//    placement (mbind, set_mempolicy, move_pages, migrate_pages) without
//    SYS_NICE;
//  - personality() other than the usual personas (no ADDR_NO_RANDOMIZE);
//  - any call made through another architecture's entry (32-bit x86 on
//    x86_64, x32), which this list's numbers do not describe.
// clone3's flags sit in memory a filter cannot read: without SYS_ADMIN it
// answers ENOSYS, and libc falls back to clone, whose flags it checks.
#define MAX_FILTER 96
static struct sock_filter prog[MAX_FILTER];
static unsigned short prog_len;

static void emit(unsigned short code, unsigned int k, unsigned char jt, unsigned char jf) {
    if (prog_len == MAX_FILTER)
        fail("building the system-call filter", "", -EINVAL);
    prog[prog_len++] = (struct sock_filter){code, jt, jf, k};
}

#define RET(v) emit(BPF_RET | BPF_K, (v), 0, 0)
#define REFUSE(e) RET(SECCOMP_RET_ERRNO | (e))
#define LOAD(field) emit(BPF_LD | BPF_W | BPF_ABS, (unsigned int)__builtin_offsetof(struct seccomp_data, field), 0, 0)

// Refuse system call NR (the number loaded).
static void refuse(long nr) {
    emit(BPF_JMP | BPF_JEQ | BPF_K, (unsigned int)nr, 0, 1);
    REFUSE(EPERM);
}

// NR refused when its first argument has a bit of FLAGS; allowed if not.
static void refuse_flags(long nr, unsigned int flags) {
    emit(BPF_JMP | BPF_JEQ | BPF_K, (unsigned int)nr, 0, 4);
    LOAD(args[0]);
    emit(BPF_JMP | BPF_JSET | BPF_K, flags, 0, 1);
    REFUSE(EPERM);
    RET(SECCOMP_RET_ALLOW);
}

static void filter(unsigned long long mask) {
#if defined(__x86_64__)
    const unsigned int arch = AUDIT_ARCH_X86_64;
#elif defined(__aarch64__)
    const unsigned int arch = AUDIT_ARCH_AARCH64;
#endif
    // Not CLONE_NEWTIME (0x80): in clone's flags that bit is the exit
    // signal's, and unsharing the time namespace needs SYS_ADMIN anyway.
    const unsigned int namespaces =
        CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWCGROUP;
    static const unsigned int personas[] = {0x0, 0x8, 0x20000, 0x20008, 0xffffffff};
#define HOLDS(cap) (mask >> (cap) & 1)
    prog_len = 0;
    LOAD(arch);
    emit(BPF_JMP | BPF_JEQ | BPF_K, arch, 1, 0);
    REFUSE(EPERM);
    LOAD(nr);
#if defined(__x86_64__)
    emit(BPF_JMP | BPF_JGE | BPF_K, 0x40000000, 0, 1); // x32
    REFUSE(EPERM);
#endif
    refuse(__NR_add_key);
    refuse(__NR_keyctl);
    refuse(__NR_request_key);
    refuse(__NR_io_uring_setup);
    refuse(__NR_io_uring_enter);
    refuse(__NR_io_uring_register);
    if (!HOLDS(21)) { // SYS_ADMIN
        refuse_flags(__NR_unshare, namespaces);
        refuse_flags(__NR_clone, namespaces);
        emit(BPF_JMP | BPF_JEQ | BPF_K, __NR_clone3, 0, 1);
        REFUSE(ENOSYS);
    }
    if (!HOLDS(21) && !HOLDS(39)) // SYS_ADMIN, BPF
        refuse(__NR_bpf);
    if (!HOLDS(21) && !HOLDS(38)) // PERFMON
        refuse(__NR_perf_event_open);
    if (!HOLDS(19)) // SYS_PTRACE
        refuse(__NR_userfaultfd);
    if (!HOLDS(2)) { // DAC_READ_SEARCH
        refuse(__NR_name_to_handle_at);
        refuse(__NR_open_by_handle_at);
    }
    if (!HOLDS(23)) { // SYS_NICE
        refuse(__NR_mbind);
        refuse(__NR_set_mempolicy);
        refuse(__NR_move_pages);
        refuse(__NR_migrate_pages);
    }
    // personality(): only the usual personas (and the query, 0xffffffff).
    emit(BPF_JMP | BPF_JEQ | BPF_K, __NR_personality, 0, 7);
    LOAD(args[0]);
    for (unsigned int i = 0; i < 5; i++)
        emit(BPF_JMP | BPF_JEQ | BPF_K, personas[i], (unsigned char)(5 - i), 0);
    REFUSE(EPERM);
    RET(SECCOMP_RET_ALLOW);
#undef HOLDS
    struct sock_fprog fprog = {prog_len, prog};
    check(sys(__NR_seccomp, SECCOMP_SET_MODE_FILTER, 0, (long)&fprog, 0, 0), "setting the system-call filter", "");
}

// Leaves this process, and every program it runs, only the privileges in
// CAPS, as agent/src/runtime/privileges.rs writes them: the capabilities
// ("all", or a hex mask), then ",nnp" for no_new_privs
// (allowPrivilegeEscalation: false), ",ro" (a read-only root: `run` reads
// it, see `root_read_only`), ",sc" for the system-call filter (`filter`),
// then ",u=UID,g=GID[,G=G1:G2...]" to become that user, group and
// supplementary groups.
//
// The bounding set goes first: it is what an exec as root gives back
// (permitted = inheritable | bounding), and dropping needs CAP_SETPCAP.
// The filter next: without no_new_privs, setting it needs CAP_SYS_ADMIN
// in effect. The user changes next, while CAP_SETUID and CAP_SETGID are still held;
// becoming a user other than root empties the permitted and effective
// sets, as for any process. The inheritable and ambient sets are emptied,
// as runc does.
static void limit(const char *caps) {
    const char *c = caps;
    unsigned long long mask = 0;
    int all = 0, nnp = 0, user = 0, seccomp = 0;
    unsigned long uid = 0, gid = 0;
    unsigned int groups[64];
    long ngroups = 0;
    if (c[0] == 'a' && c[1] == 'l' && c[2] == 'l') {
        all = 1;
        c += 3;
    }
    for (; !all && *c && *c != ','; c++) {
        int d = *c >= '0' && *c <= '9' ? *c - '0' : *c >= 'a' && *c <= 'f' ? *c - 'a' + 10 : -1;
        if (d < 0)
            fail("reading the privileges ", caps, -EINVAL);
        mask = mask << 4 | (unsigned long long)d;
    }
    while (*c == ',') {
        c++;
        if (c[0] == 'n' && c[1] == 'n' && c[2] == 'p' && (c[3] == ',' || !c[3])) {
            nnp = 1;
            c += 3;
        } else if (c[0] == 'r' && c[1] == 'o' && (c[2] == ',' || !c[2])) {
            c += 2;
        } else if (c[0] == 's' && c[1] == 'c' && (c[2] == ',' || !c[2])) {
            seccomp = 1;
            c += 2;
        } else if (c[0] == 'u' && c[1] == '=') {
            c += 2;
            uid = number(&c, caps);
            user = 1;
        } else if (c[0] == 'g' && c[1] == '=') {
            c += 2;
            gid = number(&c, caps);
        } else if (c[0] == 'G' && c[1] == '=') {
            c++;
            while (*c == '=' || *c == ':') {
                c++;
                if (ngroups == 64)
                    fail("reading the privileges ", caps, -EINVAL);
                groups[ngroups++] = (unsigned int)number(&c, caps);
            }
        } else {
            fail("reading the privileges ", caps, -EINVAL);
        }
    }
    if (*c)
        fail("reading the privileges ", caps, -EINVAL);
    if (!all) {
        for (long cap = 0; cap < 64; cap++) {
            if (mask >> cap & 1)
                continue;
            long r = sys(__NR_prctl, PR_CAPBSET_DROP, cap, 0, 0, 0);
            if (r == -EINVAL)
                break; // past the kernel's last capability
            check(r, "dropping a capability from the bounding set", "");
        }
    }
    if (seccomp)
        filter(all ? ~0ULL : mask);
    sys(__NR_prctl, PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
    if (user) {
        check(sys(__NR_setgroups, ngroups, (long)groups, 0, 0, 0), "setting the supplementary groups", "");
        check(sys(__NR_setresgid, (long)gid, (long)gid, (long)gid, 0, 0), "setting the group", "");
        check(sys(__NR_setresuid, (long)uid, (long)uid, (long)uid, 0, 0), "setting the user", "");
    }
    if (!all || user) {
        struct {
            unsigned int version;
            int pid;
        } head = {LINUX_CAPABILITY_VERSION_3, 0};
        struct {
            unsigned int effective, permitted, inheritable;
        } sets[2];
        check(sys(__NR_capget, (long)&head, (long)sets, 0, 0, 0), "reading the capabilities", "");
        // Only what the process has: a mask naming capabilities this
        // kernel does not know would make capset fail.
        for (int i = 0; i < 2; i++) {
            unsigned int want = all ? ~0u : (unsigned int)(mask >> (32 * i));
            sets[i].permitted &= want;
            sets[i].effective = sets[i].permitted;
            sets[i].inheritable = 0;
        }
        check(sys(__NR_capset, (long)&head, (long)sets, 0, 0, 0), "setting the capabilities", "");
    }
    if (nnp)
        check(sys(__NR_prctl, PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "setting no_new_privs", "");
}

static void enter(const char *pid, const char *caps) {
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
    limit(caps);
}


// Joins the namespace KIND of process PID (as seen in the node's /proc).
static long ns_fd(const char *pid, const char *kind) {
    char path[64];
    unsigned long at = 0;
    put(path, &at, sizeof path, "/proc/");
    put(path, &at, sizeof path, pid);
    put(path, &at, sizeof path, "/ns/");
    put(path, &at, sizeof path, kind);
    path[at] = 0;
    long fd = sys(__NR_openat, AT_FDCWD, (long)path, O_RDONLY | O_CLOEXEC, 0, 0);
    check(fd, "opening ", path);
    return fd;
}

// DIR/REST into `out` (a path under the container's root folder).
static const char *under(char *out, unsigned long cap, const char *dir, const char *rest) {
    unsigned long at = 0;
    put(out, &at, cap, dir);
    put(out, &at, cap, rest);
    out[at] = 0;
    return out;
}

// ROOT/m+AT into `out`: AT of the container's root while it is being made.
static const char *in_root(char *out, unsigned long cap, const char *root, const char *at) {
    unsigned long n = 0;
    put(out, &n, cap, root);
    put(out, &n, cap, "/m");
    put(out, &n, cap, at);
    out[n] = 0;
    return out;
}

// An overlay at ROOT/m+AT: LOWER read-only underneath, the container's
// writes in ROOT/u/NAME (ROOT/w/NAME is overlayfs' scratch).
// MS_NODEV on every mount a container that is not privileged can write:
// a device node it makes (it holds MKNOD, as with any runtime) opens
// nothing. (A runtime's device cgroup does that job; a lab has none.)
static unsigned long nodev;

static void overlay(const char *root, const char *at, const char *name, const char *lower) {
    char target[512], opts[1400], dir[512];
    unsigned long n = 0;
    put(opts, &n, sizeof opts, "lowerdir=");
    put(opts, &n, sizeof opts, lower);
    put(opts, &n, sizeof opts, ",upperdir=");
    put(opts, &n, sizeof opts, under(dir, sizeof dir, root, "/u/"));
    put(opts, &n, sizeof opts, name);
    put(opts, &n, sizeof opts, ",workdir=");
    put(opts, &n, sizeof opts, under(dir, sizeof dir, root, "/w/"));
    put(opts, &n, sizeof opts, name);
    opts[n] = 0;
    check(mount("overlay", in_root(target, sizeof target, root, at), "overlay", nodev, opts),
          "mounting the container's copy-on-write ", *at ? at : "/");
}

// The node's AT, copy-on-write.
static void layer(const char *root, const char *at, const char *name) {
    overlay(root, at, name, *at ? at : "/");
}

// AT starting empty (over ROOT/e, an empty folder the agent makes), with
// what the image puts there: the node's /root is the host's root's home
// (its dotfiles, keys and credentials), not a container's.
static void fresh(const char *root, const char *at, const char *name) {
    char lower[512];
    overlay(root, at, name, under(lower, sizeof lower, root, "/e"));
}

// The mounts that make the container's root its image's filesystem (by
// their paths in it), which readOnlyRootFilesystem makes read-only:
// not /proc, /dev, /sys (read-only already) or /etc/hosts.
#define MAX_OWN 64
static const char *own[MAX_OWN];
static int own_count;

static void mark(const char *at) {
    if (own_count == MAX_OWN)
        fail("making the container's root: too many mounts at ", at, -EINVAL);
    own[own_count++] = *at ? at : "/";
}

static void make_dirs(char *path, int but_last);

static int starts(const char *s, const char *prefix) {
    while (*prefix)
        if (*s++ != *prefix++)
            return 0;
    return 1;
}

// Hiding needs no mount: what the container sees at AT is decided in its
// own upper layers (ROOT/u/LAYER, made empty by the agent), before they
// are mounted. UPPER gets AT's place in them: the node's copy-on-write
// folders (MACHINE_DIRS) have a layer each, the rest of "/" is layer "_".
static const char *upper(char *out, unsigned long cap, const char *root, const char *at) {
    static const char *const layers[] = {"/etc/", "/opt/", "/var/"};
    unsigned long n = 0;
    put(out, &n, cap, root);
    put(out, &n, cap, "/u");
    int layered = 0;
    for (unsigned long i = 0; i < sizeof layers / sizeof *layers && !layered; i++)
        layered = starts(at, layers[i]);
    if (!layered)
        put(out, &n, cap, "/_");
    put(out, &n, cap, at);
    out[n] = 0;
    return out;
}

static int node_has(const char *at) {
    return sys(__NR_faccessat, AT_FDCWD, (long)at, 0 /* F_OK */, 0, 0) == 0;
}

// The node's folder AT as an empty folder of the container's own: a folder
// of its upper layer that overlayfs is told hides everything below it
// (opaque); nothing when the node has no AT.
static void hide(const char *root, const char *at) {
    char path[512];
    if (!node_has(at))
        return;
    make_dirs((char *)upper(path, sizeof path, root, at), 0);
    check(sys(__NR_setxattr, (long)path, (long)"trusted.overlay.opaque", (long)"y", 1, 0), "hiding the node's ", at);
}

// The node's file AT as an empty file of the container's own; nothing when
// the node has no AT.
static void blank(const char *root, const char *at) {
    char path[512];
    if (!node_has(at))
        return;
    make_dirs((char *)upper(path, sizeof path, root, at), 1);
    long f = sys(__NR_openat, AT_FDCWD, (long)path, O_WRONLY | O_CREAT | O_CLOEXEC, 0640, 0);
    check(f, "hiding the node's ", at);
    sys(__NR_close, f, 0, 0, 0, 0);
}

// The node's entry AT gone from the container's root (an overlayfs
// whiteout: a character device 0:0 in its upper layer).
static void remove_entry(const char *root, const char *at) {
    char path[512];
    check(sys(__NR_mknodat, AT_FDCWD, (long)upper(path, sizeof path, root, at), 0020000 /* S_IFCHR */, 0, 0),
          "hiding the node's ", at);
}

// Shows the pod's SRC (as this mount namespace sees it) at ROOT/m+SRC.
static void show(const char *root, const char *src, unsigned long flags) {
    char target[512];
    check(mount(src, in_root(target, sizeof target, root, src), 0, MS_BIND | flags, 0), "showing the pod's ", src);
}

// What the node keeps for itself (contracts::node::NODE_PRIVATE_DIRS).
static const char *const hidden[] = {
    "/var/lib/labyrinth", "/var/lib/cni",   "/var/lib/etcd",    "/var/log/pods",
    "/var/log/labyrinth", "/etc/labyrinth", "/etc/kubernetes",
};

// The host's own secrets in the folders a container shares with it (the
// node's /etc and /var are the host's, copy-on-write): its password
// hashes, its SSH host keys, its TLS private keys and the backups of its
// account files. Folders are shown empty, files as empty files.
static const char *const host_secret_dirs[] = {"/etc/ssh", "/etc/ssl/private", "/var/backups"};
static const char *const host_secret_files[] = {"/etc/shadow", "/etc/shadow-", "/etc/gshadow", "/etc/gshadow-"};

// The top-level entries of the node's filesystem a container's root keeps:
// what an image of the catalog's programs has. Every other one (the
// host's /boot, /srv, /mnt, /media, a work area such as a clone of this
// repository, its files) is hidden.
static const char *const top_kept[] = {"bin",  "sbin", "lib", "lib32", "lib64", "libx32", "usr",  "etc", "var",
                                       "opt",  "dev",  "proc", "sys",  "run",   "tmp",    "root", "home"};

struct dirent64 {
    unsigned long long ino;
    long long off;
    unsigned short reclen;
    unsigned char type;
    char name[];
};
#define DT_DIR 4
#define DT_REG 8


// The lab's own binary, which BIN_DIR/labyrinth links to
// (contracts::node::BIN_DIR: what the cluster DNS and agnhost containers
// run), read-only at its path, wherever that is: a checkout's build folder
// is hidden with the rest of its top-level folder.
static void show_program(const char *root) {
    char exe[512], target[1024];
    long n = sys(__NR_readlinkat, AT_FDCWD, (long)"/opt/labyrinth/bin/labyrinth", (long)exe, sizeof exe - 1, 0);
    if (n <= 0 || exe[0] != '/')
        return; // no link: nothing to show
    exe[n] = 0;
    in_root(target, sizeof target, root, exe);
    make_dirs(target, 1);
    long f = sys(__NR_openat, AT_FDCWD, (long)target, O_RDONLY | O_CREAT | O_CLOEXEC, 0755, 0);
    check(f, "making the mount point ", target);
    sys(__NR_close, f, 0, 0, 0, 0);
    check(mount(exe, target, 0, MS_BIND, 0), "showing the lab's program ", exe);
    check(mount(0, target, 0, MS_BIND | MS_REMOUNT | MS_RDONLY, 0), "making the lab's program read-only ", exe);
}

// Hides every top-level entry of the node's "/" not in top_kept: a
// folder is empty (an image has /srv and /mnt), a file is not there.
static void hide_top(const char *root) {
    long fd = sys(__NR_openat, AT_FDCWD, (long)"/", O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0, 0);
    check(fd, "listing the node's /", "");
    char buf[4096];
    long n;
    while ((n = sys(__NR_getdents64, fd, (long)buf, sizeof buf, 0, 0)) > 0) {
        for (long at = 0; at < n;) {
            struct dirent64 *d = (struct dirent64 *)(buf + at);
            at += d->reclen;
            int kept = d->name[0] == '.';
            for (unsigned long i = 0; !kept && i < sizeof top_kept / sizeof *top_kept; i++)
                kept = is(d->name, top_kept[i]);
            if (kept)
                continue;
            char path[300];
            unsigned long k = 0;
            put(path, &k, sizeof path, "/");
            put(path, &k, sizeof path, d->name);
            path[k] = 0;
            // A file system that does not give types (DT_UNKNOWN, 0): a
            // folder is what opens as one.
            int type = d->type;
            if (type == 0) {
                long f = sys(__NR_openat, AT_FDCWD, (long)path, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC, 0, 0);
                type = f >= 0 ? DT_DIR : DT_REG;
                if (f >= 0)
                    sys(__NR_close, f, 0, 0, 0, 0);
            }
            if (type != DT_DIR && type != DT_REG)
                continue;
            if (type == DT_DIR)
                hide(root, path);
            else
                remove_entry(root, path);
        }
    }
    check(n, "listing the node's /", "");
    sys(__NR_close, fd, 0, 0, 0, 0);
}

// A container's /dev, as runc makes it for a container that is not
// privileged: a tmpfs of its own holding only the standard devices, a
// devpts of its own (not the node's terminals, nor other pods'), the
// pod's /dev/shm and the IPC namespace's mqueue. Not the node's /dev: its
// disks, /dev/kmsg, /dev/kvm and the host's terminals. It is made
// read-only once the volumes are attached (`dev_read_only`), so no device
// node can be added there; writing to a device is not writing to /dev.
static long dev_fd = -1;

static void make_dev(const char *root) {
    static const struct {
        const char *name;
        unsigned int major, minor;
    } devices[] = {{"null", 1, 3}, {"zero", 1, 5}, {"full", 1, 7}, {"random", 1, 8}, {"urandom", 1, 9}, {"tty", 5, 0}};
    static const char *const links[][2] = {
        {"fd", "/proc/self/fd"},         {"stdin", "/proc/self/fd/0"}, {"stdout", "/proc/self/fd/1"},
        {"stderr", "/proc/self/fd/2"},   {"ptmx", "pts/ptmx"},
    };
    char dev[512], path[600];
    in_root(dev, sizeof dev, root, "/dev");
    check(mount("tmpfs", dev, "tmpfs", MS_NOSUID | MS_STRICTATIME, "mode=755,size=65536k"),
          "mounting the container's /dev", "");
    for (unsigned long i = 0; i < sizeof devices / sizeof *devices; i++) {
        under(path, sizeof path, dev, "/");
        unsigned long n = len(path);
        put(path, &n, sizeof path, devices[i].name);
        path[n] = 0;
        // The kernel's dev_t for mknod: minor's low byte, major, the rest of minor.
        unsigned long d = (devices[i].minor & 0xff) | (devices[i].major << 8) | ((devices[i].minor & ~0xffu) << 12);
        check(sys(__NR_mknodat, AT_FDCWD, (long)path, 0020000 | 0666, (long)d, 0), "making the container's ", path);
        check(sys(__NR_fchmodat, AT_FDCWD, (long)path, 0666, 0, 0), "making the container's ", path);
    }
    for (unsigned long i = 0; i < sizeof links / sizeof *links; i++) {
        under(path, sizeof path, dev, "/");
        unsigned long n = len(path);
        put(path, &n, sizeof path, links[i][0]);
        path[n] = 0;
        check(sys(__NR_symlinkat, (long)links[i][1], AT_FDCWD, (long)path, 0, 0), "making the container's ", path);
    }
    check(sys(__NR_mkdirat, AT_FDCWD, (long)under(path, sizeof path, dev, "/pts"), 0755, 0, 0), "making ", path);
    check(mount("devpts", path, "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620,gid=5"),
          "mounting the container's /dev/pts", "");
    check(sys(__NR_mkdirat, AT_FDCWD, (long)under(path, sizeof path, dev, "/shm"), 01777, 0, 0), "making ", path);
    check(mount("/dev/shm", path, 0, MS_BIND, 0), "showing the pod's /dev/shm", "");
    check(sys(__NR_mkdirat, AT_FDCWD, (long)under(path, sizeof path, dev, "/mqueue"), 0755, 0, 0), "making ", path);
    check(mount("mqueue", path, "mqueue", MS_NOSUID | MS_NODEV | MS_NOEXEC, 0), "mounting the container's /dev/mqueue", "");
}

static void set_attr(long fd, const char *rel, unsigned long flags, unsigned long long set, unsigned long long clear);

static void dev_read_only(void) {
    if (dev_fd < 0)
        return;
    set_attr(dev_fd, "", AT_EMPTY_PATH, MOUNT_ATTR_RDONLY, 0);
    sys(__NR_close, dev_fd, 0, 0, 0, 0);
    dev_fd = -1;
}

// The container's root: the node's filesystem, copy-on-write, with the
// pod's /proc, /tmp and /etc files, its own /dev (the node's when
// privileged), its own /run, /root and /home, and a /sys of the pod's network namespace; the node's own
// state (contracts::node::NODE_PRIVATE_DIRS), the host's secrets and the
// node's top-level entries an image would not have are hidden.
static void make_root(const char *root, int privileged) {
    char target[512];
    check(sys(__NR_unshare, CLONE_NEWNS, 0, 0, 0, 0), "unsharing the container's mount namespace", "");
    check(mount(0, "/", 0, MS_REC | MS_PRIVATE, 0), "making / private", "");
    own_count = 0;
    // An empty /home, as an image has: the node's is the host users'.
    hide(root, "/home");
    // What the node keeps for itself (contracts::node::NODE_PRIVATE_DIRS):
    // its credentials, the other pods' tokens and logs, a control node's
    // admin kubeconfig and the API server's data. A hostPath volume of one
    // is mounted on top later.
    for (unsigned long i = 0; i < sizeof hidden / sizeof *hidden; i++)
        hide(root, hidden[i]);
    for (unsigned long i = 0; i < sizeof host_secret_dirs / sizeof *host_secret_dirs; i++)
        hide(root, host_secret_dirs[i]);
    for (unsigned long i = 0; i < sizeof host_secret_files / sizeof *host_secret_files; i++)
        blank(root, host_secret_files[i]);
    hide_top(root);
    layer(root, "", "_");
    // The node's own copy-on-write directories (lab/src/sandbox.rs,
    // contracts::node::MACHINE_DIRS): separate mounts, each its own layer.
    layer(root, "/etc", "etc");
    layer(root, "/opt", "opt");
    layer(root, "/var", "var");
    fresh(root, "/root", "root");
    mark("");
    mark("/etc");
    mark("/opt");
    mark("/var");
    mark("/root");
    // The pod's /proc with its masks (`mask_proc`); a privileged container
    // sees all of it, as with runc.
    show(root, "/proc", privileged ? 0 : MS_REC);
    // A privileged container has the node's devices, as with runc.
    if (privileged)
        show(root, "/dev", MS_REC);
    else
        make_dev(root);
    show(root, "/tmp", 0);
    show(root, "/etc/resolv.conf", 0);
    show(root, "/etc/hosts", 0);
    show(root, "/etc/hostname", 0);
    // As containerd: with readOnlyRootFilesystem, /etc/resolv.conf and
    // /etc/hostname are read-only; kubelet's /etc/hosts is not.
    mark("/tmp");
    mark("/etc/resolv.conf");
    mark("/etc/hostname");
    // Not the node's /run: its /run/netns names every pod's network
    // namespace, which `ip` would try (and fail) to resolve.
    check(mount("tmpfs", under(target, sizeof target, root, "/m/run"), "tmpfs", MS_NOSUID | MS_NODEV, "mode=755"),
          "mounting the container's /run", "");
    mark("/run");
    check(mount("sysfs", under(target, sizeof target, root, "/m/sys"), "sysfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, 0),
          "mounting the container's /sys", "");
    if (!privileged)
        for (unsigned long i = 0; i < sizeof sys_masked / sizeof *sys_masked; i++) {
            char rest[64];
            unsigned long at = 0;
            put(rest, &at, sizeof rest, "/m/sys");
            put(rest, &at, sizeof rest, sys_masked[i]);
            rest[at] = 0;
            mask(under(target, sizeof target, root, rest));
        }
    show_program(root);
    check(sys(__NR_chdir, (long)under(target, sizeof target, root, "/m"), 0, 0, 0, 0), "changing to the container's root", "");
    // pivot_root(".", "."): the old root is stacked under the new one and
    // detached, no directory for it needed in the container's root.
    check(sys(__NR_pivot_root, (long)".", (long)".", 0, 0, 0), "pivoting into the container's root", "");
    check(sys(__NR_umount2, (long)".", MNT_DETACH, 0, 0, 0), "detaching the node's root", "");
    if (!privileged) {
        dev_fd = sys(__NR_openat, AT_FDCWD, (long)"/dev", O_PATH | O_CLOEXEC | O_NOFOLLOW, 0, 0);
        check(dev_fd, "opening the container's /dev", "");
    }
}


// The container's volumes. ROOT/mounts (written by the agent,
// runtime/volumes.rs) has a line per mount, "KIND MODE SOURCE<tab>TARGET":
// KIND d (a folder) or f (a file), MODE r (read-only) or w; SOURCE is a
// path of the node, TARGET one of the container. Lines "+ REL" after a
// mount make REL under its source writable again (a hostPath over a part
// of the node that is the host's own, with the node's own folders below:
// host_path.rs says why). Each source is cloned (open_tree) while we still
// see the node's filesystem, and attached once the container's root is
// ours: a TARGET whose path has a symbolic link resolves inside the
// container, never on the node.
#define MAX_MOUNTS 64
static char mounts_text[16384];
static long mount_fds[MAX_MOUNTS];
static const char *mount_targets[MAX_MOUNTS];
static char mount_kinds[MAX_MOUNTS];
static int mount_count;
// "+ REL" lines: made writable once their mount is attached (the kernel
// lets a detached tree's submounts be changed only in the caller's own
// mount namespace).
static const char *unlock_rel[MAX_MOUNTS];
static int unlock_of[MAX_MOUNTS];
static int unlock_count;

// mount_setattr of FD+REL: the SET attributes on, the CLEAR ones off.
static void set_attr(long fd, const char *rel, unsigned long flags, unsigned long long set, unsigned long long clear) {
    struct mount_attr attr;
    memset(&attr, 0, sizeof attr);
    attr.attr_set = set;
    attr.attr_clr = clear;
    check(sys(__NR_mount_setattr, fd, (long)rel, (long)flags, (long)&attr, sizeof attr),
          "setting a mount's access under ", *rel ? rel : "/");
}

// The mount attribute `nodev` stands for, for a volume.
static unsigned long long volume_nodev(void) {
    return nodev ? MOUNT_ATTR_NODEV : 0;
}

// Reads ROOT/mounts and clones each source (in the node's mount namespace).
static void volumes_open(const char *root) {
    char path[512];
    long fd = sys(__NR_openat, AT_FDCWD, (long)under(path, sizeof path, root, "/mounts"), O_RDONLY | O_CLOEXEC, 0, 0);
    if (fd == -2)
        return;
    check(fd, "opening ", path);
    long n = 0, r;
    while ((r = sys(__NR_read, fd, (long)(mounts_text + n), (long)(sizeof mounts_text - 1 - n), 0, 0)) > 0)
        n += r;
    check(r, "reading ", path);
    sys(__NR_close, fd, 0, 0, 0, 0);
    mounts_text[n] = 0;
    char *line = mounts_text;
    while (*line) {
        char *end = line;
        while (*end && *end != '\n')
            end++;
        if (*end)
            *end++ = 0;
        if (line[0] == '+' && line[1] == ' ' && mount_count > 0 && unlock_count < MAX_MOUNTS) {
            unlock_of[unlock_count] = mount_count - 1;
            unlock_rel[unlock_count++] = line + 2;
        } else if (len(line) > 4 && line[1] == ' ' && line[3] == ' ' && mount_count < MAX_MOUNTS) {
            char *src = line + 4, *tab = src;
            while (*tab && *tab != '\t')
                tab++;
            if (!*tab)
                fail("reading ", path, -22);
            *tab = 0;
            long t = sys(__NR_open_tree, AT_FDCWD, (long)src, OPEN_TREE_CLONE | O_CLOEXEC | AT_RECURSIVE, 0, 0);
            check(t, "cloning the volume source ", src);
            unsigned long long set = volume_nodev() | (line[2] == 'r' ? MOUNT_ATTR_RDONLY : 0);
            if (set)
                set_attr(t, "", AT_EMPTY_PATH | AT_RECURSIVE, set, 0);
            mount_fds[mount_count] = t;
            mount_targets[mount_count] = tab + 1;
            mount_kinds[mount_count] = line[0];
            mount_count++;
        } else {
            fail("reading ", path, -22);
        }
        line = end;
    }
}

// mkdir -p of PATH's folders, the last one too unless `but_last`.
static void make_dirs(char *path, int but_last) {
    for (char *p = path + 1;; p++) {
        if (*p == '/' || !*p) {
            if (!*p && but_last)
                return;
            char c = *p;
            *p = 0;
            long r = sys(__NR_mkdirat, AT_FDCWD, (long)path, 0755, 0, 0);
            *p = c;
            if (r < 0 && r != -17)
                fail("making the mount point ", path, r);
            if (!c)
                return;
        }
    }
}

// Attaches each cloned source at its target, inside the container's root.
static void volumes_attach(void) {
    for (int i = 0; i < mount_count; i++) {
        char *target = (char *)mount_targets[i];
        make_dirs(target, mount_kinds[i] == 'f');
        if (mount_kinds[i] == 'f') {
            long f = sys(__NR_openat, AT_FDCWD, (long)target, O_RDONLY | O_CREAT | O_CLOEXEC, 0644, 0);
            check(f, "making the mount point ", target);
            sys(__NR_close, f, 0, 0, 0, 0);
        }
        check(sys(__NR_move_mount, mount_fds[i], (long)"", AT_FDCWD, (long)target, MOVE_MOUNT_F_EMPTY_PATH),
              "mounting a volume at ", target);
        sys(__NR_close, mount_fds[i], 0, 0, 0, 0);
        for (int u = 0; u < unlock_count; u++) {
            if (unlock_of[u] != i)
                continue;
            char below[1024];
            unsigned long at = 0;
            put(below, &at, sizeof below, target);
            put(below, &at, sizeof below, "/");
            put(below, &at, sizeof below, unlock_rel[u]);
            below[at] = 0;
            set_attr(AT_FDCWD, below, AT_RECURSIVE, volume_nodev(), MOUNT_ATTR_RDONLY);
        }
    }
}

// readOnlyRootFilesystem: the mounts make_root made for the image's
// filesystem (`own`) become read-only once the volumes are attached (their
// mount points made). Each is opened before the volumes cover any of them
// and changed by that handle, so a volume mounted on one (an emptyDir at
// /tmp) keeps its own access.
static long read_only_fds[MAX_OWN];
static int read_only_count;

static int has_word(const char *list, const char *word) {
    for (const char *c = list; *c;) {
        unsigned long i = 0;
        while (word[i] && c[i] == word[i])
            i++;
        if (!word[i] && (c[i] == ',' || !c[i]))
            return 1;
        while (*c && *c != ',')
            c++;
        if (*c)
            c++;
    }
    return 0;
}

static void root_read_only_open(void) {
    for (int i = 0; i < own_count; i++) {
        long fd = sys(__NR_openat, AT_FDCWD, (long)own[i], O_PATH | O_CLOEXEC | O_NOFOLLOW, 0, 0);
        check(fd, "opening the container's ", own[i]);
        read_only_fds[read_only_count++] = fd;
    }
}

static void root_read_only(void) {
    for (int i = 0; i < read_only_count; i++) {
        set_attr(read_only_fds[i], "", AT_EMPTY_PATH, MOUNT_ATTR_RDONLY, 0);
        sys(__NR_close, read_only_fds[i], 0, 0, 0, 0);
    }
}

static int has_slash(const char *s) {
    for (; *s; s++)
        if (*s == '/')
            return 1;
    return 0;
}

// execve PROG, looked up on the PATH of ENVP (in the container's root)
// when it has no '/'; returns the error of the last attempt.
static long exec_path(const char *prog, char **argv, char **envp) {
    if (has_slash(prog))
        return sys(__NR_execve, (long)prog, (long)argv, (long)envp, 0, 0);
    const char *path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
    for (char **e = envp; *e; e++)
        if ((*e)[0] == 'P' && (*e)[1] == 'A' && (*e)[2] == 'T' && (*e)[3] == 'H' && (*e)[4] == '=')
            path = *e + 5;
    long err = -2;
    while (*path) {
        char full[1024];
        unsigned long at = 0;
        while (*path && *path != ':' && at < sizeof full - 2)
            full[at++] = *path++;
        if (*path == ':')
            path++;
        if (at == 0)
            continue;
        full[at++] = '/';
        put(full, &at, sizeof full, prog);
        full[at] = 0;
        long r = sys(__NR_execve, (long)full, (long)argv, (long)envp, 0, 0);
        // Not there: the next directory; anything else (no permission) is kept.
        if (r != -2 || err == -2)
            err = r;
    }
    return err;
}

static __attribute__((noreturn)) void run(char **argv, char **envp) {
    const char *pod = argv[2], *mnt = argv[3], *root = argv[4], *workdir = argv[5], *caps = argv[6];
    static const char *const kinds[] = {"ipc", "uts", "net", "pid"};
    static const long flags[] = {CLONE_NEWIPC, CLONE_NEWUTS, CLONE_NEWNET, CLONE_NEWPID};
    long fds[5];
    // All opened before the first setns: /proc is read in the node's view.
    for (int i = 0; i < 4; i++)
        fds[i] = ns_fd(pod, kinds[i]);
    fds[4] = ns_fd(mnt, "mnt");
    int privileged = starts(caps, "all");
    nodev = privileged ? 0 : MS_NODEV;
    if (!is(root, "-"))
        volumes_open(root);
    for (int i = 0; i < 4; i++) {
        check(sys(__NR_setns, fds[i], flags[i], 0, 0, 0), "joining the pod's namespace ", kinds[i]);
        sys(__NR_close, fds[i], 0, 0, 0, 0);
    }
    check(sys(__NR_setns, fds[4], CLONE_NEWNS, 0, 0, 0), "joining the mount namespace of ", mnt);
    sys(__NR_close, fds[4], 0, 0, 0, 0);
    if (!is(root, "-")) {
        make_root(root, privileged);
        int read_only = has_word(caps, "ro");
        if (read_only)
            root_read_only_open();
        volumes_attach();
        if (read_only)
            root_read_only();
        dev_read_only();
    }
    check(sys(__NR_chdir, (long)workdir, 0, 0, 0, 0), "changing to the working directory ", workdir);
    // Here, not in the child only: what an exec into the container gets is
    // read from this process (privileges.rs).
    limit(caps);

    // Blocked before the fork, so none is lost between fork and wait; the
    // child unblocks them for the program.
    unsigned long set = (1UL << (SIGHUP - 1)) | (1UL << (SIGINT - 1)) | (1UL << (SIGQUIT - 1)) |
                        (1UL << (SIGUSR1 - 1)) | (1UL << (SIGUSR2 - 1)) | (1UL << (SIGTERM - 1)) |
                        (1UL << (SIGCHLD - 1)) | (1UL << (SIGWINCH - 1));
    unsigned long none = 0;
    sys(__NR_rt_sigprocmask, SIG_BLOCK, (long)&set, 0, sizeof set, 0);
    long child = sys(__NR_clone, SIGCHLD, 0, 0, 0, 0);
    check(child, "forking the container's process", "");
    if (child == 0) {
        // If we are SIGKILLed the program goes too, as with a runtime's shim.
        sys(__NR_prctl, PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
        sys(__NR_rt_sigprocmask, SIG_SETMASK, (long)&none, 0, sizeof none, 0);
        long err = exec_path(argv[7], argv + 7, envp);
        char buf[600];
        unsigned long at = 0;
        put(buf, &at, sizeof buf, "labyrinth: cannot run ");
        put(buf, &at, sizeof buf, argv[7]);
        put(buf, &at, sizeof buf, ": errno ");
        put_num(buf, &at, sizeof buf - 1, (unsigned long)(-err));
        buf[at++] = '\n';
        sys(__NR_write, 2, (long)buf, (long)at, 0, 0);
        quit(127);
    }
    for (;;) {
        long sig = sys(__NR_rt_sigtimedwait, (long)&set, 0, 0, sizeof set, 0);
        if (sig != SIGCHLD) {
            if (sig > 0)
                sys(__NR_kill, child, sig, 0, 0, 0);
            continue;
        }
        int status = 0;
        long r;
        while ((r = sys(__NR_wait4, -1, (long)&status, WNOHANG, 0, 0)) > 0) {
            if (r != child)
                continue;
            if ((status & 0x7f) == 0)
                quit((status >> 8) & 0xff);
            quit(128 + (status & 0x7f));
        }
    }
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
    char **envp = argv + argc + 1;
    if (argc >= 8 && is(argv[1], "run")) {
        run(argv, envp);
    } else if (argc >= 6 && argc <= 8 && is(argv[1], "sandbox")) {
        sandbox(argv, argc >= 7 ? argv[6] : "", argc == 8 ? argv[7] : "");
    } else if (argc == 4 && is(argv[1], "enter")) {
        enter(argv[2], argv[3]);
    } else if (argc != 1) {
        static const char usage[] = "usage: labyrinth-pause [sandbox HOSTNAME RESOLV_CONF HOSTS HOSTNAME_FILE [HOST [SYSCTLS]] | enter PID CAPS | run POD_PID MNT_PID ROOT WORKDIR CAPS PROG ARG...]\n";
        sys(__NR_write, 2, (long)usage, sizeof usage - 1, 0, 0);
        quit(2);
    }
    wait_for_stop();
}
