/// The residual unit of CIFAR ResNets: conv3x3-BN-ReLU-conv3x3-BN, plus the shortcut, then ReLU.
///
///   h   = bn2(conv2(relu(bn1(conv1(x)))))   (bn1 applies the first ReLU itself)
///   s   = shortcut(x)         identity, or the downsampling shortcut of the variant
///   out = relu(h + s)         then, in the caffe variant's downsampling block, zero channels
///                             appended to double the width
/// Backward of the sum sends the same gradient to both branches; dx is the sum of what the
/// branch and the shortcut return.
///
/// Memory: bn2 forms the sum and its ReLU in the pass that normalises (bn2's backward needs only
/// its input and this output), so the block keeps four activations: conv1's and bn1's outputs,
/// conv2's, and this one. bn1's output is not written where conv2 runs its direct kernels: conv2
/// maps conv1's output through bn1 and its ReLU as it copies each image (`Conv2d.reads(outputOf:)`).
/// In a ResNet the gradients go through three tensors shared by every block (`shareGradients`).
///
/// Backward of the ReLU: dSum = dOut where out > 0. With an identity shortcut dSum is read by
/// bn2's backward (which masks dOut itself, `outputFeedsReLUInPlace`) and by the final sum
/// dx = dBranch + dSum (masked as it is added), so it is never written out; a downsampling
/// shortcut needs it as a tensor, so those blocks run the ReLU's backward first.
public final class BasicBlock: Layer {
    let conv1: Conv2d, bn1: BatchNorm2d
    let conv2: Conv2d, bn2: BatchNorm2d
    let shortcut: Layer?
    let relu2: ReLU
    let widen: ChannelZeroPad?
    private var gradInput: Tensor
    private var profiler = Profiler()
    private var slots = Slots()

    /// The profiler's slot of each part.
    private struct Slots {
        var conv1 = 0, bn1 = 0, conv2 = 0, bn2 = 0, shortcut = 0, add = 0, relu2 = 0, widen = 0
    }

    init(conv1: Conv2d, bn1: BatchNorm2d, conv2: Conv2d, bn2: BatchNorm2d,
         shortcut: Layer?, widen: ChannelZeroPad?) throws {
        self.conv1 = conv1
        self.bn1 = bn1
        self.conv2 = conv2
        self.bn2 = bn2
        self.shortcut = shortcut
        self.widen = widen
        guard bn1.appliesReLU else { throw SuperConvError.state("residual block: bn1 must apply the block's first ReLU") }
        bn1.reads(outputOf: conv1)
        conv2.reads(outputOf: bn1)
        bn2.reads(outputOf: conv2)
        relu2 = try ReLU()
        relu2.output = bn2.output
        bn2.outputFeedsReLUInPlace = true
        gradInput = try Tensor(Shape(1))
    }

    /// The block's parameterised layers under their PyTorch names.
    var namedLayers: [(String, Layer)] { [("conv1", conv1), ("bn1", bn1), ("conv2", conv2), ("bn2", bn2)] }

    var batchNorms: [BatchNorm2d] { [bn1, bn2] }

    /// Points the backward passes at three gradient tensors shared by all blocks of a network:
    /// a and b alternate along the branch and carry the shortcut's gradient, s holds dLoss/dSum
    /// while both paths need it and then the block's dx (formed in place, as is relu2's backward
    /// when dy arrives in s from the block above). Each tensor grows to the largest stage.
    func shareGradients(_ a: Tensor, _ b: Tensor, _ s: Tensor) {
        widen?.gradInput = a
        relu2.gradInput = s
        bn2.gradInput = a
        conv2.gradInput = b
        bn1.gradInput = a
        conv1.gradInput = b
        if let pool = shortcut as? AvgPool2d { pool.gradInput = a }
        if let pad = shortcut as? ChannelZeroPad { pad.gradInput = a }
        gradInput = s
    }

    /// Times each part under "<prefix>.<part>" when `profiler` is enabled.
    func profile(with profiler: Profiler, as prefix: String) {
        self.profiler = profiler
        func slot(_ part: String) -> Int { profiler.slot(prefix + "." + part) }
        slots = Slots(conv1: slot("conv1"), bn1: slot("bn1"), conv2: slot("conv2"),
                      bn2: slot("bn2"), shortcut: shortcut == nil ? 0 : slot("shortcut"), add: slot("add"),
                      relu2: shortcut == nil ? 0 : slot("relu2"), widen: widen == nil ? 0 : slot("widen"))
    }

    public var parameters: [Parameter] { namedLayers.flatMap { $0.1.parameters } }

    public func forward(_ x: Tensor, mode: Mode) throws -> Tensor {
        let p = profiler
        var h = try p.forward(slots.conv1) { try conv1.forward(x, mode: mode) }
        h = try p.forward(slots.bn1) { try bn1.forward(h, mode: mode) }
        h = try p.forward(slots.conv2) { try conv2.forward(h, mode: mode) }
        let s = try shortcut.map { layer in try p.forward(slots.shortcut) { try layer.forward(x, mode: mode) } } ?? x
        guard s.shape == h.shape else {
            throw SuperConvError.shape("residual block: shortcut gives \(s.shape), branch gives \(h.shape)")
        }
        h = try p.forward(slots.bn2) { try bn2.forward(h, mode: mode, addingThenReLU: s) }
        return try widen.map { layer in try p.forward(slots.widen) { try layer.forward(h, mode: mode) } } ?? h
    }

    public func backward(_ dy: Tensor) throws -> Tensor {
        let p = profiler
        let dOut = try widen.map { layer in try p.backward(slots.widen) { try layer.backward(dy) } } ?? dy
        // dOut unmasked for an identity shortcut (see above), else dSum.
        let dSum = shortcut == nil ? dOut : try p.backward(slots.relu2) { try relu2.backward(dOut) }
        var dh = try p.backward(slots.bn2) { try bn2.backward(dSum) }
        dh = try p.backward(slots.conv2) { try conv2.backward(dh) }
        dh = try p.backward(slots.bn1) { try bn1.backward(dh) }
        let dBranch = try p.backward(slots.conv1) { try conv1.backward(dh) }
        if let shortcut {
            let dShortcut = try p.backward(slots.shortcut) { try shortcut.backward(dSum) }
            // Only now: gradInput may be the tensor dSum lives in, and resizing may move it.
            try gradInput.resize(dBranch.shape)
            p.backward(slots.add) { add(dBranch.data, dShortcut.data, into: gradInput.data, count: dBranch.count) }
        } else {
            try gradInput.resize(dBranch.shape)
            p.backward(slots.add) {
                addReLUGradient(dBranch.data, output: bn2.output.data, gradient: dSum.data, into: gradInput.data,
                                count: dBranch.count)
            }
        }
        return gradInput
    }
}
