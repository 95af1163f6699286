import Glibc
import Synchronization

/// Batches of a data set: a seeded shuffle every epoch, optional augmentation (random crop with
/// zero padding, horizontal flip) and normalisation, prepared by a background thread `prefetch`
/// batches ahead so that the trainer does not wait for them.
///
/// Every batch depends only on the seed, the epoch and its place in the epoch, never on timing:
/// the same spec gives the same batches. An epoch visits every selected sample exactly once;
/// its last batch is smaller unless drop_last.
public final class Loader: @unchecked Sendable {
    public let dataset: Dataset
    public let configuration: LoaderConfiguration
    public let indices: [Int]
    /// Normalisation: per channel (C values) or per pixel (C·H·W values); empty for none.
    public private(set) var mean: [Float] = []
    public private(set) var inverseStd: [Float] = []

    /// Samples per epoch: the selection's, or a shard's part of it.
    public let samplesPerEpoch: Int

    public var batchesPerEpoch: Int {
        configuration.dropLast ? samplesPerEpoch / configuration.batch
            : (samplesPerEpoch + configuration.batch - 1) / configuration.batch
    }

    /// A prepared batch. Slots are handed between the producer and the consumer under the
    /// mutex; each is touched by one side at a time.
    final class Slot {
        let x: Tensor
        let labels: UnsafeMutablePointer<Int32>
        var count = 0
        var epoch = 0
        var lastOfEpoch = false

        init(batch: Int, sampleSize: Int) throws {
            x = try Tensor(Shape(batch * sampleSize))
            labels = .allocate(capacity: batch)
            labels.initialize(repeating: 0, count: batch)
        }

        deinit { labels.deallocate() }
    }

    private let slots: [Slot]
    // Shared between the producer and the consumer. Atomics rather than plain properties: the
    // optimiser may keep a plain property in a register across a condition wait (observed:
    // the producer overran the ring), while atomic loads are always fresh.
    private let filled = Atomic<Int>(0), head = Atomic<Int>(0)
    private let stopping = Atomic<Bool>(false)
    /// Condition 0: a batch is ready; condition 1: a slot is free. Replaced after a fork.
    private var monitor = Monitor(conditions: 2)
    /// The fork generation the producer thread was started in (see `Threads.forkGeneration`).
    private var threadGeneration = 0
    private static let ready = 0, space = 1
    private var thread: pthread_t?
    /// Where the producer is: the epoch and batch it prepares next, and the slot it fills next
    /// (its thread's own; computing the slot from `head` and `filled`, which the consumer changes
    /// one after the other, once picked a slot not yet consumed).
    private var producerEpoch = 0, producerBatch = 0, tail = 0
    /// The epoch and batch the next `next` returns (the consumer's own). Prepared batches are
    /// discarded by restarting the producer here: one pair, changed by one thread, so that a
    /// process forked at any moment of the producer's work finds it consistent.
    private var consumerEpoch = 0, consumerBatch = 0
    private var order: [Int] = []
    private var orderEpoch = -1
    private var scratch: [Float] = []

    public init(dataset: Dataset, configuration: LoaderConfiguration) throws {
        self.dataset = dataset
        self.configuration = configuration
        let indices = try SampleSelection.indices(dataset, configuration)
        self.indices = indices
        guard indices.count >= configuration.shardCount else {
            throw SuperConvError.invalidArgument("loader: \(indices.count) samples cannot be shared among \(configuration.shardCount) ranks")
        }
        let samples = (indices.count + configuration.shardCount - 1) / configuration.shardCount
        guard configuration.dropLast ? samples >= configuration.batch : samples > 0 else {
            throw SuperConvError.invalidArgument("loader: \(samples) samples make no batch of \(configuration.batch)")
        }
        samplesPerEpoch = samples
        // No batch holds more samples than a rank's share of the selection.
        slots = try (0..<configuration.prefetch).map { _ in
            try Slot(batch: min(configuration.batch, samples), sampleSize: dataset.sampleSize)
        }
        if configuration.givenMean.isEmpty {
            computeNormalization()
        } else {
            guard configuration.givenMean.count == dataset.channels else {
                throw SuperConvError.invalidArgument("loader spec: mean has \(configuration.givenMean.count) values, the data \(dataset.channels) channels")
            }
            mean = configuration.givenMean
            inverseStd = configuration.givenStd.map { 1 / $0 }
        }
    }

    deinit { stop() }

    /// Stops the background thread now (it restarts on the next `next`).
    public func pause() { stop() }

    /// The epoch and the batch within it that the next `next` returns (for checkpoints).
    public func position() -> (epoch: Int, batch: Int) {
        stop()
        return (consumerEpoch, consumerBatch)
    }

