import Glibc
import Synchronization

/// A fixed set of worker threads that run one parallel region at a time, with the calling
/// thread as worker 0.
///
/// Dispatch's `concurrentPerform` would serve, but it turns its closure into a heap-allocated
/// block on every call, and a training step has hundreds of regions. Here a region hands the
/// workers a pointer to its body on the caller's stack, so a steady-state step allocates nothing.
///
/// Regions follow each other closely, so waiting threads spin on an atomic for up to 2 ms before
/// they sleep on a condition variable: waking a sleeping thread on a virtual machine takes tens of
/// microseconds, and the serial work between two regions of a training step, or a worker's last
/// piece while the other waits, often outlasts a short spin. OpenMP runtimes spin for similar or
/// longer times by default. BENCHMARKS.md has the measurements behind the 2 ms.
///
/// Workers take a region's items in pieces when they are free, not in one fixed share each: on a
/// shared machine one core is often slowed by other tenants, and with fixed shares every region
/// would wait for the slow one. Pieces shrink as the region runs out (guided self-scheduling,
/// Polychronopoulos & Kuck 1987, OpenMP's `schedule(guided)`): each is a fraction of what is left,
/// so the first are large (few takes) and the last small, and the worker that finishes first waits
/// for at most a small piece.
final class WorkerPool: @unchecked Sendable {
    let size: Int
    /// The region being published, one word that the workers read at once: a count above bit 17,
    /// the shutdown flag at bit 16 and the number of participants below. A worker that takes no
    /// part in a region reads nothing else of it, so the caller may publish the next one while
    /// such a worker is still looking at this one.
    private let generation = Atomic<Int>(0)
    private static let stoppingFlag = 1 << 16, participantsMask = (1 << 16) - 1, countUnit = 1 << 17
    private let pending = Atomic<Int>(0)
    /// The first item of the current region not yet handed out.
    private let nextItem = Atomic<Int>(0)
    /// Condition 0 wakes the workers for a region; condition 1 tells the caller they are done.
    private let monitor = Monitor(conditions: 2)
    private static let wake = 0, done = 1
    /// Held by the thread whose region the workers run. Another host thread (using another
    /// handle) or a nested region finds it taken and runs its region alone, with the same split.
    private let regionLock = Monitor(conditions: 0)
    // Written by the caller before it publishes a region (release on `generation`), read by the
    // region's participants after they observe it (acquire); the caller clears it only after
    // every participant has finished (acquire on `pending`).
    private var job: UnsafeRawPointer?
    private var threads: [pthread_t] = []

    private static let spinSeconds = 2e-3

    /// Spins until `done()` holds or `spinSeconds` have passed; returns whether it holds. Every
    /// 1024 spins it reads the clock and yields, so that with more threads than cores (a host's
    /// own threads, a data loader) a spinning thread lets a runnable one have its core.
    @inline(__always)
    private static func spin(until done: () -> Bool) -> Bool {
        let deadline = monotonicSeconds() + spinSeconds
        var spins = 0
        while !done() {
            spins &+= 1
            if spins & 1023 == 0 {
                if monotonicSeconds() > deadline { return false }
                sched_yield()
            }
        }
        return true
    }

    /// A pool of `size` workers: `size - 1` threads plus the caller.
    init(size: Int) {
        self.size = size
        for index in 1..<max(1, size) {
            let context = Unmanaged.passRetained(WorkerStart(pool: self, index: index)).toOpaque()
            var thread = pthread_t()
            if pthread_create(&thread, nil, { raw in
                let start = Unmanaged<WorkerStart>.fromOpaque(raw!).takeRetainedValue()
                start.pool.work(index: start.index)
                return nil
            }, context) == 0 {
                threads.append(thread)
            } else {
                Unmanaged<WorkerStart>.fromOpaque(context).release()
            }
        }
    }

    /// Workers actually available (thread creation can fail under resource limits).
    var capacity: Int { threads.count + 1 }

    func shutdown() {
        publish(participants: 0, stopping: true)
        for thread in threads { pthread_join(thread, nil) }
        threads.removeAll()
    }

