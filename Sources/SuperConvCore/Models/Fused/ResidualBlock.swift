import SuperConvKernelsPortable

/// How a residual block's input reaches its sum.
enum Shortcut {
    case identity
    /// The authors' Caffe network: 3x3 average pooling at stride 2 matches the branch's plane;
    /// zero channels appended after the sum (`widen`) double the width for the next block.
    case averagePool(AvgPool2d, widen: ChannelZeroPad)
    /// PyTorch's option A: x[:, :, ::2, ::2] with zero channels on both sides.
    case subsample(ChannelZeroPad)
}

/// The residual unit of CIFAR ResNets, fused: the one place where layers share work.
///
///   h1  = conv1(x)
///   a1  = relu(bn1(h1))
///   h2  = conv2(a1)
///   sum = relu(bn2(h2) + shortcut(x))
///   out = sum, or sum with zero channels appended (caffe's downsampling block)
///
/// What the fusion saves, against the same layers one after another (`Conv2d`, `BatchNorm2d`,
/// ... which give the same results bit for bit on the same instruction set):
/// - each convolution records its output planes' moments as it stores them, so the batch norm
///   after it computes its statistics without a pass over h;
/// - a1 is never written where conv2 runs the direct kernels: conv2 maps h1 through bn1 and its
///   ReLU as it copies each image (`ConvolutionInput(mapping:through:)`); elsewhere bn1 writes a1;
/// - bn2 forms the residual sum and its ReLU in the pass that normalises;
/// - backward, each batch norm only sums, and the convolution before it forms the batch norm's dx
///   image by image as it reads it (`ConvolutionOutputGradient.normalizing`);
/// - the ReLU's mask is read from sum (identity shortcut) where its gradient is used, never
///   written out; a downsampling shortcut needs dSum as a tensor, so those blocks write it.
///
/// The block owns its activations; the gradients flow through the network's `TrunkGradients`.
final class ResidualBlock {
    let conv1: Convolution, bn1: Normalization
    let conv2: Convolution, bn2: Normalization
    let shortcut: Shortcut
    private let gradients: TrunkGradients
    private let moments1: PlaneMoments, moments2: PlaneMoments
    private let h1: Tensor, a1: Tensor, h2: Tensor, sum: Tensor
    /// shortcut(x) for downsampling shortcuts, and the widened output of the caffe one.
    private let shortcutOutput: Tensor, widened: Tensor
    private var input: Tensor?
    private var profiler = Profiler()
    private var slots = Slots()

    /// The profiler's slot of each part.
    private struct Slots {
        var conv1 = 0, bn1 = 0, conv2 = 0, bn2 = 0, shortcut = 0, add = 0, relu2 = 0, widen = 0
    }

    init(conv1: Convolution, bn1: Normalization, conv2: Convolution, bn2: Normalization,
         shortcut: Shortcut, gradients: TrunkGradients) throws {
        guard conv1.instructionSet == conv2.instructionSet, conv1.computesInputGradient, conv2.computesInputGradient else {
            throw SuperConvError.state("residual block: both convolutions compute dx, on one instruction set")
        }
        self.conv1 = conv1
        self.bn1 = bn1
        self.conv2 = conv2
        self.bn2 = bn2
        self.shortcut = shortcut
        self.gradients = gradients
        moments1 = try PlaneMoments()
        moments2 = try PlaneMoments()
        h1 = try Tensor(Shape(1))
        a1 = try Tensor(Shape(1))
        h2 = try Tensor(Shape(1))
        sum = try Tensor(Shape(1))
        shortcutOutput = try Tensor(Shape(1))
        widened = try Tensor(Shape(1))
    }

    /// The parameters under their PyTorch names within the block.
    var namedParameters: [(String, [Parameter])] {
        [("conv1", conv1.parameters), ("bn1", bn1.parameters), ("conv2", conv2.parameters), ("bn2", bn2.parameters)]
    }

    var normalizations: [Normalization] { [bn1, bn2] }

    /// Times each part under "<prefix>.<part>" when `profiler` is enabled.
    func profile(with profiler: Profiler, as prefix: String) {
        self.profiler = profiler
        func slot(_ part: String) -> Int { profiler.slot(prefix + "." + part) }
        let downsampling: Bool
        if case .identity = shortcut { downsampling = false } else { downsampling = true }
        var widens = false
        if case .averagePool = shortcut { widens = true }
        slots = Slots(conv1: slot("conv1"), bn1: slot("bn1"), conv2: slot("conv2"), bn2: slot("bn2"),
                      shortcut: downsampling ? slot("shortcut") : 0, add: slot("add"),
                      relu2: downsampling ? slot("relu2") : 0, widen: widens ? slot("widen") : 0)
    }

    /// What conv2 reads: h1 mapped through bn1 and its ReLU where it can, else a1.
    private var conv2Input: ConvolutionInput {
        conv2.plan.mapsInputAsItReads ? ConvolutionInput(mapping: h1, through: bn1.outputMap(relu: true))
                                      : ConvolutionInput(a1)
    }

