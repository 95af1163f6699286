/// A batch norm as a layer, with an optional ReLU after it (see `Normalization` for the
/// arithmetic): forward writes y (or relu(y)), backward writes dx and adds dγ and dβ. It records
/// its input's plane moments itself.
public final class BatchNorm2d: Layer {
    public let normalization: Normalization
    /// Whether a ReLU follows, fused into this layer (one pass over memory instead of two each way).
    public let appliesReLU: Bool
    private let moments: PlaneMoments
    private var input: Tensor?
    private let output: Tensor
    private let gradInput: Tensor

    public init(channels: Int, epsilon: Float, statistics: BatchNormStatistics,
                inference: BatchNormInference, appliesReLU: Bool = false) throws {
        normalization = try Normalization(channels: channels, epsilon: epsilon, statistics: statistics,
                                          inference: inference)
        self.appliesReLU = appliesReLU
        moments = try PlaneMoments()
        output = try Tensor(Shape(1))
        gradInput = try Tensor(Shape(1))
    }

    public var weight: Parameter { normalization.weight }
    public var bias: Parameter { normalization.bias }
    public var runningMean: Parameter { normalization.runningMean }
    public var runningVar: Parameter { normalization.runningVar }
    public var parameters: [Parameter] { normalization.parameters }

    public func forward(_ x: Tensor, mode: Mode) throws -> Tensor {
        input = x
        try output.resize(x.shape)
        try normalization.forward(x.data, shape: x.shape, mode: mode, moments: moments, recordsMoments: true,
                                  into: output.data, relu: appliesReLU)
        return output
    }

    public func backward(_ dy: Tensor) throws -> Tensor {
        guard let x = input else { throw SuperConvError.state("BatchNorm2d.backward called before forward") }
        try gradInput.resize(dy.shape)
        _ = normalization.backward(dy.data, input: x.data, shape: dy.shape, relu: appliesReLU ? .recomputed : .none,
                                   into: gradInput.data)
        return gradInput
    }

    public func commitStatistics() { normalization.commitStatistics() }
}
