/* The supervisor: the small process between the judge and one untrusted program.
 *
 *   supervise WALL_MS REPORT_FD CPU_S AS_BYTES FSIZE_BYTES NPROC NOFILE -- PROGRAM [ARG...]
 *   supervise --serve
 *
 * It forks the program with its resource limits, kills it at the wall-clock limit, reaps it and
 * writes the program's own exit status and resource usage as one line of JSON to REPORT_FD.
 *
 * Why a process of its own: Linux hands a child its parent's peak memory at fork and exec, so
 * a program started straight from the judge (which may hold a model in memory) would report
 * the judge's peak as its own. Why C and not Python: a second interpreter start per program
 * costs about as much as the program's own start, and the benchmark holds the sandbox to 0.85x
 * the throughput of bare runs.
 *
 * Inside a sandbox it is PID 1 of the program's PID namespace. Signals the program sends to
 * PID 1 are then dropped by the kernel, so it cannot kill its supervisor, and kill(-1) reaches
 * every process of the namespace, daemons included. Outside one (the unsafe layer) it kills the
 * program's process group instead. The limits are set in the forked child, after any user
 * namespace exists, so RLIMIT_NPROC counts only the processes of this run.
 *
 * --serve: the sandbox server, PID 1 of one long-lived bubblewrap sandbox per judge worker
 * (its user namespace and its read-only view of the system), holding CAP_SYS_ADMIN and
 * CAP_SETPCAP in that sandbox's user namespace only. Making a user namespace and bwrap's
 * mounts costs more than a Python start, so they are made once; each program still gets
 * fresh namespaces of its own: mount (a new size-capped tmpfs at /tmp and /dev/shm, a new
 * /proc), PID, IPC, UTS and network (only a loopback, down). The server reads requests on
 * its stdin, a socket (see `serve`), runs one program at a time, and the program runs with
 * every capability dropped and no access to kernel keyrings (shared by a uid).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define REQUEST_MAGIC 0x7465737379303031ULL /* "tessy001" */
#define REQUEST_FDS 4                      /* stdin, stdout, stderr, report */

struct limits {
    uint64_t wall_ms, cpu_s, as_bytes, fsize, nproc, nofile;
};

/* One request of the server protocol: this header and four fds in one message, then
 * payload_len bytes: argc NUL-terminated arguments, then nfiles times (NUL-terminated name,
 * 8-byte size, bytes). Both ends are this machine, so the layout is native. */
struct request {
    uint64_t magic;
    struct limits limits;
    uint64_t scratch_bytes, payload_len;
    uint32_t argc, nfiles;
};

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

static int exec_report = -1;

/* A failure to set up the program is the sandbox's failure: its errno goes back on the exec
 * pipe and is reported as such, never as the program's own failure. */
static void setup_failed(void) {
    int error = errno ? errno : EINVAL;
    ssize_t ignored = write(exec_report, &error, sizeof error);
    (void)ignored;
    _exit(126);
}

static void limit(int resource, rlim_t soft, rlim_t hard) {
    struct rlimit r = {soft, hard};
    if (setrlimit(resource, &r) != 0) setup_failed();
}

/* Leave the program no capability, now or after exec (the server holds some). */
static void drop_capabilities(void) {
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) setup_failed();
    for (int cap = 0; cap <= 63; cap++) {
        if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 && errno != EINVAL) setup_failed();
    }
    struct __user_cap_header_struct header = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct data[2];
    memset(data, 0, sizeof data);
    if (syscall(SYS_capset, &header, data) != 0) setup_failed();
}

#if defined(__x86_64__)
#define NATIVE_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define NATIVE_ARCH AUDIT_ARCH_AARCH64
#endif

/* Kernel keyrings outlive a program and are per uid, so programs run one after another as
 * the same uid could pass keys along: the key system calls fail with ENOSYS instead, x32
 * calls too, and a system call of the 32-bit ABI kills the program, so none slips past. */
static void deny_keyrings(void) {
#ifdef NATIVE_ARCH
    struct sock_filter filter[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, NATIVE_ARCH, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
#ifdef __x86_64__
        BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, 0x40000000, 3, 0), /* x32 */
#endif
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_add_key, 2, 0),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_keyctl, 1, 0),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_request_key, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog program = {sizeof filter / sizeof filter[0], filter};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) setup_failed();
    if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &program) != 0) setup_failed();
#endif
}

static void kill_all(pid_t child) {
    if (getpid() == 1) kill(-1, SIGKILL);
    else killpg(child, SIGKILL);
}