    func forward(_ x: Tensor, mode: Mode) throws -> Tensor {
        let p = profiler
        input = x
        let batchStatistics = bn1.usesBatchStatistics(in: mode)
        try p.forward(slots.conv1) {
            try conv1.forward(ConvolutionInput(x), shape: x.shape, into: h1, recording: batchStatistics ? moments1 : nil)
        }
        try p.forward(slots.bn1) {
            let writesA1 = !conv2.plan.mapsInputAsItReads
            if writesA1 { try a1.resize(h1.shape) }
            try bn1.forward(h1.data, shape: h1.shape, mode: mode, moments: moments1, recordsMoments: false,
                            into: writesA1 ? a1.data : nil, relu: true)
        }
        try p.forward(slots.conv2) {
            try conv2.forward(conv2Input, shape: h1.shape, into: h2, recording: batchStatistics ? moments2 : nil)
        }
        let s = try p.forward(slots.shortcut) { () throws -> Tensor in
            switch shortcut {
            case .identity: return x
            case .averagePool(let pool, _): try pool.forward(x, into: shortcutOutput)
            case .subsample(let pad): try pad.forward(x, into: shortcutOutput)
            }
            return shortcutOutput
        }
        guard s.shape == h2.shape else {
            throw SuperConvError.shape("residual block: shortcut gives \(s.shape), branch gives \(h2.shape)")
        }
        try p.forward(slots.bn2) {
            try sum.resize(h2.shape)
            try bn2.forward(h2.data, shape: h2.shape, mode: mode, moments: moments2, recordsMoments: false,
                            into: sum.data, adding: s.data, relu: true)
        }
        guard case .averagePool(_, let widen) = shortcut else { return sum }
        try p.forward(slots.widen) { try widen.forward(sum, into: widened) }
        return widened
    }

    /// Back-propagates dy, the gradient of the last forward's output, and returns dx, which is
    /// left in the trunk's s (dy may be s itself; see `TrunkGradients` for the other tensors).
    func backward(_ dy: Tensor) throws -> Tensor {
        guard let x = input else { throw SuperConvError.state("residual block: backward called before forward") }
        let p = profiler, g = gradients
        var dOut = dy
        if case .averagePool(_, let widen) = shortcut {
            try p.backward(slots.widen) { try widen.backward(dy, into: g.a) }
            dOut = g.a
        }
        // dSum = dOut where sum > 0: masked where it is read for an identity shortcut, written
        // out for a downsampling one, whose pooling or padding reads it whole.
        var dSum = dOut, sumReLU = FollowingReLU.storedOutput(sum.data)
        if case .identity = shortcut {} else {
            try p.backward(slots.relu2) {
                try g.s.resize(sum.shape)
                Elementwise.reluBackward(output: sum.data, gradient: dOut.data, into: g.s.data, count: sum.count).run()
            }
            (dSum, sumReLU) = (g.s, .none)
        }
        // Room for a batch norm's dx where the convolution before it cannot form it as it reads.
        try g.a.resize(h2.shape)
        let dh2 = p.backward(slots.bn2) {
            bn2.backward(dSum.data, input: h2.data, shape: h2.shape, relu: sumReLU, into: nil)
        }
        try p.backward(slots.conv2) {
            try conv2.backward(conv2Input, shape: h1.shape, gradient: .normalizing(dh2, spill: g.a.data),
                               inputGradient: g.b)
        }
        try g.a.resize(h1.shape)
        let dh1 = p.backward(slots.bn1) {
            bn1.backward(g.b.data, input: h1.data, shape: h1.shape, relu: .recomputed, into: nil)
        }
        try p.backward(slots.conv1) {
            try conv1.backward(ConvolutionInput(x), shape: x.shape, gradient: .normalizing(dh1, spill: g.a.data),
                               inputGradient: g.b)
        }
        // dx = the branch's dx + the shortcut's.
        switch shortcut {
        case .identity:
            try g.s.resize(x.shape)
            p.backward(slots.add) {
                Elementwise.addReLUGradient(g.b.data, output: sum.data, gradient: dOut.data, into: g.s.data,
                                            count: x.count).run()
            }
        case .averagePool(let pool, _):
            try p.backward(slots.shortcut) { try pool.backward(dSum, into: g.a) }
            try addShortcutGradient(into: g, shape: x.shape)
        case .subsample(let pad):
            try p.backward(slots.shortcut) { try pad.backward(dSum, into: g.a) }
            try addShortcutGradient(into: g, shape: x.shape)
        }
        return g.s
    }

    /// s = b + a: the branch's dx plus a downsampling shortcut's.
    private func addShortcutGradient(into g: TrunkGradients, shape: Shape) throws {
        try g.s.resize(shape)
        profiler.backward(slots.add) { Elementwise.add(g.b.data, g.a.data, into: g.s.data, count: shape.count).run() }
    }
}
