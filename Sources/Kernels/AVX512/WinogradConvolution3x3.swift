import SuperConvKernelsPortable

// F(2x2, 3x3) for CPUs with AVX-512: the transforms of the portable module's
// `winogradConvolve`, compiled here with 16-lane vectors of tiles, and its multiply step with the
// direct kernel's register block (8 output channels by two vectors of tiles, `ChannelBlock`).

/// The Winograd kernels for CPUs with AVX-512.
public enum AVX512WinogradKernels: WinogradKernels, DirectForwardKernels {
    public typealias Block = ChannelBlock

    public static func padImage(_ x: UnsafePointer<Float>, into padded: UnsafeMutablePointer<Float>,
                                channels: Int, height: Int, width: Int, affine: ChannelAffine?) {
        writePaddedImage(x, into: padded, channels: channels, height: height, width: width, affine: affine)
    }

    public static func convolve(padded xp: UnsafePointer<Float>, packedWeights u: UnsafePointer<Float>,
                                bias: UnsafePointer<Float>?, output y: UnsafeMutablePointer<Float>,
                                scratch: UnsafeMutablePointer<Float>, cacheBytes: Int,
                                inChannels: Int, outChannels: Int, height: Int, width: Int) {
        winogradConvolve(Self.self, padded: xp, transformedWeights: u, bias: bias, output: y, scratch: scratch,
                         inChannels: inChannels, outChannels: outChannels, height: height, width: width,
                         blockBytes: cacheBytes)
    }
}
