import ArgumentParser
import CSuperConv
import Glibc
import SuperConvCore

struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train a ResNet, by default with one cycle of the learning rate (the paper's CLR).",
        discussion: """
            Writes to the --out folder: run.h5 (every step and evaluation; `python -m superconv.plot \
            run.h5` draws it) and checkpoint.h5 (every --checkpoint-every epochs, at the end and on \
            Ctrl-C). To continue a run, repeat the command with --resume FOLDER/checkpoint.h5: the \
            weights, optimizer, schedule position and data order continue where they stopped and \
            the run file keeps its rows.

            Schedule keys that depend on the run's length (onecycle's stepsize and max_iter, \
            onecycle_cosine's total_steps, multistep's stepvalues, triangular's stepsize, ramps' \
            max_iter) default to the budget: --epochs times the batches per epoch.

            With --distributed, the command is one rank of a data-parallel job started by mpirun \
            (e.g. mpirun -np 2 superconv train --distributed ...; Open MPI's libmpi.so.40 is loaded \
            at run time): every rank trains the same model on its shard of each epoch (--batch is \
            per rank) and the ranks average their gradients at every step; rank 0 alone prints and \
            writes the --out folder (it must be reachable by every rank for --resume). A failing \
            rank ends the whole job.
            """)

    @OptionGroup(title: "Data") var data: DataOptions
    @OptionGroup(title: "Loader") var loader: LoaderOptions
    @OptionGroup(title: "Model") var model: ModelOptions
    @OptionGroup(title: "Optimizer") var optimizer: OptimizerOptions
    @OptionGroup(title: "Schedule") var schedule: ScheduleOptions
    @OptionGroup(title: "Eq. 8 estimator") var estimator: EstimatorOptions
    @OptionGroup(title: "Output") var output: OutputOptions
    @OptionGroup(title: "General") var common: CommonOptions

    @Option(help: "Epochs to train.") var epochs = 10
    @Option(help: "Evaluate every N epochs (and after the last).") var evalEvery = 1
    @Option(help: "Save a checkpoint every N epochs (and after the last, and on Ctrl-C).") var checkpointEvery = 1
    @Flag(help: "Attach the Eq. 8 estimator; its estimates go into the run file.") var estimateLr = false
    @Option(help: keyHelp(TrainerConfiguration.schema, "precise_bn")) var preciseBn: Int?
    @Option(help: "Continue from this checkpoint (repeat the original flags).") var resume: String?
    @Flag(help: "Train as one rank of a data-parallel MPI job (run under mpirun; needs Open MPI).") var distributed = false

    func validate() throws {
        guard epochs >= 1 else { throw ValidationError("--epochs must be at least 1") }
        guard evalEvery >= 1, checkpointEvery >= 1 else {
            throw ValidationError("--eval-every and --checkpoint-every must be at least 1")
        }
    }

    func run() throws {
        // Under mpirun, signals end the job (mpirun forwards them to every rank), and the last
        // checkpoint resumes it: ranks stopping each after its own step would not meet again.
        try runCommand(common, catchingSignals: !distributed) {
            guard distributed else { return try train(ranks: nil) }
            let ranks = try MPIRanks()
            do {
                try train(ranks: ranks)
            } catch {
                let (message, code) = failure(error) ?? ("\(error)", 70)
                ranks.abort(message, code: code)
            }
            ranks.finish()
        }
    }

    /// The run; `ranks` when it is one rank of a distributed job.
    private func train(ranks: MPIRanks?) throws {
        let started = now()
        let root = (ranks?.rank ?? 0) == 0
        let (train, eval) = try loader.loaders(data, shard: ranks.map { "\($0.rank)/\($0.size)" })
        let batches = train.counts.batches
        let (total, overflow) = epochs.multipliedReportingOverflow(by: batches)
        guard !overflow, total <= Int(Int32.max) else {
            throw CommandFailure("--epochs \(epochs) of \(batches) batches is more than \(Int32.max) iterations", exitCode: 64)
        }
        let net = try Model(spec: model.spec(for: train.dataset))
        let trainer = try Trainer(net, spec: [optimizer.spec(), specText([("precise_bn", preciseBn)])].joined(separator: " "))
        let schedule = try Schedule(spec: schedule.spec(defaultPolicy: "onecycle", total: total))
        try trainer.setSchedule(schedule)
        if estimateLr { try check(sc_trainer_attach_lr_estimator(trainer.handle, estimator.spec)) }
        if let resume { try check(sc_checkpoint_load(trainer.handle, resume)) }
        try ranks?.attach(to: trainer)
        /// Means over every rank's samples (the values themselves when alone).
        func overRanks(_ values: [Double], _ loader: Loader) -> [Double] {
            ranks?.mean(values, count: loader.counts.samples) ?? values
        }

        let folder = try output.folder(for: "train")
        let runFile = folder + "/run.h5", checkpoint = folder + "/checkpoint.h5"
        if root { try check(sc_trainer_record(trainer.handle, runFile, resume == nil ? "" : "append=1")) }
        let progress = root ? common.progress() : ProgressDisplay(style: .off, every: 1)
        progress.note("superconv \(String(cString: sc_version())), \(sc_get_num_threads()) threads"
                      + (ranks.map { " on each of \($0.size) MPI ranks" } ?? "") + "; "
                      + "model \(net.spec)\nschedule \(String(cString: sc_schedule_spec(schedule.handle)))\n"
                      + "\(train.counts.samples) training samples\(ranks == nil ? "" : " per rank"), \(batches) batches "
                      + "of \(train.specValue("batch") ?? "?") per epoch, \(epochs) epochs = \(total) iterations"
                      + (resume.map { "; resuming at iteration \(trainer.iteration) from \($0)" } ?? ""))

        var best = 0.0, last = 0.0
        do {
            InterruptWatcher.watch(trainer.handle)
            defer { InterruptWatcher.watch(nil) }
            while trainer.iteration < total {
                let epoch = trainer.iteration / batches + 1
                progress.begin("train", total: batches - trainer.iteration % batches, context: "epoch \(epoch)/\(epochs)")
                var loss: Float = 0, accuracy = 0.0
                try trainer.reporting(to: progress) {
                    try check(sc_trainer_train_epoch(trainer.handle, train.handle, &loss, &accuracy))
                }
                progress.end()
                let trained = overRanks([Double(loss), accuracy], train)
                var line = "epoch \(epoch)/\(epochs) iteration \(trainer.iteration): train loss \(format(trained[0], 4)) "
                    + "accuracy \(percent(trained[1]))"
                if epoch % evalEvery == 0 || trainer.iteration >= total {
                    let result = try trainer.evaluate(eval)
                    let tested = overRanks([Double(result.loss), result.accuracy], eval)
                    (last, best) = (tested[1], max(best, tested[1]))
                    line += ", test loss \(format(tested[0], 4)) accuracy \(percent(tested[1]))"
                }
                progress.note(line + " (\(duration(now() - started)))")
                if root && (epoch % checkpointEvery == 0 || trainer.iteration >= total) {
                    try check(sc_checkpoint_save(trainer.handle, checkpoint))
                }
                if InterruptWatcher.requested { throw LibraryError(status: SC_INTERRUPTED, message: "interrupted") }
            }
        } catch let error as LibraryError where error.status == SC_INTERRUPTED {
            progress.end()
            try check(sc_checkpoint_save(trainer.handle, checkpoint))
            try check(sc_trainer_record(trainer.handle, nil, nil))
            progress.note("interrupted at iteration \(trainer.iteration); checkpoint saved to \(checkpoint)\n"
                          + "resume with: \(resumeCommand(checkpoint: checkpoint, folder: folder))")
            throw ExitCode(130)
        }
        guard root else { return }
        try check(sc_trainer_record(trainer.handle, nil, nil))
        print("final test accuracy \(percent(last)), best \(percent(best)), \(trainer.iteration) iterations, "
              + "\(duration(now() - started)); files: \(runFile), \(checkpoint)")
    }

    /// This command line with --resume (and --out) pointing at the saved run.
    private func resumeCommand(checkpoint: String, folder: String) -> String {
        var arguments = Array(CommandLine.arguments.dropFirst())
        for flag in ["--resume", "--out"] {
            while let i = arguments.firstIndex(where: { $0 == flag || $0.hasPrefix(flag + "=") }) {
                arguments.removeSubrange(i..<min(arguments.count, i + (arguments[i].contains("=") ? 1 : 2)))
            }
        }
        let quoted = arguments.map { $0.contains(" ") ? "'\($0)'" : $0 }
        return (["superconv"] + quoted + ["--out", folder, "--resume", checkpoint]).joined(separator: " ")
    }
}

func percent(_ fraction: Double) -> String { format(100 * fraction, 4) + "%" }
