import SuperConvKernelsPortable

/// Mean over each channel's plane: [N, C, H, W] -> [N, C, 1, 1].
/// Backward: every pixel of a plane receives dy/(H·W).
public final class GlobalAvgPool: Layer {
    private var inputShape = Shape(1)
    private let output: Tensor
    private let gradInput: Tensor

    public init() throws {
        output = try Tensor(Shape(1))
        gradInput = try Tensor(Shape(1))
    }

    public func forward(_ x: Tensor, mode: Mode) throws -> Tensor {
        inputShape = x.shape
        try output.resize(Shape(x.shape.n, x.shape.c, 1, 1))
        let plane = x.shape.h * x.shape.w
        for i in 0..<(x.shape.n * x.shape.c) {
            output.data[i] = Float(sum(x.data + i * plane, count: plane) / Double(plane))
        }
        return output
    }

    public func backward(_ dy: Tensor) throws -> Tensor {
        try backward(dy, into: gradInput)
        return gradInput
    }

    /// The backward pass into a tensor of the caller's (a network's shared gradient buffer).
    func backward(_ dy: Tensor, into dx: Tensor) throws {
        try dx.resize(inputShape)
        let plane = inputShape.h * inputShape.w
        for i in 0..<(inputShape.n * inputShape.c) {
            (dx.data + i * plane).update(repeating: dy.data[i] / Float(plane), count: plane)
        }
    }
}
