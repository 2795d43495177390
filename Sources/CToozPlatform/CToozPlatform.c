#include "CToozPlatform.h"

#include <errno.h>
#include <signal.h>

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
