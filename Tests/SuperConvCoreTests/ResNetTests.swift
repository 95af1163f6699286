import XCTest
@testable import SuperConvCore

/// The CIFAR ResNet family: names, multipliers, shapes, initialisation and whole-network
/// gradients for both variants.
final class ResNetTests: XCTestCase {
    func model(_ spec: String) throws -> ResNet { try ResNet(ModelConfiguration(spec: spec)) }

    func testHeANamesAndShapesFollowPyTorch() throws {
        let m = try model("depth=20 variant=he-a")
        XCTAssertEqual(m.parameters.count, 5 + 9 * 10 + 2)
        XCTAssertEqual(m.parameters.first?.name, "conv1.weight")
        XCTAssertEqual(m.parameter(named: "layer2.0.conv1.weight")?.value.shape, Shape(32, 16, 3, 3))
        XCTAssertEqual(m.parameter(named: "layer3.2.bn2.running_var")?.value.shape, Shape(64))
        XCTAssertEqual(m.parameter(named: "fc.weight")?.value.shape, Shape(10, 64))
        XCTAssertNil(m.parameter(named: "conv1.bias"))
        XCTAssertTrue(m.parameters.allSatisfy { $0.learningRateMultiplier == 1 && $0.decayMultiplier == 1 })
    }

    func testCaffeVariantKeepsTheWidthInTheDownsamplingBranch() throws {
        let m = try model("depth=20 variant=caffe")
        XCTAssertEqual(m.parameters.count, 6 + 9 * 12 + 2)
        XCTAssertEqual(m.parameter(named: "layer2.0.conv1.weight")?.value.shape, Shape(16, 16, 3, 3))
        XCTAssertEqual(m.parameter(named: "layer2.1.conv1.weight")?.value.shape, Shape(32, 32, 3, 3))
        XCTAssertEqual(m.parameter(named: "layer3.0.conv2.weight")?.value.shape, Shape(32, 32, 3, 3))
        XCTAssertEqual(m.parameter(named: "fc.weight")?.value.shape, Shape(10, 64))
        // Paper's solver: biases learn at twice the rate without decay; BN scale/shift decay.
        let bias = try XCTUnwrap(m.parameter(named: "layer1.0.conv2.bias"))
        XCTAssertEqual(bias.learningRateMultiplier, 2)
        XCTAssertEqual(bias.decayMultiplier, 0)
        XCTAssertEqual(m.parameter(named: "fc.bias")?.learningRateMultiplier, 2)
        XCTAssertEqual(m.parameter(named: "bn1.bias")?.decayMultiplier, 1)
        XCTAssertEqual(m.parameter(named: "layer1.0.conv2.weight")?.decayMultiplier, 1)
    }

    func testMNISTShapedInputGivesLogits() throws {
        for variant in ["caffe", "he-a"] {
            let m = try model("depth=8 variant=\(variant) input=1x28x28 classes=10")
            let x = try randomTensor(Shape(2, 1, 28, 28), seed: 1)
            let logits = try m.forward(x, mode: .inference)
            XCTAssertEqual(logits.shape, Shape(2, 10), variant)
        }
    }

    func testMSRAInitialisationHasTheFanInVariance() throws {
        let m = try model("depth=56 variant=he-a seed=3")
        let w = try XCTUnwrap(m.parameter(named: "layer3.4.conv1.weight")).value.array  // fan-in 576
        let variance = w.map { Double($0 * $0) }.reduce(0, +) / Double(w.count)
        XCTAssertEqual(variance, 2.0 / 576, accuracy: 0.1 * 2.0 / 576)
        XCTAssertEqual(m.parameter(named: "layer3.4.bn1.weight")?.value.array, Array(repeating: 1, count: 64))
    }

    func testSameSeedSameWeightsOtherSeedOtherWeights() throws {
        let a = try model("seed=5").parameters[0].value.array
        let b = try model("seed=5").parameters[0].value.array
        let c = try model("seed=6").parameters[0].value.array
        XCTAssertEqual(a, b)
        XCTAssertNotEqual(a, c)
    }

