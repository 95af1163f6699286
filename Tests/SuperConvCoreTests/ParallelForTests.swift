import XCTest
@testable import SuperConvCore

/// `parallelFor` hands pieces of a region to whichever worker is free; what it promises is that
/// every item is processed exactly once, and that layers built on it compute the same numbers
/// for every thread count.
final class ParallelForTests: XCTestCase {
    override func tearDown() {
        try? Threads.set(Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
    }

    /// Counts each item's visits; a piece that is empty or, in a region of at least `grain`
    /// items, smaller than the grain marks its first item as visited 1000 times more.
    private struct CountVisits: ParallelBody {
        let visits: UnsafeMutablePointer<Int32>
        let count: Int, grain: Int
        func callAsFunction(_ worker: Int, _ range: Range<Int>) {
            if range.isEmpty || range.count < min(grain, count) { visits[min(range.lowerBound, count - 1)] += 1000 }
            for i in range { visits[i] += 1 }
        }
    }

    func testEveryItemIsVisitedExactlyOnceInPiecesOfAtLeastTheGrain() throws {
        for threads in [1, 2, 3, 5] {
            try Threads.set(threads)
            for count in [0, 1, 2, 7, 16, 17, 100, 1000, 100_003] {
                for grain in [1, 3, 64] {
                    let visits = UnsafeMutablePointer<Int32>.allocate(capacity: max(1, count))
                    defer { visits.deallocate() }
                    visits.initialize(repeating: 0, count: max(1, count))
                    parallelFor(count, minimumPerWorker: grain, CountVisits(visits: visits, count: count, grain: grain))
                    let wrong = (0..<count).filter { visits[$0] != 1 }
                    XCTAssertEqual(wrong, [], "threads \(threads), count \(count), grain \(grain)")
                }
            }
        }
    }

    /// The weight gradient is summed per fixed chunk of the batch, so its value does not depend on
    /// how many workers ran the chunks: bit for bit the same at 1, 2 and 3 threads, on the direct
    /// kernels (3x3 stride 1, 12x12), the Winograd kernels where the CPU has them (3x3 stride 1,
    /// 16x16) and on the GEMM path (stride 2).
    func testConvolutionGradientsAreTheSameForEveryThreadCount() throws {
        for (stride, size) in [(1, 12), (1, 16), (2, 12)] {
            let x = try randomTensor(Shape(37, 8, size, size), seed: 1)
            let dy = try randomTensor(Shape(37, 8, size / stride, size / stride), seed: 2)
            var results: [[Float]] = []
            for threads in [1, 2, 3] {
                try Threads.set(threads)
                let conv = try Conv2d(inChannels: 8, outChannels: 8, kernel: 3, stride: stride, padding: 1, bias: true,
                                      workspace: Workspace(), tuning: ConvolutionTuning(tileColumns: 64))
                randomize(conv.weight.value, seed: 3, scale: 0.3)
                let y = try conv.forward(x, mode: .training).array
                let dx = try conv.backward(dy).array
                results.append(y + dx + conv.weight.gradient!.array + conv.bias!.gradient!.array)
            }
            for threads in [2, 3] {
                let differing = zip(results[0], results[threads - 1]).filter { $0 != $1 }.count
                XCTAssertEqual(differing, 0, "stride \(stride), \(size)x\(size): 1 and \(threads) threads differ in \(differing) values")
            }
        }
    }
}
