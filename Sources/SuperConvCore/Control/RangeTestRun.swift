/// The learning-rate range test on our own trainer (Smith 2015; the paper's Sec. 4): train
/// while the learning rate sweeps from min_lr to max_lr, record the batch loss and accuracy of
/// every iteration and the held-out loss and accuracy every `eval_every` iterations, stop at
/// divergence, then put the trainer back exactly as it was.
public struct RangeTestRunConfiguration: Sendable {
    public let exponential: Bool
    public let minLearningRate: Double, maxLearningRate: Double
    public let iterations: Int
    public let batch: Int
    public let evaluationInterval: Int
    public let stopsOnDivergence: Bool
    public let preciseBatches: Int
    public let spec: Spec

    public static let schema = SpecSchema(subject: "range test run", keys: [
        .init("sweep", "linear", "linear (the paper's) or exp (fastai's)"),
        .init("min_lr", "0", "first learning rate (exp needs > 0)"),
        .init("max_lr", "3", "last learning rate"),
        .init("iterations", "500", "length of the sweep in steps"),
        .init("batch", "128", "training samples per step, taken in order from the data, wrapping around"),
        .init("eval_every", "10", "steps between evaluations on the held-out data (and at the last)"),
        .init("stop", "1", "1: stop when the smoothed loss diverges; 0: sweep to the end"),
        .init("precise_bn", "8", "evaluate with BatchNorm statistics recomputed from the sweep's last K batches under "
              + "the current weights (precise BN); 0: the running statistics, which lag a fast sweep"),
    ])

    public init(spec text: String) throws {
        let spec = try Self.schema.parse(text)
        exponential = try spec.choice("sweep", ["linear", "exp"]) == "exp"
        minLearningRate = try spec.double("min_lr", in: 0...1e6)
        maxLearningRate = try spec.double("max_lr", in: 0...1e6)
        guard maxLearningRate > minLearningRate else { throw spec.invalid("max_lr", "expected more than min_lr") }
        guard !exponential || minLearningRate > 0 else { throw spec.invalid("min_lr", "an exp sweep needs min_lr > 0") }
        iterations = try spec.int("iterations", in: 2...10_000_000)
        batch = try spec.int("batch", in: 1...ResNet.maximumBatch)
        evaluationInterval = try spec.int("eval_every", in: 1...10_000_000)
        stopsOnDivergence = try spec.choice("stop", ["0", "1"]) == "1"
        preciseBatches = try spec.int("precise_bn", in: 0...10_000)
        self.spec = spec
    }
}

extension Trainer {
    /// Runs the sweep on `n` training samples, evaluating on `evalCount` held-out samples
    /// (none: evalCount 0), and returns the records. The trainer's weights, statistics,
    /// optimizer, generator, iteration and schedule are restored afterwards, on success, error
    /// or interrupt.
    public func rangeTest(_ config: RangeTestRunConfiguration, analyzer: RangeTestAnalyzer,
                          x: UnsafePointer<Float>, labels: UnsafePointer<Int32>, count n: Int,
                          evalX: UnsafePointer<Float>?, evalLabels: UnsafePointer<Int32>?, evalCount: Int,
                          progress: (Int, RangeTestPoint) -> Void = { _, _ in }) throws -> [RangeTestPoint] {
        guard n >= config.batch else {
            throw SuperConvError.invalidArgument("n = \(n) training samples; the range test's batch needs \(config.batch)")
        }
        if let evalLabels, evalCount > 0 { try validateLabels(evalLabels, count: evalCount) }
        let saved = saveState()
        // The sweep leaves no trace, in the run record and the trainer's recent batches either.
        let savedRecorder = recorder, savedBatches = recentBatches
        recorder = nil
        recentBatches = nil
        defer {
            restoreState(saved)
            recorder = savedRecorder
            recentBatches = savedBatches
        }
        let sweep = RampSchedule(exponential: config.exponential, baseLearningRate: config.minLearningRate,
                                 maxLearningRate: config.maxLearningRate, maxIterations: config.iterations - 1,
                                 momentum: Double(saved.schedule.values(at: saved.iteration).momentum))
        schedule = OffsetSchedule(start: iteration, schedule: sweep)
        var points: [RangeTestPoint] = []
        var smoother = LossSmoother(beta: analyzer.beta, divergenceFactor: analyzer.divergenceFactor)
        let size = model.sampleSize
        func firstSample(ofStep i: Int) -> Int { (i * config.batch) % (n - config.batch + 1) }
        for i in 0..<config.iterations {
            let first = firstSample(ofStep: i)
            let lr = Double(sweep.values(at: i).learningRate)
            var point = RangeTestPoint(learningRate: lr, trainLoss: .nan)
            do {
                let outcome = try step(x + first * size, labels: labels + first, count: config.batch)
                point.trainLoss = Double(outcome.loss)
                point.trainAccuracy = Double(outcome.correct) / Double(config.batch)
            } catch let error as SuperConvError where error.status == .nonFinite {
                // A non-finite step is the sweep's end: record it as a NaN loss.
            }
            if let evalX, let evalLabels, evalCount > 0, (i % config.evaluationInterval == 0 || i == config.iterations - 1),
               point.trainLoss.isFinite {
                let recent = config.preciseBatches == 0 ? [] : Array(max(0, i + 1 - config.preciseBatches)...i)
                let batches = recent.map { StatisticsBatch(samples: x + firstSample(ofStep: $0) * size, count: config.batch) }
                let outcome = try withStatistics(of: batches) { try evaluateInference(evalX, labels: evalLabels, count: evalCount) }
                point.testLoss = Double(outcome.loss)
                point.testAccuracy = Double(outcome.correct) / Double(evalCount)
            }
            points.append(point)
            progress(i, point)
            try checkInterrupt("range test")
            if smoother.add(point.trainLoss).diverged && config.stopsOnDivergence { break }
        }
        return points
    }
}

/// A schedule started at iteration `start` of the trainer's counter.
struct OffsetSchedule: Schedule {
    let start: Int
    let schedule: any Schedule
    func values(at iteration: Int) -> StepHyperparameters { schedule.values(at: max(0, iteration - start)) }
}