/* Run `argv` under `limits`, end it at the wall limit, report on `report_fd`. */
static void supervise(const struct limits *limits, int report_fd, char **argv, int drop_caps) {
    /* The program must not inherit the report pipe (it could forge a report), nor attach to
     * this process with ptrace. */
    fcntl(report_fd, F_SETFD, FD_CLOEXEC);
    prctl(PR_SET_DUMPABLE, 0);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    int exec_pipe[2];
    if (pipe2(exec_pipe, O_CLOEXEC) != 0) _exit(3);

    double started = now();
    pid_t child = fork();
    if (child < 0) _exit(3);
    if (child == 0) {
        close(exec_pipe[0]);
        exec_report = exec_pipe[1];
        setpgid(0, 0);
        /* The soft CPU limit sends SIGXCPU (a time limit); the hard one a second later kills. */
        limit(RLIMIT_CPU, limits->cpu_s, limits->cpu_s + 1);
        limit(RLIMIT_AS, limits->as_bytes, limits->as_bytes);
        limit(RLIMIT_FSIZE, limits->fsize, limits->fsize);
        /* Served, the server, its runner and this supervisor share the program's uid and user
         * namespace, and count against its process limit. */
        rlim_t nproc = limits->nproc + (drop_caps ? 3 : 0);
        limit(RLIMIT_NPROC, nproc, nproc);
        limit(RLIMIT_NOFILE, limits->nofile, limits->nofile);
        limit(RLIMIT_CORE, 0, 0);
        if (drop_caps) drop_capabilities();
        deny_keyrings();
        execvp(argv[0], argv);
        setup_failed();
    }
    close(exec_pipe[1]);

    int timed_out = 0;
    int exited = syscall(SYS_pidfd_open, child, 0);
    if (exited < 0) {
        /* Without a way to wait with a deadline, the run cannot be judged: no report. */
        kill_all(child);
        _exit(3);
    }
    struct pollfd wait_for = {exited, POLLIN, 0};
    int ready;
    while ((ready = poll(&wait_for, 1, limits->wall_ms)) < 0 && errno == EINTR) {
    }
    if (ready == 0) timed_out = 1;
    /* Whatever the program left running (children, daemons) ends with it, timed out or not.
     * Not reaped yet, so the pid and its group cannot belong to anyone else. */
    kill_all(child);
    int status;
    struct rusage usage;
    while (wait4(child, &status, 0, &usage) < 0 && errno == EINTR) {
    }
    double wall_s = now() - started;
    /* As PID 1, once more: nothing it forked while dying outlives the run. Outside a PID
     * namespace the group went with the reaped child's pid, so it is left alone. */
    if (getpid() == 1) kill(-1, SIGKILL);

    int exec_error = 0;
    if (read(exec_pipe[0], &exec_error, sizeof exec_error) <= 0) exec_error = 0;
    char report[512];
    int n = snprintf(
        report, sizeof report,
        "{\"exit_code\": %d, \"signal\": %d, \"wall_s\": %.6f, \"cpu_s\": %.6f, "
        "\"peak_memory_mb\": %.3f, \"timed_out\": %s, \"exec_error\": %d}\n",
        WIFEXITED(status) ? WEXITSTATUS(status) : -1,
        WIFSIGNALED(status) ? WTERMSIG(status) : 0, wall_s,
        usage.ru_utime.tv_sec + usage.ru_utime.tv_usec / 1e6 + usage.ru_stime.tv_sec +
            usage.ru_stime.tv_usec / 1e6,
        usage.ru_maxrss / 1024.0, /* KiB on Linux */
        timed_out ? "true" : "false", exec_error);
    ssize_t ignored = write(report_fd, report, n);
    (void)ignored;
}

static int read_exactly(int fd, void *buffer, size_t size) {
    char *at = buffer;
    while (size > 0) {
        ssize_t got = read(fd, at, size);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) return -1;
        at += got;
        size -= got;
    }
    return 0;
}

static int write_file(const char *name, const char *data, uint64_t size) {
    char path[4096];
    if (snprintf(path, sizeof path, "/tmp/%s", name) >= (int)sizeof path) return -1;
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0555);
    if (fd < 0) return -1;
    while (size > 0) {
        ssize_t put = write(fd, data, size);
        if (put <= 0) {
            close(fd);
            return -1;
        }
        data += put;
        size -= put;
    }
    return close(fd);
}