    /// Makes `batch` of `epoch` the next batch; what was prepared ahead is discarded.
    public func seek(epoch: Int, batch: Int) throws {
        guard epoch >= 0, (0..<batchesPerEpoch).contains(batch) else {
            throw SuperConvError.invalidArgument("loader position epoch \(epoch), batch \(batch) is outside 0..<\(batchesPerEpoch) batches")
        }
        stop()
        (consumerEpoch, consumerBatch) = (epoch, batch)
        (producerEpoch, producerBatch) = (epoch, batch)
    }

    /// Uses another loader's normalisation (e.g. a test loader uses the training statistics).
    public func copyNormalization(from other: Loader) throws {
        try setNormalization(other.configuration.normalization, mean: other.mean, inverseStd: other.inverseStd,
                             source: "the other loader")
    }

    /// Uses given statistics of the given mode (as read from a checkpoint of `source`).
    public func setNormalization(_ mode: LoaderConfiguration.Normalization, mean: [Float], inverseStd: [Float],
                                 source: String) throws {
        guard mode == configuration.normalization, mean.count == self.mean.count, inverseStd.count == mean.count else {
            throw SuperConvError.invalidArgument(
                "\(source) normalises differently (\(mode) over \(mean.count) values; this loader \(configuration.normalization) over \(self.mean.count))")
        }
        stop()
        self.mean = mean
        self.inverseStd = inverseStd
    }

    private func computeNormalization() {
        let c = dataset.channels, plane = dataset.height * dataset.width, size = dataset.sampleSize
        var sample = [Float](repeating: 0, count: size)
        switch configuration.normalization {
        case .none:
            return
        case .pixel:
            var sum = [Double](repeating: 0, count: size)
            for i in indices {
                dataset.copySample(i, into: &sample)
                for p in 0..<size { sum[p] += Double(sample[p]) }
            }
            mean = sum.map { Float($0 / Double(indices.count)) }
            inverseStd = Array(repeating: 1, count: size)
        case .channel:
            var sum = [Double](repeating: 0, count: c), squares = [Double](repeating: 0, count: c)
            for i in indices {
                dataset.copySample(i, into: &sample)
                for ch in 0..<c {
                    for p in 0..<plane {
                        let v = Double(sample[ch * plane + p])
                        sum[ch] += v
                        squares[ch] += v * v
                    }
                }
            }
            let m = Double(indices.count * plane)
            mean = sum.map { Float($0 / m) }
            inverseStd = (0..<c).map { ch in
                let variance = max(0, squares[ch] / m - (sum[ch] / m) * (sum[ch] / m))
                return variance > 0 ? Float(1 / variance.squareRoot()) : 1
            }
        }
    }

    // MARK: Producer

    private func start() {
        forgetThreadAfterFork()
        guard thread == nil else { return }
        Threads.countForks()
        threadGeneration = Threads.forkGeneration
        var t = pthread_t()
        // Unretained: the thread must not keep the loader alive, or deinit (which stops and
        // joins it) would never run. The loader outlives its thread.
        let context = Unmanaged.passUnretained(self).toOpaque()
        if pthread_create(&t, nil, { raw in
            Unmanaged<Loader>.fromOpaque(raw!)._withUnsafeGuaranteedRef { $0.produce() }
            return nil
        }, context) == 0 {
            thread = t
        }
    }

    /// Stops the producer and discards what it prepared; the next `next` restarts it where the
    /// consumer stands.
    private func stop() {
        forgetThreadAfterFork()
        guard let t = thread else { return }
        monitor.lock()
        stopping.store(true, ordering: .releasing)
        monitor.broadcast(Self.space)
        monitor.unlock()
        pthread_join(t, nil)
        thread = nil
        stopping.store(false, ordering: .releasing)
        discardPrepared()
    }

    /// In a forked child the producer does not exist and its mutex may be held: start afresh
    /// from the first batch not yet consumed. The old monitor is leaked on purpose: destroying
    /// a condition variable that had waiters in the parent would wait for them forever.
    private func forgetThreadAfterFork() {
        guard thread != nil, threadGeneration != Threads.forkGeneration else { return }
        thread = nil
        _ = Unmanaged.passRetained(monitor)
        monitor = Monitor(conditions: 2)
        discardPrepared()
    }

    /// Rewinds the producer to the first batch not yet consumed and empties the ring.
    private func discardPrepared() {
        (producerEpoch, producerBatch) = (consumerEpoch, consumerBatch)
        tail = head.load(ordering: .acquiring)
        filled.store(0, ordering: .releasing)
    }

    private func produce() {
        while true {
            monitor.lock()
            while filled.load(ordering: .acquiring) == slots.count && !stopping.load(ordering: .acquiring) {
                monitor.wait(Self.space)
            }
            monitor.unlock()
            if stopping.load(ordering: .acquiring) { return }
            fill(slots[tail], epoch: producerEpoch, batch: producerBatch)
            tail = (tail + 1) % slots.count
            producerBatch += 1
            if producerBatch == batchesPerEpoch { producerBatch = 0; producerEpoch += 1 }
            monitor.lock()
            filled.add(1, ordering: .releasing)
            monitor.signal(Self.ready)
            monitor.unlock()
        }
    }

