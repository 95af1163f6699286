import XCTest
@testable import SuperConvCore

/// Eq. 8 on quadratics, where the secant estimate has a closed form.
final class LearningRateEstimatorTests: XCTestCase {
    /// Plain SGD on f = Σ h_i·θ_i²/2 from θ0, three snapshots; returns the raw estimate.
    func estimate(h: [Double], theta0: [Double], lr: Double, norm: LearningRateEstimator.Norm) throws -> (Double, Double) {
        var estimator = LearningRateEstimator(alpha: 0.1, initial: 0.1, norm: norm)
        var theta = theta0
        var result = (Double.nan, Double.nan)
        for _ in 0..<3 {
            let snapshot = theta.map(Float.init)
            result = try snapshot.withUnsafeBufferPointer { try estimator.observe($0, learningRate: lr) }
            for i in theta.indices { theta[i] -= lr * h[i] * theta[i] }
        }
        return result
    }

    func testOneDimensionalQuadraticGivesTheInverseCurvature() throws {
        for (h, lr) in [(4.0, 0.05), (0.5, 0.3), (2.0, 0.9)] {
            let (raw, smoothed) = try estimate(h: [h], theta0: [1.5], lr: lr, norm: .l1)
            XCTAssertEqual(raw, 1 / h, accuracy: 1e-4 / h, "h = \(h), lr = \(lr)")
            XCTAssertEqual(smoothed, 0.9 * 0.1 + 0.1 / h, accuracy: 1e-5)
        }
    }

    /// With a_i = lr·h_i: θ1 − θ0 = −a_i·θ0_i and 2θ1 − θ0 − θ2 = −a_i²·θ0_i, so
    /// est = lr·Σ a_i|θ0_i| / Σ a_i²|θ0_i| (l1) or lr·√(Σ a_i²θ0_i²) / √(Σ a_i⁴θ0_i²) (l2).
    func testMultiDimensionalQuadraticMatchesTheClosedForm() throws {
        let h = [1.0, 5.0, 20.0], theta0 = [1.0, -0.5, 0.25], lr = 0.02
        let a = h.map { lr * $0 }
        let l1 = lr * zip(a, theta0).map { $0 * abs($1) }.reduce(0, +) / zip(a, theta0).map { $0 * $0 * abs($1) }.reduce(0, +)
        let l2 = lr * zip(a, theta0).map { $0 * $0 * $1 * $1 }.reduce(0, +).squareRoot()
            / zip(a, theta0).map { pow($0, 4) * $1 * $1 }.reduce(0, +).squareRoot()
        XCTAssertEqual(try estimate(h: h, theta0: theta0, lr: lr, norm: .l1).0, l1, accuracy: 1e-4 * l1)
        XCTAssertEqual(try estimate(h: h, theta0: theta0, lr: lr, norm: .l2).0, l2, accuracy: 1e-4 * l2)
    }

    func testNothingBeforeThreeSnapshotsAndFixedLength() throws {
        var estimator = LearningRateEstimator(alpha: 0.1, initial: 0.1, norm: .l1)
        let a: [Float] = [1, 2], b: [Float] = [1, 2, 3]
        XCTAssertTrue(try a.withUnsafeBufferPointer { try estimator.observe($0, learningRate: 0.1) }.raw.isNaN)
        XCTAssertThrowsError(try b.withUnsafeBufferPointer { try estimator.observe($0, learningRate: 0.1) })
        XCTAssertTrue(try a.withUnsafeBufferPointer { try estimator.observe($0, learningRate: 0.1) }.smoothed.isNaN)
        // Three equal snapshots: no curvature, no estimate, the average keeps its value.
        let third = try a.withUnsafeBufferPointer { try estimator.observe($0, learningRate: 0.1) }
        XCTAssertTrue(third.raw.isNaN)
        XCTAssertEqual(third.smoothed, 0.1)
    }
}
