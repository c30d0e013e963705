/* A Codex stand-in that costs as little as a process can, for timing the
 * runtime's own handoff. It reads the stage name from the prompt (its last
 * argument: the first "Stage:" line, case-insensitive), and answers that
 * stage's happy-path terminal marker, "### <TOKEN>", on stdout and in the
 * file named by --output-last-message. Unknown stages answer BLOCKED.
 *
 * Built by benches/fakes/build_fake.sh, one of three ways:
 *   freestanding  x86-64 Linux only: no C library at all (its own _start
 *                 and system calls). The C library's start-up is most of a
 *                 small program's cost on a VM (glibc asks the CPU about
 *                 its caches with CPUID, and each CPUID exits to the
 *                 hypervisor), so this is the floor of an agent spawn.
 *   static        cc -O2 -static: glibc linked in, no dynamic loader.
 *   dynamic       cc -O2: an ordinary program.
 */
#define _GNU_SOURCE

#ifdef FAKE_FREESTANDING
typedef unsigned long size_t;
#define NULL ((void *)0)

static long sys3(long n, long a, long b, long c) {
    long r;
    __asm__ volatile("syscall" : "=a"(r) : "a"(n), "D"(a), "S"(b), "d"(c) : "rcx", "r11", "memory");
    return r;
}
#define SYS_write 1
#define SYS_open 2
#define SYS_close 3
#define SYS_exit_group 231
#define O_WRONLY 01
#define O_CREAT 0100
#define O_TRUNC 01000

static size_t length(const char *s) {
    size_t n = 0;
    while (s[n]) n++;
    return n;
}
static int same(const char *a, const char *b) {
    while (*a && *a == *b) a++, b++;
    return *a == *b;
}
static int lower(int c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; }
static int letter(int c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
/* Case-insensitive search of a lowercase needle. */
static const char *find(const char *hay, const char *needle) {
    for (; *hay; hay++) {
        size_t i = 0;
        while (needle[i] && lower(hay[i]) == needle[i]) i++;
        if (!needle[i]) return hay;
    }
    return NULL;
}
#else
#include <ctype.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>
#define length strlen
#define same(a, b) (strcmp((a), (b)) == 0)
#define lower tolower
#define letter isalpha
#define find strcasestr
#endif

struct answer { const char *stage, *token; };

static const struct answer ANSWERS[] = {
    {"builder", "BUILDER_COMPLETE"},     {"checker", "CHECKER_PASS"},
    {"updater", "UPDATE_COMPLETE"},      {"fixer", "FIXER_COMPLETE"},
    {"doublechecker", "DOUBLECHECK_PASS"}, {"troubleshooter", "TROUBLESHOOT_COMPLETE"},
    {"consultant", "CONSULT_COMPLETE"},  {"planner", "PLANNER_COMPLETE"},
    {"manager", "MANAGER_COMPLETE"},     {"mechanic", "MECHANIC_COMPLETE"},
    {"auditor", "AUDITOR_COMPLETE"},     {"arbiter", "ARBITER_COMPLETE"},
    {"analyst", "ANALYST_NOOP"},         {"professor", "PROFESSOR_NOOP"},
    {"curator", "CURATOR_NOOP"},
};

static const char *token_for(const char *prompt) {
    const char *at = find(prompt, "stage:");
    if (!at) return "BUILDER_COMPLETE";
    at += 6;
    while (*at == ' ' || *at == '\t') at++;
    char name[64];
    size_t n = 0;
    while (n + 1 < sizeof name && (letter((unsigned char)at[n]) || at[n] == '_')) {
        name[n] = (char)lower((unsigned char)at[n]);
        n++;
    }
    name[n] = '\0';
    for (size_t i = 0; i < sizeof ANSWERS / sizeof ANSWERS[0]; i++)
        if (same(ANSWERS[i].stage, name)) return ANSWERS[i].token;
    return "BLOCKED";
}

static int answer(int argc, char **argv) {
    const char *last_message = NULL;
    for (int i = 1; i + 1 < argc; i++)
        if (same(argv[i], "--output-last-message")) last_message = argv[i + 1];
    const char *token = token_for(argc > 1 ? argv[argc - 1] : "");
    char line[64] = "### ";
    size_t n = 4, t = length(token);
    for (size_t i = 0; i < t && n + 2 < sizeof line; i++) line[n++] = token[i];
    line[n++] = '\n';
#ifdef FAKE_FREESTANDING
    if (last_message) {
        long fd = sys3(SYS_open, (long)last_message, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0) {
            sys3(SYS_write, fd, (long)line, (long)n);
            sys3(SYS_close, fd, 0, 0);
        }
    }
    sys3(SYS_write, 1, (long)line, (long)n);
#else
    if (last_message) {
        int fd = open(last_message, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0) {
            if (write(fd, line, n) < 0) {}
            close(fd);
        }
    }
    if (write(1, line, n) < 0) return 1;
#endif
    return 0;
}

#ifdef FAKE_FREESTANDING
/* The kernel starts us with argc at the stack pointer, argv after it. */
__attribute__((used)) static void start_c(long *sp) {
    int argc = (int)sp[0];
    char **argv = (char **)(sp + 1);
    sys3(SYS_exit_group, answer(argc, argv), 0, 0);
}
__asm__(".text\n.global _start\n_start:\n xor %rbp,%rbp\n mov %rsp,%rdi\n and $-16,%rsp\n call start_c\n hlt\n");
#else
int main(int argc, char **argv) { return answer(argc, argv); }
#endif
