/// The CIFAR ResNet family's options, parsed from a model spec.
public struct ModelConfiguration: Sendable {
    public enum Variant: String, Sendable {
        /// The authors' Caffe network (the architecture files they published with the paper):
        /// conv biases, average-pool shortcut, zero channels appended after the downsampling block.
        case caffe
        /// He et al. 2016 option A as in the common PyTorch CIFAR ResNet: no conv biases,
        /// stride-2 subsampled shortcut zero-padded on both sides, branch at the doubled width.
        case heA = "he-a"
    }

    public var depth: Int
    public var variant: Variant
    public var channels: Int, height: Int, width: Int
    public var classes: Int
    public var seed: UInt64
    public var batchNormFraction: Float
    public var batchNormEpsilon: Float
    public var batchNormStatistics: String
    public var batchNormInference: BatchNormInference
    public var dropout: Float
    public var spec: Spec

    /// Residual blocks per stage: depth = 6n + 2.
    public var blocksPerStage: Int { (depth - 2) / 6 }

    public static let schema = SpecSchema(subject: "model", keys: [
        .init("depth", "20", "layers, 6n+2: 20, 32, 44, 56, 110, ... (8 to 1202)"),
        .init("variant", "caffe", "caffe (the paper's Caffe network: conv biases, average-pool shortcut) "
              + "or he-a (He et al.'s option A, the common PyTorch CIFAR ResNet)"),
        .init("input", "3x32x32", "CxHxW of one sample (C <= 64, H and W >= 4; caffe needs H and W divisible by 4)"),
        .init("classes", "10", "number of classes"),
        .init("seed", "1", "unsigned 64-bit seed of the MSRA initialisation and the dropout masks"),
        .init("bn_maf", "0.95", "BatchNorm moving-average fraction in (0, 1]; the paper uses 0.95 for short runs "
              + "(Caffe's default is 0.999; PyTorch's momentum 0.1 is bn_maf=0.9)"),
        .init("bn_eps", "1e-05", "BatchNorm epsilon, in (0, 1]"),
        .init("bn_stats", "caffe", "running statistics: caffe (bias-corrected sums, unbiased batch variance) "
              + "or pytorch (running = (1 - momentum)*running + momentum*batch, momentum = 1 - bn_maf)"),
        .init("bn_eval", "global", "inference normalises with global (running) statistics, or with the batch's own "
              + "(batch: Caffe's use_global_stats: false)"),
        .init("dropout", "0", "dropout probability before the classifier, in [0, 0.99]"),
    ])

    public init(spec text: String) throws {
        let spec = try Self.schema.parse(text)
        depth = try spec.int("depth", in: 8...1202)
        guard (depth - 2) % 6 == 0 else {
            throw spec.invalid("depth", "expected 6n+2 (20, 32, 44, 56, 110, ...)")
        }
        variant = Variant(rawValue: try spec.choice("variant", ["caffe", "he-a"]))!
        let dims = try spec.dimensions("input", count: 3, in: 1...4096)
        (channels, height, width) = (dims[0], dims[1], dims[2])
        guard dims[0] <= 64 else { throw spec.invalid("input", "expected at most 64 channels") }
        guard height >= 4, width >= 4, height * width <= 1 << 20 else {
            throw spec.invalid("input", "expected H and W of at least 4 and H*W at most 2^20")
        }
        if variant == .caffe, height % 4 != 0 || width % 4 != 0 {
            throw spec.invalid("input", "the caffe variant's average-pool shortcut needs H and W divisible by 4")
        }
        classes = try spec.int("classes", in: 1...100_000)
        seed = try spec.uint64("seed")
        batchNormFraction = try spec.float("bn_maf", in: 0...1, excludingLowerBound: true)
        batchNormEpsilon = try spec.float("bn_eps", in: 0...1, excludingLowerBound: true)
        batchNormStatistics = try spec.choice("bn_stats", ["caffe", "pytorch"])
        batchNormInference = BatchNormInference(rawValue: try spec.choice("bn_eval", ["global", "batch"]))!
        dropout = try spec.float("dropout", in: 0...0.99)
        self.spec = spec
    }

    var statistics: BatchNormStatistics {
        batchNormStatistics == "caffe"
            ? .caffe(movingAverageFraction: batchNormFraction)
            : .pytorch(momentum: 1 - batchNormFraction)
    }
}
