import Foundation

/// A serial executor backed by one dedicated thread.
///
/// libpq calls block. Run on Swift's cooperative pool (two threads on a 2-core machine), one
/// slow query stalls unrelated tasks; an actor on this executor blocks only its own thread.
package final class ThreadExecutor: SerialExecutor, @unchecked Sendable {
    private let condition = NSCondition()
    private var jobs: [UnownedJob] = []
    private var stopping = false
    private var thread: Thread?

    /// Starts the thread. It runs until `shutdown()` and the queue is empty.
    package init(name: String) {
        let thread = Thread { [self] in self.runLoop() }
        thread.name = name
        self.thread = thread
        thread.start()
    }

    /// True when called on this executor's thread.
    package var isCurrent: Bool {
        condition.lock()
        defer { condition.unlock() }
        return thread.map { Thread.current === $0 } ?? false
    }

    package func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        condition.lock()
        jobs.append(job)
        condition.signal()
        condition.unlock()
    }

    package func asUnownedSerialExecutor() -> UnownedSerialExecutor {
        UnownedSerialExecutor(ordinary: self)
    }

    /// Lets the thread exit once the jobs already queued have run.
    package func shutdown() {
        condition.lock()
        stopping = true
        condition.signal()
        condition.unlock()
    }

    private func runLoop() {
        var batch: [UnownedJob] = []
        while true {
            condition.lock()
            while jobs.isEmpty && !stopping { condition.wait() }
            if jobs.isEmpty && stopping {
                condition.unlock()
                return
            }
            swap(&batch, &jobs)
            condition.unlock()
            for job in batch { job.runSynchronously(on: asUnownedSerialExecutor()) }
            batch.removeAll(keepingCapacity: true)
        }
    }
}
