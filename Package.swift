// swift-tools-version:6.0
import Foundation
import PackageDescription

// EBPF_MONITOR_UNIT_ONLY=1 (make unit) leaves out every target that needs
// libbcc or libbpf, so the unit tests build and run on a machine with only
// Swift and the kernel's uapi headers: no root, no setup.
let unitOnly = ProcessInfo.processInfo.environment["EBPF_MONITOR_UNIT_ONLY"] == "1"
// EBPF_MONITOR_FUZZ=1 (make fuzz) builds the libFuzzer targets over the model
// and the sock_diag parsers alone; they link only with -sanitize=fuzzer,
// which provides their main.
let fuzz = ProcessInfo.processInfo.environment["EBPF_MONITOR_FUZZ"] == "1"

// C: the event ABI with the embedded BPF text.
var targets: [Target] = [
    .target(name: "BPFSources"),
    // Model: decoding, process tree, commands, sinks. No root, no kernel.
    .target(name: "Monitor", dependencies: ["BPFSources"]),
    .testTarget(name: "MonitorTests", dependencies: ["Monitor", "BPFSources"], resources: [.copy("Golden")]),
    // C: the sock_diag client, its reply parsers and the /proc fd readers. Needs only the kernel's uapi headers.
    .target(name: "CSockDiag"),
    .testTarget(name: "SockDiagTests", dependencies: ["CSockDiag"]),
]
var products: [Product] = []
var dependencies: [Package.Dependency] = []

if fuzz {
    targets += [
        .executableTarget(
            name: "FuzzTracker", dependencies: ["Monitor", "BPFSources"],
            swiftSettings: [.unsafeFlags(["-parse-as-library"])]),
        .executableTarget(
            name: "FuzzParsers", dependencies: ["Monitor", "CSockDiag"],
            swiftSettings: [.unsafeFlags(["-parse-as-library"])]),
    ]
} else if !unitOnly {
    products.append(.executable(name: "ebpf-monitor", targets: ["ebpf-monitor"]))
    dependencies.append(.package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"))
    targets += [
        // C: libbcc, libbpf's BTF API, the gated spawn.
        .systemLibrary(name: "CBCC", pkgConfig: "libbcc", providers: [.apt(["libbpfcc-dev"])]),
        .systemLibrary(name: "CLibbpf", pkgConfig: "libbpf", providers: [.apt(["libbpf-dev"])]),
        .target(name: "CSpawn"),
        // C: functions libbcc calls, replaced in the executable (the kernel symbol list BCC's clang
        // reads; map creation; BCC's first clang pass; BCC's second LLVM pipeline), exported by name
        // where libbcc reaches them through a vtable or no library on the link line defines them.
        .target(
            name: "CBCCHooks",
            linkerSettings: [
                .linkedLibrary("bpf"),
                .unsafeFlags([
                    "-Xlinker",
                    "--export-dynamic-symbol=_ZN4llvm18PassManagerBuilder25populateModulePassManagerERNS_6legacy15PassManagerBaseE",
                    "-Xlinker",
                    "--export-dynamic-symbol=_ZN4ebpf24TracepointFrontendActionC1ERN4llvm11raw_ostreamE",
                    "-Xlinker",
                    "--export-dynamic-symbol=_ZN4ebpf24TracepointFrontendAction17CreateASTConsumerERN5clang16CompilerInstanceEN4llvm9StringRefE",
                ]),
            ]),
        // Kernel side: BTF offsets, BPF text assembly, loading, attaching, ring buffer. The only importer of CBCC.
        .target(name: "Kernel", dependencies: ["CBCC", "CLibbpf", "CBCCHooks", "CSpawn", "BPFSources"]),
        // The poll loop and the launch: wires Kernel -> Monitor -> sink.
        .target(name: "Session", dependencies: ["Kernel", "Monitor", "CSpawn", "CSockDiag"]),
        .executableTarget(
            name: "ebpf-monitor",
            dependencies: [
                "Session", "Kernel", "Monitor",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .testTarget(name: "IntegrationTests", dependencies: ["Kernel", "Monitor", "Session"], exclude: ["Fixtures"]),
    ]
}

let package = Package(
    name: "ebpf-monitor",
    platforms: [.macOS(.v13)],
    products: products,
    dependencies: dependencies,
    targets: targets
)
