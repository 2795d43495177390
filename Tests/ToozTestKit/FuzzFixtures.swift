import Foundation

/// The inputs scripts/fuzz works from and keeps, for the decoders' regression tests to replay:
/// a fuzz target's seed corpus (`Fuzz/Corpus/<Target>/`) and the crashers it found
/// (`Tests/Fixtures/FuzzCrashers/<Target>/`).
package enum FuzzFixtures {
    /// One input file.
    package struct Input: Sendable, CustomStringConvertible {
        /// The file name, which the tests key their expectations on.
        package var name: String
        package var bytes: [UInt8]

        package var description: String { self.name }
    }

    /// The seed corpus of `target` (e.g. `FuzzRESP`), sorted by name.
    package static func seeds(of target: String) throws -> [Input] {
        try self.inputs(in: "Fuzz/Corpus/\(target)")
    }

    /// The crashers kept for `target`, sorted by name; none when it never crashed.
    package static func crashers(of target: String) throws -> [Input] {
        try self.inputs(in: "Tests/Fixtures/FuzzCrashers/\(target)")
    }

    private static func inputs(in relativePath: String) throws -> [Input] {
        // This file is Tests/ToozTestKit/FuzzFixtures.swift in the repository.
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let directory = root.appendingPathComponent(relativePath)
        guard FileManager.default.fileExists(atPath: directory.path) else { return [] }
        return try FileManager.default.contentsOfDirectory(atPath: directory.path)
            .filter { !$0.hasPrefix(".") }
            .sorted()
            .map { name in
                Input(name: name, bytes: Array(try Data(contentsOf: directory.appendingPathComponent(name))))
            }
    }
}
