/// Mean over each channel's plane: [N, C, H, W] -> [N, C, 1, 1].
/// Backward: every pixel of a plane receives dy/(H·W).
public final class GlobalAvgPool: Layer {
    private var inputShape = Shape(1)
    private let output: Tensor
    /// Where backward writes dx; a model may point several layers at one shared tensor (see
    /// `ResNet`'s gradient buffers).
    var gradInput: Tensor

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
        try gradInput.resize(inputShape)
        let plane = inputShape.h * inputShape.w
        for i in 0..<(inputShape.n * inputShape.c) {
            (gradInput.data + i * plane).update(repeating: dy.data[i] / Float(plane), count: plane)
        }
        return gradInput
    }
}
