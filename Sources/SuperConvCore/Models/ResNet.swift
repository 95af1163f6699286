import Glibc

/// A CIFAR ResNet of depth 6n + 2 (He et al. 2016, Sec. 4.2): a 3x3 stem of 16 channels, three
/// stages of n basic blocks at 16, 32 and 64 channels (the second and third halve the plane),
/// global average pooling, optional dropout, and a fully connected classifier.
///
/// Parameters are registered under PyTorch `state_dict` names (`conv1.weight`,
/// `layer2.0.bn1.running_mean`, `fc.bias`) in a fixed order, which is also the order of
/// initialisation from the seed.
public final class ResNet {
    public let configuration: ModelConfiguration
    public let parameters: [Parameter]
    public let random: RandomSource
    public let workspace: Workspace

    private let stem: [Layer]
    private let blocks: [BasicBlock]
    private let pool: GlobalAvgPool
    private let dropout: Dropout
    private let fc: Linear
    private let batchNorms: [BatchNorm2d]
    private let input: Tensor
    /// Per-part timing of training steps (off unless enabled).
    public let profiler = Profiler()
    private let stemSlots: [Int], headSlots: [Int]
    private let head: [Layer]  // pool, dropout, fc

    public var sampleShape: Shape { Shape(configuration.channels, configuration.height, configuration.width) }
    public var sampleSize: Int { sampleShape.count }
    public var classes: Int { configuration.classes }

    /// The largest batch one forward takes; larger inputs are processed in chunks by `predict`.
    public static let maximumBatch = 1 << 16

    public init(_ config: ModelConfiguration) throws {
        configuration = config
        _ = Threads.count  // applies the thread setting to OpenBLAS before the first GEMM
        let workspace = Workspace()
        self.workspace = workspace
        random = RandomSource(seed: config.seed)
        let caffe = config.variant == .caffe
        let stats = config.statistics

        func conv(_ inC: Int, _ outC: Int, stride: Int) throws -> Conv2d {
            try Conv2d(inChannels: inC, outChannels: outC, kernel: 3, stride: stride, padding: 1,
                       bias: caffe, workspace: workspace)
        }
        func norm(_ c: Int, relu: Bool = false) throws -> BatchNorm2d {
            try BatchNorm2d(channels: c, epsilon: config.batchNormEpsilon, statistics: stats,
                            inference: config.batchNormInference, appliesReLU: relu)
        }

        let stemConv = try conv(config.channels, 16, stride: 1)
        stemConv.computesInputGradient = false
        let stemNorm = try norm(16, relu: true)
        stemNorm.reads(outputOf: stemConv)
        stem = [stemConv, stemNorm]
        stemSlots = ["conv1", "bn1"].map(profiler.slot)
        var named: [(String, Layer)] = [("conv1", stemConv), ("bn1", stemNorm)]

        var blocks: [BasicBlock] = []
        var width = 16
        for stage in 0..<3 {
            for index in 0..<config.blocksPerStage {
                let downsample = stage > 0 && index == 0
                let block: BasicBlock
                if !downsample {
                    block = try BasicBlock(conv1: conv(width, width, stride: 1), bn1: norm(width, relu: true),
                                           conv2: conv(width, width, stride: 1), bn2: norm(width),
                                           shortcut: nil, widen: nil)
                } else if caffe {
                    // The branch keeps the input width; the pooled shortcut matches it; zeros
                    // appended after the sum double the width for the next block.
                    block = try BasicBlock(conv1: conv(width, width, stride: 2), bn1: norm(width, relu: true),
                                           conv2: conv(width, width, stride: 1), bn2: norm(width),
                                           shortcut: AvgPool2d(kernel: 3, stride: 2),
                                           widen: ChannelZeroPad(before: 0, after: width, stride: 1))
                    width *= 2
                } else {
                    let half = width / 2
                    block = try BasicBlock(conv1: conv(width, 2 * width, stride: 2), bn1: norm(2 * width, relu: true),
                                           conv2: conv(2 * width, 2 * width, stride: 1), bn2: norm(2 * width),
                                           shortcut: ChannelZeroPad(before: half, after: half, stride: 2),
                                           widen: nil)
                    width *= 2
                }
                blocks.append(block)
                block.profile(with: profiler, as: "layer\(stage + 1).\(index)")
                for (name, layer) in block.namedLayers { named.append(("layer\(stage + 1).\(index).\(name)", layer)) }
            }
        }
        self.blocks = blocks
        pool = try GlobalAvgPool()
        // dLoss/dActivation needs only three tensors for the whole trunk (see BasicBlock), not
        // one per layer: the pool's dx enters the last block in s, each block leaves its dx in
        // s, and the stem's BN writes to a.
        let gradientA = try Tensor(Shape(1)), gradientB = try Tensor(Shape(1)), gradientS = try Tensor(Shape(1))
        for block in blocks { block.shareGradients(gradientA, gradientB, gradientS) }
        pool.gradInput = gradientS
        stemNorm.gradInput = gradientA
        dropout = try Dropout(probability: config.dropout, random: random)
        fc = try Linear(inFeatures: width, outFeatures: config.classes)
        named.append(("fc", fc))
        head = [pool, dropout, fc]
        headSlots = ["pool", "dropout", "fc"].map(profiler.slot)

        var parameters: [Parameter] = []
        for (prefix, layer) in named {
            for p in layer.parameters {
                p.name = "\(prefix).\(p.name)"
                let isBias = p.name.hasSuffix(".bias") && !(layer is BatchNorm2d)
                if caffe && isBias {
                    // Caffe solver files of the paper: biases learn at twice the rate, undecayed.
                    p.learningRateMultiplier = 2
                    p.decayMultiplier = 0
                }
                parameters.append(p)
            }
        }
        self.parameters = parameters
        batchNorms = [stemNorm] + blocks.flatMap(\.batchNorms)
        input = try Tensor(Shape(1))
        initializeWeights()
    }

