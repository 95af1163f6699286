import SuperConvKernelsPortable
import Synchronization

/// Trains a model: forward, loss, backward, a guard against non-finite values, then the
/// optimizer's update with the schedule's hyper-parameters for the current iteration.
///
/// A step either completes (weights, BN statistics, optimizer state and the iteration advance
/// together) or throws and leaves all of them as they were.
public final class Trainer {
    public let model: ResNet
    public let configuration: TrainerConfiguration
    public let optimizer: any Optimizer
    public var schedule: any Schedule
    /// The spec of the schedule set with `setSchedule`, nil while the spec's lr and momentum
    /// apply (kept for checkpoints).
    public internal(set) var scheduleSpec: String?
    public internal(set) var iteration = 0
    private let loss: SoftmaxCrossEntropy
    /// The Eq. 8 estimator when attached, the tensors it watches and its snapshot buffer.
    public internal(set) var estimator: LearningRateEstimator?
    var estimatorConfiguration: EstimatorConfiguration?
    private var watched: [Parameter] = []
    private var snapshot: [Float] = []
    var estimatorStart = 0
    /// The batches of precise-BN evaluations (`precise_bn` > 0).
    var recentBatches: RecentBatches?
    /// Where steps and evaluations are recorded, when recording.
    public var recorder: RunRecorder?
    /// The loader of the last training epoch, whose position checkpoints record, and a position
    /// read from a checkpoint, applied when training continues with a loader of the same spec.
    weak var trainingLoader: Loader?
    var pendingLoaderPosition: (spec: String, epoch: Int, batch: Int)?
    /// Batch buffers for training from a loader, grown to the largest batch.
    var batchX: Tensor
    var batchLabels: LabelBuffer
    let trainable: [Parameter]
    /// The trainable parameters' gradients, one after another in the model's parameter order:
    /// what the optimizer reads and a host may read, exchange or change between computing and
    /// applying them.
    public let gradients: Tensor
    /// The optimizer's view: each parameter's values with its stretch of `gradients`.
    private let slots: [ParameterSlot]
    /// The last computation's results until they are applied or discarded.
    var computed: ComputedGradients?
    /// The host's all-reduce (sum in place across ranks) and the number of ranks; see
    /// `DataParallel.swift`.
    var allReduce: AllReduce?
    public internal(set) var worldSize = 1
    /// The BN running statistics gathered for averaging across ranks.
    var statisticsBuffer: Tensor
    /// The profiler's slots for the trainer's own parts of a step.
    private let profileSlots: (zero: Int, loss: Int, check: Int, update: Int)
    /// Set from any thread by `requestInterrupt`, consumed by the next check in a long call.
    private let interruptRequested = Atomic<Bool>(false)

    public init(model: ResNet, configuration: TrainerConfiguration) throws {
        self.model = model
        self.configuration = configuration
        let trainable = model.parameters.filter(\.isTrainable)
        self.trainable = trainable
        let gradients = try Tensor(Shape(trainable.reduce(0) { $0 + $1.value.count }))
        self.gradients = gradients
        var offset = 0
        slots = trainable.map { p in
            defer { offset += p.value.count }
            return ParameterSlot(value: p.value.data, gradient: gradients.data + offset, count: p.value.count,
                                 learningRateMultiplier: p.learningRateMultiplier, decayMultiplier: p.decayMultiplier)
        }
        optimizer = try configuration.optimizer.makeOptimizer(counts: slots.map(\.count))
        schedule = FixedSchedule(learningRate: Double(configuration.learningRate), momentum: Double(configuration.momentum))
        loss = try SoftmaxCrossEntropy()
        let profiler = model.profiler
        profileSlots = (profiler.slot("zero_gradients"), profiler.slot("loss"), profiler.slot("finite_check"),
                        profiler.slot("optimizer"))
        batchX = try Tensor(Shape(1))
        batchLabels = LabelBuffer.allocate(capacity: 1)
        statisticsBuffer = try Tensor(Shape(1))
        if configuration.preciseBatches > 0 { recentBatches = RecentBatches(capacity: configuration.preciseBatches) }
    }

    deinit { batchLabels.deallocate() }

    /// Asks the long call running on this trainer (a training epoch, an evaluation, a range
    /// test), or the next one if none runs, to stop after its current step. Callable from any
    /// thread while another uses the trainer, as sqlite3_interrupt is.
    public func requestInterrupt() {
        interruptRequested.store(true, ordering: .releasing)
    }

