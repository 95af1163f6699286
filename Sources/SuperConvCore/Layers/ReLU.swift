/// y = max(0, x). Backward: dx = dy where y > 0, else 0 (the subgradient 0 at the kink, as
/// PyTorch and Caffe take it). Both are element by element, so `output` may be the input's own
/// tensor (in place) and `gradInput` dy's.
public final class ReLU: Layer {
    var output: Tensor
    var gradInput: Tensor

    public init() throws {
        output = try Tensor(Shape(1))
        gradInput = try Tensor(Shape(1))
    }

    public func forward(_ x: Tensor, mode: Mode) throws -> Tensor {
        try output.resize(x.shape)
        relu(x.data, into: output.data, count: x.count)
        return output
    }

    public func backward(_ dy: Tensor) throws -> Tensor {
        try gradInput.resize(dy.shape)
        reluBackward(output: output.data, gradient: dy.data, into: gradInput.data, count: dy.count)
        return gradInput
    }
}
