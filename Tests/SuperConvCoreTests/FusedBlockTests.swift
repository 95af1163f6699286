import XCTest
@testable import SuperConvCore

/// The fused stem and residual block compute what the same layers composed one after another
/// compute (`Conv2d`, `BatchNorm2d`, a sum, `ReLU`, `AvgPool2d`, `ChannelZeroPad`), bit for bit,
/// on the same instruction set: the arithmetic of each value is the same, only where it happens
/// differs. Checked for both variants' blocks (conv biases or none; identity, average-pooling and
/// subsampling shortcuts), channel counts every set's direct kernels take, counts only the
/// narrower ones take, and one they do not, outputs
/// in inference and training mode, dx, every parameter gradient and the committed running
/// statistics.
final class FusedBlockTests: XCTestCase {
    enum Kind: CaseIterable { case identity, averagePool, subsample }

    struct Case {
        let kind: Kind
        let channels: Int
        var bias: Bool { kind != .subsample }
        /// Channels of the branch (he-a's downsampling block doubles them in conv1).
        var branch: Int { kind == .subsample ? 2 * channels : channels }
        var stride: Int { kind == .identity ? 1 : 2 }
    }

    static let cases = Kind.allCases.flatMap { kind in [8, 12, 6].map { Case(kind: kind, channels: $0) } }

    func statistics() -> BatchNormStatistics { .caffe(movingAverageFraction: 0.9) }

    /// The fused block of `c` on `set`, with random parameters and running statistics.
    func fusedBlock(_ c: Case, on set: InstructionSet) throws -> ResidualBlock {
        let ws = Workspace()
        func conv(_ i: Int, _ o: Int, stride: Int) throws -> Convolution {
            try Convolution(inChannels: i, outChannels: o, kernel: 3, stride: stride, padding: 1, bias: c.bias,
                            instructionSet: set, workspace: ws)
        }
        func norm(_ n: Int) throws -> Normalization {
            try Normalization(channels: n, epsilon: 1e-5, statistics: statistics(), inference: .global)
        }
        let shortcut: Shortcut
        switch c.kind {
        case .identity: shortcut = .identity
        case .averagePool: shortcut = .averagePool(try AvgPool2d(kernel: 3, stride: 2),
                                                   widen: try ChannelZeroPad(before: 0, after: c.channels, stride: 1))
        case .subsample: shortcut = .subsample(try ChannelZeroPad(before: c.channels / 2, after: c.channels / 2, stride: 2))
        }
        let block = try ResidualBlock(conv1: conv(c.channels, c.branch, stride: c.stride), bn1: norm(c.branch),
                                      conv2: conv(c.branch, c.branch, stride: 1), bn2: norm(c.branch),
                                      shortcut: shortcut, gradients: TrunkGradients())
        for (k, (_, group)) in block.namedParameters.enumerated() {
            for (j, p) in group.enumerated() { randomize(p.value, seed: UInt64(100 + 10 * k + j), scale: 0.4) }
        }
        for bn in block.normalizations {
            for p in [bn.weight, bn.runningVar] {
                for i in 0..<p.value.count { p.value.data[i] = 0.5 + abs(p.value.data[i]) }
            }
        }
        return block
    }

    /// The same block from reference layers, with copies of `fused`'s parameters.
    struct ReferenceBlock {
        let conv1: Conv2d, bn1: BatchNorm2d, conv2: Conv2d, bn2: BatchNorm2d, relu: ReLU
        let pool: AvgPool2d?, pad: ChannelZeroPad?, widen: ChannelZeroPad?

        var parameters: [Parameter] { conv1.parameters + bn1.parameters + conv2.parameters + bn2.parameters }

        func forward(_ x: Tensor, mode: Mode) throws -> Tensor {
            let h = try bn2.forward(conv2.forward(bn1.forward(conv1.forward(x, mode: mode), mode: mode), mode: mode),
                                    mode: mode)
            let s = try pool?.forward(x, mode: mode) ?? pad?.forward(x, mode: mode) ?? x
            let sum = try Tensor(h.shape)
            for i in 0..<h.count { sum.data[i] = h.data[i] + s.data[i] }
            let out = try relu.forward(sum, mode: mode)
            return try widen?.forward(out, mode: mode) ?? out
        }

        func backward(_ dy: Tensor) throws -> [Float] {
            let dSum = try relu.backward(widen?.backward(dy) ?? dy)
            let dBranch = try conv1.backward(bn1.backward(conv2.backward(bn2.backward(dSum)))).array
            let dShortcut = try pool?.backward(dSum) ?? pad?.backward(dSum) ?? dSum
            return zip(dBranch, dShortcut.array).map { $0 + $1 }
        }
    }

