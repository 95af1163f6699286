import ArgumentParser
import CSuperConv

struct EstimateLR: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "estimate-lr",
        abstract: "Estimate the optimal learning rate along a run with the paper's Eq. 8.",
        discussion: """
            Trains --iterations steps (by default at a constant learning rate, --policy fixed \
            --base-lr 0.1) with the secant estimator attached and reports its raw and smoothed \
            estimates; the paper (Fig. 5) finds them large, pointing to super-convergence's rates. \
            The run file (run.h5 in --out) holds the estimate of every step.
            """)

    @OptionGroup(title: "Data") var data: DataOptions
    @OptionGroup(title: "Loader") var loader: LoaderOptions
    @OptionGroup(title: "Model") var model: ModelOptions
    @OptionGroup(title: "Optimizer") var optimizer: OptimizerOptions
    @OptionGroup(title: "Schedule") var schedule: ScheduleOptions
    @OptionGroup(title: "Eq. 8 estimator") var estimator: EstimatorOptions
    @OptionGroup(title: "Output") var output: OutputOptions
    @OptionGroup(title: "General") var common: CommonOptions

    @Option(help: "Training steps.") var iterations = 500

    func validate() throws {
        guard iterations >= 3 else { throw ValidationError("--iterations must be at least 3 (Eq. 8 needs three snapshots)") }
    }

    func run() throws {
        try runCommand(common) {
            let train = try Loader(try data.open(split: "train"), spec: loader.spec())
            let net = try Model(spec: model.spec(for: train.dataset))
            let trainer = try Trainer(net, spec: optimizer.spec())
            try trainer.setSchedule(try Schedule(spec: schedule.spec(defaultPolicy: "fixed", total: iterations)))
            try check(sc_trainer_attach_lr_estimator(trainer.handle, estimator.spec))
            let folder = try output.folder(for: "estimate-lr")
            try check(sc_trainer_record(trainer.handle, folder + "/run.h5", ""))
            let progress = common.progress()
            let size = train.dataset.info.channels * train.dataset.info.height * train.dataset.info.width
            let batch = Int(train.specValue("batch") ?? "") ?? 128
            var x = [Float](repeating: 0, count: batch * size)
            var labels = [Int32](repeating: 0, count: batch)
            progress.begin("estimate-lr", total: iterations)
            for _ in 0..<iterations {
                var n: Int64 = 0, done: Int32 = 0, loss: Float = 0, correct: Int64 = 0
                try check(sc_loader_next(train.handle, &x, &labels, Int64(batch), &n, &done))
                var lr: Float = 0
                try check(sc_schedule_at(trainer.scheduleHandle!, Int64(trainer.iteration), &lr, nil))
                try check(sc_trainer_step(trainer.handle, x, labels, n, &loss, &correct))
                progress.step(iteration: trainer.iteration, lr: lr, loss: loss, accuracy: Float(correct) / Float(n))
                if trainer.iteration % max(1, common.logEvery) == 0 || InterruptWatcher.requested {
                    let (raw, smoothed) = trainer.lrEstimate
                    progress.note("iteration \(trainer.iteration): lr \(format(lr, 4)), Eq. 8 estimate \(format(raw, 4)), "
                                  + "smoothed \(format(smoothed, 4))")
                }
                if InterruptWatcher.requested { break }
            }
            progress.end()
            try check(sc_trainer_record(trainer.handle, nil, nil))
            let (raw, smoothed) = trainer.lrEstimate
            print("Eq. 8 estimate of the optimal learning rate after \(trainer.iteration) iterations: "
                  + "\(format(smoothed, 4)) (smoothed; last raw \(format(raw, 4))); run file \(folder)/run.h5")
            if InterruptWatcher.requested { throw ExitCode(130) }
        }
    }
}
