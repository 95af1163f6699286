import Dispatch
import Glibc
import COpenBLAS

/// The library's thread setting: how many Dispatch workers `parallelFor` uses, for element-wise
/// kernels and convolutions alike. OpenBLAS itself is kept single-threaded and each worker runs
/// its own GEMMs: OpenBLAS's pool busy-waits between calls, and two pools spinning on the same
/// cores cost a fifth of a training step when measured. At most `count` threads compute at any
/// time.
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

    public static var count: Int { configured }

    public static func set(_ n: Int) throws {
        guard (1...maximum).contains(n) else {
            throw SuperConvError.invalidArgument("n = \(n) threads is out of range; expected 1...\(maximum)")
        }
        _ = count  // the first use sets OpenBLAS to one thread
        configured = n
    }
}

/// Lets a closure that captures raw pointers cross into Dispatch's workers; every use splits
/// the work into disjoint ranges, so no two workers touch the same memory.
struct UncheckedSendable<Value>: @unchecked Sendable {
    let value: Value
}

/// How many workers `parallelFor` uses for `count` items.
@inline(__always)
public func workerCount(_ count: Int, minimumPerWorker: Int = 1) -> Int {
    max(1, min(Threads.count, count / max(1, minimumPerWorker)))
}

/// Runs `body` over `0..<count` split into contiguous ranges, one per worker, passing the
/// worker's index (0..<workerCount) so that it can use scratch memory of its own. Each range is
/// processed by exactly one worker, and the split depends only on `count` and the thread
/// setting, so results are deterministic for a given thread count.
@inline(__always)
public func parallelWorkers(_ count: Int, minimumPerWorker: Int = 1, _ body: (Int, Range<Int>) -> Void) {
    let workers = workerCount(count, minimumPerWorker: minimumPerWorker)
    if workers <= 1 || count <= 1 {
        if count > 0 { body(0, 0..<count) }
        return
    }
    withoutActuallyEscaping(body) { escapable in
        let box = UncheckedSendable(value: escapable)
        DispatchQueue.concurrentPerform(iterations: workers) { w in
            let lower = count * w / workers
            let upper = count * (w + 1) / workers
            if lower < upper { box.value(w, lower..<upper) }
        }
    }
}

/// `parallelWorkers` for bodies that need no scratch memory.
@inline(__always)
public func parallelFor(_ count: Int, minimumPerWorker: Int = 1, _ body: (Range<Int>) -> Void) {
    parallelWorkers(count, minimumPerWorker: minimumPerWorker) { _, range in body(range) }
}
