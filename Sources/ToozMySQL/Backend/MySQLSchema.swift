import Crypto

/// Our tables and the SQL that reads and writes them, in the URL's database.
///
/// - `<prefix>groups`: one row per group (groups outlive their members, as in tooz).
/// - `<prefix>members`: one row per membership with its msgpack capabilities and the **session
///   key** of the member's liveness connection. That connection holds the user lock
///   `tooz:session:<key>` for as long as it lives, so a member is alive exactly while
///   `IS_USED_LOCK` finds that lock: a killed process drops out as soon as the server notices
///   its connection closed, and a frozen one when the connection's `wait_timeout` (the
///   membership TTL) ends it.
/// - `<prefix>sessions`: which member each of our lock connections belongs to (by its
///   connection id, checked against the session lock it holds), so that a lock's holder can be
///   named.
/// - `<prefix>fencing`: where fencing tokens come from. On MariaDB a `SEQUENCE` (no commit per
///   token; a restart resumes past every value it handed out); on MySQL, which has no
///   sequences, one counter row bumped with `LAST_INSERT_ID(value + 1)`.
///
/// Values are hexadecimal literals (``MySQLLiteral``); the table prefix is checked by
/// ``MySQLConfiguration/isValidTablePrefix(_:)`` and is the only other text spliced into SQL.
package struct MySQLSchema: Sendable {
    package let prefix: String
    /// Whether the server is MariaDB (sequences) or MySQL (a counter row).
    package let hasSequences: Bool

    package init(prefix: String, hasSequences: Bool) {
        self.prefix = prefix
        self.hasSequences = hasSequences
    }

    var groups: String { "\(prefix)groups" }
    var members: String { "\(prefix)members" }
    var sessions: String { "\(prefix)sessions" }
    var fencing: String { "\(prefix)fencing" }

    // MARK: Names of user locks

    /// The user lock a liveness or lock connection holds for as long as it lives.
    package static func sessionLock(_ key: Int64) -> String { "tooz:session:\(key)" }

    /// What every name of ours starts with; lock names that start so are refused.
    package static let reservedLockPrefix = "tooz:"

    /// The user lock of a group's leadership: a digest of the database and the group, so that
    /// it stays under the 64-character limit and databases on one server do not share leaders.
    package static func leadershipLock(database: String, group: String) -> String {
        let digest = SHA256.hash(data: Array(database.utf8) + [0] + Array(group.utf8))
        let hex = digest.prefix(20).map { byte in
            let digits = Array("0123456789abcdef")
            return String([digits[Int(byte >> 4)], digits[Int(byte & 0x0F)]])
        }.joined()
        return "tooz:leader:\(hex)"
    }

    /// SQL that is true while the session of a row's `session_key` lives.
    private func isLive(_ table: String) -> String {
        "IS_USED_LOCK(CONCAT('tooz:session:', \(table).session_key)) IS NOT NULL"
    }

    // MARK: Migration

    /// How many of our tables exist (one read, so a user without CREATE can use tables
    /// someone else made).
    package var countTables: String {
        """
        SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = DATABASE()
           AND table_name IN ('\(groups)', '\(members)', '\(sessions)', '\(fencing)')
        """
    }

    package static let tableCount = 4

    /// Creates what is missing; each statement is idempotent, so concurrent first users do not
    /// conflict.
    package var migration: String {
        var statements = [
            "CREATE TABLE IF NOT EXISTS \(groups) (name VARBINARY(1024) NOT NULL PRIMARY KEY) ENGINE=InnoDB",
            """
            CREATE TABLE IF NOT EXISTS \(members) (
                group_name VARBINARY(1024) NOT NULL, member VARBINARY(1024) NOT NULL, capabilities LONGBLOB NOT NULL,
                session_key BIGINT UNSIGNED NOT NULL, PRIMARY KEY (group_name, member)) ENGINE=InnoDB
            """,
            """
            CREATE TABLE IF NOT EXISTS \(sessions) (
                connection_id BIGINT UNSIGNED NOT NULL PRIMARY KEY, session_key BIGINT UNSIGNED NOT NULL,
                member VARBINARY(1024) NOT NULL) ENGINE=InnoDB
            """,
        ]
        if hasSequences {
            statements.append("CREATE SEQUENCE IF NOT EXISTS \(fencing) ENGINE=InnoDB")
        } else {
            statements.append("CREATE TABLE IF NOT EXISTS \(fencing) (id TINYINT NOT NULL PRIMARY KEY, value BIGINT UNSIGNED NOT NULL) ENGINE=InnoDB")
            statements.append("INSERT IGNORE INTO \(fencing) (id, value) VALUES (1, 0)")
        }
        return statements.joined(separator: ";\n")
    }

    /// Forgets the sessions whose connections are gone (rows of killed processes).
    package var pruneSessions: String {
        "DELETE FROM \(sessions) WHERE IS_USED_LOCK(CONCAT('tooz:session:', session_key)) IS NULL"
    }

    // MARK: Groups

    /// Affected rows: 1 when created, 0 when it existed.
    package func createGroup(_ group: String) -> String {
        "INSERT INTO \(groups) (name) VALUES (\(MySQLLiteral.binary(group))) ON DUPLICATE KEY UPDATE name = name"
    }

    /// Three results: whether the group existed (a row), the group deletion (affected rows: 1
    /// when deleted, 0 when a live member kept it), and the deletion of its dead members' rows.
    package func deleteGroup(_ group: String) -> String {
        let name = MySQLLiteral.binary(group)
        return """
            SELECT COUNT(*) FROM \(groups) WHERE name = \(name);
            DELETE FROM \(groups) WHERE name = \(name)
               AND NOT EXISTS (SELECT 1 FROM \(members) m WHERE m.group_name = \(name) AND \(isLive("m")));
            DELETE FROM \(members) WHERE group_name = \(name) AND NOT EXISTS (SELECT 1 FROM \(groups) g WHERE g.name = \(name))
            """
    }

    package var listGroups: String { "SELECT name FROM \(groups)" }

    /// Two results: the insert (affected rows 1 when inserted, 2 when it took over the row of a
    /// dead session, 0 when a live member holds the id or the group is missing) and whether
    /// the group exists.
    package func join(_ group: String, member: String, capabilities: [UInt8], sessionKey: Int64) -> String {
        let name = MySQLLiteral.binary(group)
        let dead = "IS_USED_LOCK(CONCAT('tooz:session:', \(members).session_key)) IS NULL"
        return """
            INSERT INTO \(members) (group_name, member, capabilities, session_key)
            SELECT name, \(MySQLLiteral.binary(member)), \(MySQLLiteral.binary(capabilities)), \(sessionKey) FROM \(groups) WHERE name = \(name)
            ON DUPLICATE KEY UPDATE
                capabilities = IF(\(dead), VALUES(capabilities), \(members).capabilities),
                session_key = IF(\(dead), VALUES(session_key), \(members).session_key);
            SELECT COUNT(*) FROM \(groups) WHERE name = \(name)
            """
    }

    /// Two results: the deletion (affected rows) and whether the group exists.
    package func leave(_ group: String, member: String) -> String {
        let name = MySQLLiteral.binary(group)
        return """
            DELETE FROM \(members) WHERE group_name = \(name) AND member = \(MySQLLiteral.binary(member));
            SELECT COUNT(*) FROM \(groups) WHERE name = \(name)
            """
    }

    /// One row per live member, or one row with a NULL member when there is none; the first
    /// column says whether the group exists.
    package func members(of group: String, withCapabilities: Bool) -> String {
        let name = MySQLLiteral.binary(group)
        return """
            SELECT g.name IS NOT NULL, m.member\(withCapabilities ? ", m.capabilities" : "")
              FROM (SELECT 1) one
              LEFT JOIN \(groups) g ON g.name = \(name)
              LEFT JOIN \(members) m ON g.name IS NOT NULL AND m.group_name = \(name) AND \(isLive("m"))
            """
    }

    /// One row: whether the group exists, and the live member's capabilities or NULL.
    package func capabilities(of member: String, in group: String) -> String {
        let name = MySQLLiteral.binary(group)
        return """
            SELECT EXISTS (SELECT 1 FROM \(groups) WHERE name = \(name)),
                   (SELECT m.capabilities FROM \(members) m
                     WHERE m.group_name = \(name) AND m.member = \(MySQLLiteral.binary(member)) AND \(isLive("m")))
            """
    }

    /// Two results: the update, then one row: whether the group exists and whether the live
    /// member is there (an update to equal capabilities changes no row).
    package func updateCapabilities(_ capabilities: [UInt8], of member: String, in group: String) -> String {
        let name = MySQLLiteral.binary(group)
        let id = MySQLLiteral.binary(member)
        return """
            UPDATE \(members) m SET m.capabilities = \(MySQLLiteral.binary(capabilities))
             WHERE m.group_name = \(name) AND m.member = \(id) AND \(isLive("m"));
            SELECT EXISTS (SELECT 1 FROM \(groups) WHERE name = \(name)),
                   EXISTS (SELECT 1 FROM \(members) m WHERE m.group_name = \(name) AND m.member = \(id) AND \(isLive("m")))
            """
    }

    /// The groups, among `groupNames`, where the member's row is there on this session, in a
    /// group that exists.
    package func heartbeat(member: String, sessionKey: Int64, groups groupNames: [String]) -> String {
        let list = groupNames.map { MySQLLiteral.binary($0) }.joined(separator: ", ")
        return """
            SELECT m.group_name FROM \(members) m JOIN \(groups) g ON g.name = m.group_name
             WHERE m.member = \(MySQLLiteral.binary(member)) AND m.session_key = \(sessionKey) AND m.group_name IN (\(list))
            """
    }

    // MARK: Sessions and locks

    /// Starts a liveness connection: its idle limit (the membership TTL) and its session lock.
    /// Results: the `SET`, then one row, 1 when the session lock was taken.
    package func startLivenessSession(key: Int64, idleSeconds: Int64) -> String {
        "SET SESSION wait_timeout = \(idleSeconds); SELECT GET_LOCK(\(MySQLLiteral.binary(Self.sessionLock(key))), 0)"
    }

    /// Starts a lock connection: its session lock, and a row naming its member. Results: one
    /// row (1 when the session lock was taken), then the insert.
    package func registerLockSession(key: Int64, member: String) -> String {
        """
        SELECT GET_LOCK(\(MySQLLiteral.binary(Self.sessionLock(key))), 0);
        INSERT INTO \(sessions) (connection_id, session_key, member) VALUES (CONNECTION_ID(), \(key), \(MySQLLiteral.binary(member)))
        ON DUPLICATE KEY UPDATE session_key = VALUES(session_key), member = VALUES(member)
        """
    }

    /// Sets the connection's idle limit: the lease the server enforces.
    package static func setIdleLimit(_ seconds: Int64) -> String {
        "SET SESSION wait_timeout = \(seconds)"
    }

    /// One attempt on `lock`, not waiting. The last result is one row of one column: the fencing
    /// token (> 0) when it was taken, 0 when it is busy, NULL when `GET_LOCK` failed. On MariaDB
    /// one statement (`CASE` evaluates `GET_LOCK` once, and `NEXTVAL` only when it was taken):
    /// measured, it costs the server a few microseconds over a bare `GET_LOCK`, where three
    /// statements cost 25 µs more.
    package func tryAcquire(_ lock: [UInt8]) -> String {
        let name = MySQLLiteral.binary(lock)
        if hasSequences {
            return "SELECT CASE GET_LOCK(\(name), 0) WHEN 1 THEN NEXTVAL(\(fencing)) WHEN 0 THEN 0 END"
        }
        return """
            SET @tooz_granted = GET_LOCK(\(name), 0);
            UPDATE \(fencing) SET value = LAST_INSERT_ID(value + 1) WHERE id = 1 AND @tooz_granted = 1;
            SELECT CASE @tooz_granted WHEN 1 THEN LAST_INSERT_ID() WHEN 0 THEN 0 END
            """
    }

    /// A wait for `lock` in the server of at most `wait` seconds (as ``MySQLLiteral/seconds(_:)``
    /// writes them), and the fencing token when it was taken. The last result is one row:
    /// `GET_LOCK`'s answer (1 taken, 0 timed out, NULL on error) and the token or NULL.
    package func waitAcquire(_ lock: [UInt8], wait: String) -> String {
        let take = "SET @tooz_granted = GET_LOCK(\(MySQLLiteral.binary(lock)), \(wait))"
        if hasSequences {
            return "\(take); SELECT @tooz_granted, IF(@tooz_granted = 1, NEXTVAL(\(fencing)), NULL)"
        }
        return """
            \(take);
            UPDATE \(fencing) SET value = LAST_INSERT_ID(value + 1) WHERE id = 1 AND @tooz_granted = 1;
            SELECT @tooz_granted, IF(@tooz_granted = 1, LAST_INSERT_ID(), NULL)
            """
    }

    /// One row: 1 while this connection holds `lock`. Also restarts the server's idle timer of
    /// the connection, which is what extends the lease.
    package static func holds(_ lock: [UInt8]) -> String {
        "SELECT IS_USED_LOCK(\(MySQLLiteral.binary(lock))) = CONNECTION_ID()"
    }

    /// One row: 1 released, 0 held by another session, NULL not held at all.
    package static func release(_ lock: [UInt8]) -> String {
        "SELECT RELEASE_LOCK(\(MySQLLiteral.binary(lock)))"
    }

    /// One row, the member whose lock connection holds `lock`, when it is one of ours.
    package func holder(_ lock: [UInt8]) -> String {
        """
        SELECT s.member FROM \(sessions) s
         WHERE s.connection_id = IS_USED_LOCK(\(MySQLLiteral.binary(lock)))
           AND IS_USED_LOCK(CONCAT('tooz:session:', s.session_key)) = s.connection_id
        """
    }

    /// One row: the connection id holding `lock`, or NULL.
    package static func holderConnection(_ lock: [UInt8]) -> String {
        "SELECT IS_USED_LOCK(\(MySQLLiteral.binary(lock)))"
    }
}
