import SuperConvCore

@_cdecl("sc_trainer_record")
public func sc_trainer_record(_ t: OpaquePointer?, _ path: UnsafePointer<CChar>?, _ spec: UnsafePointer<CChar>?) -> Int32 {
    exported("sc_trainer_record") {
        let trainer = try resolveTrainer(t).trainer
        if let current = trainer.recorder {
            // Stopping (or switching files): a last flush, and any failure met while recording.
            trainer.recorder = nil
            try current.flush(trainer)
            if let failure = current.failure { throw failure }
        }
        guard let path else { return }
        let parsed = try RunRecorder.schema.parse(specText(spec))
        let append = try parsed.choice("append", ["0", "1"]) == "1"
        let recorder = try RunRecorder(path: try pathArgument(path),
                                       flushEvery: try parsed.int("flush_every", in: 1...Int(Int32.max)),
                                       continuing: append ? trainer : nil)
        try recorder.flush(trainer)  // fails now, not later, when the file cannot be written
        trainer.recorder = recorder
    }
}

/// Appends an evaluation to the trainer's run record, if it records.
func recordEvaluation(_ trainer: Trainer, loss: Float, accuracy: Double) throws {
    try trainer.recorder?.recordEvaluation(trainer, loss: Double(loss), accuracy: accuracy)
}
