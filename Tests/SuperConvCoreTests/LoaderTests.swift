import XCTest
@testable import SuperConvCore

/// The loader: epochs, order, determinism, augmentation, subsets, normalisation, shutdown.
final class LoaderTests: XCTestCase {
    /// n samples of 1x4x5 whose pixel (y, x) holds 1000·i + 10·y + x, label i % classes.
    func dataset(_ n: Int, classes: Int = 3) throws -> Dataset {
        var values: [Float] = []
        for i in 0..<n { for y in 0..<4 { for x in 0..<5 { values.append(Float(1000 * i + 10 * y + x)) } } }
        return try Dataset(channels: 1, height: 4, width: 5, classes: classes, labels: (0..<n).map { Int32($0 % classes) },
                           pixels: .floats(values), source: "test")
    }

    func loader(_ d: Dataset, _ spec: String) throws -> Loader {
        try Loader(dataset: d, configuration: LoaderConfiguration(spec: spec))
    }

    /// The sample ids of the batches of `epochs` epochs.
    func epochs(_ l: Loader, _ count: Int) throws -> [[Int]] {
        var x = [Float](repeating: 0, count: l.configuration.batch * 20)
        var labels = [Int32](repeating: 0, count: l.configuration.batch)
        var result: [[Int]] = [[]]
        while result.count <= count {
            let batch = try l.next(into: &x, labels: &labels, capacity: l.configuration.batch)
            for i in 0..<batch.count { result[result.count - 1].append(Int(x[i * 20] / 1000)) }
            if batch.lastOfEpoch { result.append([]) }
        }
        return Array(result.prefix(count))
    }

    func testEveryEpochVisitsEverySampleOnceInANewOrder() throws {
        let l = try loader(dataset(50), "batch=8 seed=3")
        let seen = try epochs(l, 3)
        for epoch in seen { XCTAssertEqual(epoch.sorted(), Array(0..<50)) }
        XCTAssertNotEqual(seen[0], seen[1])
        XCTAssertNotEqual(seen[1], seen[2])
        XCTAssertEqual(l.batchesPerEpoch, 7)
    }

    func testSameSeedSameBatchesOtherSeedOthers() throws {
        let d = try dataset(40)
        XCTAssertEqual(try epochs(loader(d, "batch=6 seed=1 augment=crop2,flip"), 2),
                       try epochs(loader(d, "batch=6 seed=1 augment=crop2,flip"), 2))
        XCTAssertNotEqual(try epochs(loader(d, "batch=6 seed=1"), 1), try epochs(loader(d, "batch=6 seed=2"), 1))
        XCTAssertEqual(try epochs(loader(d, "batch=6 shuffle=0"), 1)[0], Array(0..<40))
    }

    /// Resident memory of this process, from /proc/self/statm.
    func residentBytes() throws -> Int {
        let fields = try String(contentsOfFile: "/proc/self/statm", encoding: .utf8).split(separator: " ")
        return Int(fields[1])! * Int(sysconf(Int32(_SC_PAGESIZE)))
    }

    /// Prefetch buffers are sized by what a batch can hold: a dataset of 3 samples loaded in
    /// batches of 65,536 with 64 batches ahead takes a few kilobytes, not 64 x 65,536 samples
    /// (335 MB of 1x4x5 floats, zeroed, so resident).
    func testBuffersAreSizedByTheDataNotTheBatch() throws {
        let before = try residentBytes()
        let l = try loader(dataset(3), "batch=65536 prefetch=64")
        XCTAssertLessThan(try residentBytes() - before, 50 << 20)
        XCTAssertEqual(try epochs(l, 1)[0].sorted(), [0, 1, 2])
    }

    func testDropLastAndSmallerLastBatch() throws {
        XCTAssertEqual(try epochs(loader(dataset(10), "batch=4 drop_last=1"), 1)[0].count, 8)
        XCTAssertEqual(try epochs(loader(dataset(10), "batch=4"), 1)[0].count, 10)
    }

    func testFlipMirrorsAndCropsStayInBounds() throws {
        let d = try dataset(1)
        var original = [Float](repeating: 0, count: 20)
        d.copySample(0, into: &original)
        var mirrored = 0, shifted = 0
        for seed in 0..<40 {
            let l = try loader(d, "batch=1 seed=\(seed) augment=flip")
            var x = [Float](repeating: 0, count: 20), y: [Int32] = [0]
            _ = try l.next(into: &x, labels: &y, capacity: 1)
            if x != original {
                mirrored += 1
                for r in 0..<4 { XCTAssertEqual(Array(x[(r * 5)..<(r * 5 + 5)]), Array(original[(r * 5)..<(r * 5 + 5)].reversed())) }
            }
            let c = try loader(d, "batch=1 seed=\(seed) augment=crop2")
            _ = try c.next(into: &x, labels: &y, capacity: 1)
            // Every value is 0 (padding) or a pixel of the image at a shift of at most 2.
            for r in 0..<4 { for col in 0..<5 where x[r * 5 + col] != 0 {
                let v = Int(x[r * 5 + col]), sy = v / 10, sx = v % 10
                XCTAssertLessThanOrEqual(abs(sy - r), 2)
                XCTAssertLessThanOrEqual(abs(sx - col), 2)
            } }
            if x != original { shifted += 1 }
        }
        XCTAssertGreaterThan(mirrored, 5)
        XCTAssertGreaterThan(shifted, 5)
    }

