import XCTest
@testable import SuperConvCore

/// Every layer's backward agrees with central finite differences of its forward.
final class LayerGradientTests: XCTestCase {
    /// Conv2d on `instructionSet`: a shape the direct kernels take on AVX2 (channels in fours, a
    /// width that ends in a partial run), one they do not, and a stride-2 one.
    func checkConv2dGradients(on instructionSet: InstructionSet) throws {
        try requireSupport(of: instructionSet)
        let shapes = [(c: 4, o: 4, stride: 1, bias: true, x: Shape(2, 4, 3, 17)),
                      (c: 3, o: 5, stride: 1, bias: true, x: Shape(2, 3, 5, 5)),
                      (c: 2, o: 3, stride: 2, bias: false, x: Shape(3, 2, 7, 6)),
                      (c: 4, o: 8, stride: 2, bias: true, x: Shape(2, 4, 9, 10))]
        for (i, s) in shapes.enumerated() {
            let conv = try Conv2d(inChannels: s.c, outChannels: s.o, kernel: 3, stride: s.stride, padding: 1, bias: s.bias,
                                  instructionSet: instructionSet, workspace: Workspace())
            randomize(conv.weight.value, seed: UInt64(1 + i), scale: 0.3)
            if let bias = conv.bias { randomize(bias.value, seed: UInt64(11 + i)) }
            try checkGradients(of: conv, input: randomTensor(s.x, seed: UInt64(21 + i)))
        }
    }

    func testConv2dGradientsOnPortable() throws { try checkConv2dGradients(on: .portable) }
    func testConv2dGradientsOnAVX2() throws { try checkConv2dGradients(on: .avx2) }
    func testConv2dGradientsOnAVX512() throws { try checkConv2dGradients(on: .avx512) }

    /// Tiles of one image and tiles of several give the same results (up to summation order).
    func testConv2dTilingDoesNotChangeResults() throws {
        let x = try randomTensor(Shape(5, 2, 6, 6), seed: 6)
        func run(tileColumns: Int) throws -> ([Float], [Float], [Float]) {
            let conv = try Conv2d(inChannels: 2, outChannels: 3, kernel: 3, stride: 1, padding: 1, bias: true,
                                  instructionSet: .portable, workspace: Workspace(),
                                  tuning: ConvolutionTuning(tileColumns: tileColumns))
            randomize(conv.weight.value, seed: 7)
            let y = try conv.forward(x, mode: .training).array
            let dx = try conv.backward(try randomTensor(Shape(5, 3, 6, 6), seed: 8)).array
            return (y, dx, conv.weight.gradient!.array)
        }
        let single = try run(tileColumns: 1)
        let several = try run(tileColumns: 2 * 36)  // two images per tile, the last tile one
        for (a, b) in zip(single.0, several.0) { XCTAssertEqual(a, b, accuracy: 1e-5) }
        for (a, b) in zip(single.1, several.1) { XCTAssertEqual(a, b, accuracy: 1e-5) }
        for (a, b) in zip(single.2, several.2) { XCTAssertEqual(a, b, accuracy: 1e-4) }
    }

