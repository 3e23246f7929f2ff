// What our small C programs need in place of a libc: a raw syscall, the
// process entry point (calling `start_c(sp)` with the initial stack:
// argc, argv..., 0, envp..., 0), and a few string helpers.
//
// Why no libc: these programs run once or more per pod, and glibc's
// start-up probes the CPU with dozens of CPUID instructions, each a
// hypervisor exit on a VM (~0.6 ms per process on our CI machines); a
// dynamically linked program adds the loader's relocations on top.
// Freestanding, a start is an exec and nothing else.

#ifndef LABYRINTH_FREESTANDING_H
#define LABYRINTH_FREESTANDING_H

#include <asm/unistd.h>

#if defined(__x86_64__)
static inline long sys(long n, long a, long b, long c, long d, long e) {
    register long r10 __asm__("r10") = d;
    register long r8 __asm__("r8") = e;
    long ret;
    __asm__ volatile("syscall"
                     : "=a"(ret)
                     : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8)
                     : "rcx", "r11", "memory");
    return ret;
}
__asm__(".text\n.global _start\n_start:\n"
        "  xor %rbp, %rbp\n  mov %rsp, %rdi\n  and $-16, %rsp\n"
        "  call start_c\n  hlt\n");
#elif defined(__aarch64__)
static inline long sys(long n, long a, long b, long c, long d, long e) {
    register long x8 __asm__("x8") = n;
    register long x0 __asm__("x0") = a;
    register long x1 __asm__("x1") = b;
    register long x2 __asm__("x2") = c;
    register long x3 __asm__("x3") = d;
    register long x4 __asm__("x4") = e;
    __asm__ volatile("svc 0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2), "r"(x3), "r"(x4) : "memory");
    return x0;
}
__asm__(".text\n.global _start\n_start:\n  mov x0, sp\n  bl start_c\n");
#else
#error "add this architecture's syscall and _start to freestanding.h"
#endif

// The compiler may emit calls to these for struct initialisation and copies.
void *memset(void *d, int c, unsigned long n) {
    unsigned char *p = d;
    while (n--)
        *p++ = (unsigned char)c;
    return d;
}

void *memcpy(void *d, const void *s, unsigned long n) {
    unsigned char *p = d;
    const unsigned char *q = s;
    while (n--)
        *p++ = *q++;
    return d;
}

static inline unsigned long len(const char *s) {
    unsigned long n = 0;
    while (s[n])
        n++;
    return n;
}

static inline __attribute__((noreturn)) void quit(int code) {
    for (;;)
        sys(__NR_exit_group, code, 0, 0, 0, 0);
}

// Appends `s` to the message being built in `buf`.
static inline void put(char *buf, unsigned long *at, unsigned long cap, const char *s) {
    while (*s && *at < cap - 1)
        buf[(*at)++] = *s++;
}

// Appends the decimal digits of `v`.
static inline void put_num(char *buf, unsigned long *at, unsigned long cap, unsigned long v) {
    char num[24];
    unsigned long n = 0;
    do {
        num[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v && n < sizeof num);
    while (n && *at < cap - 1)
        buf[(*at)++] = num[--n];
}

static inline int is(const char *a, const char *b) {
    while (*a && *a == *b)
        a++, b++;
    return *a == *b;
}

#endif
