/// The figures of one `tooz bench` run and how they are printed.
struct BenchReport: Sendable {
    /// One measured operation, or one the backend cannot do.
    struct Row: Sendable {
        var key: String
        var title: String
        /// Latencies in nanoseconds; empty when not supported.
        var samples: [Int64]
        /// Why the row was skipped.
        var skipped: String?

        var sorted: [Int64] { samples.sorted() }

        var median: Int64? {
            let sorted = self.sorted
            guard !sorted.isEmpty else { return nil }
            let middle = sorted.count / 2
            return sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
        }

        var p90: Int64? {
            let sorted = self.sorted
            guard !sorted.isEmpty else { return nil }
            let rank = Int((Double(sorted.count) * 0.9).rounded(.up)) - 1
            return sorted[min(max(rank, 0), sorted.count - 1)]
        }
    }

    var url: String
    var backend: String
    var fencing: String
    var events: String
    var leases: String
    var rows: [Row] = []

    /// The raw round trip every other row is compared with.
    var baseline: Int64? { rows.first { $0.key == "ping" }?.median }

    /// `median / baseline`, when the baseline is measurable at all (a backend whose ping does
    /// nothing has no round trip to compare with).
    func ratio(_ row: Row) -> Double? {
        guard let median = row.median, let baseline, baseline >= 100 else { return nil }
        return Double(median) / Double(baseline)
    }

    var table: String {
        var lines = [
            "tooz bench on \(url): \(backend) backend, fencing \(fencing), events \(events), \(leases) leases",
            pad("operation", 34) + padLeft("n", 6) + padLeft("median", 12) + padLeft("p90", 12) + padLeft("× round trip", 14),
        ]
        for row in rows {
            guard let median = row.median, let p90 = row.p90 else {
                lines.append(pad(row.title, 34) + "   " + (row.skipped ?? "no samples"))
                continue
            }
            let ratio = self.ratio(row).map { BenchReport.format(ratio: $0) } ?? "—"
            lines.append(
                pad(row.title, 34) + padLeft(String(row.samples.count), 6)
                    + padLeft(BenchReport.format(nanoseconds: median), 12)
                    + padLeft(BenchReport.format(nanoseconds: p90), 12) + padLeft(ratio, 14)
            )
        }
        return lines.joined(separator: "\n")
    }

    var json: JSONValue {
        let results = rows.map { row -> JSONValue in
            guard let median = row.median, let p90 = row.p90 else {
                return .object([
                    ("key", .string(row.key)), ("operation", .string(row.title)), ("supported", .bool(false)),
                    ("reason", .string(row.skipped ?? "no samples")),
                ])
            }
            return .object([
                ("key", .string(row.key)), ("operation", .string(row.title)), ("supported", .bool(true)),
                ("iterations", .int(Int64(row.samples.count))),
                ("median_us", .double(Double(median) / 1000)), ("p90_us", .double(Double(p90) / 1000)),
                ("ratio_to_round_trip", ratio(row).map { .double(($0 * 100).rounded() / 100) } ?? .null),
            ])
        }
        return .object([
            ("url", .string(url)), ("backend", .string(backend)), ("fencing", .string(fencing)),
            ("events", .string(events)), ("leases", .string(leases)), ("results", .array(results)),
        ])
    }

    static func format(nanoseconds: Int64) -> String {
        let value = Double(nanoseconds)
        if value < 1_000_000 { return String(format1(value / 1000)) + " µs" }
        if value < 1_000_000_000 { return String(format2(value / 1_000_000)) + " ms" }
        return String(format2(value / 1_000_000_000)) + " s"
    }

    static func format(ratio: Double) -> String {
        ratio < 10 ? format2(ratio) : format1(ratio)
    }

    private static func format1(_ value: Double) -> String {
        let tenths = Int64((value * 10).rounded())
        return "\(tenths / 10).\(tenths % 10)"
    }

    private static func format2(_ value: Double) -> String {
        let hundredths = Int64((value * 100).rounded())
        let fraction = hundredths % 100
        return "\(hundredths / 100)." + (fraction < 10 ? "0" : "") + String(fraction)
    }

    private func pad(_ text: String, _ width: Int) -> String {
        text.count >= width ? text + " " : text + String(repeating: " ", count: width - text.count)
    }

    private func padLeft(_ text: String, _ width: Int) -> String {
        text.count >= width ? " " + text : String(repeating: " ", count: width - text.count) + text
    }
}
