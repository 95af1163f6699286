/// The residual unit of CIFAR ResNets: conv3x3-BN-ReLU-conv3x3-BN, plus the shortcut, then ReLU.
///
///   h   = bn2(conv2(relu(bn1(conv1(x)))))
///   s   = shortcut(x)         identity, or the downsampling shortcut of the variant
///   out = relu(h + s)         then, in the caffe variant's downsampling block, zero channels
///                             appended to double the width
/// Backward of the sum sends the same gradient to both branches; dx is the sum of what the
/// branch and the shortcut return.
public final class BasicBlock: Layer {
    let conv1: Conv2d, bn1: BatchNorm2d, relu1: ReLU
    let conv2: Conv2d, bn2: BatchNorm2d
    let shortcut: Layer?
    let relu2: ReLU
    let widen: ChannelZeroPad?
    private let sum: Tensor, gradInput: Tensor

    init(conv1: Conv2d, bn1: BatchNorm2d, conv2: Conv2d, bn2: BatchNorm2d,
         shortcut: Layer?, widen: ChannelZeroPad?) throws {
        self.conv1 = conv1
        self.bn1 = bn1
        self.conv2 = conv2
        self.bn2 = bn2
        self.shortcut = shortcut
        self.widen = widen
        relu1 = try ReLU()
        relu2 = try ReLU()
        sum = try Tensor(Shape(1))
        gradInput = try Tensor(Shape(1))
    }

    /// The block's parameterised layers under their PyTorch names.
    var namedLayers: [(String, Layer)] { [("conv1", conv1), ("bn1", bn1), ("conv2", conv2), ("bn2", bn2)] }

    var batchNorms: [BatchNorm2d] { [bn1, bn2] }

    public var parameters: [Parameter] { namedLayers.flatMap { $0.1.parameters } }

    public func forward(_ x: Tensor, mode: Mode) throws -> Tensor {
        var h = try conv1.forward(x, mode: mode)
        h = try bn1.forward(h, mode: mode)
        h = try relu1.forward(h, mode: mode)
        h = try conv2.forward(h, mode: mode)
        h = try bn2.forward(h, mode: mode)
        let s = try shortcut?.forward(x, mode: mode) ?? x
        guard s.shape == h.shape else {
            throw SuperConvError.shape("residual block: shortcut gives \(s.shape), branch gives \(h.shape)")
        }
        try sum.resize(h.shape)
        add(h.data, s.data, into: sum.data, count: h.count)
        let out = try relu2.forward(sum, mode: mode)
        return try widen?.forward(out, mode: mode) ?? out
    }

    public func backward(_ dy: Tensor) throws -> Tensor {
        let dOut = try widen?.backward(dy) ?? dy
        let dSum = try relu2.backward(dOut)
        var dh = try bn2.backward(dSum)
        dh = try conv2.backward(dh)
        dh = try relu1.backward(dh)
        dh = try bn1.backward(dh)
        let dBranch = try conv1.backward(dh)
        let dShortcut = try shortcut?.backward(dSum) ?? dSum
        try gradInput.resize(dBranch.shape)
        add(dBranch.data, dShortcut.data, into: gradInput.data, count: dBranch.count)
        return gradInput
    }
}
