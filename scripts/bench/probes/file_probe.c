/* file_probe: the floor of each file:// row of scripts/bench/compare, with plain system calls
 * on a directory of the same file system that the file:// URL points at.
 *
 *   file_probe DIRECTORY ITERATIONS
 *
 * Prints one JSON object per row (see probe_common.h):
 *   ping     stat() of the directory (what swift-tooz's file:// ping does).
 *   lock     open(O_RDWR|O_CREAT) + fcntl(F_OFD_SETLK, F_WRLCK) + fcntl(F_OFD_SETLK, F_UNLCK)
 *            + close: one cycle on a lock file (tooz's file driver, through fasteners, does the
 *            same with a classic fcntl lock: open, lockf, unlock, close).
 *   handoff  A holds the OFD lock; B (a thread, its own open file description) blocks in
 *            F_OFD_SETLKW; after 20 ms A unlocks: timed from just before A's unlock until B's
 *            F_OFD_SETLKW returns (one kernel wake-up of a blocked thread).
 *   join     open(O_WRONLY|O_CREAT|O_TRUNC) + write(128 bytes) + close of the member's file;
 *   members  opendir + readdir of the group's directory, and open + read + close of each member
 *            file (tooz's file driver must read them: the names are hashes of the member ids);
 *   leave    unlink of the member's file.
 * Each row but handoff is preceded by min(10, n/10) untimed cycles, as in `tooz bench`.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>

#include "probe_common.h"

static char lock_path[4096], group_dir[4096], member_path[4200];

static void ofd_lock(int fd, short type, int wait) {
    struct flock fl = {0};
    fl.l_type = type;
    fl.l_whence = SEEK_SET;
    while (fcntl(fd, wait ? F_OFD_SETLKW : F_OFD_SETLK, &fl) < 0) {
        if (errno == EINTR) continue;
        probe_die("fcntl(F_OFD_SETLK)");
    }
}

static void lock_cycle(void) {
    int fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) probe_die("open");
    ofd_lock(fd, F_WRLCK, 0);
    ofd_lock(fd, F_UNLCK, 0);
    close(fd);
}

/* The hand-off's waiter. */
static void *waiter(void *arg) {
    (void)arg;
    for (;;) {
        if (probe_wait_state(1, -1) == -1) break;
        int fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        if (fd < 0) probe_die("open");
        probe_set_state(2);
        ofd_lock(fd, F_WRLCK, 1);
        probe_acquired_at = probe_now_ns();
        ofd_lock(fd, F_UNLCK, 0);
        close(fd);
        probe_set_state(3);
    }
    return NULL;
}

static void join_once(void) {
    static char blob[128];
    memset(blob, 'x', sizeof blob);
    int fd = open(member_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) probe_die("open");
    if (write(fd, blob, sizeof blob) != (ssize_t)sizeof blob) probe_die("write");
    close(fd);
}

static int members_once(void) {
    DIR *dir = opendir(group_dir);
    if (!dir) probe_die("opendir");
    struct dirent *entry;
    int count = 0;
    char path[8192], buf[4096];
    while ((entry = readdir(dir)) != NULL) {
        size_t len = strlen(entry->d_name);
        if (len < 4 || strcmp(entry->d_name + len - 4, ".raw") != 0) continue;
        snprintf(path, sizeof path, "%s/%s", group_dir, entry->d_name);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) continue;
        if (read(fd, buf, sizeof buf) < 0) probe_die("read");
        close(fd);
        count++;
    }
    closedir(dir);
    return count;
}

static void leave_once(void) {
    if (unlink(member_path) < 0) probe_die("unlink");
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: file_probe DIRECTORY ITERATIONS\n");
        return 2;
    }
    const char *base = argv[1];
    int n = atoi(argv[2]);
    if (n < 1) n = 1;
    int warmup = n / 10 < 1 ? 1 : (n / 10 > 10 ? 10 : n / 10);
    long long *samples = calloc((size_t)n, sizeof *samples);
    if (!samples) probe_die("calloc");
    snprintf(lock_path, sizeof lock_path, "%s/probe-%d.lock", base, (int)getpid());
    snprintf(group_dir, sizeof group_dir, "%s/probe-%d-group", base, (int)getpid());
    snprintf(member_path, sizeof member_path, "%s/member-a.raw", group_dir);
    if (mkdir(group_dir, 0755) < 0 && errno != EEXIST) probe_die("mkdir");

    struct stat st;
    for (int i = -warmup; i < n; i++) {
        long long start = probe_now_ns();
        if (stat(base, &st) < 0) probe_die("stat");
        if (i >= 0) samples[i] = probe_now_ns() - start;
    }
    probe_report("ping", "stat of the directory", samples, n);

    for (int i = -warmup; i < n; i++) {
        long long start = probe_now_ns();
        lock_cycle();
        if (i >= 0) samples[i] = probe_now_ns() - start;
    }
    probe_report("lock", "open + F_OFD_SETLK lock + unlock + close", samples, n);

    int handoffs = n < 50 ? n : 50;
    pthread_t thread;
    if (pthread_create(&thread, NULL, waiter, NULL) != 0) probe_die("pthread_create");
    int holder = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (holder < 0) probe_die("open");
    for (int i = 0; i < handoffs; i++) {
        ofd_lock(holder, F_WRLCK, 0);
        probe_set_state(1);
        probe_wait_state(2, 2);
        struct timespec pause = {0, 20 * 1000 * 1000};
        nanosleep(&pause, NULL);
        long long released = probe_now_ns();
        ofd_lock(holder, F_UNLCK, 0);
        probe_wait_state(3, 3);
        samples[i] = probe_acquired_at - released;
    }
    probe_set_state(-1);
    pthread_join(thread, NULL);
    close(holder);
    probe_report("handoff", "F_OFD_SETLK unlock -> blocked F_OFD_SETLKW returns", samples, handoffs);

    int members = n < 100 ? n : 100;
    long long *join = calloc((size_t)members, sizeof *join), *list = calloc((size_t)members, sizeof *list),
              *leave = calloc((size_t)members, sizeof *leave);
    if (!join || !list || !leave) probe_die("calloc");
    for (int i = -2; i < members; i++) {
        long long t0 = probe_now_ns();
        join_once();
        long long t1 = probe_now_ns();
        if (members_once() != 1) {
            fprintf(stderr, "file_probe: the group does not list its one member\n");
            return 1;
        }
        long long t2 = probe_now_ns();
        leave_once();
        long long t3 = probe_now_ns();
        if (i < 0) continue;
        join[i] = t1 - t0;
        list[i] = t2 - t1;
        leave[i] = t3 - t2;
    }
    probe_report("join", "create + write + close member file", join, members);
    probe_report("members", "readdir + read each member file", list, members);
    probe_report("leave", "unlink member file", leave, members);

    unlink(lock_path);
    rmdir(group_dir);
    return 0;
}
