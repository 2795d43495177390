import Foundation
import Testing
import ToozBackends

@testable import ToozCLI

@Suite struct CapabilitiesJSONTests {
    private func roundTrip(_ value: MessagePackValue) throws -> MessagePackValue {
        let text = CapabilitiesJSON.json(value).text
        return try CapabilitiesJSON.parse(text)
    }

    @Test func plainValuesMapToPlainJSON() throws {
        let value: MessagePackValue = ["weight": 2, "zone": "b", "tags": ["x", nil, true], "ratio": 0.5, "big": .uint(UInt64.max)]
        #expect(CapabilitiesJSON.json(value).text == #"{"weight":2,"zone":"b","tags":["x",null,true],"ratio":0.5,"big":18446744073709551615}"#)
        #expect(try roundTrip(value) == value)
    }

    @Test func everyMessagePackValueSurvivesARoundTrip() throws {
        let values: [MessagePackValue] = [
            .nil, .bool(false), .int(-5), .int(Int64.min), .uint(UInt64.max), .double(3), .double(-0.25), .double(1e300),
            .string("é\"\\\n\u{1}"), .binary([0, 1, 255]), .binary([]),
            .map([MessagePackMapEntry(.int(1), "one"), MessagePackMapEntry(.binary([104, 105]), .nil)]),
            .map([MessagePackMapEntry("$binary", "not bytes")]),
            .dateTime(OsloDateTime(year: 2024, month: 2, day: 29, hour: 13, minute: 5, second: 9, microsecond: 42)),
            .dateTime(OsloDateTime(year: 1999, month: 12, day: 31, timeZone: "UTC")),
            .extension(type: 7, data: [1, 2, 3]),
            .array([.array([]), .map([])]),
        ]
        for value in values {
            #expect(try roundTrip(value) == value, "\(value)")
        }
    }

    @Test func taggedFormsAreDocumentedShapes() {
        #expect(CapabilitiesJSON.json(.binary([0, 1, 2])).text == #"{"$binary":"AAEC"}"#)
        #expect(CapabilitiesJSON.json(.double(2)).text == "2.0")
        #expect(CapabilitiesJSON.json(.double(.nan)).text == "null")
        #expect(
            CapabilitiesJSON.json(.map([MessagePackMapEntry(.int(1), .nil)])).text == #"{"$map":[[1,null]]}"#
        )
    }

    @Test func badInputIsADataError() {
        for text in ["{", "[1,]", "01", "\"\\x\"", #"{"$binary": 5}"#, #"{"$nope": 1}"#, "1 2", #"{"$datetime":"2024-13-01T00:00:00"}"#] {
            #expect(throws: CLIFailure.self, "\(text)") { try CapabilitiesJSON.parse(text) }
        }
    }

    @Test func jsonStringsDecodeEscapesAndSurrogatePairs() throws {
        #expect(try JSONValue(parsing: #""a\u00e9\ud83d\ude00\n""#) == .string("aé😀\n"))
        #expect(throws: JSONParseError.self) { try JSONValue(parsing: #""\ud83d""#) }
    }
}
