/// A 3x3 convolution's forward kernel: a padded image in, an output image out. SuperConvCore's
/// forward pass is generic over it (`DirectKernels` for stride 1, also for dx; a Winograd kernel
/// for stride 1 and a downsampling kernel for stride 2 where an instruction set has them).
public protocol DirectForwardKernels {
    /// Output channels side by side in the packed weights; `convolve` takes multiples of it.
    static var outputChannelBlock: Int { get }

    /// Floats of packed weights for a convolution of these channels.
    static func packedWeightCount(inChannels: Int, outChannels: Int) -> Int

    /// Packs the weights as `convolve` reads them; `weight(o, c, tap)` gives w[o, c, kh, kw] at tap
    /// kh·3 + kw.
    static func packWeights(into packed: UnsafeMutablePointer<Float>, inChannels: Int, outChannels: Int,
                            weight: (Int, Int, Int) -> Float)

    /// Floats of scratch `convolve` needs for one image, filling about `cacheBytes` of cache at a
    /// time.
    static func scratchCount(inChannels: Int, outChannels: Int, height: Int, width: Int, cacheBytes: Int) -> Int

    /// Writes one image x [C, H, W] as a whole plane-major padded image, mapped by `affine` when
    /// given (`writePaddedImage`, compiled in the set's module, for its CPUs).
    static func padImage(_ x: UnsafePointer<Float>, into padded: UnsafeMutablePointer<Float>,
                         channels: Int, height: Int, width: Int, affine: ChannelAffine?)

    /// Convolves one zero-padded image of H x W into y [Co, OH, OW] (plus bias when given).
    static func convolve(padded: UnsafePointer<Float>, packedWeights: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
                         output: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>, cacheBytes: Int,
                         inChannels: Int, outChannels: Int, height: Int, width: Int)
}

/// The direct kernels' weights: [O/B][C][9][B], B output channels side by side per tap; no scratch.
extension DirectForwardKernels {
    public static func packedWeightCount(inChannels: Int, outChannels: Int) -> Int { 9 * inChannels * outChannels }

    public static func packWeights(into packed: UnsafeMutablePointer<Float>, inChannels: Int, outChannels: Int,
                                   weight: (Int, Int, Int) -> Float) {
        let block = outputChannelBlock
        for group in 0..<(outChannels / block) {
            for c in 0..<inChannels {
                for t in 0..<9 {
                    for lane in 0..<block {
                        packed[((group * inChannels + c) * 9 + t) * block + lane] = weight(group * block + lane, c, t)
                    }
                }
            }
        }
    }

    public static func scratchCount(inChannels: Int, outChannels: Int, height: Int, width: Int, cacheBytes: Int) -> Int { 0 }
}

/// The direct 3x3 stride-1 convolution kernels of one instruction set: each such module has one
/// type conforming to this (`AVX2Kernels`, `AVX512Kernels`), and SuperConvCore's convolution
/// passes are generic over it, so every call goes straight to the set's kernel.
///
/// Padded images are laid out as `writePaddedImage` and `writeTransposedImage` describe; what
/// differs between sets is the vector width of the channels-last copy and how many output
/// channels the packed weights hold side by side. Every set computes each output with the same
/// fused multiply-adds in the same order, so all give the same bits.
public protocol DirectKernels: DirectForwardKernels {
    /// The vector width, in floats, of the channels-last copy: its positions hold the channels
    /// rounded up to it.
    static var channelLanes: Int { get }

    /// Writes one image x [C, H, W] channels-last into a padded buffer (`writeTransposedImage`).
    static func padImageTransposed(_ x: UnsafePointer<Float>, into xt: UnsafeMutablePointer<Float>,
                                   channels: Int, height: Int, width: Int, affine: ChannelAffine?)

    /// Adds the weight gradient of `images` consecutive images to dwt [Co][3][3][Cp], from their
    /// channels-last inputs and padded output gradients (image j's at j times
    /// `transposedImageSize` and `paddedImageSize` of their channel counts).
    static func addWeightGradient(transposedInputs: UnsafePointer<Float>, paddedGradients: UnsafePointer<Float>,
                                  images: Int, into dwt: UnsafeMutablePointer<Float>,
                                  inChannels: Int, outChannels: Int, height: Int, width: Int)
}

extension DirectKernels {
    /// Floats per position of a channels-last padded image.
    @inlinable
    public static func transposedChannels(_ channels: Int) -> Int {
        SuperConvKernelsPortable.transposedChannels(channels, lanes: channelLanes)
    }

    /// Floats of one channels-last padded image.
    @inlinable
    public static func transposedImageSize(channels: Int, height: Int, width: Int) -> Int {
        SuperConvKernelsPortable.transposedImageSize(channels: channels, height: height, width: width, lanes: channelLanes)
    }
}
