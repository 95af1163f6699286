import XCTest
@testable import SuperConvCore

/// A convolution and the batch norm reading its output (`BatchNorm2d.reads(outputOf:)`) share
/// work: the convolution records its output's plane moments for the batch norm's statistics,
/// and forms the batch norm's input gradient as it reads it. Either way the results are those of
/// the two layers on their own, bit for bit, on both convolution paths (direct for stride 1,
/// im2col + GEMM for stride 2).
final class ConvolutionBatchNormLinkTests: XCTestCase {
    struct Pair {
        let conv: Conv2d, bn: BatchNorm2d
    }

    func pair(stride: Int, linked: Bool) throws -> Pair {
        let conv = try Conv2d(inChannels: 4, outChannels: 8, kernel: 3, stride: stride, padding: 1,
                              bias: true, workspace: Workspace())
        randomize(conv.weight.value, seed: 6, scale: 0.3)
        randomize(conv.bias!.value, seed: 7, scale: 3)
        let bn = try BatchNorm2d(channels: 8, epsilon: 1e-5, statistics: .caffe(movingAverageFraction: 0.9),
                                 inference: .global, appliesReLU: true)
        randomize(bn.weight.value, seed: 8, awayFromZero: 0.5)
        randomize(bn.bias.value, seed: 9)
        if linked { bn.reads(outputOf: conv) }
        return Pair(conv: conv, bn: bn)
    }

    let x = try! randomTensor(Shape(5, 4, 12, 12), seed: 5)

    /// Moments are recorded in training mode only (this batch norm normalises with running
    /// statistics in inference) and used once.
    func testMomentsRecordedByTheConvolutionGiveTheSameStatistics() throws {
        for stride in [1, 2] {
            func run(linked: Bool) throws -> (y: [Float], mean: [Float], variance: [Float]) {
                let p = try pair(stride: stride, linked: linked)
                XCTAssertFalse(p.bn.inputMoments.describe(try p.conv.forward(x, mode: .inference)), "stride \(stride)")
                let h = try p.conv.forward(x, mode: .training)
                XCTAssertEqual(p.bn.inputMoments.describe(h), linked, "stride \(stride)")
                let y = try p.bn.forward(h, mode: .training).array
                XCTAssertFalse(p.bn.inputMoments.describe(h), "used once, stride \(stride)")
                p.bn.commitStatistics()
                return (y, p.bn.runningMean.value.array, p.bn.runningVar.value.array)
            }
            let own = try run(linked: false), recorded = try run(linked: true)
            XCTAssertEqual(own.y, recorded.y, "stride \(stride)")
            XCTAssertEqual(own.mean, recorded.mean, "stride \(stride)")
            XCTAssertEqual(own.variance, recorded.variance, "stride \(stride)")
        }
    }

    /// The batch norm's dx, formed by the convolution image by image (direct path) or written
    /// out by it first (GEMM path), gives the gradients the batch norm's own dx gives.
    func testDeferredInputGradientGivesTheSameGradients() throws {
        let dy = try randomTensor(Shape(5, 8, 12, 12), seed: 10)
        for stride in [1, 2] {
            let dyShape = Shape(5, 8, 12 / stride, 12 / stride)
            let upstream = try Tensor(dyShape)
            upstream.copy(from: dy.data)
            func run(linked: Bool) throws -> [[Float]] {
                let p = try pair(stride: stride, linked: linked)
                _ = try p.bn.forward(try p.conv.forward(x, mode: .training), mode: .training)
                let dh = try p.bn.backward(upstream)
                let dx = try p.conv.backward(dh).array
                return [dx, p.conv.weight.gradient!.array, p.conv.bias!.gradient!.array,
                        p.bn.weight.gradient!.array, p.bn.bias.gradient!.array]
            }
            let own = try run(linked: false), deferred = try run(linked: true)
            for (k, name) in ["dx", "conv dweight", "conv dbias", "bn dgamma", "bn dbeta"].enumerated() {
                XCTAssertEqual(own[k], deferred[k], "\(name), stride \(stride)")
            }
        }
    }
}
