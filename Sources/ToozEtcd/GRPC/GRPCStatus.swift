import NIOHPACK
import Tooz

/// The outcome of a gRPC call as its trailers state it (`grpc-status`, `grpc-message`), also
/// thrown as the error of a call that did not end with `ok`.
package struct GRPCStatus: Error, Hashable, Sendable, CustomStringConvertible {
    /// gRPC's status codes.
    package struct Code: Hashable, Sendable, CustomStringConvertible {
        package let rawValue: Int
        package init(rawValue: Int) { self.rawValue = rawValue }

        package static let ok = Code(rawValue: 0)
        package static let cancelled = Code(rawValue: 1)
        package static let unknown = Code(rawValue: 2)
        package static let invalidArgument = Code(rawValue: 3)
        package static let deadlineExceeded = Code(rawValue: 4)
        package static let notFound = Code(rawValue: 5)
        package static let alreadyExists = Code(rawValue: 6)
        package static let permissionDenied = Code(rawValue: 7)
        package static let resourceExhausted = Code(rawValue: 8)
        package static let failedPrecondition = Code(rawValue: 9)
        package static let aborted = Code(rawValue: 10)
        package static let outOfRange = Code(rawValue: 11)
        package static let unimplemented = Code(rawValue: 12)
        package static let `internal` = Code(rawValue: 13)
        package static let unavailable = Code(rawValue: 14)
        package static let dataLoss = Code(rawValue: 15)
        package static let unauthenticated = Code(rawValue: 16)

        private static let names = [
            "OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND", "ALREADY_EXISTS",
            "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE",
            "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED",
        ]

        package var description: String {
            Self.names.indices.contains(rawValue) ? Self.names[rawValue] : "status \(rawValue)"
        }
    }

    package var code: Code
    package var message: String

    package init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    package var description: String { message.isEmpty ? "\(code)" : "\(code): \(message)" }

    /// The status in trailers (or a trailers-only response); `nil` when they carry none.
    ///
    /// `grpc-message` is percent-encoded on the wire; a code that is not a number is `unknown`.
    package static func fromTrailers(_ headers: HPACKHeaders) -> GRPCStatus? {
        guard let raw = headers.first(name: "grpc-status") else { return nil }
        let code = Int(raw).map(Code.init(rawValue:)) ?? .unknown
        let message = headers.first(name: "grpc-message").map(percentDecoded) ?? ""
        return GRPCStatus(code, message)
    }

    /// gRPC's mapping of a non-200 HTTP status of a response that is not gRPC at all.
    package static func fromHTTPStatus(_ status: String) -> GRPCStatus {
        let code: Code =
            switch status {
            case "400": .internal
            case "401": .unauthenticated
            case "403": .permissionDenied
            case "404": .unimplemented
            case "429", "502", "503", "504": .unavailable
            default: .unknown
            }
        return GRPCStatus(code, "the server answered HTTP \(status), not gRPC")
    }

    /// Decodes `%XX` escapes; anything malformed is kept as it is.
    static func percentDecoded(_ text: String) -> String {
        guard text.utf8.contains(UInt8(ascii: "%")) else { return text }
        var bytes: [UInt8] = []
        var input = Array(text.utf8)[...]
        while let byte = input.popFirst() {
            if byte == UInt8(ascii: "%"), input.count >= 2,
                let high = BackendURL.hexValue(input[input.startIndex]), let low = BackendURL.hexValue(input[input.startIndex + 1])
            {
                bytes.append(high << 4 | low)
                input = input.dropFirst(2)
            } else {
                bytes.append(byte)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
