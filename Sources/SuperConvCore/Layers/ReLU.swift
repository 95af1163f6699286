/// y = max(0, x). Backward: dx = dy where y > 0, else 0 (the subgradient 0 at the kink, as
/// PyTorch and Caffe take it).
public final class ReLU: Layer {
    private let output: Tensor
    private let gradInput: Tensor

    public init() throws {
        output = try Tensor(Shape(1))
        gradInput = try Tensor(Shape(1))
    }

    public func forward(_ x: Tensor, mode: Mode) throws -> Tensor {
        try output.resize(x.shape)
        Elementwise.relu(x.data, into: output.data, count: x.count).run()
        return output
    }

    public func backward(_ dy: Tensor) throws -> Tensor {
        try gradInput.resize(dy.shape)
        Elementwise.reluBackward(output: output.data, gradient: dy.data, into: gradInput.data, count: dy.count).run()
        return gradInput
    }
}
