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

    /// The text of `path` with its includes expanded.
    func expanded(_ path: String) -> String {
        var text = ""
        var included: Set<String> = []
        expand(path, into: &text, included: &included)
        return text
    }

    private func expand(_ path: String, into text: inout String, included: inout Set<String>) {
        guard let source = files[path], included.insert(path).inserted else { return }
        text += "#line 1 \"bpf/\(path)\"\n"
        var number = 0
        for line in source.split(separator: "\n", omittingEmptySubsequences: false) {
            number += 1
            if let target = Self.quotedInclude(line), files[target] != nil {
                expand(target, into: &text, included: &included)
                text += "#line \(number + 1) \"bpf/\(path)\"\n"
            } else {
                text += line
                text += "\n"
            }
        }
    }

    /// The path in an `#include "path"` line; nil for any other line.
    static func quotedInclude(_ line: Substring) -> String? {
        let directive = line.drop { $0 == " " || $0 == "\t" }
        guard directive.hasPrefix("#include \"") else { return nil }
        let rest = directive.dropFirst("#include \"".count)
        guard let end = rest.firstIndex(of: "\"") else { return nil }
        return String(rest[..<end])
    }
}
