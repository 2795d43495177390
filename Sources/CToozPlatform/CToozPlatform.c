// For posix_spawn_file_actions_addclosefrom_np.
#define _GNU_SOURCE
#include "CToozPlatform.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#ifdef __linux__
#include <sys/prctl.h>
#endif

int tooz_parent_death_signal(void) {
#ifdef __linux__
    return SIGRTMIN + 3;
#else
    return SIGUSR2;
#endif
}

int tooz_set_parent_death_signal(int signal) {
#ifdef __linux__
    return prctl(PR_SET_PDEATHSIG, (unsigned long)signal, 0UL, 0UL, 0UL);
#else
    (void)signal;
    errno = ENOSYS;
    return -1;
#endif
}

int tooz_set_child_subreaper(void) {
#ifdef __linux__
    return prctl(PR_SET_CHILD_SUBREAPER, 1UL, 0UL, 0UL, 0UL);
#else
    errno = ENOSYS;
    return -1;
#endif
}

static volatile int tooz_wakeup_fd = -1;

static void tooz_wake(int signal) {
    int saved = errno;
    char byte = (char)signal;
    (void)!write(tooz_wakeup_fd, &byte, 1);
    errno = saved;
}

int tooz_make_signal_wakeup(const int *signals, int count) {
    int fds[2];
    if (pipe(fds) != 0) return -1;
    for (int i = 0; i < 2; i++) {
        if (fcntl(fds[i], F_SETFD, FD_CLOEXEC) != 0 || fcntl(fds[i], F_SETFL, O_NONBLOCK) != 0) {
            int saved = errno;
            close(fds[0]);
            close(fds[1]);
            errno = saved;
            return -1;
        }
    }
    tooz_wakeup_fd = fds[1];
    for (int i = 0; i < count; i++) {
        struct sigaction action;
        memset(&action, 0, sizeof action);
        action.sa_handler = tooz_wake;
        sigemptyset(&action.sa_mask);
        action.sa_flags = SA_RESTART | (signals[i] == SIGCHLD ? SA_NOCLDSTOP : 0);
        if (sigaction(signals[i], &action, NULL) != 0) return -1;
    }
    return fds[0];
}

int tooz_spawn_close_from(posix_spawn_file_actions_t *actions, int from) {
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 34))
    return posix_spawn_file_actions_addclosefrom_np(actions, from);
#else
    (void)actions;
    (void)from;
    return ENOSYS;
#endif
}
