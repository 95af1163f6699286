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

    /// The instruction set whose kernels the network runs.
    public let instructionSet: InstructionSet

    private let stem: Stem
    private let blocks: [ResidualBlock]
    private let gradients: TrunkGradients
    private let pool: GlobalAvgPool
    private let dropout: Dropout
    private let fc: Linear
    private let normalizations: [Normalization]
    /// The samples of the last `loadInput`.
    public let input: Tensor
    /// Per-part timing of training steps (off unless enabled).
    public let profiler = Profiler()
    private let stemSlot: Int, headSlots: [Int]

    public var sampleShape: Shape { Shape(configuration.channels, configuration.height, configuration.width) }
    public var sampleSize: Int { sampleShape.count }
    public var classes: Int { configuration.classes }

    /// The largest batch one forward takes; larger inputs are processed in chunks by `predict`.
    public static let maximumBatch = 1 << 16

    public init(_ config: ModelConfiguration, instructionSet: InstructionSet = .selected) throws {
        configuration = config
        self.instructionSet = instructionSet
        _ = Threads.count  // applies the thread setting to OpenBLAS before the first GEMM
        let workspace = Workspace()
        self.workspace = workspace
        random = RandomSource(seed: config.seed)
        let caffe = config.variant == .caffe

        func conv(_ inC: Int, _ outC: Int, stride: Int, computesInputGradient: Bool = true) throws -> Convolution {
            try Convolution(inChannels: inC, outChannels: outC, kernel: 3, stride: stride, padding: 1, bias: caffe,
                            computesInputGradient: computesInputGradient, instructionSet: instructionSet,
                            workspace: workspace)
        }
        func norm(_ c: Int) throws -> Normalization {
            try Normalization(channels: c, epsilon: config.batchNormEpsilon, statistics: config.statistics,
                              inference: config.batchNormInference)
        }

        stem = try Stem(conv: conv(config.channels, 16, stride: 1, computesInputGradient: false), bn: norm(16))
        stemSlot = profiler.slot("stem")
        var named: [(String, [Parameter])] = [("conv1", stem.conv.parameters), ("bn1", stem.bn.parameters)]

        let gradients = try TrunkGradients()
        self.gradients = gradients
        var blocks: [ResidualBlock] = []
        var width = 16
        for stage in 0..<3 {
            for index in 0..<config.blocksPerStage {
                let downsample = stage > 0 && index == 0
                let block: ResidualBlock
                if !downsample {
                    block = try ResidualBlock(conv1: conv(width, width, stride: 1), bn1: norm(width),
                                              conv2: conv(width, width, stride: 1), bn2: norm(width),
                                              shortcut: .identity, gradients: gradients)
                } else if caffe {
                    // The branch keeps the input width; the pooled shortcut matches it; zeros
                    // appended after the sum double the width for the next block.
                    block = try ResidualBlock(conv1: conv(width, width, stride: 2), bn1: norm(width),
                                              conv2: conv(width, width, stride: 1), bn2: norm(width),
                                              shortcut: .averagePool(AvgPool2d(kernel: 3, stride: 2),
                                                                     widen: ChannelZeroPad(before: 0, after: width, stride: 1)),
                                              gradients: gradients)
                    width *= 2
                } else {
                    let half = width / 2
                    block = try ResidualBlock(conv1: conv(width, 2 * width, stride: 2), bn1: norm(2 * width),
                                              conv2: conv(2 * width, 2 * width, stride: 1), bn2: norm(2 * width),
                                              shortcut: .subsample(ChannelZeroPad(before: half, after: half, stride: 2)),
                                              gradients: gradients)
                    width *= 2
                }
                blocks.append(block)
                block.profile(with: profiler, as: "layer\(stage + 1).\(index)")
                for (name, parameters) in block.namedParameters { named.append(("layer\(stage + 1).\(index).\(name)", parameters)) }
            }
        }
        self.blocks = blocks
        pool = try GlobalAvgPool()
        dropout = try Dropout(probability: config.dropout, random: random)
        fc = try Linear(inFeatures: width, outFeatures: config.classes)
        named.append(("fc", fc.parameters))
        headSlots = ["pool", "dropout", "fc"].map(profiler.slot)

        var parameters: [Parameter] = []
        for (prefix, group) in named {
            for p in group {
                p.name = "\(prefix).\(p.name)"
                let isConvolutionBias = p.name.hasSuffix(".bias") && !prefix.hasSuffix("bn1") && !prefix.hasSuffix("bn2")
                if caffe && isConvolutionBias {
                    // Caffe solver files of the paper: biases learn at twice the rate, undecayed.
                    p.learningRateMultiplier = 2
                    p.decayMultiplier = 0
                }
                parameters.append(p)
            }
        }
        self.parameters = parameters
        normalizations = [stem.bn] + blocks.flatMap(\.normalizations)
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

    /// How many forward passes have begun: a trainer's computed gradients belong to the BN
    /// statistics of one of them, which the next overwrites.
    public private(set) var forwardPasses = 0

    /// Logits [N, classes] for an input [N, C, H, W] already in the model's input tensor.
    public func forward(_ x: Tensor, mode: Mode) throws -> Tensor {
        forwardPasses &+= 1
        var h = try profiler.forward(stemSlot) { try stem.forward(x, mode: mode) }
        for block in blocks { h = try block.forward(h, mode: mode) }
        h = try profiler.forward(headSlots[0]) { try pool.forward(h, mode: mode) }
        h = try profiler.forward(headSlots[1]) { try dropout.forward(h, mode: mode) }
        return try profiler.forward(headSlots[2]) { try fc.forward(h, mode: mode) }
    }

    /// Back-propagates dLoss/dLogits through the last forward, accumulating parameter gradients.
    /// The trunk's gradient flows through `TrunkGradients`, whose s the pooling head writes.
    public func backward(_ gradLogits: Tensor) throws {
        var g = try profiler.backward(headSlots[2]) { try fc.backward(gradLogits) }
        g = try profiler.backward(headSlots[1]) { try dropout.backward(g) }
        try profiler.backward(headSlots[0]) { try pool.backward(g, into: gradients.s) }
        g = gradients.s
        for block in blocks.reversed() { g = try block.backward(g) }
        try profiler.backward(stemSlot) { try stem.backward(g, gradients: gradients) }
    }

    /// Whether every BN's batch statistics from the last training forward are finite.
    public var batchStatisticsAreFinite: Bool { normalizations.allSatisfy(\.batchStatisticsAreFinite) }

    /// Folds the last training forward's batch statistics into every BN's running statistics.
    public func commitStatistics(by rule: BatchNormStatistics? = nil) {
        for bn in normalizations { bn.commitStatistics(by: rule) }
    }

    public func zeroGradients() {
        for p in parameters { p.gradient?.fill(0) }
    }

    /// Every BN's running mean and variance (the parameters that are not trained).
    public var runningStatistics: [Parameter] { parameters.filter { !$0.isTrainable } }

    /// Caffe's per-BN weight s, in registry order (state beside the named tensors).
    public var statisticsWeights: [Float] {
        get { normalizations.map(\.statisticsWeight) }
        set { for (bn, s) in zip(normalizations, newValue) { bn.statisticsWeight = s } }
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
