import Glibc
import SuperConvKernelsAVX2
import SuperConvKernelsAVX512

/// The instruction sets the library has kernels for, one module each (Sources/Kernels/<name>),
/// best last. One is chosen once at start-up, the best the CPU supports, unless SUPERCONV_ISA
/// names another (for tests and benchmarks); a model keeps the one it was built with.
///
/// Which kernel serves which pass, for each instruction set, is decided here and nowhere else:
///
/// | pass | portable | avx2 | avx512 |
/// |---|---|---|---|
/// | 3x3 stride-1 convolution, forward and dx | im2col + GEMM | Winograd F(2x2, 3x3) where `winogradTakes` (H and W even, an even number of 8-tile vectors at most a quarter idle: 32, 28, 16, 12, 8 wide), else direct 3x3; output channels (dx: input channels) in fours | Winograd where it takes 16-tile vectors (32, 28, 16 wide), else direct; in eights (in fours: avx2's) |
/// | 3x3 stride-1 convolution, dweight | im2col + GEMM | direct 3x3 where dx is direct too or not wanted | as avx2 |
/// | 3x3 stride-2 convolution, forward (outputs up to 16 pixels a row) | im2col + GEMM | im2col + GEMM | direct 3x3 stride 2, output channels in eights |
/// | other convolutions and passes (stride-2 gradients, other shapes) | im2col + GEMM | im2col + GEMM | im2col + GEMM |
/// | batch norm, ReLU, sums, pooling, linear | portable | portable | portable |
///
/// The direct kernels are `AVX2Kernels` and `AVX512Kernels` (`DirectKernels`), whose stride-1
/// kernels give the same bits, and `AVX512DownsamplingKernels`; the Winograd kernels
/// `AVX2WinogradKernels` and `AVX512WinogradKernels` (SUPERCONV_WINOGRAD=0 or
/// `ConvolutionTuning.winograd` turns them off). GEMM is OpenBLAS's, which picks
/// its own kernels for the CPU (or for the core type that OPENBLAS_CORETYPE names).
public enum InstructionSet: String, CaseIterable, Sendable {
    /// Any x86-64 CPU: baseline vector code and OpenBLAS.
    case portable
    /// AVX2 and FMA (Intel since Haswell, AMD since Zen).
    case avx2
    /// AVX-512 F, CD, BW, DQ and VL, as Intel's Skylake-SP (Xeon since 2017, AMD since Zen 4).
    case avx512

    /// The CPU flags (as /proc/cpuinfo names them) the kernels need.
    public var requiredFlags: [String] {
        switch self {
        case .portable: return []
        case .avx2: return ["avx2", "fma"]
        case .avx512: return ["avx2", "fma", "avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl"]
        }
    }

    /// Whether this CPU can run the set's kernels.
    public var isSupported: Bool { requiredFlags.allSatisfy(Self.cpuFlags.contains) }

    /// The sets this CPU runs, portable first.
    public static var supported: [InstructionSet] { allCases.filter(\.isSupported) }

    /// The set new models use: SUPERCONV_ISA when it names a supported set, else the best
    /// supported. An unknown or unsupported name falls back to the best, and `selectionNote`
    /// says why.
    public static var selected: InstructionSet { selection.set }

    /// Empty, or why SUPERCONV_ISA was not followed.
    public static var selectionNote: String { selection.note }

    private static let selection = choose(getenv("SUPERCONV_ISA").map { String(cString: $0) })

    /// Whether convolutions take Winograd's F(2x2, 3x3) where it serves (the table above): yes
    /// unless SUPERCONV_WINOGRAD=0, which keeps every 3x3 stride-1 pass on the direct kernels
    /// (their bits are those of the library before it had Winograd kernels).
    public static let winogradSelected: Bool = getenv("SUPERCONV_WINOGRAD").map { String(cString: $0) } != "0"

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
        // Direct kernels take 3x3 "same" stride-1 convolutions whose output channels (for dx:
        // input channels) come in blocks of theirs: this set's where they fit every pass, else
        // those of a narrower set this CPU also runs.
        let sets = Self.allCases.prefix(through: Self.allCases.firstIndex(of: self)!).filter { $0.directOutputChannelBlock != nil }
        if self == .avx512 && kernel == 3 && stride == 2 && padding == 1
            && outChannels % AVX512DownsamplingKernels.outputChannelBlock == 0 {
            // Forward only; its gradients take the GEMM path (which reads x itself).
            return ConvolutionPlan(forward: .directDownsampling, inputGradient: computesInputGradient ? .gemm : nil,
                                   weightGradient: .gemm, directKernels: .avx512)
        }
        guard kernel == 3 && stride == 1 && padding == 1, !sets.isEmpty else { return .gemm(computesInputGradient) }
        func fits(_ channels: Int, _ set: InstructionSet) -> Bool { channels % set.directOutputChannelBlock! == 0 }
        let forward = sets.reversed().filter { fits(outChannels, $0) }
        guard let set = forward.first(where: { !computesInputGradient || fits(inChannels, $0) }) ?? forward.first else {
            return .gemm(computesInputGradient)
        }
        let inputGradient: ConvolutionPlan.Kernel? =
            computesInputGradient ? (fits(inChannels, set) ? .direct3x3 : .gemm) : nil
        // Where dx takes the GEMM path its column matrix serves dweight too.
        return ConvolutionPlan(forward: .direct3x3, inputGradient: inputGradient,
                               weightGradient: inputGradient != .gemm ? .direct3x3 : .gemm, directKernels: set)
    }
}

extension InstructionSet {
    /// Output channels per block of the set's direct kernels; nil without direct kernels.
    var directOutputChannelBlock: Int? {
        switch self {
        case .portable: return nil
        case .avx2: return AVX2Kernels.outputChannelBlock
        case .avx512: return AVX512Kernels.outputChannelBlock
        }
    }
}

/// The kernel of each pass of one convolution.
struct ConvolutionPlan: Equatable {
    enum Kernel { case gemm, direct3x3, directDownsampling }
    let forward: Kernel
    /// nil when the layer does not compute dx (a network's first layer).
    let inputGradient: Kernel?
    let weightGradient: Kernel
    /// Whose direct kernels the direct passes run.
    let directKernels: InstructionSet?

    static func gemm(_ computesInputGradient: Bool) -> ConvolutionPlan {
        ConvolutionPlan(forward: .gemm, inputGradient: computesInputGradient ? .gemm : nil, weightGradient: .gemm,
                        directKernels: nil)
    }

    /// Whether every read of x goes through a padded per-image copy (the direct forward and
    /// weight gradient), so that x may be given as a batch norm's input and its map
    /// (`ConvolutionInput.mapped`).
    var mapsInputAsItReads: Bool { forward == .direct3x3 && weightGradient == .direct3x3 }
}