    /// Throws `.interrupted` once per request; long calls check between steps.
    func checkInterrupt(_ what: @autoclosure () -> String) throws {
        if interruptRequested.exchange(false, ordering: .acquiringAndReleasing) {
            throw SuperConvError.interrupted("\(what()) interrupted at iteration \(iteration)")
        }
    }

    public struct Outcome: Sendable {
        public var loss: Float
        public var correct: Int
    }

    public func validateLabels(_ labels: UnsafePointer<Int32>, count n: Int) throws {
        for i in 0..<n where labels[i] < 0 || Int(labels[i]) >= model.classes {
            throw SuperConvError.invalidArgument(
                "labels[\(i)] = \(labels[i]) is out of range; expected 0...\(model.classes - 1)")
        }
    }

    /// One update on a batch of `n` samples (NCHW floats) and their labels: the open step's
    /// three parts in a row, so that a host that calls them itself gets the same bits. When
    /// any part fails the step leaves no trace, the dropout generator included.
    public func step(_ x: UnsafePointer<Float>, labels: UnsafePointer<Int32>, count n: Int) throws -> Outcome {
        do {
            do {
                _ = try computeGradients(x, labels: labels, count: n)
            } catch {
                // Peers wait in the exchange for this rank: it takes part with gradients that
                // make every rank refuse the step, then reports its own error.
                try? abandonExchange()
                throw error
            }
            try exchangeGradients()
            return try applyGradients()
        } catch {
            discardComputedGradients()
            throw error
        }
    }

    /// Forward in training mode, loss and backward on a batch, with the gradients gathered into
    /// the flat buffer `gradients`; nothing is applied. Gradients computed before and not
    /// applied are discarded once the arguments are found good (the forward pass replaces
    /// their BN statistics).
    public func computeGradients(_ x: UnsafePointer<Float>, labels: UnsafePointer<Int32>, count n: Int) throws -> Outcome {
        try validateLabels(labels, count: n)
        discardComputedGradients()
        let batch = try model.loadInput(x, count: n)
        let rngBefore = model.random.generator
        let profiler = model.profiler
        profiler.forward(profileSlots.zero) { model.zeroGradients() }
        do {
            let logits = try model.forward(batch, mode: .training)
            let result = try profiler.forward(profileSlots.loss) { try loss.forward(logits, labels: labels) }
            guard result.loss.isFinite else {
                throw SuperConvError.nonFinite("loss is \(result.loss) at iteration \(iteration); weights unchanged")
            }
            try model.backward(try profiler.backward(profileSlots.loss) { try loss.backward(labels: labels) })
            gatherGradients()
            let outcome = Outcome(loss: result.loss, correct: result.correct)
            computed = ComputedGradients(outcome: outcome, batch: n, randomBefore: rngBefore,
                                         forwardPass: model.forwardPasses)
            return outcome
        } catch {
            model.random.generator = rngBefore
            throw error
        }
    }

    /// Applies the flat buffer's gradients (as computed, or as the host left them): the finite
    /// check, then the BN statistics of the computing forward, the optimizer's update with the
    /// schedule's values, and the iteration's advance. A refusal changes nothing; the computed
    /// gradients stay, to be applied once repaired or replaced by the next computation.
    public func applyGradients() throws -> Outcome {
        guard let done = computed else {
            throw SuperConvError.state("no gradients to apply: compute them first (sc_trainer_compute_gradients)")
        }
        guard done.forwardPass == model.forwardPasses else {
            throw SuperConvError.state("the model ran another forward pass since the gradients were computed, "
                                       + "so their BatchNorm statistics are gone; compute them again")
        }
        let hyper = schedule.values(at: iteration)
        guard hyper.learningRate.isFinite, hyper.momentum.isFinite else {
            throw SuperConvError.nonFinite("schedule gives lr \(hyper.learningRate), momentum \(hyper.momentum) at iteration \(iteration)")
        }
        let profiler = model.profiler
        try profiler.forward(profileSlots.check) {
            guard model.batchStatisticsAreFinite else {
                throw SuperConvError.nonFinite("BatchNorm batch statistics are not finite at iteration \(iteration) "
                                               + "(activations overflow float); weights and running statistics unchanged")
            }
            for (p, slot) in zip(trainable, slots) where !allFinite(slot.gradient, count: slot.count) {
                let origin = worldSize > 1 ? " (summed over the ranks: on this rank or another)" : ""
                throw SuperConvError.nonFinite("gradient of \(p.name) is not finite at iteration \(iteration)\(origin); weights unchanged")
            }
        }
        // The copy is made before anything changes, so that failing to grow its buffer refuses the step.
        try recentBatches?.record(model.input, count: done.batch)
        profiler.forward(profileSlots.update) {
            model.commitStatistics()
            optimizer.step(slots, hyper)
        }
        profiler.countStep()
        computed = nil
        iteration += 1
        if let config = estimatorConfiguration, (iteration - estimatorStart) % config.interval == 0 {
            try observeEstimator(learningRate: Double(hyper.learningRate))
        }
        recorder?.recordStep(self, iteration: iteration, hyper: hyper, outcome: done.outcome, batch: done.batch)
        return done.outcome
    }