    /// The order of an epoch: data order, or a permutation seeded by (seed, epoch); of a shard,
    /// every shardCount-th place of it from shardRank on. As PyTorch's DistributedSampler, the
    /// order is first padded with its own beginning to a multiple of shardCount, so that every
    /// shard has as many samples (and ranks as many batches); the padding repeats samples only
    /// when shardCount does not divide the selection.
    func epochOrder(_ epoch: Int) -> [Int] {
        var order = indices
        if configuration.shuffle {
            var rng = RandomGenerator(seed: configuration.seed &+ 0x9E37_79B9 &* UInt64(epoch + 1))
            shuffleInPlace(&order, &rng)
        }
        let world = configuration.shardCount
        guard world > 1 else { return order }
        order += order.prefix(samplesPerEpoch * world - order.count)
        return stride(from: configuration.shardRank, to: order.count, by: world).map { order[$0] }
    }

    func fill(_ slot: Slot, epoch: Int, batch: Int) {
        if orderEpoch != epoch {
            order = epochOrder(epoch)
            orderEpoch = epoch
        }
        let first = batch * configuration.batch
        let count = min(configuration.batch, samplesPerEpoch - first)
        let size = dataset.sampleSize
        slot.count = count
        slot.epoch = epoch
        slot.lastOfEpoch = batch == batchesPerEpoch - 1
        for i in 0..<count {
            let sample = order[first + i]
            slot.labels[i] = dataset.labels[sample]
            // Augmentation draws depend on (seed, epoch, place in the whole epoch's order) only,
            // so ranks draw differently.
            let place = (first + i) * configuration.shardCount + configuration.shardRank
            var rng = RandomGenerator(seed: configuration.seed ^ (UInt64(epoch) << 32 | UInt64(place)) &* 0xD1B5_4A32_D192_ED03)
            prepare(sample, into: slot.x.data + i * size, scratch: &scratch, rng: &rng)
        }
    }

    /// One sample: read, crop and flip (on the raw values, zero padding), normalise.
    func prepare(_ index: Int, into out: UnsafeMutablePointer<Float>, scratch: inout [Float], rng: inout RandomGenerator) {
        let (c, h, w) = (dataset.channels, dataset.height, dataset.width)
        if scratch.count != dataset.sampleSize { scratch = [Float](repeating: 0, count: dataset.sampleSize) }
        dataset.copySample(index, into: &scratch)
        let p = configuration.cropPadding
        let dy = p > 0 ? Int(rng.next() % UInt64(2 * p + 1)) - p : 0
        let dx = p > 0 ? Int(rng.next() % UInt64(2 * p + 1)) - p : 0
        let mirrored = configuration.flip && rng.next() & 1 == 1
        for ch in 0..<c {
            for y in 0..<h {
                let sy = y + dy
                for x in 0..<w {
                    let sx0 = x + dx
                    let sx = mirrored ? w - 1 - sx0 : sx0
                    var v: Float = 0
                    if sy >= 0 && sy < h && sx0 >= 0 && sx0 < w { v = scratch[(ch * h + sy) * w + sx] }
                    out[(ch * h + y) * w + x] = v
                }
            }
        }
        switch configuration.normalization {
        case .none: break
        case .channel:
            for ch in 0..<c {
                let m = mean[ch], s = inverseStd[ch]
                for q in 0..<(h * w) { out[ch * h * w + q] = (out[ch * h * w + q] - m) * s }
            }
        case .pixel:
            for q in 0..<(c * h * w) { out[q] -= mean[q] }
        }
    }

    // MARK: Consumer

    public struct Batch {
        public let count: Int
        public let epoch: Int
        public let lastOfEpoch: Bool
    }

    /// Copies the next batch into x (capacity samples) and labels, waiting for the producer
    /// when it is behind.
    public func next(into x: UnsafeMutablePointer<Float>, labels: UnsafeMutablePointer<Int32>, capacity: Int) throws -> Batch {
        guard capacity >= configuration.batch else {
            throw SuperConvError.shape("capacity \(capacity) is smaller than the batch of \(configuration.batch)")
        }
        start()
        monitor.lock()
        while filled.load(ordering: .acquiring) == 0 { monitor.wait(Self.ready) }
        monitor.unlock()
        let slot = slots[head.load(ordering: .acquiring)]
        x.update(from: slot.x.data, count: slot.count * dataset.sampleSize)
        labels.update(from: slot.labels, count: slot.count)
        let batch = Batch(count: slot.count, epoch: slot.epoch, lastOfEpoch: slot.lastOfEpoch)
        (consumerEpoch, consumerBatch) = batch.lastOfEpoch ? (slot.epoch + 1, 0) : (slot.epoch, consumerBatch + 1)
        head.store((head.load(ordering: .relaxed) + 1) % slots.count, ordering: .releasing)
        monitor.lock()
        filled.subtract(1, ordering: .releasing)
        monitor.signal(Self.space)
        monitor.unlock()
        return batch
    }
}
