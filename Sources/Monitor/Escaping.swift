/// Makes untrusted names safe to print. Filenames, comms and arguments may
/// hold newlines, terminal escape sequences or invalid UTF-8; none of that may
/// reach a terminal raw, and no line may be split or forged by a name.
public enum Escaping {
    /// For text output: printable UTF-8 is kept; backslash, control
    /// characters (C0, DEL, C1), Unicode line separators, bidi overrides and invalid bytes become
    /// backslash escapes, so every name stays on one line and reads back unambiguously.
    public static func text(_ bytes: [UInt8]) -> String {
        if bytes.allSatisfy(isPlainASCII) { return String(decoding: bytes, as: UTF8.self) }  // most names
        var out = ""
        out.reserveCapacity(bytes.count)
        forEachScalar(bytes) { piece in
            switch piece {
            case .invalid(let byte):
                out += "\\x" + hex2(byte)
            case .scalar(let scalar):
                switch scalar.value {
                case 0x5C: out += "\\\\"
                case 0x0A: out += "\\n"
                case 0x09: out += "\\t"
                case 0x0D: out += "\\r"
                case 0x1B: out += "\\e"
                case 0x00..<0x20, 0x7F: out += "\\x" + hex2(UInt8(scalar.value))
                case 0x80..<0xA0, 0x2028, 0x2029, 0x202A...0x202E, 0x2066...0x2069:
                    out += "\\u{" + String(scalar.value, radix: 16) + "}"
                default: out.unicodeScalars.append(scalar)
                }
            }
        }
        return out
    }

    /// Shell-style quoting of an argument list for text output, escaped as above.
    public static func arguments(_ argv: [[UInt8]]) -> String {
        argv.map { argument in
            let escaped = text(argument)
            let plain =
                !escaped.isEmpty
                && escaped.allSatisfy { char in
                    char.isLetter || char.isNumber || "-_./=:,+@%^".contains(char)
                }
            return plain
                ? escaped
                : "'" + escaped.split(separator: "'", omittingEmptySubsequences: false).joined(separator: "'\\''") + "'"
        }.joined(separator: " ")
    }

    /// Printable ASCII other than backslash: kept as it is by `text` and `json`.
    static func isPlainASCII(_ byte: UInt8) -> Bool { byte >= 0x20 && byte < 0x7F && byte != 0x5C }

    /// For JSON: the exact text when the bytes are valid UTF-8. Invalid bytes
    /// become U+FFFD and `lossless` is false; the caller then adds the bytes in hex.
    public static func json(_ bytes: [UInt8]) -> (string: String, lossless: Bool) {
        if bytes.allSatisfy(isPlainASCII) { return (String(decoding: bytes, as: UTF8.self), true) }
        var out = ""
        var lossless = true
        forEachScalar(bytes) { piece in
            switch piece {
            case .invalid:
                out.unicodeScalars.append("\u{FFFD}")
                lossless = false
            case .scalar(let scalar):
                out.unicodeScalars.append(scalar)
            }
        }
        return (out, lossless)
    }

    public static func hex(_ bytes: [UInt8]) -> String { bytes.map(hex2).joined() }

    private enum Piece {
        case scalar(Unicode.Scalar)
        case invalid(UInt8)
    }

    /// Walks UTF-8, reporting each scalar or, for an ill-formed sequence, each byte of it.
    private static func forEachScalar(_ bytes: [UInt8], _ body: (Piece) -> Void) {
        var index = 0
        while index < bytes.count {
            let lead = bytes[index]
            let length: Int
            switch lead {
            case 0x00..<0x80: length = 1
            case 0xC2..<0xE0: length = 2
            case 0xE0..<0xF0: length = 3
            case 0xF0..<0xF5: length = 4
            default: length = 0
            }
            if length > 0, index + length <= bytes.count,
                let scalar = decodeScalar(bytes[index..<index + length])
            {
                body(.scalar(scalar))
                index += length
            } else {
                body(.invalid(lead))
                index += 1
            }
        }
    }

    private static func decodeScalar(_ slice: ArraySlice<UInt8>) -> Unicode.Scalar? {
        var decoder = UTF8()
        var iterator = slice.makeIterator()
        guard case .scalarValue(let scalar) = decoder.decode(&iterator), iterator.next() == nil else { return nil }
        return scalar
    }

    private static func hex2(_ byte: UInt8) -> String {
        let digits = Array("0123456789abcdef")
        return String([digits[Int(byte >> 4)], digits[Int(byte & 0xF)]])
    }
}
