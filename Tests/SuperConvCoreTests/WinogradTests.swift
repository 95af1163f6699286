import XCTest
@testable import SuperConvCore

/// Winograd's F(2x2, 3x3) kernels (forward and dx of 3x3 stride-1 convolutions on AVX2 and
/// AVX-512) against the portable path, and which shapes take them.
final class WinogradTests: XCTestCase {
    /// Shapes (batch, in, out channels, height, width) and whether each set's Winograd kernels
    /// take them (`winogradTakes`): H and W even, an image an even number of vectors of tiles
    /// (8 lanes on AVX2, 16 on AVX-512; a vector holds two tile rows where a row has half its
    /// lanes, else runs along a row, the last one partial), at most a quarter of the lanes idle;
    /// output channels (dx: input channels) as the direct kernels of the set, channels in fours
    /// only taking AVX2's. The CIFAR and Fashion-MNIST ResNets' layers, a batch of one, the first
    /// layers (no dx), partial runs (28, 12 and 30 wide) and shapes neither set takes.
    let shapes: [(n: Int, c: Int, o: Int, h: Int, w: Int, avx2: Bool, avx512: Bool)] = [
        (2, 16, 16, 32, 32, true, true), (2, 32, 32, 16, 16, true, true), (2, 64, 64, 8, 8, true, false),
        (1, 16, 16, 32, 32, true, true), (1, 64, 64, 8, 8, true, false), (3, 16, 32, 32, 32, true, true),
        (2, 8, 8, 16, 16, true, true), (2, 12, 4, 16, 16, true, true), (2, 4, 12, 16, 16, true, true),
        (2, 8, 8, 32, 64, true, true), (2, 3, 16, 32, 32, true, true), (2, 1, 16, 32, 32, true, true),
        (2, 16, 16, 28, 28, true, true), (1, 1, 16, 28, 28, true, true), (2, 32, 32, 14, 14, false, false),
        (2, 8, 8, 16, 12, true, false), (2, 8, 8, 12, 30, true, true), (1, 8, 8, 8, 56, true, true),
        (2, 8, 8, 8, 14, true, false), (2, 12, 16, 16, 16, true, true), (2, 6, 16, 16, 16, true, true),
        (2, 8, 8, 6, 16, false, false), (2, 8, 8, 7, 7, false, false), (2, 8, 8, 15, 16, false, false),
    ]

    /// y, dx, dweight and dbias as the portable path computes them, to 1e-5 of the largest value
    /// (as the direct kernels; the transforms add a few roundings per output), for every shape;
    /// the same bits in blocks of all an image's tiles, of one pair of vectors and of 40,000 bytes
    /// (several pairs, the last block partial for the first layers). (12, 16) runs AVX2's kernels
    /// on avx512 (12 input channels), (6, 16) Winograd forward with dx and dweight on GEMM.
    func checkAgainstPortable(on instructionSet: InstructionSet) throws {
        try requireSupport(of: instructionSet)
        for (i, s) in shapes.enumerated() {
            let x = try randomTensor(Shape(s.n, s.c, s.h, s.w), seed: UInt64(330 + i))
            let dy = try randomTensor(Shape(s.n, s.o, s.h, s.w), seed: UInt64(350 + i))
            let firstLayer = s.c < 4
            func run(_ set: InstructionSet, _ tuning: ConvolutionTuning) throws -> [[Float]] {
                let conv = try Conv2d(inChannels: s.c, outChannels: s.o, kernel: 3, stride: 1, padding: 1, bias: true,
                                      computesInputGradient: !firstLayer, instructionSet: set, workspace: Workspace(),
                                      tuning: tuning)
                let expected = set == .avx512 ? s.avx512 : set == .avx2 ? s.avx2 : false
                XCTAssertEqual(conv.convolution.runsWinograd(on: x.shape), expected, "\(set) on \(s)")
                randomize(conv.weight.value, seed: UInt64(370 + i), scale: 0.3)
                randomize(conv.bias!.value, seed: UInt64(390 + i))
                let y = try conv.forward(x, mode: .training).array
                let dx = try conv.backward(dy)
                return [y, firstLayer ? [] : dx.array, conv.weight.gradient!.array, conv.bias!.gradient!.array]
            }
            let reference = try run(.portable, ConvolutionTuning())
            let whole = try run(instructionSet, ConvolutionTuning(winogradBlockBytes: .max))
            for budget in [1, 40_000] {
                let blocked = try run(instructionSet, ConvolutionTuning(winogradBlockBytes: budget))
                let changed = zip(whole, blocked).map { zip($0, $1).filter { $0 != $1 }.count }.reduce(0, +)
                XCTAssertEqual(changed, 0, "blocks of \(budget) bytes change \(changed) results of \(s) on \(instructionSet)")
            }
            for (k, name) in ["y", "dx", "dweight", "dbias"].enumerated() {
                let a = reference[k], b = whole[k]
                XCTAssertEqual(a.count, b.count, "\(name) of \(s)")
                let scale = a.map(abs).max() ?? 1
                let worst = zip(a, b).map { abs($0 - $1) }.max() ?? 0
                XCTAssertLessThanOrEqual(worst, 1e-5 * max(1, scale), "\(name) of \(s) on \(instructionSet)")
            }
        }
    }

