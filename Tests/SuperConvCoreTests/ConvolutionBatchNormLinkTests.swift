import XCTest
@testable import SuperConvCore

/// A convolution and the batch norm reading its output (`BatchNorm2d.reads(outputOf:)`) share
/// work: the convolution records its output's plane moments for the batch norm's statistics,
/// and forms the batch norm's input gradient as it reads it. A convolution reading a batch
/// norm's output (`Conv2d.reads(outputOf:)`) maps it from the batch norm's input as it reads it.
/// Either way the results are those of the layers on their own, bit for bit, on both convolution
/// paths (direct for stride 1, im2col + GEMM for stride 2).
final class ConvolutionBatchNormLinkTests: XCTestCase {
    struct Pair {
        let conv: Conv2d, bn: BatchNorm2d
    }

    /// A convolution of `inChannels` to 8 channels and a batch norm (with its ReLU) of
    /// `normalized` channels, not linked, with random parameters and running statistics.
    func layers(inChannels: Int, normalized: Int, stride: Int) throws -> Pair {
        let conv = try Conv2d(inChannels: inChannels, outChannels: 8, kernel: 3, stride: stride, padding: 1,
                              bias: true, workspace: Workspace())
        randomize(conv.weight.value, seed: 6, scale: 0.3)
        randomize(conv.bias!.value, seed: 7, scale: 3)
        let bn = try BatchNorm2d(channels: normalized, epsilon: 1e-5, statistics: .caffe(movingAverageFraction: 0.9),
                                 inference: .global, appliesReLU: true)
        randomize(bn.weight.value, seed: 8, awayFromZero: 0.5)
        randomize(bn.bias.value, seed: 9)
        randomize(bn.runningMean.value, seed: 13)
        randomize(bn.runningVar.value, seed: 14, awayFromZero: 0.5)
        for i in 0..<normalized { bn.runningVar.value.data[i] = abs(bn.runningVar.value.data[i]) }
        return Pair(conv: conv, bn: bn)
    }

    /// A convolution followed by a batch norm, the batch norm reading the convolution's output
    /// when `linked`.
    func pair(stride: Int, linked: Bool) throws -> Pair {
        let p = try layers(inChannels: 4, normalized: 8, stride: stride)
        if linked { p.bn.reads(outputOf: p.conv) }
        return p
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

    /// A batch norm of 12 channels followed by a convolution, the convolution taking the batch
    /// norm's output mapped from its input when `linked`. 12 channels and 12 pixels a row: whole
    /// blocks of 8 and the rest, in each of the kernels' copying loops.
    func normalizedPair(stride: Int, linked: Bool) throws -> Pair {
        let p = try layers(inChannels: 12, normalized: 12, stride: stride)
        if linked { p.conv.reads(outputOf: p.bn) }
        return p
    }

    /// Mapped where the convolution reads only through padded copies (the direct path, stride
    /// 1), written out otherwise; either way the same output and gradients, in training and in
    /// inference. The batch norm's output tensor is filled with NaN before each forward, so a
    /// convolution that read it where it should map would show.
    func testMappedInputGivesTheSameResults() throws {
        let x = try randomTensor(Shape(5, 12, 12, 12), seed: 15)
        for stride in [1, 2] {
            let dy = try randomTensor(Shape(5, 8, 12 / stride, 12 / stride), seed: 16)
            func run(linked: Bool) throws -> [[Float]] {
                let p = try normalizedPair(stride: stride, linked: linked)
                XCTAssertEqual(p.bn.defersOutput, linked && stride == 1 && CPUFeatures.hasAVX2FMA,
                               "stride \(stride)")
                var results: [[Float]] = []
                for mode in [Mode.inference, .training] {
                    p.bn.output.fill(.nan)
                    results.append(try p.conv.forward(try p.bn.forward(x, mode: mode), mode: mode).array)
                }
                let dx = try p.bn.backward(try p.conv.backward(dy)).array
                return results + [dx, p.conv.weight.gradient!.array, p.conv.bias!.gradient!.array,
                                  p.bn.weight.gradient!.array, p.bn.bias.gradient!.array]
            }
            let own = try run(linked: false), mapped = try run(linked: true)
            let names = ["inference y", "training y", "dx", "conv dweight", "conv dbias", "bn dgamma", "bn dbeta"]
            for (k, name) in names.enumerated() {
                XCTAssertEqual(own[k].filter(\.isNaN).count, 0, "\(name), stride \(stride)")
                XCTAssertEqual(own[k], mapped[k], "\(name), stride \(stride)")
            }
        }
    }

    /// A forward that mapped its input cannot be followed by a backward on the GEMM path (which
    /// reads x itself): turning the direct kernels off in between is an error, not garbage.
    func testTurningDirectKernelsOffAfterAMappedForwardIsAnError() throws {
        try XCTSkipUnless(CPUFeatures.hasAVX2FMA, "the direct kernels need AVX2 and FMA")
        let p = try normalizedPair(stride: 1, linked: true)
        let x = try randomTensor(Shape(2, 12, 6, 6), seed: 17)
        _ = try p.conv.forward(try p.bn.forward(x, mode: .training), mode: .training)
        p.conv.allowsDirectKernels = false
        XCTAssertThrowsError(try p.conv.backward(try randomTensor(Shape(2, 8, 6, 6), seed: 18))) { error in
            XCTAssertTrue("\(error)".contains("turned off"), "\(error)")
        }
    }
}