    /// Cuts 0..<count into contiguous pieces of at least `grain` items (fewer only when the whole
    /// region is), and calls body(w, piece) from `workers` threads, each taking the next piece
    /// when it is free; returns when all pieces are done.
    @inline(__always)
    func run<Body: ParallelBody>(workers requested: Int, count: Int, grain: Int, _ body: Body) {
        let workers = min(requested, capacity)
        withUnsafeTemporaryAllocation(of: Body.self, capacity: 1) { slot in
            slot.initializeElement(at: 0, to: body)
            // Specialised for Body, this closure captures nothing and needs no allocation.
            let invoke: (UnsafeRawPointer, Int, Range<Int>) -> Void = { context, w, range in
                context.assumingMemoryBound(to: Body.self).pointee(w, range)
            }
            withUnsafeTemporaryAllocation(of: Job.self, capacity: 1) { jobSlot in
                jobSlot.initializeElement(at: 0, to: Job(context: UnsafeRawPointer(slot.baseAddress!), invoke: invoke,
                                                        count: count, grain: max(1, grain), workers: workers))
                let job = jobSlot.baseAddress!
                guard regionLock.tryLock() else {
                    invoke(UnsafeRawPointer(slot.baseAddress!), 0, 0..<count)
                    _ = jobSlot.moveElement(from: 0)
                    return
                }
                defer { regionLock.unlock() }
                self.job = UnsafeRawPointer(job)
                nextItem.store(0, ordering: .relaxed)
                pending.store(workers - 1, ordering: .relaxed)
                publish(participants: workers, stopping: false)
                job.pointee.perform(worker: 0, taking: nextItem)
                waitUntilDone()
                self.job = nil
                _ = jobSlot.moveElement(from: 0)
            }
            _ = slot.moveElement(from: 0)
        }
    }

    /// Starts the next region (or the shutdown) and wakes the workers. Only the thread holding
    /// the region lock, or the one shutting the pool down, writes `generation`.
    private func publish(participants: Int, stopping: Bool) {
        let count = generation.load(ordering: .relaxed) / Self.countUnit + 1
        monitor.lock()
        generation.store(count * Self.countUnit | (stopping ? Self.stoppingFlag : 0) | participants, ordering: .releasing)
        monitor.broadcast(Self.wake)
        monitor.unlock()
    }

    private func waitUntilDone() {
        if Self.spin(until: { pending.load(ordering: .acquiring) == 0 }) { return }
        monitor.lock()
        while pending.load(ordering: .acquiring) > 0 { monitor.wait(Self.done) }
        monitor.unlock()
    }

    private func work(index: Int) {
        var seen = 0
        while true {
            if !Self.spin(until: { generation.load(ordering: .acquiring) != seen }) {
                monitor.lock()
                while generation.load(ordering: .acquiring) == seen { monitor.wait(Self.wake) }
                monitor.unlock()
            }
            seen = generation.load(ordering: .acquiring)
            if seen & Self.stoppingFlag != 0 { return }
            guard index < seen & Self.participantsMask, let job else { continue }
            job.assumingMemoryBound(to: Job.self).pointee.perform(worker: index, taking: nextItem)
            if pending.subtract(1, ordering: .acquiringAndReleasing).newValue == 0 {
                monitor.lock()
                monitor.signal(Self.done)
                monitor.unlock()
            }
        }
    }
}

/// A region as the workers see it: the body on the caller's stack and how to call it.
private struct Job {
    let context: UnsafeRawPointer
    let invoke: (UnsafeRawPointer, Int, Range<Int>) -> Void
    let count: Int
    let grain: Int
    let workers: Int

    /// The size of the piece that starts with `remaining` items left: 1/(2·workers) of them, at
    /// least `grain`, and all of them when fewer than two grains are left (so that no piece falls
    /// under the grain). Half of an even share, so that the first pieces leave room for a slowed
    /// worker to keep up.
    @inline(__always)
    func pieceSize(remaining: Int) -> Int {
        if remaining < 2 * grain { return remaining }
        return min(remaining, max(grain, (remaining + 2 * workers - 1) / (2 * workers)))
    }

    /// Takes pieces until none is left. Which worker does which piece varies from run to run, so
    /// a body's per-worker memory is scratch only, never a partial result (Conv2d's weight
    /// gradient keeps its partial sums per fixed chunk of images instead).
    func perform(worker w: Int, taking next: borrowing Atomic<Int>) {
        var start = next.load(ordering: .relaxed)
        while start < count {
            let end = start + pieceSize(remaining: count - start)
            let (exchanged, current) = next.compareExchange(expected: start, desired: end, ordering: .relaxed)
            if exchanged {
                invoke(context, w, start..<end)
                start = next.load(ordering: .relaxed)
            } else {
                start = current
            }
        }
    }
}

private final class WorkerStart {
    let pool: WorkerPool
    let index: Int
    init(pool: WorkerPool, index: Int) {
        self.pool = pool
        self.index = index
    }
}
