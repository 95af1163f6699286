/// Choices that change how a convolution computes but not what, each with a default that holds
/// on every CPU. Blocking that would change the order of a sum (and so the bits of the result
/// between CPUs of one instruction set) stays fixed; only blocking that does not follows the
/// cache.
public struct ConvolutionTuning: Sendable {
    /// About how many GEMM columns (images x output positions) one tile has. Fixed: the GEMM
    /// path's weight gradient is summed tile by tile.
    public var tileColumns: Int
    /// Whether forward and dx of 3x3 stride-1 convolutions take Winograd's F(2x2, 3x3) where the
    /// instruction set has it and the image's shape suits it (`InstructionSet`).
    public var winograd: Bool
    /// Bytes of transformed inputs the Winograd kernels hold per block of tiles: half of one core's
    /// first-level data cache, so that the multiply step, which reads them once per block of
    /// output channels, finds them there beside the weights and its outputs. Results do not
    /// depend on it.
    public var winogradBlockBytes: Int

    public init(tileColumns: Int = 512, winograd: Bool = InstructionSet.winogradSelected,
                winogradBlockBytes: Int = CPUCache.level1DataBytes / 2) {
        self.tileColumns = tileColumns
        self.winograd = winograd
        self.winogradBlockBytes = winogradBlockBytes
    }
}
