import BPFSources

/// The files of bpf/, embedded in the binary, and the one program text BCC
/// compiles from them.
///
/// BCC rewrites its map syntax (`map.lookup(&key)`) in the text it is given
/// only, not in files that text includes: a header with map calls found
/// through `-I` would compile, but its calls would stay indirect calls the
/// verifier refuses. So the quoted includes of the embedded files are
/// expanded here, in memory, as the preprocessor would: paths are relative to
/// bpf/, each file goes in once (its include guard would make a second copy
/// empty anyway), and `#line` markers keep clang's diagnostics pointing at
/// `bpf/<file>:<line>`. Angle-bracket includes (kernel headers) and quoted
/// ones of files not in bpf/ are left to clang.
struct BPFSourceTree: Sendable {
    /// Text by path relative to bpf/.
    let files: [String: String]

    static let embedded: BPFSourceTree = {
        var count: UInt32 = 0
        let table = bpf_source_files(&count)!
        var files: [String: String] = [:]
        for index in 0..<Int(count) {
            files[String(cString: table[index].path)] = String(cString: table[index].text)
        }
        return BPFSourceTree(files: files)
    }()

    /// The text of `path` with its includes expanded. Works on UTF-8 bytes:
    /// it runs at every start-up (about a millisecond for the 100 KB).
    func expanded(_ path: String) -> String {
        var text: [UInt8] = []
        text.reserveCapacity(1 << 17)
        var included: Set<String> = []
        expand(path, into: &text, included: &included)
        return String(decoding: text, as: UTF8.self)
    }

    private func expand(_ path: String, into text: inout [UInt8], included: inout Set<String>) {
        guard let source = files[path], included.insert(path).inserted else { return }
        text += "#line 1 \"bpf/\(path)\"\n".utf8
        var number = 0
        for line in source.utf8.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
            number += 1
            if let target = Self.quotedInclude(line), files[target] != nil {
                expand(target, into: &text, included: &included)
                text += "#line \(number + 1) \"bpf/\(path)\"\n".utf8
            } else {
                text += line
                text.append(UInt8(ascii: "\n"))
            }
        }
    }

    /// The path in an `#include "path"` line; nil for any other line.
    static func quotedInclude(_ line: Substring.UTF8View) -> String? {
        let directive = line.drop { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") }
        let prefix = "#include \"".utf8
        guard directive.starts(with: prefix) else { return nil }
        let rest = directive.dropFirst(prefix.count)
        guard let end = rest.firstIndex(of: UInt8(ascii: "\"")) else { return nil }
        return String(decoding: rest[..<end], as: UTF8.self)
    }
}
