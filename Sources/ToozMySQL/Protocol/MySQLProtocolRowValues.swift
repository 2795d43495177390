import Tooz

extension MySQLRow {
    /// The value at `index` as bytes; `nil` for NULL or a column the row does not have.
    package func bytes(_ index: Int) -> [UInt8]? {
        guard self.values.indices.contains(index) else { return nil }
        return self.values[index]
    }

    /// The value at `index` as text (UTF-8; invalid bytes are replaced); `nil` for NULL or a
    /// column the row does not have.
    package func string(_ index: Int) -> String? {
        self.bytes(index).map { String(decoding: $0, as: UTF8.self) }
    }

    /// The value at `index` read as a decimal integer; `nil` for NULL.
    ///
    /// - Parameter what: what the value is, for the error message (`"the lock's owner"`).
    /// - Throws: `backendError` when the value is not a decimal `Int64`, or the row has no such column.
    package func int64(_ index: Int, _ what: String) throws(ToozError) -> Int64? {
        guard self.values.indices.contains(index) else {
            throw ToozError(.backendError, "MySQL answered \(what) with a row of \(self.values.count) values, not \(index + 1)")
        }
        guard let bytes = self.values[index] else { return nil }
        guard let value = Self.parseInt64(bytes) else {
            throw ToozError(.backendError, "MySQL answered \(what) with a value that is not an integer")
        }
        return value
    }

    /// `[+-]digits` into an `Int64`; `nil` for anything else or an overflow.
    package static func parseInt64(_ bytes: [UInt8]) -> Int64? {
        var digits = bytes[...]
        var negative = false
        if let sign = digits.first, sign == UInt8(ascii: "-") || sign == UInt8(ascii: "+") {
            negative = sign == UInt8(ascii: "-")
            digits = digits.dropFirst()
        }
        guard !digits.isEmpty, digits.count <= 19 + 1 else { return nil }
        // Accumulate negatively: Int64.min has no positive counterpart.
        var value: Int64 = 0
        for byte in digits {
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
            let (times10, o1) = value.multipliedReportingOverflow(by: 10)
            let (next, o2) = times10.subtractingReportingOverflow(Int64(byte &- UInt8(ascii: "0")))
            guard !o1, !o2 else { return nil }
            value = next
        }
        if negative { return value }
        let (positive, overflow) = Int64(0).subtractingReportingOverflow(value)
        return overflow ? nil : positive
    }
}
