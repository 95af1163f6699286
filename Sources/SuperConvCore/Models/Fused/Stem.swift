/// A network's first layers, fused: conv → batch norm → ReLU, with out = relu(bn(conv(x))).
///
/// The convolution records its output planes' moments as it stores them, so the batch norm's
/// statistics need no pass over h; backward, the batch norm only sums, and the convolution
/// (which computes no dx: x is the data) forms the batch norm's dx image by image as it reads it.
/// The same layers composed from `Conv2d` and `BatchNorm2d` give the same results bit for bit.
final class Stem {
    let conv: Convolution
    let bn: Normalization
    private let moments: PlaneMoments
    /// conv(x), and the stem's output.
    private let h: Tensor, output: Tensor
    private var input: Tensor?

    init(conv: Convolution, bn: Normalization) throws {
        guard !conv.computesInputGradient else {
            throw SuperConvError.state("stem: its convolution must not compute dx, the gradient of the data")
        }
        self.conv = conv
        self.bn = bn
        moments = try PlaneMoments()
        h = try Tensor(Shape(1))
        output = try Tensor(Shape(1))
    }

    func forward(_ x: Tensor, mode: Mode) throws -> Tensor {
        input = x
        let batchStatistics = bn.usesBatchStatistics(in: mode)
        try conv.forward(ConvolutionInput(x), shape: x.shape, into: h, recording: batchStatistics ? moments : nil)
        try output.resize(h.shape)
        try bn.forward(h.data, shape: h.shape, mode: mode, moments: moments, recordsMoments: false,
                       into: output.data, relu: true)
        return output
    }

    /// Adds the parameter gradients for dy, the gradient of the output (read, not changed).
    func backward(_ dy: Tensor, gradients: TrunkGradients) throws {
        guard let x = input else { throw SuperConvError.state("stem: backward called before forward") }
        let dh = bn.backward(dy.data, input: h.data, shape: h.shape, relu: .recomputed, into: nil)
        try gradients.a.resize(h.shape)
        try conv.backward(ConvolutionInput(x), shape: x.shape, gradient: .normalizing(dh, spill: gradients.a.data),
                          inputGradient: nil)
    }
}
