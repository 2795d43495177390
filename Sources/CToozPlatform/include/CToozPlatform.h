#ifndef C_TOOZ_PLATFORM_H
#define C_TOOZ_PLATFORM_H

/// The signal the guard of `tooz lock`/`tooz elect` asks to receive when its parent dies:
/// a real-time signal on Linux (nothing else sends it), SIGUSR2 elsewhere.
int tooz_parent_death_signal(void);

/// prctl(PR_SET_PDEATHSIG, signal), which Swift cannot call because prctl is variadic.
/// Returns 0, or -1 with errno set (ENOSYS where the call does not exist).
int tooz_set_parent_death_signal(int signal);

/// prctl(PR_SET_CHILD_SUBREAPER, 1): orphaned descendants are reparented to the caller.
/// Returns 0, or -1 with errno set (ENOSYS where the call does not exist).
int tooz_set_child_subreaper(void);

#endif