/* In the request's own namespaces: fresh scratch, its files, then the supervised program. */
static void run_request(const struct request *req, char *payload, const int *fds) {
    char *scratch_options = NULL;
    unsigned long long scratch_bytes = req->scratch_bytes;
    /* The inode cap bounds the kernel memory of many empty files, which size= does not. */
    const char *format = "size=%llu,nr_inodes=16384,mode=0755";
    if (asprintf(&scratch_options, format, scratch_bytes) < 0) _exit(4);
    /* A fresh network namespace too: its loopback is down, and no socket of an earlier
     * program (one in TIME_WAIT, an abstract name) can reach or hinder this one. */
    int namespaces = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWNET;
    if (unshare(namespaces) != 0) _exit(4);
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) _exit(4);
    if (mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, scratch_options) != 0) _exit(4);
    if (mount("tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,nr_inodes=1024") != 0) {
        _exit(4);
    }

    char *at = payload, *end = payload + req->payload_len;
    char **argv = calloc(req->argc + 1, sizeof *argv);
    if (argv == NULL) _exit(4);
    for (uint32_t i = 0; i < req->argc; i++) {
        if (at >= end) _exit(4);
        argv[i] = at;
        at += strnlen(at, end - at) + 1;
    }
    for (uint32_t i = 0; i < req->nfiles; i++) {
        if (at >= end) _exit(4);
        char *name = at;
        at += strnlen(at, end - at) + 1;
        uint64_t size;
        if (at + sizeof size > end) _exit(4);
        memcpy(&size, at, sizeof size);
        at += sizeof size;
        if (size > (uint64_t)(end - at) || strchr(name, '/') || write_file(name, at, size) != 0) {
            _exit(4);
        }
        at += size;
    }
    if (at > end || chdir("/tmp") != 0) _exit(4);
    for (int i = 0; i < 3; i++) {
        if (dup2(fds[i], i) < 0) _exit(4);
    }
    pid_t init = fork(); /* PID 1 of the program's PID namespace */
    if (init < 0) _exit(4);
    if (init == 0) {
        if (mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) != 0) _exit(4);
        supervise(&req->limits, fds[3], argv, 1);
        _exit(0);
    }
    int status;
    while (waitpid(init, &status, 0) < 0 && errno == EINTR) {
    }
    _exit(WIFEXITED(status) ? WEXITSTATUS(status) : 5);
}

/* The server loop: one request at a time, until the judge closes its end. After each request
 * one byte goes back: 0 when the request ran, else the setup step's exit code. */
static int serve(int sock) {
    prctl(PR_SET_DUMPABLE, 0);
    for (;;) {
        struct request req;
        int fds[REQUEST_FDS];
        char control[CMSG_SPACE(sizeof fds)];
        struct iovec io = {&req, sizeof req};
        struct msghdr message = {0};
        message.msg_iov = &io;
        message.msg_iovlen = 1;
        message.msg_control = control;
        message.msg_controllen = sizeof control;
        ssize_t got;
        do {
            got = recvmsg(sock, &message, MSG_CMSG_CLOEXEC | MSG_WAITALL);
        } while (got < 0 && errno == EINTR);
        if (got == 0) return 0;
        struct cmsghdr *fd_message = CMSG_FIRSTHDR(&message);
        if (got != sizeof req || req.magic != REQUEST_MAGIC || fd_message == NULL ||
            fd_message->cmsg_len != CMSG_LEN(sizeof fds)) {
            return 2;
        }
        memcpy(fds, CMSG_DATA(fd_message), sizeof fds);
        char *payload = malloc(req.payload_len + 1);
        if (payload == NULL || read_exactly(sock, payload, req.payload_len) != 0) return 2;
        payload[req.payload_len] = '\0';
        pid_t runner = fork();
        if (runner == 0) {
            close(sock);
            run_request(&req, payload, fds);
        }
        int status = 0;
        while (runner > 0 && waitpid(runner, &status, 0) < 0 && errno == EINTR) {
        }
        for (int i = 0; i < REQUEST_FDS; i++) close(fds[i]);
        free(payload);
        unsigned char outcome = runner < 0 ? 6 : WIFEXITED(status) ? WEXITSTATUS(status) : 5;
        if (write(sock, &outcome, 1) != 1) return 0;
    }
}

int main(int argc, char **argv) {
    if (argc == 2 && strcmp(argv[1], "--serve") == 0) return serve(STDIN_FILENO);
    if (argc < 10 || strcmp(argv[8], "--") != 0) {
        fprintf(stderr, "usage: supervise WALL_MS REPORT_FD CPU_S AS FSIZE NPROC NOFILE -- "
                        "PROGRAM\n       supervise --serve\n");
        return 2;
    }
    struct limits limits = {
        strtoull(argv[1], NULL, 10), strtoull(argv[3], NULL, 10), strtoull(argv[4], NULL, 10),
        strtoull(argv[5], NULL, 10), strtoull(argv[6], NULL, 10), strtoull(argv[7], NULL, 10),
    };
    supervise(&limits, atoi(argv[2]), argv + 9, 0);
    return 0;
}