    func testStratifiedSubsetKeepsClassProportions() throws {
        let labels: [Int32] = (0..<600).map { $0 < 300 ? 0 : ($0 < 500 ? 1 : 2) }  // 50%, 33%, 17%
        let d = try Dataset(channels: 1, height: 1, width: 1, classes: 3, labels: labels,
                            pixels: .floats((0..<600).map(Float.init)), source: "test")
        let l = try loader(d, "batch=10 subset=60 subset_mode=stratified seed=4")
        XCTAssertEqual(l.indices.count, 60)
        XCTAssertEqual((0..<3).map { c in l.indices.filter { labels[$0] == c }.count }, [30, 20, 10])
        XCTAssertNotEqual(l.indices, Array(0..<30) + Array(300..<320) + Array(500..<510))
        XCTAssertEqual(try loader(d, "subset=60").indices, Array(0..<60))
        let train = try loader(d, "subset=60 subset_mode=stratified holdout=12 seed=4")
        let held = try loader(d, "subset=60 subset_mode=stratified holdout=12 seed=4 part=holdout")
        XCTAssertEqual(held.indices.count, 12)
        XCTAssertEqual(Set(train.indices).intersection(held.indices), [])
        XCTAssertEqual(Set(train.indices).union(held.indices), Set(l.indices))
    }

    func testChannelNormalisationGivesZeroMeanUnitVariance() throws {
        let d = try dataset(30)
        let l = try loader(d, "batch=30 normalize=channel shuffle=0")
        var x = [Float](repeating: 0, count: 600), y = [Int32](repeating: 0, count: 30)
        _ = try l.next(into: &x, labels: &y, capacity: 30)
        let mean = x.map(Double.init).reduce(0, +) / 600
        let variance = x.map { (Double($0) - mean) * (Double($0) - mean) }.reduce(0, +) / 600
        XCTAssertEqual(mean, 0, accuracy: 1e-3)
        XCTAssertEqual(variance, 1, accuracy: 1e-3)
        let pixel = try loader(d, "batch=30 normalize=pixel shuffle=0")
        _ = try pixel.next(into: &x, labels: &y, capacity: 30)
        XCTAssertEqual(Double(x[7]), Double(1000 * 0 + 12) - (1000 * 14.5 + 12), accuracy: 1e-2)
    }

    func testGivenChannelStatistics() throws {
        let l = try loader(dataset(2), "batch=2 shuffle=0 normalize=channel mean=12 std=2")
        var x = [Float](repeating: 0, count: 40), y = [Int32](repeating: 0, count: 2)
        _ = try l.next(into: &x, labels: &y, capacity: 2)
        XCTAssertEqual(x[0], -6)
        XCTAssertEqual(x[20], (1000 - 12) / 2)
        XCTAssertThrowsError(try loader(dataset(2), "normalize=channel mean=1,2 std=1,1"))
        XCTAssertThrowsError(try LoaderConfiguration(spec: "normalize=channel mean=1"))
        XCTAssertThrowsError(try LoaderConfiguration(spec: "normalize=channel mean=1 std=0"))
        // 1/1e-45 is inf: every normalised value would be inf (the step then fails on it).
        XCTAssertThrowsError(try LoaderConfiguration(spec: "normalize=channel mean=1 std=1e-45")) {
            XCTAssertTrue(($0 as? SuperConvError)?.message.contains("inverses are finite") ?? false, "\($0)")
        }
    }

    /// Threads of this process, from /proc.
    func threadCount() throws -> Int {
        try FileManager.default.contentsOfDirectory(atPath: "/proc/self/task").count
    }

    func testDestroyingMidEpochDoesNotHangNorLeakThreads() throws {
        let before = try threadCount()
        for _ in 0..<20 {
            let l = try loader(dataset(200), "batch=4 prefetch=3")
            var x = [Float](repeating: 0, count: 80), y = [Int32](repeating: 0, count: 4)
            _ = try l.next(into: &x, labels: &y, capacity: 4)
        }
        _ = try loader(dataset(200), "batch=4")  // never started
        // A joined thread can still be listed in /proc for a moment while the kernel reaps it,
        // so a leak is a thread that stays, not one seen once.
        var after = try threadCount()
        for _ in 0..<100 where after > before {
            usleep(10_000)
            after = try threadCount()
        }
        XCTAssertLessThanOrEqual(after, before, "loader threads outlive their loaders")
    }

    func testBadSpecs() {
        XCTAssertThrowsError(try LoaderConfiguration(spec: "augment=rotate"))
        XCTAssertThrowsError(try LoaderConfiguration(spec: "batch=0"))
        XCTAssertThrowsError(try loader(dataset(10), "subset=11"))
        XCTAssertThrowsError(try loader(dataset(10), "holdout=10"))
        XCTAssertThrowsError(try loader(dataset(3), "batch=4 drop_last=1"))
    }
}
