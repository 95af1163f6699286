/// A batch norm's input gradient left for the convolution before it to form image by image as it
/// reads it (`NormalizeGradientPlanes`), instead of written out by the batch norm and read back:
/// an activation-sized write, and the convolution's read of it, fewer per layer in backward.
///
/// The batch norm publishes the planes under the tensor it returns as its gradient (resized,
/// contents unspecified); the convolution takes them when that tensor arrives as its dy, and
/// writes them into it if its backward does not read dy image by image.
final class DeferredGradient {
    /// Whether a convolution takes the gradient (set by `BatchNorm2d.reads(outputOf:)`).
    var hasReader = false
    private var planes: NormalizeGradientPlanes?
    private var source: TensorIdentity?

    func publish(_ planes: NormalizeGradientPlanes, as tensor: Tensor) {
        self.planes = planes
        source = TensorIdentity(tensor)
    }

    /// The planes that form `tensor`, when they were published for it; at most once.
    func take(for tensor: Tensor) -> NormalizeGradientPlanes? {
        defer { (planes, source) = (nil, nil) }
        return source == TensorIdentity(tensor) ? planes : nil
    }
}
