import SuperConvKernelsAVX2

/// A batch norm's output left for the convolution after it to map from the batch norm's input as
/// it copies each image into its padded buffer (`ChannelAffine`), instead of written out by the
/// batch norm and read back: in forward the batch norm's whole pass over memory (a read and a
/// write of an activation) goes, and the convolution reads the batch norm's input where it read
/// its output; its weight gradient maps that input again in backward.
///
/// The convolution can map only on its direct path, in forward and in the weight gradient alike
/// (`Conv2d.mapsInputAsItReads`); the batch norm asks it at each forward and writes its output
/// as usual when it cannot. Otherwise it publishes its input and each channel's map under the
/// tensor it returns (resized, contents unspecified), and the convolution takes them when that
/// tensor arrives as its x and keeps them for its backward.
final class DeferredNormalization {
    /// The convolution that reads the output (set by `Conv2d.reads(outputOf:)`).
    weak var reader: Conv2d?
    private var published: NormalizedInput?
    private var source: TensorIdentity?

    /// Whether the batch norm leaves its output to the reader this time.
    var isDeferred: Bool { reader?.mapsInputAsItReads ?? false }

    func publish(_ input: NormalizedInput, as tensor: Tensor) {
        published = input
        source = TensorIdentity(tensor)
    }

    /// What `tensor` is made of, when it was published for it; at most once.
    func take(for tensor: Tensor) -> NormalizedInput? {
        defer { (published, source) = (nil, nil) }
        return source == TensorIdentity(tensor) ? published : nil
    }
}

/// A deferred batch norm output: y = affine(x) channel by channel, x the batch norm's input.
struct NormalizedInput {
    let x: UnsafePointer<Float>
    let affine: ChannelAffine
}
