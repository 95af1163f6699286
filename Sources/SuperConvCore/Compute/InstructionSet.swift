import Glibc

/// The instruction sets the library has kernels for, one module each (Sources/Kernels/<name>),
/// best last. One is chosen once at start-up, the best the CPU supports, unless SUPERCONV_ISA
/// names another (for tests and benchmarks); a model keeps the one it was built with.
///
/// Which kernel serves which pass, for each instruction set, is decided here and nowhere else:
///
/// | pass                                           | portable        | avx2                      |
/// |------------------------------------------------|-----------------|---------------------------|
/// | 3x3 stride-1 convolution, forward and dx (channels in fours) | im2col + GEMM | direct 3x3 (`DirectConvolution3x3`) |
/// | 3x3 stride-1 convolution, dweight              | im2col + GEMM   | direct 3x3 (`DirectWeightGradient3x3`) when dx is direct too or not wanted |
/// | other convolutions (stride 2, other shapes)    | im2col + GEMM   | im2col + GEMM             |
/// | batch norm, ReLU, sums, pooling, linear        | portable        | portable                  |
///
/// GEMM is OpenBLAS's, which picks its own kernels for the CPU.
public enum InstructionSet: String, CaseIterable, Sendable {
    /// Any x86-64 CPU: baseline vector code and OpenBLAS.
    case portable
    /// AVX2 and FMA (Intel since Haswell, AMD since Zen).
    case avx2

    /// The CPU flags (as /proc/cpuinfo names them) the kernels need.
    public var requiredFlags: [String] {
        switch self {
        case .portable: return []
        case .avx2: return ["avx2", "fma"]
        }
    }

    /// Whether this CPU can run the set's kernels.
    public var isSupported: Bool { requiredFlags.allSatisfy(Self.cpuFlags.contains) }

    /// The sets this CPU runs, portable first.
    public static var supported: [InstructionSet] { allCases.filter(\.isSupported) }

    /// The set new models use: SUPERCONV_ISA when it names a supported set, else the best
    /// supported. An unknown or unsupported name falls back to the best, and `selectionNote`
    /// says why.
    public static let selected: InstructionSet = choose(getenv("SUPERCONV_ISA").map { String(cString: $0) }).set

    /// Empty, or why SUPERCONV_ISA was not followed.
    public static let selectionNote: String = choose(getenv("SUPERCONV_ISA").map { String(cString: $0) }).note

    static func choose(_ requested: String?) -> (set: InstructionSet, note: String) {
        let best = supported.last ?? .portable
        guard let requested, !requested.isEmpty else { return (best, "") }
        guard let set = InstructionSet(rawValue: requested) else {
            let names = allCases.map(\.rawValue).joined(separator: "|")
            return (best, "SUPERCONV_ISA=\(requested) is not one of \(names); using \(best.rawValue)")
        }
        guard set.isSupported else {
            let missing = set.requiredFlags.filter { !cpuFlags.contains($0) }.joined(separator: ", ")
            return (best, "SUPERCONV_ISA=\(requested): this CPU lacks \(missing); using \(best.rawValue)")
        }
        return (set, "")
    }

    /// The flags line of /proc/cpuinfo: the kernel's view of the CPU, which also tells whether
    /// the operating system saves the vector registers the flags name.
    static let cpuFlags: Set<String> = {
        guard let file = fopen("/proc/cpuinfo", "r") else { return [] }
        defer { fclose(file) }
        var line = [CChar](repeating: 0, count: 8192)
        while fgets(&line, Int32(line.count), file) != nil {
            let text = line.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
            guard text.hasPrefix("flags") else { continue }
            return Set(text.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" }).map(String.init))
        }
        return []
    }()

    /// How a convolution of this shape computes each pass on this set (see the table above).
    func convolutionPlan(kernel: Int, stride: Int, padding: Int, inChannels: Int, outChannels: Int,
                         computesInputGradient: Bool) -> ConvolutionPlan {
        // The direct kernels take 3x3 "same" stride-1 convolutions whose output channels (for dx:
        // input channels) come in fours.
        func direct(outputs: Int) -> Bool {
            self == .avx2 && kernel == 3 && stride == 1 && padding == 1 && outputs % 4 == 0
        }
        let forward: ConvolutionPlan.Kernel = direct(outputs: outChannels) ? .direct3x3 : .gemm
        let inputGradient: ConvolutionPlan.Kernel? =
            computesInputGradient ? (direct(outputs: inChannels) ? .direct3x3 : .gemm) : nil
        // Where dx takes the GEMM path its column matrix serves dweight too.
        let weightGradient: ConvolutionPlan.Kernel =
            direct(outputs: outChannels) && inputGradient != .gemm ? .direct3x3 : .gemm
        return ConvolutionPlan(forward: forward, inputGradient: inputGradient, weightGradient: weightGradient)
    }
}

/// The kernel of each pass of one convolution.
struct ConvolutionPlan: Equatable {
    enum Kernel { case gemm, direct3x3 }
    let forward: Kernel
    /// nil when the layer does not compute dx (a network's first layer).
    let inputGradient: Kernel?
    let weightGradient: Kernel

    /// Whether every read of x goes through a padded per-image copy (the direct forward and
    /// weight gradient), so that x may be given as a batch norm's input and its map
    /// (`ConvolutionInput.mapped`).
    var mapsInputAsItReads: Bool { forward == .direct3x3 && weightGradient == .direct3x3 }
}
