import XCTest
@testable import SuperConvCore

/// Running statistics follow Caffe's bias-corrected accumulation or PyTorch's momentum rule,
/// and change only when a step is committed.
final class BatchNormStatisticsTests: XCTestCase {
    /// Two batches of one channel with known mean and variance (m = 4 values each).
    let first: [Float] = [1, 2, 3, 6]      // mean 3, biased var 3.5, unbiased 14/3
    let second: [Float] = [0, 0, 4, 4]     // mean 2, biased var 4, unbiased 16/3

    func run(_ statistics: BatchNormStatistics) throws -> BatchNorm2d {
        let bn = try BatchNorm2d(channels: 1, epsilon: 1e-5, statistics: statistics, inference: .global)
        for batch in [first, second] {
            let x = try Tensor(Shape(4, 1, 1, 1))
            x.copy(from: batch)
            _ = try bn.forward(x, mode: .training)
            bn.commitStatistics()
        }
        return bn
    }

    func testCaffeAccumulationIsBiasCorrected() throws {
        let maf: Float = 0.95
        let bn = try run(.caffe(movingAverageFraction: maf))
        // s: 0 -> 1 -> maf + 1; acc: mean_1 -> maf·mean_1 + mean_2; eval uses acc/s.
        let s = maf + 1
        XCTAssertEqual(bn.normalization.statisticsWeight, s, accuracy: 1e-6)
        XCTAssertEqual(bn.runningMean.value.data[0], (maf * 3 + 2) / s, accuracy: 1e-5)
        XCTAssertEqual(bn.runningVar.value.data[0], (maf * 14 / 3 + 16 / 3) / s, accuracy: 1e-5)
    }

    func testPyTorchMomentumStartsFromZeroMeanUnitVariance() throws {
        let momentum: Float = 0.1
        let bn = try run(.pytorch(momentum: momentum))
        var mean: Float = 0, variance: Float = 1
        for (m, v) in [(Float(3), Float(14) / 3), (2, 16 / 3)] {
            mean = (1 - momentum) * mean + momentum * m
            variance = (1 - momentum) * variance + momentum * v
        }
        XCTAssertEqual(bn.runningMean.value.data[0], mean, accuracy: 1e-6)
        XCTAssertEqual(bn.runningVar.value.data[0], variance, accuracy: 1e-6)
    }

    func testForwardAloneDoesNotTouchRunningStatistics() throws {
        let bn = try BatchNorm2d(channels: 1, epsilon: 1e-5, statistics: .caffe(movingAverageFraction: 0.9), inference: .global)
        let x = try Tensor(Shape(4, 1, 1, 1))
        x.copy(from: first)
        _ = try bn.forward(x, mode: .training)
        XCTAssertEqual(bn.runningMean.value.data[0], 0)
        XCTAssertEqual(bn.runningVar.value.data[0], 1)
        XCTAssertEqual(bn.normalization.statisticsWeight, 0)
        // An inference forward in between discards the pending batch statistics.
        _ = try bn.forward(x, mode: .inference)
        bn.commitStatistics()
        XCTAssertEqual(bn.runningMean.value.data[0], 0)
    }

    func testTrainingModeNormalisesWithBiasedBatchVariance() throws {
        let bn = try BatchNorm2d(channels: 1, epsilon: 0.0001, statistics: .caffe(movingAverageFraction: 0.9), inference: .global)
        let x = try Tensor(Shape(4, 1, 1, 1))
        x.copy(from: first)
        let y = try bn.forward(x, mode: .training).array
        for (value, input) in zip(y, first) {
            XCTAssertEqual(value, (input - 3) / (3.5 + 0.0001).squareRoot(), accuracy: 1e-5)
        }
    }

    /// A channel whose mean is large against its spread (1000 + values of spread ~1, over
    /// 8 images of 40x40): the batch statistics keep the variance to float precision, as a
    /// two-pass computation in double does.
    func testBatchVarianceOfAChannelFarFromZero() throws {
        let bn = try BatchNorm2d(channels: 2, epsilon: 1e-5, statistics: .caffe(movingAverageFraction: 0.9), inference: .global)
        let x = try randomTensor(Shape(8, 2, 40, 40), seed: 11)
        for i in 0..<x.count { x.data[i] = 1000 + x.data[i] }
        _ = try bn.forward(x, mode: .training)
        bn.commitStatistics()  // the first commit copies the batch statistics, variance unbiased
        let plane = 40 * 40, m = Double(8 * plane)
        for c in 0..<2 {
            var values = [Double]()
            for i in 0..<8 { for p in 0..<plane { values.append(Double(x.data[(i * 2 + c) * plane + p])) } }
            let mean = values.reduce(0, +) / m
            let variance = values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / (m - 1)
            XCTAssertEqual(Double(bn.runningMean.value.data[c]), mean, accuracy: 1e-6 * mean)
            XCTAssertEqual(Double(bn.runningVar.value.data[c]), variance, accuracy: 1e-5 * variance)
        }
    }
}

/// Precise BN's rule: Caffe's with moving-average fraction 1 from s = 0 is the equal-weight mean
/// of the batches' statistics (unbiased variances), whatever the layer's own rule.
final class PreciseBatchNormRuleTests: XCTestCase {
    func testFoldingWithFractionOneFromZeroAveragesTheBatches() throws {
        let bn = try BatchNorm2d(channels: 1, epsilon: 1e-5, statistics: .pytorch(momentum: 0.1), inference: .global)
        for batch: [Float] in [[1, 2, 3, 6], [0, 0, 4, 4]] {
            let x = try Tensor(Shape(4, 1, 1, 1))
            x.copy(from: batch)
            _ = try bn.forward(x, mode: .training)
            bn.normalization.commitStatistics(by: .caffe(movingAverageFraction: 1))
        }
        XCTAssertEqual(bn.runningMean.value.data[0], (3 + 2) / 2, accuracy: 1e-6)
        XCTAssertEqual(bn.runningVar.value.data[0], (14.0 / 3 + 16.0 / 3) / 2, accuracy: 1e-5)
    }
}
