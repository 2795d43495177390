// The zookeeper:// backend (issue 4): jute records, the session state machine and the client
// over SwiftNIO. See docs/ARCHITECTURE.md.
