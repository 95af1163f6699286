import Glibc

/// A mutex and condition variables at stable heap addresses. pthread objects must not move, and
/// Swift gives no address guarantee for `&property` on a stored property, so they live here.
final class Monitor: @unchecked Sendable {
    let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private let conditions: UnsafeMutablePointer<pthread_cond_t>
    private let conditionCount: Int

    init(conditions count: Int) {
        mutex = .allocate(capacity: 1)
        pthread_mutex_init(mutex, nil)
        conditions = .allocate(capacity: count)
        conditionCount = count
        for i in 0..<count { pthread_cond_init(conditions + i, nil) }
    }

    deinit {
        for i in 0..<conditionCount { pthread_cond_destroy(conditions + i) }
        pthread_mutex_destroy(mutex)
        conditions.deallocate()
        mutex.deallocate()
    }

    @inline(__always) func lock() { pthread_mutex_lock(mutex) }
    @inline(__always) func unlock() { pthread_mutex_unlock(mutex) }
    @inline(__always) func tryLock() -> Bool { pthread_mutex_trylock(mutex) == 0 }
    /// Waits on condition `index`; the mutex must be held.
    @inline(__always) func wait(_ index: Int) { pthread_cond_wait(conditions + index, mutex) }
    @inline(__always) func signal(_ index: Int) { pthread_cond_signal(conditions + index) }
    @inline(__always) func broadcast(_ index: Int) { pthread_cond_broadcast(conditions + index) }
}
