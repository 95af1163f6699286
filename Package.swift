// swift-tools-version:6.0
import Foundation
import PackageDescription

// The SONAME suffix is SC_ABI_VERSION of include/superconv.h, where the version is written once.
let abiVersion = try! String(contentsOfFile: "\(Context.packageDirectory)/include/superconv.h", encoding: .utf8)
    .split(separator: "\n").first { $0.hasPrefix("#define SC_ABI_VERSION ") }!.split(separator: " ")[2]

// The shared library links the Swift runtime statically and exports only sc_* (see docs/ARCHITECTURE.md).
let sharedLibraryLinkerFlags: [String] = [
    "-static-stdlib",
    // lld keeps .dynsym to the version script exactly; gold leaves local Swift symbols there.
    "-use-ld=lld",
    "-Xlinker", "-soname=libsuperconv.so.\(abiVersion)",
    "-Xlinker", "--version-script=\(Context.packageDirectory)/Sources/SuperConvSharedLibrary/exports.map",
]

let package = Package(
    name: "superconv",
    products: [
        .library(name: "superconv", type: .dynamic, targets: ["SuperConv", "SuperConvSharedLibrary"]),
        // Product names are unique, so the `superconv` command is built as superconv-cli
        // (`make build` links it as .build/release/superconv).
        .executable(name: "superconv-cli", targets: ["SuperConvCLI"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
    ],
    targets: [
        .systemLibrary(name: "COpenBLAS", pkgConfig: "openblas",
                       providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CHDF5", pkgConfig: "hdf5",
                       providers: [.apt(["libhdf5-dev"])]),
        .systemLibrary(name: "CZlib", pkgConfig: "zlib",
                       providers: [.apt(["zlib1g-dev"])]),
        // Stateless kernels, one module per instruction set (Sources/Kernels/<ISA>), each
        // compiled for its CPUs; SuperConvCore picks one set at start-up (`InstructionSet`).
        .target(
            name: "SuperConvKernelsPortable",
            dependencies: ["COpenBLAS"],
            path: "Sources/Kernels/Portable",
            swiftSettings: [.unsafeFlags(["-Ounchecked", "-wmo"])]
        ),
        .target(
            name: "SuperConvKernelsAVX2",
            dependencies: ["SuperConvKernelsPortable"],
            path: "Sources/Kernels/AVX2",
            swiftSettings: [.unsafeFlags(["-Ounchecked", "-wmo", "-target-cpu", "haswell"])]
        ),
        .target(
            name: "SuperConvKernelsAVX512",
            dependencies: ["SuperConvKernelsPortable"],
            path: "Sources/Kernels/AVX512",
            swiftSettings: [.unsafeFlags(["-Ounchecked", "-wmo", "-target-cpu", "skylake-avx512"])]
        ),
        // Opens an untrusted HDF5 file in a forked child first (C only: no Swift runtime there).
        .target(
            name: "HDF5Probe",
            dependencies: ["CHDF5"],
            path: "Sources/HDF5Probe"
        ),
        .target(
            name: "SuperConvCore",
            dependencies: ["COpenBLAS", "CHDF5", "CZlib", "HDF5Probe", "SuperConvKernelsPortable", "SuperConvKernelsAVX2",
                           "SuperConvKernelsAVX512"],
            swiftSettings: [.unsafeFlags(["-Ounchecked", "-wmo"])]
        ),
        .target(
            name: "SuperConv",
            dependencies: ["SuperConvCore", "SuperConvKernelsPortable"]
        ),
        .target(
            name: "SuperConvSharedLibrary",
            dependencies: ["SuperConv"],
            exclude: ["exports.map"],
            linkerSettings: [.unsafeFlags(sharedLibraryLinkerFlags)]
        ),
        // The C header as a Swift module: the CLI is a host of the C ABI like any other.
        .systemLibrary(name: "CSuperConv", path: "Sources/CSuperConv"),
        .executableTarget(
            name: "SuperConvCLI",
            dependencies: ["CSuperConv", "SuperConv", "SuperConvCore",
                           .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),
        .testTarget(
            name: "SuperConvCoreTests",
            dependencies: ["SuperConvCore", "CZlib", "CHDF5"]
        ),
    ]
)