    func testWinogradOnAVX2MatchesThePortablePath() throws { try checkAgainstPortable(on: .avx2) }
    func testWinogradOnAVX512MatchesThePortablePath() throws { try checkAgainstPortable(on: .avx512) }

    /// Each output is computed with the same operations in the same order on both sets (the
    /// multiply step sums the input channels in order from zero, whatever the register block):
    /// where both take a shape, y and dx are the same bits.
    func testAVX2AndAVX512GiveTheSameBits() throws {
        try requireSupport(of: .avx512)
        for (i, s) in [(c: 16, o: 16, h: 32, w: 32), (c: 32, o: 32, h: 16, w: 16), (c: 16, o: 16, h: 28, w: 28),
                       (c: 8, o: 16, h: 16, w: 16)].enumerated() {
            let x = try randomTensor(Shape(2, s.c, s.h, s.w), seed: UInt64(430 + i))
            let dy = try randomTensor(Shape(2, s.o, s.h, s.w), seed: UInt64(450 + i))
            func run(_ set: InstructionSet) throws -> [[Float]] {
                let conv = try Conv2d(inChannels: s.c, outChannels: s.o, kernel: 3, stride: 1, padding: 1, bias: true,
                                      instructionSet: set, workspace: Workspace())
                XCTAssertTrue(conv.convolution.runsWinograd(on: x.shape), "\(set) on \(s)")
                randomize(conv.weight.value, seed: UInt64(470 + i), scale: 0.3)
                randomize(conv.bias!.value, seed: UInt64(490 + i))
                return [try conv.forward(x, mode: .training).array, try conv.backward(dy).array]
            }
            XCTAssertEqual(try run(.avx2), try run(.avx512), "\(s)")
        }
    }

    /// With Winograd turned off the same convolutions run the direct kernels.
    func testTurningWinogradOffRunsTheDirectKernels() throws {
        for set in InstructionSet.supported {
            let conv = try Conv2d(inChannels: 16, outChannels: 16, kernel: 3, stride: 1, padding: 1, bias: false,
                                  instructionSet: set, workspace: Workspace(), tuning: ConvolutionTuning(winograd: false))
            XCTAssertFalse(conv.convolution.runsWinograd(on: Shape(2, 16, 32, 32)), "\(set)")
        }
    }

    /// The cache size is read as Linux writes it.
    func testCacheSizesParse() {
        XCTAssertEqual(CPUCache.parseSize("1024K"), 1 << 20)
        XCTAssertEqual(CPUCache.parseSize("2M"), 2 << 20)
        XCTAssertEqual(CPUCache.parseSize("524288"), 1 << 19)
        XCTAssertNil(CPUCache.parseSize("K"))
        XCTAssertNil(CPUCache.parseSize("-1K"))
        XCTAssertGreaterThanOrEqual(CPUCache.level1DataBytes, 4 << 10)
    }
}
