// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "ebpf-monitor",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "ebpf-monitor", targets: ["ebpf-monitor"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        // C: libbcc, libbpf's BTF API, the event ABI with the embedded BPF text, and the gated spawn.
        .systemLibrary(name: "CBCC", pkgConfig: "libbcc", providers: [.apt(["libbpfcc-dev"])]),
        .systemLibrary(name: "CLibbpf", pkgConfig: "libbpf", providers: [.apt(["libbpf-dev"])]),
        .target(name: "BPFSources"),
        .target(name: "CSpawn"),
        .target(name: "CSockDiag"),
        // Kernel side: BTF offsets, BPF text assembly, loading, attaching, ring buffer. The only importer of CBCC.
        .target(name: "Kernel", dependencies: ["CBCC", "CLibbpf", "BPFSources"]),
        // Model: decoding, process tree, commands, sinks. No root, no kernel.
        .target(name: "Monitor", dependencies: ["BPFSources"]),
        // The poll loop and the launch: wires Kernel -> Monitor -> sink.
        .target(name: "Session", dependencies: ["Kernel", "Monitor", "CSpawn", "CSockDiag"]),
        .executableTarget(
            name: "ebpf-monitor",
            dependencies: [
                "Session", "Kernel", "Monitor",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .testTarget(name: "MonitorTests", dependencies: ["Monitor", "BPFSources"], resources: [.copy("Golden")]),
        .testTarget(name: "IntegrationTests", dependencies: ["Kernel", "Monitor", "Session"], exclude: ["Fixtures"]),
    ]
)
