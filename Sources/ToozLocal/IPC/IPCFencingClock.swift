#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The fencing tokens of the `ipc://` backend: readings of the host's `CLOCK_BOOTTIME`, in
/// nanoseconds, taken by the new holder after its decrement of the lock's semaphore succeeded.
///
/// Why they grow strictly from one holder of a lock to the next, in any process of the host:
///
/// 1. Holders of one lock are serialized by its semaphore. The previous holder read its token
///    while it held the unit, so before that unit came back (release or break removes the
///    semaphore; a crash makes `SEM_UNDO` return the unit) and therefore before our decrement
///    succeeded.
/// 2. `CLOCK_BOOTTIME` is one clock for the whole host (the kernel keeps it monotonic across
///    CPUs; NTP may slew it but never steps it back; it goes on counting during suspend). So a
///    reading we take after our decrement, `floor`, is at least the previous holder's token.
/// 3. Two readings can be equal on a clock with coarse resolution. The token is therefore the
///    first reading *strictly greater* than `floor`: on the usual nanosecond clock that is the
///    very next reading (tens of nanoseconds); on a tick-based clock it waits for one tick. This
///    holds even when the previous holder died right after minting its token.
///
/// A process in a Linux time namespace sees `CLOCK_BOOTTIME` shifted by its namespace's offset
/// (a restored container, for example), so the offset from `/proc/self/timens_offsets` is taken
/// off: every process compares readings of the same host clock.
///
/// The strength is that of the shared-memory counter this replaces: ``FencingStrength/hostLocal``
/// (comparable on one host, reset at reboot). Unlike it, minting needs no lock and no memory
/// shared between processes, so it costs two clock reads (vDSO, no system call).
enum IPCFencingClock {
    /// A token for the holder that has just decremented the lock's semaphore.
    static func token() -> UInt64 {
        let floor = now()
        var reading = now()
        while reading <= floor {
            // Only on a clock coarser than our reads: let others run until it ticks.
            sched_yield()
            reading = now()
        }
        return reading
    }

    /// The host's `CLOCK_BOOTTIME` in nanoseconds, outside any time namespace.
    static func now() -> UInt64 {
        var time = timespec()
        // Cannot fail: the clock id is valid and the pointer is ours.
        clock_gettime(CLOCK_BOOTTIME, &time)
        let nanoseconds = Int64(time.tv_sec) &* 1_000_000_000 &+ Int64(time.tv_nsec) &- namespaceOffset
        return nanoseconds > 0 ? UInt64(bitPattern: nanoseconds) : 0
    }

    /// What this process's time namespace adds to `CLOCK_BOOTTIME`, in nanoseconds; 0 outside
    /// a time namespace, or when the kernel has none (no `/proc/self/timens_offsets`).
    static let namespaceOffset: Int64 = {
        guard let file = fopen("/proc/self/timens_offsets", "r") else { return 0 }
        defer { fclose(file) }
        var text = ""
        var buffer = [CChar](repeating: 0, count: 256)
        while fgets(&buffer, Int32(buffer.count), file) != nil {
            text += String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        }
        return boottimeOffset(inTimeNamespaceOffsets: text) ?? 0
    }()

    /// The `boottime` line of `/proc/PID/timens_offsets` ("boottime <seconds> <nanoseconds>",
    /// seconds possibly negative) in nanoseconds; `nil` when there is no such line or it does
    /// not parse.
    static func boottimeOffset(inTimeNamespaceOffsets text: String) -> Int64? {
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard fields.count == 3, fields[0] == "boottime" || fields[0] == "\(CLOCK_BOOTTIME)" else { continue }
            guard let seconds = Int64(fields[1]), let nanoseconds = Int64(fields[2]) else { return nil }
            let (scaled, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
            guard !overflow else { return nil }
            return scaled &+ nanoseconds
        }
        return nil
    }
}