    /// Conv2d on `instructionSet` computes what the portable path (im2col + GEMM, the reference)
    /// computes, to 1e-5 of the largest value (the sums run in another order): every 3x3 layer
    /// of the CIFAR ResNets (16, 32 and 64 channels at 32x32, 16x16 and 8x8, the stems of 3 and 1
    /// channels, a batch of one), the planes of 28x28 inputs, wide and narrow kernels, and
    /// channel counts the wider kernels do not take (in fours only, odd).
    func checkConv2dAgainstPortable(on instructionSet: InstructionSet) throws {
        try requireSupport(of: instructionSet)
        let shapes = [(n: 2, c: 16, o: 16, h: 32, w: 32), (n: 2, c: 32, o: 32, h: 16, w: 16),
                      (n: 2, c: 64, o: 64, h: 8, w: 8), (n: 2, c: 3, o: 16, h: 32, w: 32), (n: 1, c: 16, o: 16, h: 32, w: 32),
                      (n: 1, c: 64, o: 64, h: 8, w: 8), (n: 3, c: 4, o: 8, h: 32, w: 32), (n: 3, c: 8, o: 4, h: 16, w: 16),
                      (n: 3, c: 4, o: 8, h: 8, w: 8), (n: 3, c: 4, o: 4, h: 28, w: 28), (n: 3, c: 8, o: 8, h: 14, w: 14),
                      (n: 3, c: 4, o: 4, h: 7, w: 7), (n: 3, c: 1, o: 16, h: 28, w: 28), (n: 3, c: 3, o: 8, h: 9, w: 20),
                      (n: 3, c: 12, o: 8, h: 10, w: 10), (n: 2, c: 8, o: 12, h: 10, w: 10), (n: 2, c: 5, o: 7, h: 9, w: 9)]
        for (i, s) in shapes.enumerated() {
            let x = try randomTensor(Shape(s.n, s.c, s.h, s.w), seed: UInt64(30 + i))
            let dy = try randomTensor(Shape(s.n, s.o, s.h, s.w), seed: UInt64(50 + i))
            let firstLayer = s.c < 4
            func run(_ set: InstructionSet) throws -> (y: [Float], dx: [Float], dw: [Float], db: [Float]) {
                let conv = try Conv2d(inChannels: s.c, outChannels: s.o, kernel: 3, stride: 1, padding: 1, bias: true,
                                      computesInputGradient: !firstLayer, instructionSet: set, workspace: Workspace())
                randomize(conv.weight.value, seed: UInt64(70 + i), scale: 0.3)
                randomize(conv.bias!.value, seed: UInt64(90 + i))
                let y = try conv.forward(x, mode: .training).array
                let dx = try conv.backward(dy)
                return (y, firstLayer ? [] : dx.array, conv.weight.gradient!.array, conv.bias!.gradient!.array)
            }
            let reference = try run(.portable), other = try run(instructionSet)
            for (name, a, b) in [("y", reference.y, other.y), ("dx", reference.dx, other.dx),
                                 ("dweight", reference.dw, other.dw), ("dbias", reference.db, other.db)] {
                XCTAssertEqual(a.count, b.count, "\(name) of \(s)")
                let scale = a.map(abs).max() ?? 1
                for (u, v) in zip(a, b) { XCTAssertEqual(u, v, accuracy: 1e-5 * max(1, scale), "\(name) of \(s)") }
            }
        }
    }

    func testConv2dOnAVX2MatchesThePortablePath() throws { try checkConv2dAgainstPortable(on: .avx2) }
    func testConv2dOnAVX512MatchesThePortablePath() throws { try checkConv2dAgainstPortable(on: .avx512) }

    /// The stride-2 convolutions of the downsampling blocks (forward on AVX-512's direct kernel,
    /// gradients on GEMM) compute what the portable path computes, to 1e-5 of the largest value:
    /// both variants' shapes at 32x32 and 28x28 inputs, a batch of one, and channel counts the
    /// kernel does not take.
    func checkStride2AgainstPortable(on instructionSet: InstructionSet) throws {
        try requireSupport(of: instructionSet)
        let shapes = [(n: 2, c: 16, o: 16, h: 32, w: 32), (n: 2, c: 16, o: 32, h: 32, w: 32), (n: 2, c: 32, o: 64, h: 16, w: 16),
                      (n: 1, c: 32, o: 32, h: 16, w: 16), (n: 2, c: 16, o: 32, h: 28, w: 28), (n: 2, c: 32, o: 64, h: 14, w: 14),
                      (n: 2, c: 8, o: 8, h: 7, w: 9), (n: 2, c: 8, o: 8, h: 9, w: 9), (n: 2, c: 8, o: 16, h: 17, w: 16),
                      (n: 2, c: 6, o: 12, h: 12, w: 12)]
        for (i, s) in shapes.enumerated() {
            let x = try randomTensor(Shape(s.n, s.c, s.h, s.w), seed: UInt64(230 + i))
            let dy = try randomTensor(Shape(s.n, s.o, (s.h - 1) / 2 + 1, (s.w - 1) / 2 + 1), seed: UInt64(250 + i))
            func run(_ set: InstructionSet) throws -> [[Float]] {
                let conv = try Conv2d(inChannels: s.c, outChannels: s.o, kernel: 3, stride: 2, padding: 1, bias: true,
                                      instructionSet: set, workspace: Workspace())
                randomize(conv.weight.value, seed: UInt64(270 + i), scale: 0.3)
                randomize(conv.bias!.value, seed: UInt64(290 + i))
                let y = try conv.forward(x, mode: .training).array
                return [y, try conv.backward(dy).array, conv.weight.gradient!.array, conv.bias!.gradient!.array]
            }
            let reference = try run(.portable), other = try run(instructionSet)
            for (k, name) in ["y", "dx", "dweight", "dbias"].enumerated() {
                let a = reference[k], b = other[k]
                XCTAssertEqual(a.count, b.count, "\(name) of \(s)")
                let scale = a.map(abs).max() ?? 1
                for (u, v) in zip(a, b) { XCTAssertEqual(u, v, accuracy: 1e-5 * max(1, scale), "\(name) of \(s)") }
            }
        }
    }

