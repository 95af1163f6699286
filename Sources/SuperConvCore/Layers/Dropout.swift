/// Inverted dropout, as PyTorch's `nn.Dropout` and Caffe's Dropout layer: in training each
/// element is kept with probability 1 − p and scaled by 1/(1 − p), so inference is the identity.
/// Backward: dx = dy·mask, with the same scaled mask.
public final class Dropout: Layer {
    public let probability: Float
    /// The model's generator, shared so that one state (kept in checkpoints) drives every mask.
    private let random: RandomSource
    private let mask: Tensor, output: Tensor, gradInput: Tensor
    private var wasTraining = false

    public init(probability: Float, random: RandomSource) throws {
        self.probability = probability
        self.random = random
        mask = try Tensor(Shape(1))
        output = try Tensor(Shape(1))
        gradInput = try Tensor(Shape(1))
    }

    public func forward(_ x: Tensor, mode: Mode) throws -> Tensor {
        wasTraining = mode == .training && probability > 0
        guard wasTraining else { return x }
        try mask.resize(x.shape)
        try output.resize(x.shape)
        let keep = 1 / (1 - probability)
        for i in 0..<x.count {
            mask.data[i] = random.generator.nextUniform() >= probability ? keep : 0
            output.data[i] = x.data[i] * mask.data[i]
        }
        return output
    }

    public func backward(_ dy: Tensor) throws -> Tensor {
        guard wasTraining else { return dy }
        try gradInput.resize(dy.shape)
        for i in 0..<dy.count { gradInput.data[i] = dy.data[i] * mask.data[i] }
        return gradInput
    }
}

/// A generator shared by reference between the layers of one model.
public final class RandomSource {
    public var generator: RandomGenerator
    public init(seed: UInt64) { generator = RandomGenerator(seed: seed) }
}
