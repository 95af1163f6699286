import Glibc
import COpenBLAS

/// The library's thread setting: how many workers `parallelFor` uses (a `WorkerPool`), for
/// element-wise kernels and convolutions alike. OpenBLAS itself is kept single-threaded and each
/// worker runs its own GEMMs: OpenBLAS's pool busy-waits between calls, and two pools spinning on
/// the same cores would take turns. At most `count` threads compute at any time.
public enum Threads {
    public static let maximum = 256

    /// SUPERCONV_NUM_THREADS when set to a valid count, else the online processor count.
    /// OpenBLAS is set to one thread on first use.
    nonisolated(unsafe) private static var configured: Int = {
        var n = max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
        if let text = getenv("SUPERCONV_NUM_THREADS"), let value = Int(String(cString: text)),
           (1...maximum).contains(value) {
            n = value
        }
        openblas_set_num_threads(1)
        return n
    }()

    nonisolated(unsafe) private static var currentPool: WorkerPool?
    nonisolated(unsafe) private static var poolLock: UnsafeMutablePointer<pthread_mutex_t> = {
        let lock = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
        pthread_mutex_init(lock, nil)
        return lock
    }()

    public static var count: Int { configured }

    /// Counts forks into child processes. A child has only the thread that forked: pools and
    /// loader threads of the parent are gone there, and whoever holds one must start afresh.
    nonisolated(unsafe) static var forkGeneration = 0

    /// Installs the handler that counts forks; whoever starts a thread calls it first (the pool,
    /// a loader's producer), so that a child knows the thread is not there.
    static func countForks() { _ = forkHandler }
    private static let forkHandler: Void = { pthread_atfork(nil, nil, afterForkInChild) }()

    /// In a forked child: forget the parent's pool and re-create the lock, which another
    /// thread may have held at the fork. The old pool is leaked on purpose: its threads do not
    /// exist here, and destroying its condition variables would wait for their waiters forever.
    private static let afterForkInChild: @convention(c) () -> Void = {
        pthread_mutex_init(Threads.poolLock, nil)
        if let old = Threads.currentPool { _ = Unmanaged.passRetained(old) }
        Threads.currentPool = nil
        Threads.forkGeneration += 1
    }

    /// The pool for the current setting, created on first use.
    static var pool: WorkerPool {
        countForks()
        pthread_mutex_lock(poolLock)
        defer { pthread_mutex_unlock(poolLock) }
        if let pool = currentPool, pool.size == configured { return pool }
        currentPool?.shutdown()
        let pool = WorkerPool(size: configured)
        currentPool = pool
        return pool
    }

    public static func set(_ n: Int) throws {
        guard (1...maximum).contains(n) else {
            throw SuperConvError.invalidArgument("n = \(n) threads is out of range; expected 1...\(maximum)")
        }
        _ = count  // the first use sets OpenBLAS to one thread
        configured = n
    }
}

/// The work of one parallel region: called once per piece with a contiguous piece of the items
/// and the index of the worker running it (for scratch memory of its own); a worker may run
/// several pieces.
///
/// Regions are structs rather than closures: a closure handed to other threads must be made
/// escaping, which costs a heap allocation per region (for `withoutActuallyEscaping` and for
/// Dispatch's blocks alike), while a struct is copied to the caller's stack. A struct's
/// fields also state exactly what the region reads and writes.
public protocol ParallelBody {
    func callAsFunction(_ worker: Int, _ range: Range<Int>)
}

/// Part `part` of 0..<count cut into `parts` contiguous parts whose sizes differ by at most one.
@inline(__always)
func evenPart(_ part: Int, of parts: Int, count: Int) -> Range<Int> {
    count * part / parts..<count * (part + 1) / parts
}

/// How many workers `parallelFor` uses for `count` items.
@inline(__always)
public func workerCount(_ count: Int, minimumPerWorker: Int = 1) -> Int {
    max(1, min(Threads.count, count / max(1, minimumPerWorker)))
}

/// Runs `body` over `0..<count` cut into contiguous pieces of at least `minimumPerWorker` items
/// (see `WorkerPool`): every item is processed exactly once, by whichever worker takes its
/// piece. Bodies whose items are independent give the same result for any thread count.
@inline(__always)
public func parallelFor<Body: ParallelBody>(_ count: Int, minimumPerWorker: Int = 1, _ body: Body) {
    let workers = workerCount(count, minimumPerWorker: minimumPerWorker)
    if workers <= 1 || count <= 1 {
        if count > 0 { body(0, 0..<count) }
        return
    }
    Threads.pool.run(workers: workers, count: count, grain: minimumPerWorker, body)
}
