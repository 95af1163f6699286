/// The loader's options, parsed from a loader spec.
public struct LoaderConfiguration: Sendable {
    public enum Normalization: String, Sendable {
        /// Values as read (bytes scaled to [0, 1]).
        case none
        /// Per-channel mean and standard deviation of the selected samples.
        case channel
        /// The paper's: the per-pixel mean of the selected samples subtracted, no scaling.
        case pixel
    }

    public let batch: Int
    public let shuffle: Bool
    public let seed: UInt64
    public let dropLast: Bool
    public let cropPadding: Int
    public let flip: Bool
    public let normalization: Normalization
    public let subset: Int
    public let stratified: Bool
    public let holdout: Int
    public let holdoutPart: Bool
    public let prefetch: Int
    /// Given per-channel statistics for normalize=channel (empty: computed).
    public let givenMean: [Float], givenStd: [Float]
    /// This loader's part of every epoch: rank `shardRank` of `shardCount` (data-parallel training).
    public let shardRank: Int, shardCount: Int
    public let spec: Spec

    public static let schema = SpecSchema(subject: "loader", keys: [
        .init("batch", "128", "samples per batch"),
        .init("shuffle", "1", "1: a fresh order every epoch, seeded by (seed, epoch); 0: data order"),
        .init("seed", "0", "seed of the order, the augmentation and the subsets"),
        .init("drop_last", "0", "1: drop an epoch's last, smaller batch"),
        .init("augment", "none", "none, or a comma list of cropN (pad N zero pixels, crop a random window at the "
              + "original size) and flip (mirror with probability 1/2)"),
        .init("normalize", "none", "none; channel: per-channel mean and standard deviation; pixel: the paper's "
              + "per-pixel mean subtracted without scaling (computed on the loader's samples)"),
        .init("subset", "0", "use only this many samples; 0: all"),
        .init("subset_mode", "first", "first (the first samples), or stratified (a seeded random subset with the "
              + "class proportions, as the paper's 10k to 40k experiments)"),
        .init("holdout", "0", "samples held out (stratified, seeded) after the subset"),
        .init("part", "train", "train (the samples not held out) or holdout"),
        .init("prefetch", "2", "batches prepared ahead by the background thread, 1 to 64"),
        .init("mean", "auto", "normalize=channel: per-channel means as a comma list (e.g. 0.4914,0.4822,0.4465), "
              + "or auto (computed)"),
        .init("std", "auto", "normalize=channel: per-channel standard deviations as a comma list, or auto (computed)"),
        .init("shard", "0/1", "RANK/WORLD: this rank's part of every epoch; all ranks shuffle alike (same seed) and "
              + "take every WORLD-th sample of the order from their own, so together they see each sample once"),
    ])

    public init(spec text: String) throws {
        let spec = try Self.schema.parse(text)
        batch = try spec.int("batch", in: 1...ResNet.maximumBatch)
        shuffle = try spec.choice("shuffle", ["0", "1"]) == "1"
        seed = try spec.uint64("seed")
        dropLast = try spec.choice("drop_last", ["0", "1"]) == "1"
        var crop = 0, flip = false
        let augment = spec.string("augment")
        if augment != "none" {
            for item in augment.split(separator: ",", omittingEmptySubsequences: false) {
                if item == "flip" {
                    flip = true
                } else if item.hasPrefix("crop"), let p = Int(item.dropFirst(4)), (1...64).contains(p) {
                    crop = p
                } else {
                    throw spec.invalid("augment", "expected none or a comma list of cropN (N in 1...64) and flip")
                }
            }
        }
        cropPadding = crop
        self.flip = flip
        normalization = Normalization(rawValue: try spec.choice("normalize", ["none", "channel", "pixel"]))!
        subset = try spec.int("subset", in: 0...Int(Int32.max))
        stratified = try spec.choice("subset_mode", ["first", "stratified"]) == "stratified"
        holdout = try spec.int("holdout", in: 0...Int(Int32.max))
        holdoutPart = try spec.choice("part", ["train", "holdout"]) == "holdout"
        prefetch = try spec.int("prefetch", in: 1...64)
        func list(_ key: String) throws -> [Float] {
            let text = spec.string(key)
            guard text != "auto" else { return [] }
            let parts = text.split(separator: ",", omittingEmptySubsequences: false)
            let values = parts.compactMap { Float($0) }
            guard values.count == parts.count, values.allSatisfy({ $0.isFinite }) else {
                throw spec.invalid(key, "expected auto or finite numbers separated by commas")
            }
            return values
        }
        givenMean = try list("mean")
        givenStd = try list("std")
        // The loader multiplies by 1/std: a deviation such as 1e-45 would make every value inf.
        guard givenStd.allSatisfy({ $0 > 0 && (1 / $0).isFinite }) else {
            throw spec.invalid("std", "expected positive deviations whose inverses are finite")
        }
        guard givenMean.count == givenStd.count, givenMean.isEmpty || normalization == .channel else {
            throw spec.invalid("mean", "mean and std go together, with normalize=channel")
        }
        let shard = spec.string("shard").split(separator: "/", omittingEmptySubsequences: false).map { Int($0) }
        guard shard.count == 2, let rank = shard[0], let world = shard[1], (1...(1 << 20)).contains(world),
              (0..<world).contains(rank) else {
            throw spec.invalid("shard", "expected RANK/WORLD with 0 <= RANK < WORLD <= \(1 << 20)")
        }
        (shardRank, shardCount) = (rank, world)
        self.spec = spec
    }

    /// The spec with the shard's rank left out: the ranks of one job stand at the same place
    /// in their epochs, so a position saved by any rank resumes every rank.
    public var positionSpec: String {
        var general = spec
        general.canonicalize("shard", "*/\(shardCount)")
        return general.normalized
    }
}
