import Glibc

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

    public var batchesPerEpoch: Int {
        configuration.dropLast ? indices.count / configuration.batch
            : (indices.count + configuration.batch - 1) / configuration.batch
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
    private var filled = 0, head = 0
    private var mutex = pthread_mutex_t()
    private var ready = pthread_cond_t(), space = pthread_cond_t()
    private var stopping = false
    private var thread: pthread_t?
    /// Where the producer is: the epoch and batch it prepares next.
    private var producerEpoch = 0, producerBatch = 0
    private var order: [Int] = []
    private var orderEpoch = -1
    private var scratch: [Float] = []

    public init(dataset: Dataset, configuration: LoaderConfiguration) throws {
        self.dataset = dataset
        self.configuration = configuration
        let indices = try SampleSelection.indices(dataset, configuration)
        guard configuration.dropLast ? indices.count >= configuration.batch : !indices.isEmpty else {
            throw SuperConvError.invalidArgument("loader: \(indices.count) samples make no batch of \(configuration.batch)")
        }
        self.indices = indices
        slots = try (0..<configuration.prefetch).map { _ in
            try Slot(batch: configuration.batch, sampleSize: dataset.sampleSize)
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
        pthread_mutex_init(&mutex, nil)
        pthread_cond_init(&ready, nil)
        pthread_cond_init(&space, nil)
    }

    deinit { stop() }

    /// Uses another loader's normalisation (e.g. a test loader uses the training statistics).
    public func copyNormalization(from other: Loader) throws {
        guard other.configuration.normalization == configuration.normalization,
              other.mean.count == mean.count else {
            throw SuperConvError.invalidArgument(
                "loaders normalise differently (\(other.configuration.normalization) over \(other.mean.count) values, \(configuration.normalization) over \(mean.count))")
        }
        stop()
        mean = other.mean
        inverseStd = other.inverseStd
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
        guard thread == nil else { return }
        var t = pthread_t()
        // Unretained: the loader outlives its thread, which `stop` (also from deinit) joins.
        let context = Unmanaged.passUnretained(self).toOpaque()
        if pthread_create(&t, nil, { raw in
            Unmanaged<Loader>.fromOpaque(raw!).takeUnretainedValue().produce()
            return nil
        }, context) == 0 {
            thread = t
        }
    }

    /// Stops the producer and discards what it prepared; the next `next` restarts it where the
    /// consumer stands.
    private func stop() {
        guard let t = thread else { return }
        pthread_mutex_lock(&mutex)
        stopping = true
        pthread_cond_broadcast(&space)
        pthread_mutex_unlock(&mutex)
        pthread_join(t, nil)
        thread = nil
        stopping = false
        // Rewind the producer to the first batch not yet consumed.
        for _ in 0..<filled {
            if producerBatch == 0 { producerEpoch -= 1; producerBatch = batchesPerEpoch }
            producerBatch -= 1
        }
        filled = 0
    }

    private func produce() {
        while true {
            pthread_mutex_lock(&mutex)
            while filled == slots.count && !stopping { pthread_cond_wait(&space, &mutex) }
            if stopping { pthread_mutex_unlock(&mutex); return }
            let index = (head + filled) % slots.count
            let (epoch, batch) = (producerEpoch, producerBatch)
            pthread_mutex_unlock(&mutex)
            fill(slots[index], epoch: epoch, batch: batch)
            pthread_mutex_lock(&mutex)
            producerBatch += 1
            if producerBatch == batchesPerEpoch { producerBatch = 0; producerEpoch += 1 }
            filled += 1
            pthread_cond_signal(&ready)
            pthread_mutex_unlock(&mutex)
        }
    }

    /// The order of an epoch: data order, or a permutation seeded by (seed, epoch).
    func epochOrder(_ epoch: Int) -> [Int] {
        var order = indices
        if configuration.shuffle {
            var rng = RandomGenerator(seed: configuration.seed &+ 0x9E37_79B9 &* UInt64(epoch + 1))
            shuffleInPlace(&order, &rng)
        }
        return order
    }

    func fill(_ slot: Slot, epoch: Int, batch: Int) {
        if orderEpoch != epoch {
            order = epochOrder(epoch)
            orderEpoch = epoch
        }
        let first = batch * configuration.batch
        let count = min(configuration.batch, indices.count - first)
        let size = dataset.sampleSize
        slot.count = count
        slot.epoch = epoch
        slot.lastOfEpoch = batch == batchesPerEpoch - 1
        for i in 0..<count {
            let sample = order[first + i]
            slot.labels[i] = dataset.labels[sample]
            // Augmentation draws depend on (seed, epoch, position) only.
            var rng = RandomGenerator(seed: configuration.seed ^ (UInt64(epoch) << 32 | UInt64(first + i)) &* 0xD1B5_4A32_D192_ED03)
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
        pthread_mutex_lock(&mutex)
        while filled == 0 { pthread_cond_wait(&ready, &mutex) }
        let slot = slots[head]
        pthread_mutex_unlock(&mutex)
        x.update(from: slot.x.data, count: slot.count * dataset.sampleSize)
        labels.update(from: slot.labels, count: slot.count)
        pthread_mutex_lock(&mutex)
        head = (head + 1) % slots.count
        filled -= 1
        pthread_cond_signal(&space)
        pthread_mutex_unlock(&mutex)
        return Batch(count: slot.count, epoch: slot.epoch, lastOfEpoch: slot.lastOfEpoch)
    }
}
