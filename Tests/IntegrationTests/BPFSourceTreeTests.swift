import Foundation
import Testing

@testable import Kernel

/// The program text BCC compiles is bpf/monitor.bpf.c with its includes
/// expanded from the files embedded in the binary.
@Suite struct BPFSourceTreeTests {
    static let bpfDirectory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("bpf")

    static func filesOnDisk() throws -> [String] {
        let root = bpfDirectory.path + "/"
        let walker = FileManager.default.enumerator(atPath: root)
        var paths: [String] = []
        while let path = walker?.nextObject() as? String {
            if path.hasSuffix(".c") || path.hasSuffix(".h") { paths.append(path) }
        }
        return paths.sorted()
    }

    @Test func everyFileOfBpfIsEmbedded() throws {
        let onDisk = try Self.filesOnDisk()
        #expect(!onDisk.isEmpty)
        #expect(BPFSourceTree.embedded.files.keys.sorted() == onDisk)
    }

    @Test func everyFileIsExpandedOnceAndNoQuotedIncludeIsLeft() {
        let text = BPFSourceTree.embedded.expanded("monitor.bpf.c")
        for path in BPFSourceTree.embedded.files.keys {
            let starts = text.components(separatedBy: "#line 1 \"bpf/\(path)\"\n").count - 1
            #expect(starts == 1, "bpf/\(path) starts \(starts) times")
        }
        let leftover = text.split(separator: "\n").filter {
            BPFSourceTree.quotedInclude(Substring($0).utf8) != nil
        }
        #expect(leftover.isEmpty, "\(leftover)")
    }

    @Test func aFileIncludedTwiceGoesInOnce() {
        let tree = BPFSourceTree(files: [
            "main.c": "#include \"a.h\"\n#include \"b.h\"\nint main;\n",
            "a.h": "#include \"b.h\"\nint a;\n",
            "b.h": "int b;\n",
        ])
        #expect(
            tree.expanded("main.c") == """
                #line 1 "bpf/main.c"
                #line 1 "bpf/a.h"
                #line 1 "bpf/b.h"
                int b;

                #line 2 "bpf/a.h"
                int a;

                #line 2 "bpf/main.c"
                #line 3 "bpf/main.c"
                int main;


                """)
    }
}