    func referenceBlock(like fused: ResidualBlock, _ c: Case, on set: InstructionSet) throws -> ReferenceBlock {
        let ws = Workspace()
        func conv(_ from: Convolution) throws -> Conv2d {
            let conv = try Conv2d(inChannels: from.inChannels, outChannels: from.outChannels, kernel: 3, stride: from.stride,
                                  padding: 1, bias: c.bias, instructionSet: set, workspace: ws)
            zip(conv.parameters, from.parameters).forEach { $0.value.copy(from: $1.value.data) }
            return conv
        }
        func norm(_ from: Normalization, relu: Bool) throws -> BatchNorm2d {
            let bn = try BatchNorm2d(channels: from.channels, epsilon: 1e-5, statistics: statistics(), inference: .global,
                                     appliesReLU: relu)
            zip(bn.parameters, from.parameters).forEach { $0.value.copy(from: $1.value.data) }
            return bn
        }
        return ReferenceBlock(
            conv1: try conv(fused.conv1), bn1: try norm(fused.bn1, relu: true),
            conv2: try conv(fused.conv2), bn2: try norm(fused.bn2, relu: false), relu: try ReLU(),
            pool: c.kind == .averagePool ? try AvgPool2d(kernel: 3, stride: 2) : nil,
            pad: c.kind == .subsample ? try ChannelZeroPad(before: c.channels / 2, after: c.channels / 2, stride: 2) : nil,
            widen: c.kind == .averagePool ? try ChannelZeroPad(before: 0, after: c.channels, stride: 1) : nil)
    }

    func checkBlocks(on set: InstructionSet) throws {
        try requireSupport(of: set)
        for c in Self.cases {
            let fused = try fusedBlock(c, on: set), reference = try referenceBlock(like: fused, c, on: set)
            let x = try randomTensor(Shape(3, c.channels, 12, 12), seed: 1)
            let label = "\(c.kind), \(c.channels) channels, \(set.rawValue)"
            let inference = try fused.forward(x, mode: .inference).array
            XCTAssertEqual(inference, try reference.forward(x, mode: .inference).array, "inference y, \(label)")
            let y = try fused.forward(x, mode: .training).array
            XCTAssertEqual(y, try reference.forward(x, mode: .training).array, "training y, \(label)")
            XCTAssertTrue(y.contains(0) && y.contains { $0 > 0 }, "both sides of the ReLU, \(label)")
            let side = 12 / c.stride
            let dy = try randomTensor(Shape(3, y.count / (3 * side * side), side, side), seed: 2)
            let fusedParameters = fused.namedParameters.flatMap(\.1)
            for p in fusedParameters + reference.parameters { p.gradient?.fill(0) }
            let dx = try fused.backward(dy).array
            XCTAssertEqual(dx, try reference.backward(dy), "dx, \(label)")
            fused.normalizations.forEach { $0.commitStatistics() }
            [reference.bn1, reference.bn2].forEach { $0.commitStatistics() }
            for (a, b) in zip(fusedParameters, reference.parameters) {
                XCTAssertEqual(a.value.array, b.value.array, "\(a.name) after commit, \(label)")
                XCTAssertEqual(a.gradient?.array, b.gradient?.array, "gradient of \(a.name), \(label)")
            }
        }
    }

    func testResidualBlocksEqualTheirLayersOnPortable() throws { try checkBlocks(on: .portable) }
    func testResidualBlocksEqualTheirLayersOnAVX2() throws { try checkBlocks(on: .avx2) }
    func testResidualBlocksEqualTheirLayersOnAVX512() throws { try checkBlocks(on: .avx512) }

    func checkStem(on set: InstructionSet) throws {
        try requireSupport(of: set)
        for inputChannels in [1, 3] {
            let ws = Workspace()
            let conv = try Convolution(inChannels: inputChannels, outChannels: 16, kernel: 3, stride: 1, padding: 1,
                                       bias: true, computesInputGradient: false, instructionSet: set, workspace: ws)
            let bn = try Normalization(channels: 16, epsilon: 1e-5, statistics: statistics(), inference: .batch)
            randomize(conv.weight.value, seed: 3, scale: 0.4)
            randomize(conv.bias!.value, seed: 4)
            randomize(bn.bias.value, seed: 5)
            let stem = try Stem(conv: conv, bn: bn)
            let conv2d = try Conv2d(inChannels: inputChannels, outChannels: 16, kernel: 3, stride: 1, padding: 1, bias: true,
                                    computesInputGradient: false, instructionSet: set, workspace: ws)
            let bn2d = try BatchNorm2d(channels: 16, epsilon: 1e-5, statistics: statistics(), inference: .batch,
                                       appliesReLU: true)
            zip(conv2d.parameters, conv.parameters).forEach { $0.value.copy(from: $1.value.data) }
            zip(bn2d.parameters, bn.parameters).forEach { $0.value.copy(from: $1.value.data) }
            let x = try randomTensor(Shape(3, inputChannels, 11, 13), seed: 6)
            let label = "\(inputChannels) input channels, \(set.rawValue)"
            for mode in [Mode.inference, .training] {
                XCTAssertEqual(try stem.forward(x, mode: mode).array,
                               try bn2d.forward(conv2d.forward(x, mode: mode), mode: mode).array, "\(mode) y, \(label)")
            }
            let dy = try randomTensor(Shape(3, 16, 11, 13), seed: 7)
            try stem.backward(dy, gradients: TrunkGradients())
            _ = try conv2d.backward(bn2d.backward(dy))
            for (a, b) in zip(conv.parameters + bn.parameters, conv2d.parameters + bn2d.parameters) {
                XCTAssertEqual(a.gradient?.array, b.gradient?.array, "gradient of \(a.name), \(label)")
            }
        }
    }

    func testStemEqualsItsLayersOnPortable() throws { try checkStem(on: .portable) }
    func testStemEqualsItsLayersOnAVX2() throws { try checkStem(on: .avx2) }
    func testStemEqualsItsLayersOnAVX512() throws { try checkStem(on: .avx512) }
}