    /// The dropout generator as the applied steps left it: gradients computed and not applied
    /// have not advanced it (checkpoints and saved states take this one).
    public var committedGenerator: RandomGenerator { computed?.randomBefore ?? model.random.generator }

    /// Forgets gradients computed and not applied, and the generator draws they made.
    func discardComputedGradients() {
        guard let done = computed else { return }
        model.random.generator = done.randomBefore
        computed = nil
    }

    private func gatherGradients() {
        var offset = 0
        for p in trainable {
            (gradients.data + offset).update(from: p.gradient!.data, count: p.gradient!.count)
            offset += p.gradient!.count
        }
    }

    public func setSchedule(_ configuration: ScheduleConfiguration) {
        schedule = configuration.schedule
        scheduleSpec = configuration.spec.normalized
    }

    /// Attaches the Eq. 8 estimator: a snapshot now, then one every `inc` steps from now.
    public func attachEstimator(_ config: EstimatorConfiguration) throws {
        restoreEstimator(config, config.makeEstimator(), start: iteration)
        try observeEstimator(learningRate: Double(schedule.values(at: iteration).learningRate))
    }

    /// The floats of each estimator snapshot under `config`: what a checkpoint's must have.
    func estimatorSnapshotLength(_ config: EstimatorConfiguration) -> Int {
        (config.includesStatistics ? model.parameters : trainable).reduce(0) { $0 + $1.value.count }
    }

    /// Attaches an estimator in a given state (from a checkpoint), without a new snapshot.
    func restoreEstimator(_ config: EstimatorConfiguration, _ state: LearningRateEstimator, start: Int) {
        watched = config.includesStatistics ? model.parameters : trainable
        snapshot = Array(repeating: 0, count: watched.reduce(0) { $0 + $1.value.count })
        estimatorConfiguration = config
        estimator = state
        estimatorStart = start
    }

    private func observeEstimator(learningRate: Double) throws {
        var offset = 0
        snapshot.withUnsafeMutableBufferPointer { buffer in
            for p in watched {
                (buffer.baseAddress! + offset).update(from: p.value.data, count: p.value.count)
                offset += p.value.count
            }
        }
        try snapshot.withUnsafeBufferPointer { _ = try estimator?.observe($0, learningRate: learningRate) }
    }

    /// Mean loss and number correct over `n` samples in inference mode, without any update; with
    /// `precise_bn`, under statistics recomputed from the last training batches.
    public func evaluate(_ x: UnsafePointer<Float>, labels: UnsafePointer<Int32>, count n: Int) throws -> Outcome {
        try validateLabels(labels, count: n)
        return try withEvaluationStatistics { try evaluateInference(x, labels: labels, count: n) }
    }

    /// `evaluate` with the statistics as they stand.
    func evaluateInference(_ x: UnsafePointer<Float>, labels: UnsafePointer<Int32>, count n: Int) throws -> Outcome {
        let chunk = configuration.evaluationBatch
        var total = 0.0
        var correct = 0
        for first in stride(from: 0, to: n, by: chunk) {
            let m = min(chunk, n - first)
            let batch = try model.loadInput(x + first * model.sampleSize, count: m)
            let logits = try model.forward(batch, mode: .inference)
            let r = try loss.forward(logits, labels: labels + first)
            total += Double(r.loss) * Double(m)
            correct += r.correct
        }
        return Outcome(loss: Float(total / Double(n)), correct: correct)
    }
}

/// What computing gradients leaves for applying them: the batch's outcome and size, the dropout
/// generator before the forward (restored if they are discarded), and which forward pass of
/// the model holds their BN statistics.
struct ComputedGradients {
    let outcome: Trainer.Outcome
    let batch: Int
    let randomBefore: RandomGenerator
    let forwardPass: Int
}

/// Labels of one batch, with the capacity they were allocated for.
struct LabelBuffer {
    let data: UnsafeMutablePointer<Int32>
    let capacity: Int

    static func allocate(capacity: Int) -> LabelBuffer {
        LabelBuffer(data: .allocate(capacity: capacity), capacity: capacity)
    }

    func deallocate() { data.deallocate() }
}
