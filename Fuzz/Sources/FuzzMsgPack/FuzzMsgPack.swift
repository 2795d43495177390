@testable import Tooz

// Decodes the input as oslo msgpack, as capabilities and member records written by Python
// members arrive. A value that decodes must encode to bytes that decode to the same value
// (NaN aside, which never equals itself) and encode to the same bytes again.

private func sameValue(_ lhs: MessagePackValue, _ rhs: MessagePackValue) -> Bool {
    switch (lhs, rhs) {
    case (.double(let l), .double(let r)):
        l.bitPattern == r.bitPattern || l == r
    case (.array(let l), .array(let r)):
        l.count == r.count && zip(l, r).allSatisfy { sameValue($0, $1) }
    case (.map(let l), .map(let r)):
        l.count == r.count && zip(l, r).allSatisfy { sameValue($0.key, $1.key) && sameValue($0.value, $1.value) }
    default:
        lhs == rhs
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzMsgPack(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let input = Array(UnsafeRawBufferPointer(start: start, count: count))
    // The path a backend takes for a member's stored capabilities.
    let capabilities = try? OsloMsgPack.decodeCapabilities(input, of: MemberID("fuzz"), in: GroupID("fuzz"))
    let value: MessagePackValue
    do {
        value = try OsloMsgPack.decode(input)
    } catch {
        precondition(error.code == .serializationFailed, "decode failed with \(error.code), not serializationFailed")
        // Empty bytes are the one input the capabilities path reads (as nil) and decode refuses.
        precondition(capabilities == nil || input.isEmpty, "decodeCapabilities accepted what decode refused")
        return 0
    }
    precondition(capabilities.map { sameValue($0, value) } == true, "decodeCapabilities disagrees with decode")
    let encoded = OsloMsgPack.encode(value)
    let again: MessagePackValue
    do {
        again = try OsloMsgPack.decode(encoded)
    } catch {
        preconditionFailure("re-encoded value does not decode: \(error)")
    }
    precondition(sameValue(again, value), "value changed in a round trip: \(value) then \(again)")
    precondition(OsloMsgPack.encode(again) == encoded, "encoding is not stable")
    return 0
}
