#ifndef C_TOOZ_PLATFORM_H
#define C_TOOZ_PLATFORM_H

#include <spawn.h>

/// The signal the guard of `tooz lock`/`tooz elect` asks to receive when its parent dies:
/// a real-time signal on Linux (nothing else sends it), SIGUSR2 elsewhere.
int tooz_parent_death_signal(void);

/// prctl(PR_SET_PDEATHSIG, signal), which Swift cannot call because prctl is variadic.
/// Returns 0, or -1 with errno set (ENOSYS where the call does not exist).
int tooz_set_parent_death_signal(int signal);

/// prctl(PR_SET_CHILD_SUBREAPER, 1): orphaned descendants are reparented to the caller.
/// Returns 0, or -1 with errno set (ENOSYS where the call does not exist).
int tooz_set_child_subreaper(void);

/// Makes a wake-up pipe (both ends close-on-exec and non-blocking) and installs, for each of
/// `signals`, a handler that writes one byte to it. Returns the read end, or -1 with errno set.
/// A handler rather than sigwait: any thread may take a process-directed signal, and Swift's
/// async main parks the main thread in sigsuspend with an empty mask, where a blocked-elsewhere
/// SIGCHLD would be discarded and the parent-death signal would kill the process.
int tooz_make_signal_wakeup(const int *signals, int count);

/// posix_spawn_file_actions_addclosefrom_np(actions, from) where glibc has it (2.34 and later):
/// the child starts with no descriptor from `from` up, whatever the parent has open without
/// close-on-exec. Returns 0, or an error number (ENOSYS where the call does not exist).
int tooz_spawn_close_from(posix_spawn_file_actions_t *actions, int from);

#endif
