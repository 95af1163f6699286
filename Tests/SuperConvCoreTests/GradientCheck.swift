import XCTest
@testable import SuperConvCore

/// Tensors filled from a seeded generator, for reproducible tests.
func randomTensor(_ shape: Shape, seed: UInt64, scale: Float = 1, awayFromZero: Float = 0) throws -> Tensor {
    let t = try Tensor(shape)
    randomize(t, seed: seed, scale: scale, awayFromZero: awayFromZero)
    return t
}

/// Fills `t` in place with normal values times `scale`.
func randomize(_ t: Tensor, seed: UInt64, scale: Float = 1, awayFromZero: Float = 0) {
    var rng = RandomGenerator(seed: seed)
    for i in 0..<t.count {
        let v = rng.nextNormal() * scale
        // Inputs kept at least `awayFromZero` from 0 so that ReLU kinks stay out of reach of the
        // finite-difference step.
        t.data[i] = v < 0 ? v - awayFromZero : v + awayFromZero
    }
}

/// Central finite differences against a layer's backward, on the scalar loss L = Σ y·r for a
/// fixed random r, so that every output element's gradient contributes.
///
/// Checks dL/dx and dL/dθ for every trainable parameter on up to `probes` coordinates each:
///   |numeric − analytic| ≤ atol + rtol · max(|numeric|, |analytic|).
func checkGradients(of layer: Layer, input x: Tensor, mode: Mode = .training, before: () -> Void = {},
                    epsilon: Float = 1e-2, rtol: Double = 2e-2, atol: Double = 2e-3, probes: Int = 24,
                    file: StaticString = #filePath, line: UInt = #line) throws {
    before()
    let y0 = try layer.forward(x, mode: mode)
    let r = try randomTensor(y0.shape, seed: 99)

    func loss() throws -> Double {
        before()
        let y = try layer.forward(x, mode: mode)
        var s = 0.0
        for i in 0..<y.count { s += Double(y.data[i]) * Double(r.data[i]) }
        return s
    }

    for p in layer.parameters { p.gradient?.fill(0) }
    _ = try loss()
    let dx = try layer.backward(r).array
    let trainable = layer.parameters.filter(\.isTrainable)
    let analyticParams = trainable.map { $0.gradient!.array }

    func probe(_ values: UnsafeMutablePointer<Float>, count: Int, analytic: [Float], what: String) throws {
        var rng = RandomGenerator(seed: 7)
        let indices = count <= probes ? Array(0..<count) : (0..<probes).map { _ in Int(rng.next() % UInt64(count)) }
        for i in indices {
            let saved = values[i]
            values[i] = saved + epsilon
            let plus = try loss()
            values[i] = saved - epsilon
            let minus = try loss()
            values[i] = saved
            let numeric = (plus - minus) / (2 * Double(epsilon))
            let a = Double(analytic[i])
            XCTAssertLessThanOrEqual(abs(numeric - a), atol + rtol * max(abs(numeric), abs(a)),
                                     "\(type(of: layer)) d/d\(what)[\(i)]: numeric \(numeric), analytic \(a)",
                                     file: file, line: line)
        }
    }
    try probe(x.data, count: x.count, analytic: dx, what: "input")
    for (p, analytic) in zip(trainable, analyticParams) {
        try probe(p.value.data, count: p.value.count, analytic: analytic, what: p.name)
    }
}

/// Skips the calling test, naming the missing CPU flags, where this CPU cannot run
/// `instructionSet`'s kernels.
func requireSupport(of instructionSet: InstructionSet) throws {
    guard instructionSet.isSupported else {
        let missing = instructionSet.requiredFlags.filter { !InstructionSet.cpuFlags.contains($0) }
        throw XCTSkip("skipped: CPU lacks \(missing.joined(separator: ", ")) for \(instructionSet.rawValue)")
    }
}