    /// MSRA initialisation (He et al. 2015; Caffe's "msra" filler, PyTorch's kaiming_normal_
    /// with fan_in): weights ~ N(0, 2/fan_in) for convolutions and the classifier; biases 0;
    /// BN scale 1, shift 0, running mean 0, running variance 1.
    public func initializeWeights() {
        var rng = RandomGenerator(seed: configuration.seed)
        for p in parameters where p.isTrainable && p.value.shape.rank >= 2 {
            let fanIn = p.value.count / p.value.shape[0]
            let std = Float((2.0 / Double(fanIn)).squareRoot())
            for i in 0..<p.value.count { p.value.data[i] = std * rng.nextNormal() }
        }
        random.generator = RandomGenerator(seed: configuration.seed ^ 0x5EED_D80F_0000_0001)
    }

    public func parameter(named name: String) -> Parameter? {
        parameters.first { $0.name == name }
    }

    /// Copies `count` samples into the model's input tensor and checks its size.
    public func loadInput(_ x: UnsafePointer<Float>, count n: Int) throws -> Tensor {
        guard (1...Self.maximumBatch).contains(n) else {
            throw SuperConvError.invalidArgument("batch of \(n) samples; expected 1...\(Self.maximumBatch)")
        }
        try input.resize(Shape(n, configuration.channels, configuration.height, configuration.width))
        input.copy(from: x)
        return input
    }

    /// Logits [N, classes] for an input [N, C, H, W] already in the model's input tensor.
    public func forward(_ x: Tensor, mode: Mode) throws -> Tensor {
        var h = x
        for i in stem.indices { h = try profiler.forward(stemSlots[i]) { try stem[i].forward(h, mode: mode) } }
        for block in blocks { h = try block.forward(h, mode: mode) }
        for i in head.indices { h = try profiler.forward(headSlots[i]) { try head[i].forward(h, mode: mode) } }
        return h
    }

    /// Back-propagates dLoss/dLogits through the last forward, accumulating parameter gradients.
    public func backward(_ gradLogits: Tensor) throws {
        var g = gradLogits
        for i in head.indices.reversed() { g = try profiler.backward(headSlots[i]) { try head[i].backward(g) } }
        for block in blocks.reversed() { g = try block.backward(g) }
        for i in stem.indices.reversed() { g = try profiler.backward(stemSlots[i]) { try stem[i].backward(g) } }
    }

    /// Whether every BN's batch statistics from the last training forward are finite.
    public var batchStatisticsAreFinite: Bool { batchNorms.allSatisfy(\.batchStatisticsAreFinite) }

    /// Folds the last training forward's batch statistics into every BN's running statistics.
    public func commitStatistics() {
        for bn in batchNorms { bn.commitStatistics() }
    }

    public func zeroGradients() {
        for p in parameters { p.gradient?.fill(0) }
    }

    /// Caffe's per-BN weight s, in registry order (state beside the named tensors).
    public var statisticsWeights: [Float] {
        get { batchNorms.map(\.statisticsWeight) }
        set { for (bn, s) in zip(batchNorms, newValue) { bn.statisticsWeight = s } }
    }

    /// Inference-mode logits for `n` samples, in chunks of at most `chunk` samples.
    public func predict(_ x: UnsafePointer<Float>, count n: Int, chunk: Int = 256,
                        into logits: UnsafeMutablePointer<Float>) throws {
        for first in stride(from: 0, to: n, by: chunk) {
            let m = min(chunk, n - first)
            let batch = try loadInput(x + first * sampleSize, count: m)
            let out = try forward(batch, mode: .inference)
            (logits + first * classes).update(from: out.data, count: m * classes)
        }
    }
}
