import XCTest
@testable import SuperConvCore

/// Precise BN: evaluations under statistics recomputed with the current weights leave the trainer
/// as it was; recomputing on request changes the running statistics and nothing else.
final class PreciseStatisticsTests: XCTestCase {
    let samples = 64, batch = 16

    func makeTrainer(_ spec: String = "") throws -> Trainer {
        let model = try ResNet(ModelConfiguration(spec: "depth=8 input=1x8x8 classes=3 seed=3 dropout=0.2"))
        return try Trainer(model: model, configuration: TrainerConfiguration(spec: "lr=0.5 " + spec))
    }

    /// 64 samples of 1x8x8 in batches of 16, and their labels.
    final class Data {
        let x: UnsafeMutablePointer<Float>, labels: UnsafeMutablePointer<Int32>
        init(seed: UInt64, value: (inout RandomGenerator) -> Float = { 2 * $0.nextUniform() - 1 }) {
            var generator = RandomGenerator(seed: seed)
            x = .allocate(capacity: 64 * 64)
            for i in 0..<(64 * 64) { x[i] = value(&generator) }
            labels = .allocate(capacity: 64)
            for i in 0..<64 { labels[i] = Int32(i % 3) }
        }
        deinit {
            x.deallocate()
            labels.deallocate()
        }
        func batches(_ range: Range<Int>) -> [StatisticsBatch] { range.map { StatisticsBatch(samples: x + $0 * 16 * 64, count: 16) } }
    }

    /// Trains a few steps at a large rate, so that the running statistics lag the weights.
    func train(_ trainer: Trainer, _ data: Data) throws {
        for b in 0..<(samples / batch) { _ = try trainer.step(data.x + b * batch * 64, labels: data.labels + b * batch, count: batch) }
    }

    struct Snapshot: Equatable {
        var tensors: [[Float]], optimizer: [[Float]], weights: [Float], random: RandomGenerator, iteration: Int
        init(_ t: Trainer) {
            tensors = t.model.parameters.map(\.value.array)
            optimizer = t.optimizer.state.map(\.array)
            weights = t.model.statisticsWeights
            random = t.model.random.generator
            iteration = t.iteration
        }
    }

    func testPreciseEvaluationLeavesTheTrainerAsItWas() throws {
        let data = Data(seed: 1)
        let precise = try makeTrainer("precise_bn=2"), plain = try makeTrainer()
        try train(precise, data)
        try train(plain, data)
        let before = Snapshot(precise)
        XCTAssertEqual(before.tensors, Snapshot(plain).tensors, "precise_bn must not change training")
        let recomputed = try precise.evaluate(data.x, labels: data.labels, count: samples)
        XCTAssertEqual(Snapshot(precise), before)
        // The evaluation's statistics are those of the last two training batches.
        let running = try plain.evaluate(data.x, labels: data.labels, count: samples)
        XCTAssertNotEqual(recomputed.loss, running.loss)
        try plain.recomputeStatistics(from: data.batches(2..<4))
        XCTAssertEqual(try plain.evaluate(data.x, labels: data.labels, count: samples).loss, recomputed.loss)
    }

    func testRecomputingChangesTheRunningStatisticsAndNothingElse() throws {
        let data = Data(seed: 2)
        let trainer = try makeTrainer()
        try train(trainer, data)
        let before = Snapshot(trainer)
        let statistics = Set(trainer.model.runningStatistics.map { ObjectIdentifier($0) })
        let batches = data.batches
        // Each batch alone, then both: the result is the mean of the two.
        try trainer.recomputeStatistics(from: batches(0..<1))
        let one = trainer.model.runningStatistics.map(\.value.array)
        try trainer.recomputeStatistics(from: batches(1..<2))
        let two = trainer.model.runningStatistics.map(\.value.array)
        try trainer.recomputeStatistics(from: batches(0..<2))
        for (i, p) in trainer.model.runningStatistics.enumerated() {
            for j in 0..<p.value.count {
                XCTAssertEqual(p.value.data[j], (one[i][j] + two[i][j]) / 2, accuracy: 1e-4 * max(1, abs(one[i][j])), "\(p.name)[\(j)]")
            }
        }
        var after = Snapshot(trainer)
        for (i, p) in trainer.model.parameters.enumerated() where statistics.contains(ObjectIdentifier(p)) {
            XCTAssertNotEqual(after.tensors[i], before.tensors[i], "\(p.name) was not recomputed")
            after.tensors[i] = before.tensors[i]
        }
        XCTAssertEqual(after, before)
    }

    func testRecomputingFromBatchesThatOverflowChangesNothing() throws {
        let data = Data(seed: 3), huge = Data(seed: 4) { _ in 3e38 }
        let trainer = try makeTrainer()
        try train(trainer, data)
        let before = Snapshot(trainer)
        XCTAssertThrowsError(try trainer.recomputeStatistics(from: huge.batches(0..<1))) {
            XCTAssertEqual(($0 as? SuperConvError)?.status, .nonFinite)
        }
        XCTAssertEqual(Snapshot(trainer), before)
    }
}