    func testStride2OnAVX512MatchesThePortablePath() throws { try checkStride2AgainstPortable(on: .avx512) }

    /// The AVX-512 direct kernels compute each output with the AVX2 kernels' operations in the
    /// same order: y, dx, dweight and dbias are the same bits (with Winograd off: of these shapes
    /// AVX2's Winograd kernels take 8x8, AVX-512's do not).
    func testAVX512KernelsGiveTheAVX2KernelsBits() throws {
        try requireSupport(of: .avx512)
        for (i, s) in [(c: 16, o: 16, h: 32, w: 32), (c: 32, o: 32, h: 16, w: 16), (c: 64, o: 64, h: 8, w: 8),
                       (c: 16, o: 32, h: 28, w: 28), (c: 8, o: 8, h: 14, w: 14), (c: 8, o: 16, h: 7, w: 7)].enumerated() {
            let x = try randomTensor(Shape(3, s.c, s.h, s.w), seed: UInt64(130 + i))
            let dy = try randomTensor(Shape(3, s.o, s.h, s.w), seed: UInt64(150 + i))
            func run(_ set: InstructionSet) throws -> [[Float]] {
                let conv = try Conv2d(inChannels: s.c, outChannels: s.o, kernel: 3, stride: 1, padding: 1, bias: true,
                                      instructionSet: set, workspace: Workspace(), tuning: ConvolutionTuning(winograd: false))
                XCTAssertEqual(conv.convolution.plan.directKernels, set, "\(s)")
                randomize(conv.weight.value, seed: UInt64(170 + i), scale: 0.3)
                randomize(conv.bias!.value, seed: UInt64(190 + i))
                let y = try conv.forward(x, mode: .training).array
                return [y, try conv.backward(dy).array, conv.weight.gradient!.array, conv.bias!.gradient!.array]
            }
            XCTAssertEqual(try run(.avx2), try run(.avx512), "\(s)")
        }
    }

    func testBatchNormTrainingMode() throws {
        let bn = try BatchNorm2d(channels: 3, epsilon: 1e-5, statistics: .caffe(movingAverageFraction: 0.95),
                                 inference: .global)
        randomize(bn.weight.value, seed: 9)
        randomize(bn.bias.value, seed: 10)
        try checkGradients(of: bn, input: randomTensor(Shape(4, 3, 3, 3), seed: 11, scale: 2), epsilon: 5e-3)
    }

    func testBatchNormInferenceWithGlobalStatistics() throws {
        let bn = try BatchNorm2d(channels: 2, epsilon: 1e-5, statistics: .pytorch(momentum: 0.1), inference: .global)
        bn.runningMean.value.copy(from: [0.5, -0.25])
        bn.runningVar.value.copy(from: [2, 0.5])
        try checkGradients(of: bn, input: randomTensor(Shape(2, 2, 3, 3), seed: 12), mode: .inference)
    }

    func testBatchNormInferenceWithBatchStatistics() throws {
        let bn = try BatchNorm2d(channels: 2, epsilon: 1e-5, statistics: .caffe(movingAverageFraction: 0.9),
                                 inference: .batch)
        try checkGradients(of: bn, input: randomTensor(Shape(3, 2, 2, 2), seed: 13), mode: .inference, epsilon: 5e-3)
    }

