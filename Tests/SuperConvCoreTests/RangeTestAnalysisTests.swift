import XCTest
@testable import SuperConvCore

/// The range-test analyser on synthetic curves whose answers are known.
final class RangeTestAnalysisTests: XCTestCase {
    /// A linear sweep 0.01 ... 3 over 100 points with the given accuracy and loss curves.
    func sweep(accuracy: (Double) -> Double, loss: (Double) -> Double = { 2.3 - 0.5 * min($0, 1) }) -> [RangeTestPoint] {
        (0..<100).map { i in
            let lr = 0.01 + 2.99 * Double(i) / 99
            return RangeTestPoint(learningRate: lr, trainLoss: loss(lr), testAccuracy: accuracy(lr))
        }
    }

    /// Evaluation noise: the ±0.1 swings from one evaluation to the next of the paper's own range
    /// tests (and of fast sweeps here), from a seeded generator.
    func swings(_ seed: UInt64, amplitude: Double = 0.1) -> (Double) -> Double {
        var generator = RandomGenerator(seed: seed)
        return { _ in amplitude * (2 * Double(generator.nextUniform()) - 1) }
    }

    /// Fig. 2b as the paper's runs recorded it: accuracy climbs to about 0.78 by lr 0.5, then
    /// holds that level to lr 3 while swinging ±0.1 between evaluations. Every seed of the
    /// noise reads as a plateau.
    func testNoisyHighPlateauToLargeRatesIsLikely() {
        for seed in 1...20 as ClosedRange<UInt64> {
            let noise = swings(seed)
            let report = RangeTestAnalyzer().analyze(sweep { lr in 0.1 + 0.68 * min(1, lr / 0.5) + noise(lr) })
            XCTAssertEqual(report.verdict, .likely, "noise seed \(seed): retention \(report.retention), width \(report.plateauWidth)")
            XCTAssertEqual(report.heldAccuracy, 0.78, accuracy: 0.05)
            XCTAssertGreaterThan(report.retention, 0.85)
            XCTAssertLessThan(report.plateauLow, 0.6)
            XCTAssertGreaterThan(report.plateauHigh, 2.6)
            XCTAssertGreaterThan(report.oscillation, 0.05)
        }
    }

    /// The old rule's failure: the noisy maximum of a flat plateau moves anywhere along it; the
    /// verdict and the plateau's extent do not depend on where.
    func testWherePlateauNoisePeaksDoesNotMatter() {
        for spike in [0.7, 1.5, 2.9] {
            let report = RangeTestAnalyzer().analyze(sweep { lr in 0.1 + 0.7 * min(1, lr / 0.4) + (abs(lr - spike) < 0.02 ? 0.15 : 0) })
            XCTAssertEqual(report.verdict, .likely, "spike at lr \(spike)")
            XCTAssertEqual(report.plateauLow, 0.4, accuracy: 0.15)
        }
    }

    /// The paper's collapsing sweeps: accuracy reaches about 0.45 near lr 0.3 and falls to about
    /// 0.15 as the rate grows.
    func testCollapseAtLargeRatesIsUnlikely() {
        for seed in 1...10 as ClosedRange<UInt64> {
            let noise = swings(seed, amplitude: 0.05)
            let report = RangeTestAnalyzer().analyze(sweep { lr in
                (lr < 0.3 ? 0.1 + 0.35 * lr / 0.3 : max(0.15, 0.45 - 0.2 * (lr - 0.3))) + noise(lr)
            })
            XCTAssertEqual(report.verdict, .unlikely, "noise seed \(seed)")
            XCTAssertLessThan(report.retention, 0.3)
            XCTAssertEqual(report.peakLearningRate, 0.3, accuracy: 0.25)
            XCTAssertEqual(report.paperMax, report.plateauHigh)
            XCTAssertEqual(report.paperMin, report.paperMax / 3, accuracy: 1e-12)
        }
    }

