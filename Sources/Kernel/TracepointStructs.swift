import Foundation

/// The text BCC's first compile pass would hand on: the program text with the
/// struct of each `TRACEPOINT_PROBE`'s arguments written in before it, as
/// BCC's TracepointFrontendAction writes it from the tracepoint's format
/// file (`ebpf::parse_tracepoint`, BCC 0.26). The monitor hands this text to
/// that pass through `bcc_hooks_program_text` (Sources/CBCCHooks/frontend.c),
/// which then skips its parse of the whole text: about 35 ms of CPU in each
/// compiling process.
enum TracepointStructs {
    /// Nil when some format holds what this does not spell as BCC would (an
    /// array length named by an enum): BCC's own pass then runs.
    static func firstPass(
        of text: String, formats: (String, String) -> String? = { Preflight.tracepointFormat("\($0)/\($1)") }
    ) -> String? {
        var result = ""
        var rest = Substring(text)
        while let probe = rest.range(of: "TRACEPOINT_PROBE(") {
            // A probe starts its line; RAW_TRACEPOINT_PROBE or a mention in a comment does not.
            let before = rest[..<probe.lowerBound]
            let startsLine = before.isEmpty ? result.isEmpty || result.hasSuffix("\n") : before.hasSuffix("\n")
            guard startsLine, let close = rest[probe.upperBound...].firstIndex(of: ")") else {
                result += rest[..<probe.upperBound]
                rest = rest[probe.upperBound...]
                continue
            }
            let names = rest[probe.upperBound..<close].split(separator: ",").map {
                $0.trimmingCharacters(in: .whitespaces)
            }
            result += rest[..<probe.lowerBound]
            if names.count == 2, let format = formats(names[0], names[1]) {
                guard let definition = structText(format: format, category: names[0], event: names[1]) else {
                    return nil
                }
                result += definition
            }
            result += rest[probe.lowerBound..<close]
            rest = rest[close...]
        }
        return result + rest
    }

    /// `parse_tracepoint`: the common fields become one u64, gaps become
    /// `char __pad_N` a byte, and small integer types widen to their field's size.
    static func structText(format: String, category: String, event: String) -> String? {
        var text = "struct tracepoint__\(category)__\(event) {\n\tu64 __do_not_use__;\n"
        var lastOffset = 0
        var commonOffset = 8
        for line in format.split(separator: "\n", omittingEmptySubsequences: false) {
            while true {
                guard let field = Field(line, lastOffset: &lastOffset) else { return nil }
                switch field {
                case .invalid: break
                case .common:
                    while commonOffset < lastOffset {
                        text += "\tchar __do_not_use__\(commonOffset);\n"
                        commonOffset += 1
                    }
                case .dataLocation(let name): text += "\tint data_loc_\(name);\n"
                case .regular(let type, let name): text += "\t\(type) \(name);\n"
                case .pad: text += "\tchar __pad_\(lastOffset - 1);\n"
                }
                guard case .pad = field else { break }
            }
        }
        return text + "};\n"
    }

    /// One line of a format file, as `_get_field_kind` reads it.
    private enum Field {
        case invalid, common, pad
        case dataLocation(name: String)
        case regular(type: String, name: String)

        /// Nil: a line this cannot spell as BCC would.
        init?(_ line: Substring, lastOffset: inout Int) {
            guard let fieldStart = line.range(of: "field:"),
                let fieldEnd = line[fieldStart.upperBound...].firstIndex(of: ";"),
                let offsetStart = line[fieldEnd...].range(of: "offset:"),
                let offsetEnd = line[offsetStart.upperBound...].firstIndex(of: ";"),
                let sizeStart = line[offsetEnd...].range(of: "size:"),
                let sizeEnd = line[sizeStart.upperBound...].firstIndex(of: ";")
            else {
                self = .invalid
                return
            }
            guard let offset = Int(line[offsetStart.upperBound..<offsetEnd].trimmingCharacters(in: .whitespaces)),
                let size = Int(line[sizeStart.upperBound..<sizeEnd].trimmingCharacters(in: .whitespaces))
            else { return nil }
            if lastOffset < offset {
                lastOffset += 1
                self = .pad
                return
            }
            lastOffset = offset + size
            let field = line[fieldStart.upperBound..<fieldEnd]
            guard let split = field.lastIndex(where: { $0 == " " || $0 == "\t" }) else {
                self = .invalid
                return
            }
            var type = String(field[..<split])
            let name = String(field[field.index(after: split)...])
            if type.contains("__data_loc") {
                self = .dataLocation(name: name)
                return
            }
            if name.hasPrefix("common_") {
                self = .common
                return
            }
            if let open = name.firstIndex(of: "[") {
                let length = name[name.index(after: open)...].prefix { $0 != "]" }
                guard length.isEmpty || ("0"..."9").contains(length.first!) else { return nil }
                self = .regular(type: type, name: name)
                return
            }
            type = Self.widened(type, size: size)
            self = .regular(type: type, name: name)
        }

        private static func widened(_ type: String, size: Int) -> String {
            switch (size, type) {
            case (2, "char"), (2, "int8_t"): "s16"
            case (2, "unsigned char"), (2, "uint8_t"): "u16"
            case (4, "char"), (4, "short"), (4, "int8_t"), (4, "int16_t"): "s32"
            case (4, "unsigned char"), (4, "unsigned short"), (4, "uint8_t"), (4, "uint16_t"): "u32"
            case (8, "char"), (8, "short"), (8, "int"), (8, "int8_t"), (8, "int16_t"), (8, "int32_t"), (8, "pid_t"):
                "s64"
            case (8, "unsigned char"), (8, "unsigned short"), (8, "unsigned int"), (8, "uint8_t"), (8, "uint16_t"),
                (8, "uint32_t"), (8, "unsigned"), (8, "u32"), (8, "uid_t"), (8, "gid_t"):
                "u64"
            default: type
            }
        }
    }
}
