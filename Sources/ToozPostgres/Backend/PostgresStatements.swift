import PostgresNIO

/// A statement whose text never changes (keys and the sequence's name are parameters), and how
/// its row reads.
protocol PostgresFixedStatement: Sendable {
    associatedtype Row: Sendable
    static var sql: String { get }
    var bindings: PostgresBindings { get }
    func decode(_ row: PostgresRow) throws -> Row
}

/// The statements of a lock cycle and of `ping`.
enum PostgresStatements {
    /// `SELECT 1`: the cheapest round trip.
    struct Ping: PostgresFixedStatement {
        static let sql = "SELECT 1"
        typealias Row = Int32
        var bindings: PostgresBindings { PostgresBindings() }
        func decode(_ row: PostgresRow) throws -> Int32 { try row.decode(Int32.self) }
    }

    /// One attempt on a two-int4 key; the fencing token when taken, NULL when busy.
    struct TryLockPair: PostgresFixedStatement {
        static let sql = "SELECT CASE WHEN pg_try_advisory_lock($1::int4, $2::int4) THEN nextval($3::text::regclass) END"
        typealias Row = Int64?
        let first: Int32
        let second: Int32
        let sequence: String
        var bindings: PostgresBindings {
            var binds = PostgresBindings(capacity: 3)
            binds.append(first)
            binds.append(second)
            binds.append(sequence)
            return binds
        }
        func decode(_ row: PostgresRow) throws -> Int64? { try row.decode(Int64?.self) }
    }

    /// One attempt on an int8 key.
    struct TryLockSingle: PostgresFixedStatement {
        static let sql = "SELECT CASE WHEN pg_try_advisory_lock($1::int8) THEN nextval($2::text::regclass) END"
        typealias Row = Int64?
        let key: Int64
        let sequence: String
        var bindings: PostgresBindings {
            var binds = PostgresBindings(capacity: 2)
            binds.append(key)
            binds.append(sequence)
            return binds
        }
        func decode(_ row: PostgresRow) throws -> Int64? { try row.decode(Int64?.self) }
    }

    struct UnlockPair: PostgresFixedStatement {
        static let sql = "SELECT pg_advisory_unlock($1::int4, $2::int4)"
        typealias Row = Bool
        let first: Int32
        let second: Int32
        var bindings: PostgresBindings {
            var binds = PostgresBindings(capacity: 2)
            binds.append(first)
            binds.append(second)
            return binds
        }
        func decode(_ row: PostgresRow) throws -> Bool { try row.decode(Bool.self) }
    }

    struct UnlockSingle: PostgresFixedStatement {
        static let sql = "SELECT pg_advisory_unlock($1::int8)"
        typealias Row = Bool
        let key: Int64
        var bindings: PostgresBindings {
            var binds = PostgresBindings(capacity: 1)
            binds.append(key)
            return binds
        }
        func decode(_ row: PostgresRow) throws -> Bool { try row.decode(Bool.self) }
    }
}
