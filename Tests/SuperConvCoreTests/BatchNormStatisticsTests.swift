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
        XCTAssertEqual(bn.statisticsWeight, s, accuracy: 1e-6)
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
        XCTAssertEqual(bn.statisticsWeight, 0)
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

    /// A convolution records its output's plane moments for the batch norm that reads that
    /// output, on both of its paths (direct for stride 1, im2col + GEMM for stride 2), in
    /// training mode only (this batch norm normalises with running statistics in inference);
    /// the batch norm then normalises and accumulates exactly as from its own pass over the input.
    func testMomentsRecordedByTheConvolutionGiveTheSameStatistics() throws {
        let x = try randomTensor(Shape(5, 4, 12, 12), seed: 5)
        for stride in [1, 2] {
            func run(linked: Bool) throws -> (y: [Float], mean: [Float], variance: [Float]) {
                let conv = try Conv2d(inChannels: 4, outChannels: 8, kernel: 3, stride: stride, padding: 1,
                                      bias: true, workspace: Workspace())
                randomize(conv.weight.value, seed: 6, scale: 0.3)
                randomize(conv.bias!.value, seed: 7, scale: 3)
                let bn = try BatchNorm2d(channels: 8, epsilon: 1e-5, statistics: .caffe(movingAverageFraction: 0.9),
                                         inference: .global)
                if linked { bn.reads(outputOf: conv) }
                XCTAssertFalse(bn.inputMoments.describe(try conv.forward(x, mode: .inference)), "stride \(stride)")
                let h = try conv.forward(x, mode: .training)
                XCTAssertEqual(bn.inputMoments.describe(h), linked, "stride \(stride)")
                let y = try bn.forward(h, mode: .training).array
                XCTAssertFalse(bn.inputMoments.describe(h), "used once, stride \(stride)")
                bn.commitStatistics()
                return (y, bn.runningMean.value.array, bn.runningVar.value.array)
            }
            let own = try run(linked: false), recorded = try run(linked: true)
            XCTAssertEqual(own.y, recorded.y, "stride \(stride)")
            XCTAssertEqual(own.mean, recorded.mean, "stride \(stride)")
            XCTAssertEqual(own.variance, recorded.variance, "stride \(stride)")
        }
    }
}