    /// dLoss/dθ of the whole network (its fused stem and blocks) on `instructionSet` against
    /// finite differences of the cross-entropy, along a random direction within each trainable
    /// tensor (directional derivatives average over ReLU kinks, which individual coordinates
    /// might straddle).
    func checkWholeNetwork(_ spec: String, on instructionSet: InstructionSet) throws {
        try requireSupport(of: instructionSet)
        let m = try ResNet(ModelConfiguration(spec: spec), instructionSet: instructionSet)
        let x = try randomTensor(Shape(4, 3, 8, 8), seed: 11)
        let labels: [Int32] = [0, 2, 1, 2]
        let ce = try SoftmaxCrossEntropy()
        let start = m.random.generator
        func loss() throws -> Double {
            m.random.generator = start
            let logits = try m.forward(x, mode: .training)
            return Double(try labels.withUnsafeBufferPointer { try ce.forward(logits, labels: $0.baseAddress!) }.loss)
        }
        m.zeroGradients()
        _ = try loss()
        try labels.withUnsafeBufferPointer { try m.backward(try ce.backward(labels: $0.baseAddress!)) }
        var rng = RandomGenerator(seed: 12)
        let epsilon: Float = 5e-3
        for p in m.parameters where p.isTrainable {
            let raw = (0..<p.value.count).map { _ in rng.nextNormal() }
            let norm = raw.map { $0 * $0 }.reduce(0, +).squareRoot()
            let direction = raw.map { $0 / norm }  // unit length: the step is epsilon in θ-space
            let analytic = zip(direction, p.gradient!.array).map { Double($0 * $1) }.reduce(0, +)
            func shifted(_ sign: Float) throws -> Double {
                let saved = p.value.array
                for i in 0..<p.value.count { p.value.data[i] += sign * epsilon * direction[i] }
                defer { p.value.copy(from: saved) }
                return try loss()
            }
            let numeric = (try shifted(1) - shifted(-1)) / (2 * Double(epsilon))
            XCTAssertLessThanOrEqual(abs(numeric - analytic), 2e-3 + 3e-2 * max(abs(numeric), abs(analytic)),
                                     "\(spec): \(p.name): numeric \(numeric), analytic \(analytic)")
        }
    }

    let heA = "depth=8 variant=he-a input=3x8x8 classes=3 seed=4"
    let caffeWithDropout = "depth=8 variant=caffe input=3x8x8 classes=3 seed=4 dropout=0.2"

    func testWholeHeANetworkGradientsOnPortable() throws { try checkWholeNetwork(heA, on: .portable) }
    func testWholeHeANetworkGradientsOnAVX2() throws { try checkWholeNetwork(heA, on: .avx2) }
    func testWholeHeANetworkGradientsOnAVX512() throws { try checkWholeNetwork(heA, on: .avx512) }
    func testWholeCaffeNetworkGradientsWithDropoutOnPortable() throws { try checkWholeNetwork(caffeWithDropout, on: .portable) }
    func testWholeCaffeNetworkGradientsWithDropoutOnAVX2() throws { try checkWholeNetwork(caffeWithDropout, on: .avx2) }
    func testWholeCaffeNetworkGradientsWithDropoutOnAVX512() throws {
        try checkWholeNetwork(caffeWithDropout, on: .avx512)
    }

    /// A training step's logits and gradients on each instruction set agree with the portable
    /// path's to 1e-4 of their scale (the sums run in other orders).
    func testEveryInstructionSetAgreesWithThePortablePath() throws {
        let spec = "depth=8 variant=caffe input=3x16x16 classes=4 seed=9"
        let x = try randomTensor(Shape(6, 3, 16, 16), seed: 13)
        let labels: [Int32] = [0, 1, 2, 3, 0, 1]
        func run(_ set: InstructionSet) throws -> [[Float]] {
            let m = try ResNet(ModelConfiguration(spec: spec), instructionSet: set)
            let ce = try SoftmaxCrossEntropy()
            let logits = try m.forward(x, mode: .training)
            _ = try labels.withUnsafeBufferPointer { try ce.forward(logits, labels: $0.baseAddress!) }
            let result = [logits.array]
            try labels.withUnsafeBufferPointer { try m.backward(try ce.backward(labels: $0.baseAddress!)) }
            return result + m.parameters.compactMap { $0.gradient?.array }
        }
        let reference = try run(.portable)
        for set in InstructionSet.supported where set != .portable {
            for (a, b) in zip(reference, try run(set)) {
                let scale = max(1e-3, a.map(abs).max() ?? 0)
                for (u, v) in zip(a, b) { XCTAssertEqual(u, v, accuracy: 1e-4 * scale, set.rawValue) }
            }
        }
    }
}
