import SuperConvKernelsPortable

/// Data-parallel training: every rank computes gradients on its own part of the batch, the
/// host's all-reduce sums them across ranks, and every rank applies the mean, so that the ranks'
/// weights stay identical. The library knows nothing of how ranks talk (MPI, sockets, a test
/// that plays both ranks): the host brings the all-reduce.
///
/// Batch normalisation uses each rank's own batch in training, as Caffe's multi-GPU training
/// did; only the running statistics, which inference uses, are averaged across ranks.
extension Trainer {
    /// Sums `count` floats in place across the ranks; every rank calls it at the same point.
    public typealias AllReduce = (_ data: UnsafeMutablePointer<Float>, _ count: Int) throws -> Void

    /// Makes every step exchange its gradients through `allReduce` among `worldSize` ranks
    /// (nil: train alone).
    public func setAllReduce(_ allReduce: AllReduce?, worldSize: Int) throws {
        guard (1...(1 << 20)).contains(worldSize) else {
            throw SuperConvError.invalidArgument("world_size = \(worldSize); expected 1...\(1 << 20)")
        }
        try statisticsBuffer.resize(Shape(max(1, model.runningStatistics.reduce(0) { $0 + $1.value.count })))
        self.allReduce = allReduce
        self.worldSize = allReduce == nil ? 1 : worldSize
    }

    /// Replaces the flat gradients by their mean across ranks; nothing without an all-reduce.
    /// A rank whose batch statistics overflowed, which only it can see, sends NaN so that every
    /// rank refuses the step with it.
    func exchangeGradients() throws {
        guard let allReduce else { return }
        if !model.batchStatisticsAreFinite { gradients.fill(.nan) }
        try allReduce(gradients.data, gradients.count)
        divide(gradients.data, count: gradients.count)
    }

    /// The exchange of a rank whose computation failed: NaN gradients, so that every rank's
    /// finite check refuses the step instead of some ranks waiting for this one.
    func abandonExchange() throws {
        guard let allReduce else { return }
        gradients.fill(.nan)
        try allReduce(gradients.data, gradients.count)
    }

    /// Replaces every BN's running mean and variance by their mean across ranks (Caffe's weights
    /// s are equal on all ranks, which take the same number of steps). Changes nothing when the
    /// all-reduce fails, or without one.
    public func averageStatistics() throws {
        guard let allReduce else { return }
        var offset = 0
        for p in model.runningStatistics {
            (statisticsBuffer.data + offset).update(from: p.value.data, count: p.value.count)
            offset += p.value.count
        }
        try allReduce(statisticsBuffer.data, offset)
        divide(statisticsBuffer.data, count: offset)
        guard allFinite(statisticsBuffer.data, count: offset) else {
            throw SuperConvError.nonFinite("the running statistics summed across ranks are not finite; unchanged")
        }
        offset = 0
        for p in model.runningStatistics {
            p.value.copy(from: statisticsBuffer.data + offset)
            offset += p.value.count
        }
    }

    private func divide(_ data: UnsafeMutablePointer<Float>, count: Int) {
        let ranks = Float(worldSize)
        for i in 0..<count { data[i] /= ranks }
    }
}
