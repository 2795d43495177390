extension Duration {
    /// How long a test waits for something that is bound to happen: a session, an event, a
    /// lock that is being released. A guard against hangs, never a statement about speed, so
    /// it is generous enough for a loaded two-core machine that also builds in release mode.
    package static var testPatience: Duration { .seconds(60) }
}
