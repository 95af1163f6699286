import Glibc

/// One process-wide lock around every use of libhdf5. Debian's libhdf5 is built without its
/// thread-safety option, so two threads saving or loading through different handles (which the
/// header allows) must not be inside it at once; and a process forked while another thread is
/// inside libhdf5 would inherit its state half-changed. The lock is taken before a fork
/// (`pthread_atfork`), so the library's probe children and a host's children start from a
/// consistent libhdf5, and it is made afresh in the child. Recursive: a checkpoint load holds it
/// while opening the file, which probes it.
enum HDF5Lock {
    nonisolated(unsafe) private static let mutex: UnsafeMutablePointer<pthread_mutex_t> = {
        let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
        initialize(mutex)
        return mutex
    }()
    private static let forkHandlers: Void = { pthread_atfork(beforeFork, afterForkInParent, afterForkInChild) }()

    private static func initialize(_ mutex: UnsafeMutablePointer<pthread_mutex_t>) {
        var attributes = pthread_mutexattr_t()
        pthread_mutexattr_init(&attributes)
        pthread_mutexattr_settype(&attributes, Int32(PTHREAD_MUTEX_RECURSIVE))
        pthread_mutex_init(mutex, &attributes)
        pthread_mutexattr_destroy(&attributes)
    }

    private static let beforeFork: @convention(c) () -> Void = { pthread_mutex_lock(HDF5Lock.mutex) }
    private static let afterForkInParent: @convention(c) () -> Void = { pthread_mutex_unlock(HDF5Lock.mutex) }
    /// The child's one thread has a new thread id, so the lock it inherited, held under the
    /// parent's id, is replaced rather than unlocked.
    private static let afterForkInChild: @convention(c) () -> Void = { initialize(HDF5Lock.mutex) }

    static func serialized<T>(_ body: () throws -> T) rethrows -> T {
        let mutex = mutex  // made before the fork handlers that use it are installed
        _ = forkHandlers
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body()
    }
}
