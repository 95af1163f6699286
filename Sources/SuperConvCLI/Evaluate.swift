import ArgumentParser
import CSuperConv

struct Evaluate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Evaluate a checkpoint's model on the test (or training) data.",
        discussion: """
            The data are normalised with the statistics saved in the checkpoint (those of its \
            training loader), so --normalize must be the mode the model was trained with.
            """)

    @Argument(help: "A checkpoint written by `superconv train` or sc_checkpoint_save.") var checkpoint: String
    @OptionGroup(title: "Data") var data: DataOptions
    @OptionGroup(title: "General") var common: CommonOptions

    @Option(help: "test or train: which split to evaluate.") var split = "test"
    @Option(help: "The normalisation the model was trained with: none, channel or pixel.") var normalize = "pixel"
    @Option(help: "Samples per batch.") var batch = 500

    func validate() throws {
        guard ["test", "train"].contains(split) else { throw ValidationError("--split must be test or train") }
    }

    func run() throws {
        try runCommand(common) {
            let started = now()
            let dataset = try data.open(split: split)
            let net = try Model(checkpoint: checkpoint)
            let trainer = try Trainer(net, spec: "")
            let loader = try Loader(dataset, spec: specText([("batch", batch), ("shuffle", 0), ("normalize", normalize)]))
            if normalize != "none" { try check(sc_loader_load_normalization(loader.handle, checkpoint)) }
            InterruptWatcher.watch(trainer.handle)
            defer { InterruptWatcher.watch(nil) }
            let result = try trainer.evaluate(loader)
            print("\(checkpoint): \(split) loss \(format(result.loss, 4)), accuracy \(percent(result.accuracy)) "
                  + "on \(loader.counts.samples) samples (\(duration(now() - started)); model \(net.spec))")
        }
    }
}
