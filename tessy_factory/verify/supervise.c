/* The supervisor: the small process between the judge and one untrusted program.
 *
 *   supervise WALL_MS REPORT_FD CPU_S AS_BYTES FSIZE_BYTES NPROC NOFILE -- PROGRAM [ARG...]
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
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

static int exec_report = -1;

/* A limit that cannot be set is the sandbox's failure: reported as such, not as the program's. */
static void limit(int resource, rlim_t soft, rlim_t hard) {
    struct rlimit r = {soft, hard};
    if (setrlimit(resource, &r) != 0) {
        int error = errno;
        ssize_t ignored = write(exec_report, &error, sizeof error);
        (void)ignored;
        _exit(126);
    }
}

static void kill_all(pid_t child) {
    if (getpid() == 1) kill(-1, SIGKILL);
    else killpg(child, SIGKILL);
}

int main(int argc, char **argv) {
    if (argc < 10 || strcmp(argv[8], "--") != 0) {
        fprintf(stderr, "usage: supervise WALL_MS REPORT_FD CPU_S AS FSIZE NPROC NOFILE -- PROGRAM\n");
        return 2;
    }
    long wall_ms = atol(argv[1]);
    int report_fd = atoi(argv[2]);
    rlim_t cpu_s = strtoull(argv[3], NULL, 10), as = strtoull(argv[4], NULL, 10);
    rlim_t fsize = strtoull(argv[5], NULL, 10), nproc = strtoull(argv[6], NULL, 10);
    rlim_t nofile = strtoull(argv[7], NULL, 10);
    /* The program must not inherit the report pipe (it could forge a report), nor attach to
     * this process with ptrace. */
    fcntl(report_fd, F_SETFD, FD_CLOEXEC);
    prctl(PR_SET_DUMPABLE, 0);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    int exec_pipe[2];
    if (pipe2(exec_pipe, O_CLOEXEC) != 0) return 3;

    double started = now();
    pid_t child = fork();
    if (child < 0) return 3;
    if (child == 0) {
        close(exec_pipe[0]);
        exec_report = exec_pipe[1];
        setpgid(0, 0);
        /* The soft CPU limit sends SIGXCPU (a time limit); the hard one a second later kills. */
        limit(RLIMIT_CPU, cpu_s, cpu_s + 1);
        limit(RLIMIT_AS, as, as);
        limit(RLIMIT_FSIZE, fsize, fsize);
        limit(RLIMIT_NPROC, nproc, nproc);
        limit(RLIMIT_NOFILE, nofile, nofile);
        limit(RLIMIT_CORE, 0, 0);
        execvp(argv[9], argv + 9);
        int error = errno;
        ssize_t ignored = write(exec_pipe[1], &error, sizeof error);
        (void)ignored;
        _exit(127);
    }
    close(exec_pipe[1]);

    int timed_out = 0;
    int exited = syscall(SYS_pidfd_open, child, 0);
    struct pollfd wait_for = {exited, POLLIN, 0};
    if (exited < 0 || poll(&wait_for, 1, wall_ms) == 0) {
        timed_out = exited >= 0;
        /* Not reaped yet, so the pid and its group cannot belong to anyone else. */
        kill_all(child);
    }
    int status;
    struct rusage usage;
    while (wait4(child, &status, 0, &usage) < 0 && errno == EINTR) {
    }
    double wall_s = now() - started;
    /* Whatever the program left running (daemons, children) ends with it. Outside a PID
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
    return 0;
}
