/* ipc_probe: the floor of each ipc:// row of scripts/bench/compare: a System V semaphore of
 * its own (IPC_PRIVATE, value 1), removed at exit.
 *
 *   ipc_probe ITERATIONS
 *
 * Prints one JSON object per row (see probe_common.h):
 *   ping     semctl(GETVAL): one System V call (swift-tooz's ipc:// ping is one shmget).
 *   lock     semop(-1, SEM_UNDO) + semop(+1, SEM_UNDO): acquire and release of an existing
 *            semaphore. (tooz's ipc driver does more per cycle: semget(IPC_CREAT|IPC_EXCL) or
 *            semget of the existing one, semctl(SETVAL) when it made it, semop, and at release
 *            semctl(IPC_RMID), as sysv_ipc's Semaphore(...).acquire() / remove().)
 *   lock_tooz one cycle in tooz's layout, which swift-tooz keeps for compatibility: the
 *            semaphore is made for the acquisition and removed at release: semget(IPC_CREAT |
 *            IPC_EXCL) + semctl(SETVAL, 1) + semop(-1, SEM_UNDO) + semctl(IPC_RMID) (an
 *            IPC_PRIVATE one here, so that no key of anyone else's can collide).
 *   handoff  A holds (value 0); B (a thread) blocks in semop(-1); after 20 ms A releases with
 *            semop(+1): timed from just before A's semop until B's returns.
 * ipc:// has no groups in tooz, so no join / members / leave rows.
 * The ping and lock rows are preceded by min(10, n/10) untimed cycles, as in `tooz bench`.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <sys/ipc.h>
#include <sys/sem.h>
#include <unistd.h>

#include "probe_common.h"

static int semid = -1;
static volatile int cycle_semid = -1; /* lock_tooz's semaphore of the moment */

static void remove_semaphore(void) {
    if (semid >= 0) semctl(semid, 0, IPC_RMID);
    semid = -1;
}

static void on_signal(int sig) {
    if (semid >= 0) semctl(semid, 0, IPC_RMID);
    if (cycle_semid >= 0) semctl(cycle_semid, 0, IPC_RMID);
    signal(sig, SIG_DFL);
    raise(sig);
}

static void sem_add(int delta) {
    struct sembuf op = {0, (short)delta, SEM_UNDO};
    while (semop(semid, &op, 1) < 0) {
        if (errno == EINTR) continue;
        probe_die("semop");
    }
}

/* The hand-off's waiter. */
static void *waiter(void *arg) {
    (void)arg;
    for (;;) {
        if (probe_wait_state(1, -1) == -1) break;
        probe_set_state(2);
        sem_add(-1);
        probe_acquired_at = probe_now_ns();
        sem_add(+1);
        probe_set_state(3);
    }
    return NULL;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: ipc_probe ITERATIONS\n");
        return 2;
    }
    int n = atoi(argv[1]);
    if (n < 1) n = 1;
    int warmup = n / 10 < 1 ? 1 : (n / 10 > 10 ? 10 : n / 10);
    long long *samples = calloc((size_t)n, sizeof *samples);
    if (!samples) probe_die("calloc");

    semid = semget(IPC_PRIVATE, 1, IPC_CREAT | 0600);
    if (semid < 0) probe_die("semget");
    atexit(remove_semaphore);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    signal(SIGHUP, on_signal);
    if (semctl(semid, 0, SETVAL, 1) < 0) probe_die("semctl(SETVAL)");

    for (int i = -warmup; i < n; i++) {
        long long start = probe_now_ns();
        if (semctl(semid, 0, GETVAL) < 0) probe_die("semctl(GETVAL)");
        if (i >= 0) samples[i] = probe_now_ns() - start;
    }
    probe_report("ping", "semctl GETVAL", samples, n);

    for (int i = -warmup; i < n; i++) {
        long long start = probe_now_ns();
        sem_add(-1);
        sem_add(+1);
        if (i >= 0) samples[i] = probe_now_ns() - start;
    }
    probe_report("lock", "semop acquire + semop release", samples, n);

    for (int i = -warmup; i < n; i++) {
        long long start = probe_now_ns();
        int id = semget(IPC_PRIVATE, 1, IPC_CREAT | IPC_EXCL | 0600);
        if (id < 0) probe_die("semget");
        cycle_semid = id;
        if (semctl(id, 0, SETVAL, 1) < 0) probe_die("semctl(SETVAL)");
        struct sembuf op = {0, -1, SEM_UNDO};
        if (semop(id, &op, 1) < 0) probe_die("semop");
        if (semctl(id, 0, IPC_RMID) < 0) probe_die("semctl(IPC_RMID)");
        cycle_semid = -1;
        if (i >= 0) samples[i] = probe_now_ns() - start;
    }
    probe_report("lock_tooz", "semget IPC_EXCL + SETVAL + semop + IPC_RMID", samples, n);

    int handoffs = n < 50 ? n : 50;
    pthread_t thread;
    if (pthread_create(&thread, NULL, waiter, NULL) != 0) probe_die("pthread_create");
    for (int i = 0; i < handoffs; i++) {
        sem_add(-1);
        probe_set_state(1);
        probe_wait_state(2, 2);
        struct timespec pause = {0, 20 * 1000 * 1000};
        nanosleep(&pause, NULL);
        long long released = probe_now_ns();
        sem_add(+1);
        probe_wait_state(3, 3);
        samples[i] = probe_acquired_at - released;
    }
    probe_set_state(-1);
    pthread_join(thread, NULL);
    probe_report("handoff", "semop release -> blocked semop returns", samples, handoffs);
    return 0;
}
