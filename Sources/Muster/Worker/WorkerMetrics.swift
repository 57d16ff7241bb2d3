import CoreMetrics
import Metrics
import Foundation

/// swift-metrics instruments of one worker, labelled by queue (docs/operations.md
/// ## Monitoring lists each name; they are stable).
struct WorkerMetrics: Sendable {
    let read: Counter
    let acked: Counter
    let released: Counter
    let snoozed: Counter
    let deadLettered: Counter
    let leaseLost: Counter
    let handlerDuration: CoreMetrics.Timer
    let heartbeatLatency: CoreMetrics.Timer
    let lag: CoreMetrics.Timer
    let membersCompleted: Counter
    let barriersFired: Counter

    init(queue: QueueName) {
        let dimensions = [("queue", queue.rawValue)]
        read = Counter(label: "muster_messages_read_total", dimensions: dimensions)
        acked = Counter(label: "muster_messages_acked_total", dimensions: dimensions)
        released = Counter(label: "muster_messages_released_total", dimensions: dimensions)
        snoozed = Counter(label: "muster_messages_snoozed_total", dimensions: dimensions)
        deadLettered = Counter(label: "muster_messages_dead_lettered_total", dimensions: dimensions)
        leaseLost = Counter(label: "muster_leases_lost_total", dimensions: dimensions)
        handlerDuration = CoreMetrics.Timer(label: "muster_handler_duration", dimensions: dimensions)
        heartbeatLatency = CoreMetrics.Timer(label: "muster_heartbeat_latency", dimensions: dimensions)
        lag = CoreMetrics.Timer(label: "muster_queue_lag", dimensions: dimensions)
        membersCompleted = Counter(label: "muster_barrier_members_completed_total", dimensions: dimensions)
        barriersFired = Counter(label: "muster_barriers_fired_total", dimensions: dimensions)
    }
}

extension CoreMetrics.Timer {
    func recordInterval(since date: Date) {
        recordNanoseconds(Int64(max(0, Date().timeIntervalSince(date)) * 1e9))
    }
}
