import Logging
import Synchronization

extension Coordinator {
    /// Turns what a backend reports into lease and membership states. Called from the backend's
    /// own threads (event-loop callbacks): only state changes and wake-ups happen here.
    package func handle(_ signal: BackendSignal) {
        let (leases, memberships) = state.withLock { (Array($0.leases.values), Array($0.memberships.values)) }
        let now = clock.now()
        logger.debug("backend signal", metadata: ["tooz_signal": "\(signal)"])
        switch signal {
        case .connectionInterrupted:
            for lease in leases {
                if let change = lease.update({ $0.doubted(now: now) }) { noteLeaseChange(lease, change) }
            }
            for membership in memberships {
                if let change = membership.update({ $0.doubted(now: now) }) { noteMembershipChange(membership, change) }
            }
        case .connectionRestored:
            for lease in leases { lease.cell.schedule { $0.reassure(now: now) } }
            heartbeatNeeded.notifyAll()
        case .sessionExpired:
            for lease in leases {
                if let change = lease.update({ $0.sessionEnded() }) { noteLeaseChange(lease, change) }
            }
            for membership in memberships {
                if let change = membership.update({ $0.sessionEnded() }) { noteMembershipChange(membership, change) }
            }
            heartbeatNeeded.notifyAll()
        case .grantLost(let token):
            for lease in leases where lease.grant.owner.token == token {
                if let change = lease.update({ $0.revoked() }) { noteLeaseChange(lease, change) }
            }
        }
        leasesChanged.notifyAll()
    }
}
