import CSuperConv
import Glibc
import Synchronization

/// Ctrl-C (SIGINT) and SIGTERM handling. The signal handler only writes a byte to a pipe (the
/// one thing it may safely do; it can run on any thread, OpenBLAS's own among them); a watcher
/// thread reads the pipe and, being an ordinary thread, may call sc_trainer_interrupt: the
/// running library call stops after its current step and the command saves what it must. A
/// second signal ends the process at once.
enum InterruptWatcher {
    private static let trainer = Atomic<UInt>(0)
    private static let signals = Atomic<Int>(0)
    private static let pipeInput = Atomic<Int32>(-1)

    /// Whether a signal has arrived.
    static var requested: Bool { signals.load(ordering: .acquiring) > 0 }

    /// Installs the handler and starts the watcher.
    static func install() {
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else { return }  // without a pipe, signals keep their default action
        pipeInput.store(fds[1], ordering: .releasing)
        var action = sigaction()
        action.__sigaction_handler.sa_handler = { _ in
            var byte: UInt8 = 1
            _ = write(InterruptWatcher.pipeInput.load(ordering: .relaxed), &byte, 1)
        }
        sigemptyset(&action.sa_mask)
        action.sa_flags = SA_RESTART
        sigaction(SIGINT, &action, nil)
        sigaction(SIGTERM, &action, nil)
        let output = UnsafeMutablePointer<Int32>.allocate(capacity: 1)
        output.pointee = fds[0]
        var thread = pthread_t()
        pthread_create(&thread, nil, { context in
            let fd = context!.assumingMemoryBound(to: Int32.self).pointee
            var byte: UInt8 = 0
            while true {
                let n = read(fd, &byte, 1)
                if n == 1 { InterruptWatcher.received() } else if n < 0 && errno == EINTR { continue } else { return nil }
            }
        }, output)
        pthread_detach(thread)
    }

    /// The trainer whose long calls a signal interrupts (nil: none).
    static func watch(_ handle: OpaquePointer?) {
        trainer.store(UInt(bitPattern: handle.map { Int(bitPattern: UnsafeRawPointer($0)) } ?? 0), ordering: .releasing)
    }

    private static func received() {
        if signals.wrappingAdd(1, ordering: .acquiringAndReleasing).newValue > 1 {
            ProgressDisplay.write("\nsecond interrupt: exiting without saving\n")
            _exit(130)
        }
        ProgressDisplay.write("\ninterrupt: stopping after the current step (again to exit at once)\n")
        let bits = trainer.load(ordering: .acquiring)
        if bits != 0, let handle = OpaquePointer(bitPattern: bits) {
            _ = sc_trainer_interrupt(handle)
        }
    }
}
