/// A named tensor of a model: a trainable weight with its gradient, or a running statistic
/// (no gradient) that eval uses. Names follow PyTorch's `state_dict` ("layer1.0.conv1.weight");
/// the multipliers follow Caffe's `lr_mult` and `decay_mult`.
public final class Parameter {
    public internal(set) var name: String
    public let value: Tensor
    /// dLoss/dValue; nil for running statistics, which the optimizer never touches.
    public let gradient: Tensor?
    public var learningRateMultiplier: Float
    public var decayMultiplier: Float

    public init(name: String, shape: Shape, trainable: Bool = true,
                learningRateMultiplier: Float = 1, decayMultiplier: Float = 1) throws {
        self.name = name
        self.value = try Tensor(shape)
        self.gradient = trainable ? try Tensor(shape) : nil
        self.learningRateMultiplier = learningRateMultiplier
        self.decayMultiplier = decayMultiplier
    }

    public var isTrainable: Bool { gradient != nil }
}
