/// Work a layer leaves to the next layer, which does it as it reads the tensor the work was for,
/// instead of the first layer writing that tensor out and the second reading it back: an
/// activation-sized write and read fewer each time.
///
/// The first layer publishes what the tensor is made of under the tensor it returns (resized,
/// contents unspecified); the next takes it when that tensor arrives as its input, at most once.
/// Two uses between a convolution and a batch norm (see `BatchNorm2d`): the batch norm's dx,
/// which the convolution before it forms image by image as it pads its dy
/// (`NormalizeGradientPlanes`), and the batch norm's output, which the convolution after it maps
/// from the batch norm's input as it pads its x (`NormalizedInput`).
final class Deferred<Value> {
    private var value: Value?
    private var source: TensorIdentity?

    func publish(_ value: Value, as tensor: Tensor) {
        self.value = value
        source = TensorIdentity(tensor)
    }

    /// What `tensor` is made of, when it was published for it; at most once.
    func take(for tensor: Tensor) -> Value? {
        defer { (value, source) = (nil, nil) }
        return source == TensorIdentity(tensor) ? value : nil
    }
}
