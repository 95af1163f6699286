import ArgumentParser
import CSuperConv
import Glibc
import SuperConvCore

struct RangeTestCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "range-test",
        abstract: "LR range test: can this network take super-convergence's large learning rates?",
        discussion: """
            The learning rate sweeps from --min-lr to --max-lr over --iterations steps on training \
            batches while accuracy is measured on --eval-samples test images (the paper's Figs. 2 \
            and 4). Prints the paper's bounds, fastai's and torch-lr-finder's suggestions and the \
            verdict; writes range_test.csv (lr, train_loss, train_accuracy, test_loss, \
            test_accuracy, smoothed_loss) to the --out folder.
            """)

    @OptionGroup(title: "Data") var data: DataOptions
    @OptionGroup(title: "Loader") var loader: LoaderOptions
    @OptionGroup(title: "Model") var model: ModelOptions
    @OptionGroup(title: "Optimizer") var optimizer: OptimizerOptions
    @OptionGroup(title: "Output") var output: OutputOptions
    @OptionGroup(title: "General") var common: CommonOptions

    private static let sweepSchema = RangeTestRunConfiguration.schema
    private static let analysisSchema = RangeTestAnalyzer.schema
    @Option(help: keyHelp(sweepSchema, "sweep")) var sweep: String?
    @Option(help: keyHelp(sweepSchema, "min_lr")) var minLr: Double?
    @Option(help: keyHelp(sweepSchema, "max_lr")) var maxLr: Double?
    @Option(help: keyHelp(sweepSchema, "iterations", showingDefault: false))
    var iterations = Int(sweepSchema.key("iterations")!.defaultValue)!
    @Option(help: keyHelp(sweepSchema, "eval_every")) var evalEvery: Int?
    @Option(help: keyHelp(sweepSchema, "stop")) var stop: Int?
    @Option(help: keyHelp(sweepSchema, "precise_bn")) var preciseBn: Int?
    @Option(help: keyHelp(TrainerConfiguration.schema, "momentum", note: " It is the sweep's momentum."))
    var momentum: Double?
    @Option(help: "Test samples evaluated at each evaluation; 0: none (training accuracy is used).")
    var evalSamples = 1000

    @Option(help: keyHelp(analysisSchema, "diverge")) var diverge: Double?
    @Option(help: keyHelp(analysisSchema, "beta")) var beta: Double?
    @Option(help: keyHelp(analysisSchema, "smooth_f")) var smoothF: Double?
    @Option(help: keyHelp(analysisSchema, "min_div")) var minDiv: Double?
    @Option(help: keyHelp(analysisSchema, "plateau_tol")) var plateauTol: Double?
    @Option(help: keyHelp(analysisSchema, "window_div")) var windowDiv: Int?
    @Option(help: keyHelp(analysisSchema, "min_width")) var minWidth: Double?

    func validate() throws {
        guard iterations >= 2 else { throw ValidationError("--iterations must be at least 2") }
        guard evalSamples >= 0 else { throw ValidationError("--eval-samples must not be negative") }
    }

    func run() throws {
        try runCommand(common) {
            let started = now()
            let (train, eval) = try loader.loaders(data)
            let net = try Model(spec: model.spec(for: train.dataset))
            let trainer = try Trainer(net, spec: optimizer.spec(momentum: momentum))
            let info = train.dataset.info
            let size = info.channels * info.height * info.width
            let batch = Int(train.specValue("batch") ?? "") ?? 128
            // The sweep takes consecutive batches and wraps; one epoch of samples is enough.
            let (x, labels) = try train.arrays(count: min(iterations * batch, train.counts.samples), sampleSize: size)
            let held = try evalSamples > 0 ? eval.arrays(count: min(evalSamples, eval.counts.samples), sampleSize: size)
                                           : ([], [])
            let records = try RangeTest(spec: specText([("diverge", diverge), ("beta", beta), ("smooth_f", smoothF),
                                                        ("min_div", minDiv), ("plateau_tol", plateauTol),
                                                        ("window_div", windowDiv), ("min_width", minWidth)]))
            let runSpec = specText([("sweep", sweep), ("min_lr", minLr), ("max_lr", maxLr), ("iterations", iterations),
                                    ("batch", batch), ("eval_every", evalEvery), ("stop", stop), ("precise_bn", preciseBn)])
            let progress = common.progress()
            progress.note("range test: model \(net.spec)\nsweep \(runSpec) on \(labels.count) training samples, "
                          + "evaluating \(held.1.count) test samples")
            progress.begin("range test", total: iterations)
            InterruptWatcher.watch(trainer.handle)
            defer { InterruptWatcher.watch(nil) }
            try trainer.reporting(to: progress) {
                try check(sc_trainer_range_test(trainer.handle, x, labels, Int64(labels.count),
                                                held.1.isEmpty ? nil : held.0, held.1.isEmpty ? nil : held.1,
                                                Int64(held.1.count), runSpec, records.handle))
            }
            progress.end()

            let folder = try output.folder(for: "range-test")
            try writeCSV(records, to: folder + "/range_test.csv")
            let (verdict, evidence) = records.verdict
            let v = records.value
            print("""
                range test: \(records.count) points in \(duration(now() - started)); records in \(folder)/range_test.csv
                  paper's bounds (Section 4.1): min_lr \(format(v("paper_min"), 3)), max_lr \(format(v("paper_max"), 3))
                  accuracy peak \(percent(v("peak_accuracy"))) at lr \(format(v("peak_lr"), 3)); \
                plateau \(format(v("plateau_low"), 3)) to \(format(v("plateau_high"), 3))
                  fastai: valley \(format(v("valley"), 3)), steep \(format(v("steep"), 3)), \
                minimum \(format(v("minimum"), 3)), slide \(format(v("slide"), 3)); \
                torch-lr-finder: \(format(v("steepest_gradient"), 3))
                  super-convergence \(verdict): \(evidence)
                """)
        }
    }

    private func writeCSV(_ records: RangeTest, to path: String) throws {
        var text = "lr,train_loss,train_accuracy,test_loss,test_accuracy,smoothed_loss\n"
        for i in 0..<records.count {
            var lr = Float.nan, loss = Float.nan, accuracy = Float.nan, testLoss = Float.nan, testAccuracy = Float.nan
            var smoothed = Float.nan
            _ = sc_range_test_point(records.handle, Int64(i), &lr, &loss, &accuracy, &testLoss, &testAccuracy, &smoothed)
            text += [lr, loss, accuracy, testLoss, testAccuracy, smoothed].map { $0.isNaN ? "" : format($0, 7) }.joined(separator: ",") + "\n"
        }
        guard let file = fopen(path, "w") else {
            throw CommandFailure("cannot write \(path): \(String(cString: strerror(errno)))", exitCode: 74)
        }
        defer { fclose(file) }
        guard fputs(text, file) >= 0 else {
            throw CommandFailure("cannot write \(path): \(String(cString: strerror(errno)))", exitCode: 74)
        }
    }
}
