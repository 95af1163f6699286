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

    /// Fig. 2b: accuracy rises, then holds near 0.9 all the way to lr 3.
    func testPlateauToLargeRatesIsLikely() {
        let report = RangeTestAnalyzer().analyze(sweep { min(0.9, 0.3 + 2 * $0) + 0.01 * sin(7 * $0) })
        XCTAssertEqual(report.verdict, .likely)
        XCTAssertGreaterThan(report.plateauWidth, 2)
        XCTAssertLessThan(report.plateauLow, 0.35)
        XCTAssertEqual(report.paperMax, 3, accuracy: 0.05)
        XCTAssertEqual(report.paperMin, report.paperMax / 3, accuracy: 1e-12)
    }

    /// A flat plateau whose noisy maximum happens to lie near its end is still a plateau.
    func testPlateauWithItsPeakNearTheEndIsLikely() {
        let report = RangeTestAnalyzer().analyze(sweep { min(0.9, 0.2 + $0) + ($0 > 2.8 ? 0.01 : 0.004 * sin(40 * $0)) })
        XCTAssertGreaterThan(report.peakLearningRate, 2.8)
        XCTAssertEqual(report.verdict, .likely)
        XCTAssertEqual(report.plateauLow, 0.66, accuracy: 0.1)
    }

    /// Fig. 2a: a distinct peak near 0.35, then steady decay.
    func testDistinctPeakIsUnlikely() {
        let report = RangeTestAnalyzer().analyze(sweep { max(0.1, 0.9 - 1.5 * abs($0 - 0.35)) })
        XCTAssertEqual(report.verdict, .unlikely)
        XCTAssertEqual(report.peakLearningRate, 0.35, accuracy: 0.04)
        XCTAssertLessThan(report.plateauWidth, 0.75)
        XCTAssertEqual(report.paperMax, report.plateauHigh)
    }

    /// Fig. 11: past the peak, accuracy swings wildly between good and bad.
    func testWildSwingsAreUnlikely() {
        var points = sweep { min(0.9, 0.3 + 2 * $0) }
        for i in 40..<100 where i % 2 == 1 { points[i].testAccuracy = 0.3 }
        let report = RangeTestAnalyzer().analyze(points)
        XCTAssertEqual(report.verdict, .unlikely)
        XCTAssertGreaterThan(report.oscillation, 0.1)
    }

    /// A sweep too short for the network to learn: accuracy stays near chance (0.1) all along,
    /// which is flat but no plateau.
    func testAccuracyThatNeverRoseIsInconclusive() {
        let report = RangeTestAnalyzer().analyze(sweep { 0.1 + 0.02 * sin(9 * $0) })
        XCTAssertGreaterThan(report.plateauWidth, 1.5)  // flat enough to pass for a plateau
        XCTAssertLessThan(report.accuracyRise, 0.1)
        XCTAssertEqual(report.verdict, .inconclusive)
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
