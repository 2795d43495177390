import ArgumentParser
import CToozPlatform

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// `tooz __guard --parent PID -- CMD…`: the process that `tooz lock` and `tooz elect` put between
/// themselves and CMD, so that CMD never outlives tooz's lease. Hidden from help; not for users.
///
/// tooz spawns it as the leader of a new process group. The guard:
///
/// 1. asks the kernel for the parent-death signal, then checks that its parent is still
///    `--parent`: if tooz died before that, it exits 125 without starting CMD;
/// 2. starts CMD in its own process group (CMD's descendants are in it too, unless they move
///    out with setsid/setpgid), and becomes a child subreaper, so orphaned descendants are
///    reparented to it and reaped by it;
/// 3. ignores SIGINT, SIGTERM, SIGHUP and SIGQUIT: tooz sends those to the whole group, so CMD
///    gets them directly and the guard stays to report how CMD ended;
/// 4. when tooz dies (the parent-death signal, confirmed by `getppid()`), sends SIGKILL to the
///    whole group, itself included;
/// 5. when CMD ends, sends SIGTERM to what is left of the group and waits up to `--grace` for it
///    to end (tooz sends SIGKILL to the rest), then exits with CMD's status: its exit code, or
///    the same signal raised on itself, so tooz sees exactly what CMD did. When CMD cannot be
///    started it exits 127 (not found) or 126, with the one line tooz printed before.
///
/// SIGCHLD and the parent-death signal wake the guard through a handler that writes to a pipe
/// (see `tooz_make_signal_wakeup` for why not sigwait); a one-second poll timeout backs it up.
/// A thread of tooz that exits also delivers the parent-death signal (the kernel ties it to the
/// spawning thread); `getppid()` still names tooz then, and the guard carries on.
struct GuardCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "__guard",
        abstract: "Internal: keeps the command of `tooz lock`/`tooz elect` from outliving tooz.",
        shouldDisplay: false
    )

    /// The signals tooz passes on to the command's group, which the guard itself ignores.
    static let passedOn: [Int32] = [SIGINT, SIGTERM, SIGHUP, SIGQUIT]

    @Option(help: "The pid of the tooz process that must be alive for the command to run.")
    var parent: Int32

    @Option(help: "Seconds to wait for what is left of the group after the command ends.")
    var grace: Double = 5

    @Flag(help: "Make this process group the terminal's foreground group (stdin is tooz's terminal).")
    var foreground = false

    @Argument(parsing: .postTerminator)
    var command: [String] = []

    func validate() throws {
        if command.isEmpty { throw ValidationError("missing the command: tooz __guard --parent PID -- CMD [ARG...]") }
        if !isValidCommandLineDuration(grace) {
            throw ValidationError("--grace must be a number of seconds from 0 to \(Int(longestCommandLineSeconds))")
        }
    }

    func run() throws {
        for number in Self.passedOn { signal(number, SIG_IGN) }
        let deathSignal = tooz_parent_death_signal()
        let wakeup = [SIGCHLD, deathSignal].withUnsafeBufferPointer {
            tooz_make_signal_wakeup($0.baseAddress, Int32($0.count))
        }
        guard wakeup >= 0 else {
            throw CLIFailure(.software, "__guard: cannot install signal handlers: \(Platform.errorDescription(errno))")
        }
        _ = tooz_set_parent_death_signal(deathSignal)
        // Set before the check: tooz dying from here on delivers the signal.
        guard getppid() == parent else {
            throw CLIFailure(.guardOrphaned, "__guard: process \(parent) is not the parent any more; not starting \(command[0])")
        }
        _ = tooz_set_child_subreaper()
        if foreground {
            // A background group may take the terminal only with SIGTTOU ignored; CMD must not
            // inherit the ignored disposition, so it is restored before CMD starts.
            signal(SIGTTOU, SIG_IGN)
            _ = tcsetpgrp(0, getpgrp())
            signal(SIGTTOU, SIG_DFL)
        }

        let child = try ChildProcess.spawn(command)
        let termination = waitForCommand(pid: child.pid, wakeup: wakeup)
        Self.exit(like: termination)
    }

    /// Waits for CMD, then for the rest of the group (up to `grace`); SIGKILLs the whole group
    /// when tooz is gone.
    private func waitForCommand(pid: pid_t, wakeup: Int32) -> ChildTermination {
        var termination: ChildTermination?
        var sweepDeadline: UInt64?
        while true {
            if getppid() != parent {
                // tooz is gone: its lease may pass to someone else at any moment.
                kill(0, SIGKILL)
                _exit(ExitStatus.guardOrphaned.rawValue)
            }
            var anyChildLeft = true
            while true {
                var status: Int32 = 0
                let result = waitpid(-1, &status, WNOHANG)
                if result == pid { termination = ChildProcess.decode(status) }
                if result > 0 { continue }
                if result == -1, errno == EINTR { continue }
                anyChildLeft = result == 0
                break
            }
            if let termination {
                if !anyChildLeft { return termination }
                let now = Platform.monotonicNanoseconds()
                if let deadline = sweepDeadline {
                    if now >= deadline { return termination }
                } else {
                    // CMD has ended and left descendants behind: they must end with it.
                    kill(0, SIGTERM)
                    sweepDeadline = now + UInt64(grace * 1e9)
                }
            }
            waitForSignal(wakeup, upTo: sweepDeadline)
        }
    }

    /// Sleeps until a signal writes to the wake-up pipe, for at most a second (a backstop: every
    /// state change also comes with a signal), or until `deadline`.
    private func waitForSignal(_ wakeup: Int32, upTo deadline: UInt64?) {
        var nanoseconds: UInt64 = 1_000_000_000
        if let deadline {
            let now = Platform.monotonicNanoseconds()
            nanoseconds = min(nanoseconds, deadline > now ? deadline - now : 0)
        }
        var entry = pollfd(fd: wakeup, events: Int16(POLLIN), revents: 0)
        _ = poll(&entry, 1, Int32((nanoseconds + 999_999) / 1_000_000))
        var drain = [UInt8](repeating: 0, count: 64)
        while read(wakeup, &drain, drain.count) > 0 {}
    }

    /// Exits the way CMD did: with its exit code, or killed by the same signal (without a core dump).
    static func exit(like termination: ChildTermination) -> Never {
        switch termination {
        case .exited(let code):
            _exit(code)
        case .signalled(let number):
            var noCore = rlimit(rlim_cur: 0, rlim_max: 0)
            #if canImport(Glibc)
            _ = setrlimit(__rlimit_resource_t(RLIMIT_CORE.rawValue), &noCore)
            #else
            _ = setrlimit(RLIMIT_CORE, &noCore)
            #endif
            signal(number, SIG_DFL)
            var only = sigset_t()
            sigemptyset(&only)
            sigaddset(&only, number)
            pthread_sigmask(SIG_UNBLOCK, &only, nil)
            raise(number)
            _exit(128 + number)
        }
    }
}
