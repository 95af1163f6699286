/// Precise BatchNorm statistics (Wu & Johnson 2021, "Rethinking 'Batch' in BatchNorm", Sec. 3).
///
/// The running statistics average batch statistics computed with past weights. When the weights
/// change fast (large learning rates, the paper's short runs; its Sec. 4.5 on the moving-average
/// fraction) they lag, and an evaluation with them judges a network that no longer exists: a
/// range test's held-out accuracy then swings between chance and its true value from one point
/// to the next. Precise BN recomputes them with the current weights, from K training batches run
/// forward in training mode without any update, as the equal-weight mean per channel c:
///   μ_c = (1/K)·Σ_k μ_{c,k},   σ²_c = (1/K)·Σ_k m/(m−1)·σ²_{c,k}   (m values per channel and batch)
/// which is Caffe's rule with moving-average fraction 1 started from s = 0.
public struct StatisticsBatch {
    public let samples: UnsafePointer<Float>
    public let count: Int

    public init(samples: UnsafePointer<Float>, count: Int) {
        self.samples = samples
        self.count = count
    }
}

extension Trainer {
    /// Replaces the running statistics by those of `batches` under the current weights. Weights,
    /// optimizer, iteration, dropout generator and Caffe's weights s stay as they are; on an error
    /// the running statistics do too.
    public func recomputeStatistics(from batches: [StatisticsBatch]) throws {
        guard !batches.isEmpty else { throw SuperConvError.invalidArgument("no batches to recompute the statistics from") }
        let saved = model.runningStatistics.map(\.value.array)
        do {
            try foldStatistics(of: batches)
        } catch {
            restoreRunningStatistics(saved)
            throw error
        }
    }

    /// Runs `body` with the statistics of `batches` (none: the running ones), then puts the
    /// running statistics back.
    func withStatistics<T>(of batches: [StatisticsBatch], _ body: () throws -> T) throws -> T {
        guard !batches.isEmpty else { return try body() }
        let saved = model.runningStatistics.map(\.value.array)
        defer { restoreRunningStatistics(saved) }
        try foldStatistics(of: batches)
        return try body()
    }

    /// The statistics the trainer's evaluations use: those of its last `precise_bn` training
    /// batches, or the running ones.
    func withEvaluationStatistics<T>(_ body: () throws -> T) throws -> T {
        try withStatistics(of: recentBatches?.batches ?? [], body)
    }

    private func foldStatistics(of batches: [StatisticsBatch]) throws {
        let generator = model.random.generator, weights = model.statisticsWeights
        defer {
            model.random.generator = generator
            model.statisticsWeights = weights
        }
        model.statisticsWeights = Array(repeating: 0, count: weights.count)
        for batch in batches {
            _ = try model.forward(try model.loadInput(batch.samples, count: batch.count), mode: .training)
            guard model.batchStatisticsAreFinite else {
                throw SuperConvError.nonFinite("BatchNorm statistics of a batch are not finite under the current weights; "
                                               + "running statistics unchanged")
            }
            model.commitStatistics(by: .caffe(movingAverageFraction: 1))
        }
    }

    private func restoreRunningStatistics(_ saved: [[Float]]) {
        for (p, values) in zip(model.runningStatistics, saved) {
            values.withUnsafeBufferPointer { p.value.copy(from: $0.baseAddress!) }
        }
    }
}

/// The last K batches the trainer stepped on (copies of its input), oldest first: the data of
/// the trainer's precise-BN evaluations (trainer spec key `precise_bn`).
final class RecentBatches {
    private var slots: [Tensor] = []
    private var counts: [Int] = []
    private var next = 0
    let capacity: Int

    init(capacity: Int) { self.capacity = capacity }

    /// Copies the model's input (the batch just stepped on); buffers grow only with the batch.
    func record(_ input: Tensor, count n: Int) throws {
        if slots.count < capacity {
            slots.append(try Tensor(input.shape))
            counts.append(0)
        }
        try slots[next].resize(input.shape)
        slots[next].copy(from: input.data)
        counts[next] = n
        next = (next + 1) % capacity
    }

    var batches: [StatisticsBatch] {
        let order = slots.count < capacity ? Array(slots.indices) : Array(next..<capacity) + Array(0..<next)
        return order.map { StatisticsBatch(samples: slots[$0].data, count: counts[$0]) }
    }
}