    /// Fig. 2a: a distinct peak near 0.35, then steady decay to chance.
    func testDistinctPeakThenDecayIsUnlikely() {
        let report = RangeTestAnalyzer().analyze(sweep { max(0.1, 0.9 - 1.5 * abs($0 - 0.35)) })
        XCTAssertEqual(report.verdict, .unlikely)
        XCTAssertEqual(report.peakLearningRate, 0.35, accuracy: 0.1)
        XCTAssertEqual(report.heldAccuracy, 0.1, accuracy: 1e-9)
        XCTAssertLessThan(report.plateauHigh, 0.6)
    }

    /// Fig. 11: past lr 1, every other evaluation drops from 0.9 to 0.2: the level is not held.
    func testSwingsDownToLowAccuracyAreNoPlateau() {
        var points = sweep { min(0.9, 0.3 + 2 * $0) }
        for i in 33..<100 where i % 2 == 1 { points[i].testAccuracy = 0.2 }
        let report = RangeTestAnalyzer().analyze(points)
        XCTAssertNotEqual(report.verdict, .likely)
        XCTAssertLessThan(report.retention, 0.8)
        XCTAssertGreaterThan(report.oscillation, 0.3)
    }

    /// A level held to the end but reached only at lr 2 spans a factor of 1.5: too short a range
    /// of large rates to call (more steps, not larger rates, may have raised it), and so is a
    /// fall to two thirds of the rise.
    func testNarrowPlateauAndPartialFallAreInconclusive() {
        let narrow = RangeTestAnalyzer().analyze(sweep { lr in 0.1 + 0.7 * min(1, max(0, lr - 1.2) / 0.8) })
        XCTAssertEqual(narrow.plateauWidth, 1.6, accuracy: 0.2)
        XCTAssertEqual(narrow.verdict, .inconclusive)
        let partial = RangeTestAnalyzer().analyze(sweep { lr in lr < 0.5 ? 0.1 + 1.4 * lr : 0.8 - 0.1 * (lr - 0.5) })
        XCTAssertEqual(partial.retention, 0.65, accuracy: 0.08)
        XCTAssertEqual(partial.verdict, .inconclusive)
    }

    /// A sweep too short for the network to learn: accuracy stays near chance (0.1) all along,
    /// which is flat but no plateau.
    func testAccuracyThatNeverRoseIsInconclusive() {
        let report = RangeTestAnalyzer().analyze(sweep { 0.1 + 0.02 * sin(9 * $0) })
        XCTAssertEqual(report.heldAccuracy, 0.1, accuracy: 0.03)  // the level is "held"
        XCTAssertLessThan(report.accuracyRise, 0.1)
        XCTAssertEqual(report.verdict, .inconclusive)
    }

    /// With Adam's moments a plateau is no sign (the paper: Adam does not super-converge); the
    /// other optimizers are read from the curve alone, as an unknown one is.
    func testAPlateauUnderAdamIsInconclusive() throws {
        let curve = sweep { lr in 0.1 + 0.7 * min(1, lr / 0.4) }
        for (name, verdict) in [("unknown", RangeTestReport.Verdict.likely), ("sgd", .likely), ("nesterov", .likely),
                                ("adagrad", .likely), ("adadelta", .likely), ("adam", .inconclusive), ("adamw", .inconclusive)] {
            let analyzer = try RangeTestAnalyzer(RangeTestAnalyzer.schema.parse("optimizer=\(name)"))
            XCTAssertEqual(analyzer.analyze(curve).verdict, verdict, name)
        }
        var adam = RangeTestAnalyzer()
        adam.optimizer = .adam
        XCTAssertEqual(adam.analyze(sweep { max(0.1, 0.9 - 1.5 * abs($0 - 0.35)) }).verdict, .unlikely)
    }

    /// Too few evaluations to average over windows of three: no judgement.
    func testFewEvaluationsAreInconclusive() {
        let points = (0..<5).map { RangeTestPoint(learningRate: Double($0), trainLoss: 1, testAccuracy: 0.1 + 0.2 * Double($0)) }
        let report = RangeTestAnalyzer().analyze(points)
        XCTAssertEqual(report.verdict, .inconclusive)
        XCTAssertTrue(report.peakAccuracy.isNaN)
    }

