import Kernel
import Foundation
do {
    let t = try Tracer(forkProbe: nil)
    print("loaded", t.forkProbe, t.offsets as Any)
    t.watch(tid: getpid())
    let p = Process(); p.executableURL = URL(fileURLWithPath: "/bin/sh"); p.arguments = ["-c", "ls /tmp >/dev/null; exit 3"]; try p.run(); p.waitUntilExit()
    let n = t.poll(timeoutMs: 100) { buf in print("record", buf.count, buf.load(as: UInt16.self)) }
    print(n, t.lostCounts())
} catch let e as KernelError { print(e); exit(e.exitCode) }