    /// BN with the ReLU fused computes what BN followed by a ReLU layer computes, forward and
    /// backward (the ReLU's kink makes finite differences unreliable here), in both modes.
    func testBatchNormWithFusedReLUEqualsBatchNormThenReLU() throws {
        let x = try randomTensor(Shape(3, 4, 5, 5), seed: 15, scale: 2)
        let dy = try randomTensor(Shape(3, 4, 5, 5), seed: 16)
        for mode in [Mode.training, .inference] {
            func make(relu: Bool) throws -> BatchNorm2d {
                let bn = try BatchNorm2d(channels: 4, epsilon: 1e-5, statistics: .pytorch(momentum: 0.1),
                                         inference: .global, appliesReLU: relu)
                randomize(bn.weight.value, seed: 17)
                randomize(bn.bias.value, seed: 18)
                bn.runningMean.value.copy(from: [0.1, -0.2, 0.3, 0])
                bn.runningVar.value.copy(from: [1.5, 0.5, 2, 1])
                return bn
            }
            let fused = try make(relu: true), plain = try make(relu: false), relu = try ReLU()
            let y = try fused.forward(x, mode: mode).array
            let reference = try relu.forward(try plain.forward(x, mode: mode), mode: mode).array
            XCTAssertTrue(y.contains(0) && y.contains { $0 > 0 }, "the test needs both sides of the kink")
            for (a, b) in zip(y, reference) { XCTAssertEqual(a, b, accuracy: 1e-5) }
            let dx = try fused.backward(dy).array
            let dxReference = try plain.backward(try relu.backward(dy)).array
            for (a, b) in zip(dx, dxReference) { XCTAssertEqual(a, b, accuracy: 1e-4) }
            for (a, b) in zip(fused.weight.gradient!.array + fused.bias.gradient!.array,
                              plain.weight.gradient!.array + plain.bias.gradient!.array) {
                XCTAssertEqual(a, b, accuracy: 1e-4)
            }
        }
    }

    func testReLU() throws {
        try checkGradients(of: ReLU(), input: randomTensor(Shape(2, 3, 4, 4), seed: 14, awayFromZero: 0.05))
    }

    func testAveragePoolCeilMode() throws {
        try checkGradients(of: AvgPool2d(kernel: 3, stride: 2), input: randomTensor(Shape(2, 2, 8, 6), seed: 15))
    }

    func testGlobalAveragePool() throws {
        try checkGradients(of: GlobalAvgPool(), input: randomTensor(Shape(2, 3, 4, 5), seed: 16))
    }

    func testLinear() throws {
        let fc = try Linear(inFeatures: 6, outFeatures: 4)
        randomize(fc.weight.value, seed: 17)
        randomize(fc.bias.value, seed: 18)
        try checkGradients(of: fc, input: randomTensor(Shape(3, 6, 1, 1), seed: 19))
    }

    func testDropoutWithAFixedMask() throws {
        let random = RandomSource(seed: 20)
        let start = random.generator
        let dropout = try Dropout(probability: 0.4, random: random)
        try checkGradients(of: dropout, input: randomTensor(Shape(4, 8, 1, 1), seed: 21),
                           before: { random.generator = start })
    }

    func testChannelZeroPadAppendingZeros() throws {
        try checkGradients(of: ChannelZeroPad(before: 0, after: 3, stride: 1), input: randomTensor(Shape(2, 3, 3, 3), seed: 22))
    }

    func testChannelZeroPadSubsamplingBothSides() throws {
        try checkGradients(of: ChannelZeroPad(before: 2, after: 2, stride: 2), input: randomTensor(Shape(2, 4, 5, 4), seed: 23))
    }

    func testSoftmaxCrossEntropy() throws {
        let ce = try SoftmaxCrossEntropy()
        let logits = try randomTensor(Shape(3, 4), seed: 26, scale: 2)
        let labels: [Int32] = [2, 0, 3]
        // Closed form for the first sample: −log softmax(z)[label].
        let (loss, _) = try labels.withUnsafeBufferPointer { try ce.forward(logits, labels: $0.baseAddress!) }
        var expected = 0.0
        for i in 0..<3 {
            let z = (0..<4).map { Double(logits.data[i * 4 + $0]) }
            expected += -(z[Int(labels[i])] - log(z.map(exp).reduce(0, +)))
        }
        XCTAssertEqual(Double(loss), expected / 3, accuracy: 1e-5)
        let grad = try labels.withUnsafeBufferPointer { try ce.backward(labels: $0.baseAddress!) }.array
        let eps: Float = 1e-2
        for i in 0..<12 {
            let saved = logits.data[i]
            logits.data[i] = saved + eps
            let plus = try labels.withUnsafeBufferPointer { try ce.forward(logits, labels: $0.baseAddress!) }.loss
            logits.data[i] = saved - eps
            let minus = try labels.withUnsafeBufferPointer { try ce.forward(logits, labels: $0.baseAddress!) }.loss
            logits.data[i] = saved
            XCTAssertEqual((plus - minus) / (2 * eps), grad[i], accuracy: 2e-3, "dz[\(i)]")
        }
    }
}

extension Tensor {
    func copy(from values: [Float]) { values.withUnsafeBufferPointer { copy(from: $0.baseAddress!) } }
}
