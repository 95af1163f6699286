/// Training and evaluation from the data layer: whole epochs from a loader, evaluation of a
/// loader's epoch.
extension Trainer {
    func checkCompatible(_ dataset: Dataset) throws {
        let c = model.configuration
        guard dataset.channels == c.channels, dataset.height == c.height, dataset.width == c.width else {
            throw SuperConvError.shape("the data set's samples are \(dataset.channels)x\(dataset.height)x\(dataset.width), "
                                       + "the model expects \(c.channels)x\(c.height)x\(c.width)")
        }
        guard dataset.classes <= c.classes else {
            throw SuperConvError.shape("the data set has \(dataset.classes) classes, the model \(c.classes)")
        }
    }

    /// Per-iteration report for progress displays: iteration (after the step), its learning
    /// rate, the batch's loss and accuracy.
    public typealias Progress = (_ iteration: Int, _ learningRate: Float, _ loss: Float, _ accuracy: Float) -> Void

    /// Trains on batches from `loader` until the end of its current epoch. Returns the mean
    /// training loss and accuracy over the epoch's samples. An interrupt stops it after a step;
    /// the steps taken stay applied and the loader is left at the next batch, so a later call
    /// (or a checkpoint saved now and resumed) finishes the epoch. With an all-reduce, the BN
    /// running statistics are averaged across ranks at the epoch's end.
    public func trainEpoch(_ loader: Loader, progress: Progress = { _, _, _, _ in }) throws -> (loss: Double, accuracy: Double) {
        // Taken before it is tried: a position this loader does not have fails one call, not all.
        let pending = pendingLoaderPosition
        pendingLoaderPosition = nil
        if let pending, (try? LoaderConfiguration(spec: pending.spec))?.positionSpec == loader.configuration.positionSpec {
            do {
                try loader.seek(epoch: pending.epoch, batch: pending.batch)
            } catch let error as SuperConvError {
                throw SuperConvError.format("the checkpoint's \(error.message); it is dropped, and the next epoch starts where the loader stands")
            }
        }
        trainingLoader = loader
        let result = try forEachBatch(of: loader) { n in
            let lr = schedule.values(at: iteration).learningRate
            let outcome = try step(batchX.data, labels: batchLabels.data, count: n)
            progress(iteration, lr, outcome.loss, Float(outcome.correct) / Float(n))
            try checkInterrupt("training epoch")
            return outcome
        }
        // Ranks train an epoch together, so its end is a point where all can average.
        try averageStatistics()
        return result
    }

    /// Mean loss and accuracy over one epoch of `loader` in inference mode. An interrupt puts
    /// the loader back where the evaluation began, so the next one sees a whole epoch.
    public func evaluate(_ loader: Loader) throws -> (loss: Double, accuracy: Double) {
        let start = loader.position()
        do {
            return try withEvaluationStatistics {
                try forEachBatch(of: loader) { n in
                    try checkInterrupt("evaluation")
                    try validateLabels(batchLabels.data, count: n)
                    return try evaluateInference(batchX.data, labels: batchLabels.data, count: n)
                }
            }
        } catch let error as SuperConvError where error.status == .interrupted {
            try loader.seek(epoch: start.epoch, batch: start.batch)
            throw error
        }
    }

    /// Runs `body` on each batch of the loader's current epoch (in batchX/batchLabels) and
    /// averages the outcomes over the samples.
    private func forEachBatch(of loader: Loader, _ body: (Int) throws -> Outcome) throws -> (loss: Double, accuracy: Double) {
        try checkCompatible(loader.dataset)
        try reserveBatch(loader)
        var loss = 0.0, correct = 0, seen = 0
        while true {
            let batch = try loader.next(into: batchX.data, labels: batchLabels.data, capacity: loader.configuration.batch)
            let outcome = try body(batch.count)
            loss += Double(outcome.loss) * Double(batch.count)
            correct += outcome.correct
            seen += batch.count
            if batch.lastOfEpoch { break }
        }
        return (loss / Double(seen), Double(correct) / Double(seen))
    }

    private func reserveBatch(_ loader: Loader) throws {
        let batch = loader.configuration.batch
        try batchX.resize(Shape(batch * loader.dataset.sampleSize))
        if batchLabels.capacity < batch {
            batchLabels.deallocate()
            batchLabels = .allocate(capacity: batch)
        }
    }
}