    /// The tolerance, window and width are the spec's.
    func testVerdictOptionsComeFromTheSpec() throws {
        let strict = try RangeTestAnalyzer(RangeTestAnalyzer.schema.parse("plateau_tol=0.05 window_div=10 min_width=8"))
        XCTAssertEqual(strict.plateauTolerance, 0.05)
        XCTAssertEqual(strict.windowDivisor, 10)
        let curve = sweep { lr in 0.1 + 0.68 * min(1, lr / 0.5) + 0.05 * sin(40 * lr) }
        XCTAssertEqual(RangeTestAnalyzer().analyze(curve).verdict, .likely)
        XCTAssertNotEqual(strict.analyze(curve).verdict, .likely)
        XCTAssertThrowsError(try RangeTestAnalyzer(RangeTestAnalyzer.schema.parse("plateau_tol=0.7")))
    }

    func testWithoutAccuracyTheVerdictIsUnknown() {
        let points = (0..<50).map { RangeTestPoint(learningRate: Double($0 + 1) * 0.01, trainLoss: 1) }
        XCTAssertEqual(RangeTestAnalyzer().analyze(points).verdict, .unknown)
        XCTAssertTrue(RangeTestAnalyzer().analyze(points).paperMax.isNaN)
    }

    /// An exponential sweep whose loss falls fastest around lr = 1e-2 and explodes past 1.
    func testDivergenceAndLossBasedSuggestions() {
        let points = (0..<100).map { i -> RangeTestPoint in
            let lr = 1e-5 * pow(1e6, Double(i) / 99)
            let x = log10(lr)
            let loss = x < 0 ? 2 - 1.5 / (1 + exp(-3 * (x + 2))) : 0.5 + 50 * x * x
            return RangeTestPoint(learningRate: lr, trainLoss: loss)
        }
        let report = RangeTestAnalyzer().analyze(points)
        let diverged = try! XCTUnwrap(report.divergedAt)
        XCTAssertGreaterThan(points[diverged].learningRate, 1)
        // The steepest descent of the smoothed loss in log lr lies near 1e-2 (smoothing delays
        // it by a few points).
        XCTAssertEqual(log10(report.steep), -2, accuracy: 0.6)
        XCTAssertEqual(log10(report.steepestGradient), -2, accuracy: 0.6)
        XCTAssertLessThan(report.valley, report.minimum * 10)
        XCTAssertTrue(report.minimum > 0 && report.slide > 0 && report.valley > 0)
        XCTAssertLessThan(report.minimum * 10, 1.5)
    }

    /// fastai skips the first tenth of the sweep it planned (`num_it // 10`), not of the points
    /// recorded before divergence: a sweep of 100 planned points that diverges at point 60 leaves
    /// points 10 to 54 for the suggestions, so the low losses of points 6 to 9 are not
    /// `minimum`'s (the smoothed loss's lowest point in the window, over 10).
    func testSuggestionsSkipATenthOfThePlannedSweep() {
        var points = (0..<61).map { i in
            RangeTestPoint(learningRate: Double(i + 1) * 0.01, trainLoss: i < 10 ? 0.1 : 0.12 + 0.001 * Double(i))
        }
        points[60].trainLoss = .nan
        var analyzer = RangeTestAnalyzer()
        let recorded = analyzer.analyze(points)
        analyzer.plannedPoints = 100
        let planned = analyzer.analyze(points)
        XCTAssertEqual(recorded.divergedAt, 60)
        XCTAssertLessThanOrEqual(recorded.minimum, points[9].learningRate / 10 + 1e-12)
        XCTAssertEqual(planned.minimum, points[10].learningRate / 10, accuracy: 1e-12)
        XCTAssertEqual(try RangeTestAnalyzer(RangeTestAnalyzer.schema.parse("planned=100")).plannedPoints, 100)
    }

    func testNaNLossCountsAsDivergence() {
        var points = (0..<30).map { RangeTestPoint(learningRate: Double($0), trainLoss: 1) }
        points[12].trainLoss = .nan
        XCTAssertEqual(RangeTestAnalyzer().analyze(points).divergedAt, 12)
    }

    func testNumpyGradient() {
        XCTAssertEqual(RangeTestAnalyzer.gradient([1, 4, 9, 16]), [3, 4, 6, 7])
    }
}
