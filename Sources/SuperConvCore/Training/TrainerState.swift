/// Everything a training step changes: weights and BN statistics (with Caffe's weights s), the
/// optimizer's state and step count, the dropout generator, the iteration, the schedule and the
/// attached estimator's state.
/// Taken before a range test and restored after it, so that the test leaves no trace.
public struct TrainerState {
    let tensors: [[Float]]
    let statisticsWeights: [Float]
    let optimizerState: [[Float]]
    let optimizerSteps: Int
    let random: RandomGenerator
    let iteration: Int
    let schedule: any Schedule
    let estimator: LearningRateEstimator?
}

extension Trainer {
    public func saveState() -> TrainerState {
        TrainerState(tensors: model.parameters.map(\.value.array),
                     statisticsWeights: model.statisticsWeights,
                     optimizerState: optimizer.state.map(\.array),
                     optimizerSteps: optimizer.steps,
                     random: committedGenerator,
                     iteration: iteration,
                     schedule: schedule,
                     estimator: estimator)
    }

    public func restoreState(_ state: TrainerState) {
        for (p, values) in zip(model.parameters, state.tensors) { values.withUnsafeBufferPointer { p.value.copy(from: $0.baseAddress!) } }
        model.statisticsWeights = state.statisticsWeights
        for (tensor, values) in zip(optimizer.state, state.optimizerState) {
            values.withUnsafeBufferPointer { tensor.copy(from: $0.baseAddress!) }
        }
        optimizer.steps = state.optimizerSteps
        model.random.generator = state.random
        iteration = state.iteration
        computed = nil
        schedule = state.schedule
        estimator = state.estimator
    }
}
