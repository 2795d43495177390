import NIOCore
import NIOHPACK
import NIOHTTP2

/// What one gRPC response stream says, frame by frame: headers, then messages, then trailers
/// with the status. Pure: fed the stream's frames, it returns what happened, and after the end
/// it ignores everything.
package struct GRPCResponseParser: Sendable {
    /// What a frame meant.
    package enum Event: Sendable, Equatable {
        /// One whole response message.
        case message(ByteBuffer)
        /// The call ended: `ok`, or the status it failed with (also for a broken stream).
        case end(GRPCStatus)
    }

    private enum State: Sendable {
        case awaitingHeaders
        case receiving
        case ended
    }

    private var state = State.awaitingHeaders
    private var deframer: GRPCMessageDeframer

    package init(maximumMessageSize: Int) {
        deframer = GRPCMessageDeframer(maximumMessageSize: maximumMessageSize)
    }

    /// Whether the call has ended.
    package var hasEnded: Bool {
        if case .ended = state { return true }
        return false
    }

    /// Feeds one inbound frame payload of the stream.
    package mutating func receive(_ payload: HTTP2Frame.FramePayload) -> [Event] {
        switch (state, payload) {
        case (.ended, _):
            return []
        case (.awaitingHeaders, .headers(let headers)):
            if let status = headers.headers.first(name: ":status"), status != "200" {
                return end(GRPCStatus.fromHTTPStatus(status))
            }
            let contentType = headers.headers.first(name: "content-type") ?? ""
            guard contentType.hasPrefix("application/grpc") else {
                return end(GRPCStatus(.internal, "the server answered with content-type \(contentType.debugDescription), not gRPC"))
            }
            if headers.endStream {
                // A trailers-only response: the status travels in the headers.
                return end(GRPCStatus.fromTrailers(headers.headers) ?? GRPCStatus(.internal, "the response ended without a gRPC status"))
            }
            state = .receiving
            return []
        case (.receiving, .headers(let trailers)):
            guard trailers.endStream else {
                return end(GRPCStatus(.internal, "the server sent a second header block that does not end the stream"))
            }
            if deframer.hasPartialMessage {
                return end(GRPCStatus(.internal, "the stream ended in the middle of a message"))
            }
            return end(GRPCStatus.fromTrailers(trailers.headers) ?? GRPCStatus(.internal, "the trailers carry no gRPC status"))
        case (.receiving, .data(let data)):
            guard case .byteBuffer(let bytes) = data.data else { return [] }
            var events: [Event]
            do {
                events = try deframer.append(bytes).map(Event.message)
            } catch {
                return end(GRPCStatus(.internal, "the response is no gRPC message stream: \(error)"))
            }
            if data.endStream {
                events += end(GRPCStatus(.internal, "the stream ended without trailers"))
            }
            return events
        case (.awaitingHeaders, .data):
            return end(GRPCStatus(.internal, "the server sent data before its headers"))
        case (_, .rstStream(let code)):
            let status: GRPCStatus.Code =
                switch code {
                case .refusedStream: .unavailable
                case .cancel: .cancelled
                case .enhanceYourCalm: .resourceExhausted
                default: .internal
                }
            return end(GRPCStatus(status, "the server reset the stream (\(code))"))
        default:
            // WINDOW_UPDATE, PRIORITY and the like carry nothing for the call.
            return []
        }
    }

    /// Ends the call from our side (a closed connection, a cancellation, a deadline).
    package mutating func fail(_ status: GRPCStatus) -> [Event] {
        end(status)
    }

    private mutating func end(_ status: GRPCStatus) -> [Event] {
        if case .ended = state { return [] }
        state = .ended
        return [.end(status)]
    }
}
