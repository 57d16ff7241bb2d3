public import Foundation
import Logging

extension Snooze {
    /// A redelivered orchestration message found its step held by another live claim: come
    /// back when the claim would expire (the holder may have died), without using an
    /// attempt. A live holder heartbeats its claim, so the message snoozes again; once the
    /// step finishes, the next delivery finds the tombstone and is acked.
    static func claimHeld(by holder: String, until expiresAt: Date, ttl: Duration, now: Date = Date()) -> Snooze {
        let untilExpiry = Duration.milliseconds(Int64(expiresAt.timeIntervalSince(now) * 1000))
        // At least a second (clocks differ, and an expiry just past is retried at once), at
        // most one claim lifetime.
        let delay = min(max(untilExpiry + .milliseconds(100), .seconds(1)), max(ttl, .seconds(1)))
        return Snooze(for: delay, reason: "orchestration step is held by \(holder) until \(expiresAt)")
    }

    /// The claim expired and was taken over before the step could finish: the new holder
    /// does the step. The next delivery finds it held or finished.
    static func claimLost(step: String) -> Snooze {
        Snooze(for: .seconds(1), reason: "orchestration claim on \(step) was lost before it finished")
    }
}

extension Worker {
    /// Registers an orchestrator for `task`: a handler that runs at most once to completion
    /// per (execution, `step`), guarded by an orchestration claim.
    ///
    /// Before the handler runs, the worker claims the step for the message's execution. A
    /// step that already finished (tombstone) or whose execution is terminal is skipped and
    /// the message acked, so a redelivered orchestration message never re-runs finished work,
    /// also after the reaper has collected the tombstone. A step held by another live claim is
    /// snoozed until the claim would expire, without using an attempt (see `Snooze`), so a
    /// worker killed mid-step never costs its execution the message. While the handler runs
    /// the claim is heartbeated every third of `claimTTL`; on success it becomes a tombstone
    /// before the message is acked, on failure it is released (retried on a lost connection)
    /// so the retry can claim it at once. Messages without an execution id are dead-lettered
    /// as non-retryable.
    ///
    /// A handler that writes its work in one transaction should finish the claim in it
    /// (`client.claims.finish(claim, in: transaction)`): then a crash after that commit finds
    /// the tombstone, and the work is never done twice. Finishing again afterwards is a no-op.
    public mutating func registerOrchestrator<Input: Decodable & Sendable>(
        task: String,
        step: String = "orchestrate",
        claimTTL: Duration = .seconds(30),
        as input: Input.Type = Input.self,
        decoder: JSONDecoder = JSONDecoder(),
        _ handler: @escaping @Sendable (Input, Claim, HandlerContext) async throws -> Void
    ) {
        let decoder = UncheckedDecoder(decoder)
        registerOrchestrator(task: task, step: step, claimTTL: claimTTL) { payload, claim, context in
            try await handler(try decoder.decode(payload), claim, context)
        }
    }

    /// The untyped form of `registerOrchestrator`: the handler gets the raw payload.
    mutating func registerOrchestrator(
        task: String,
        step: String,
        claimTTL: Duration,
        _ handler: @escaping @Sendable (JSONPayload, Claim, HandlerContext) async throws -> Void
    ) {
        let claims = client.claims
        handlers[task] = { payload, context in
            guard let execution = context.executionID else {
                throw NonRetryableError(MusterError(.invalidArgument, "orchestration message \(context.messageID) has no execution id"))
            }
            switch try await claims.tryClaim(execution, step: step, ttl: claimTTL) {
            case .finished:
                context.logger.info("orchestration step already finished; skipping", metadata: ["step": "\(step)"])
                return .ack
            case .heldByOther(let holder, let expiresAt):
                throw Snooze.claimHeld(by: holder, until: expiresAt, ttl: claimTTL)
            case .won(let claim):
                do {
                    try await withThrowingTaskGroup(of: Void.self) { group in
                        // A child, so it ends with this delivery: also when the delivery is
                        // cancelled (time limit, lost lease) while a handler ignores it, and
                        // the claim then expires instead of being held by a zombie.
                        group.addTask { try await Self.heartbeat(claim, every: claimTTL / 3, claims: claims, logger: context.logger) }
                        group.addTask { try await handler(payload, claim, context) }
                        // The handler's end, or the heartbeat finding the claim lost, whichever
                        // comes first, ends the step; the other is cancelled.
                        try await group.next()
                        group.cancelAll()
                    }
                } catch is ClaimLost {
                    throw Snooze.claimLost(step: step)
                } catch {
                    _ = try? await uncancellable { try await claims.release(claim) }
                    throw error
                }
                guard try await uncancellable({ try await claims.finish(claim) }) else {
                    throw Snooze.claimLost(step: step)
                }
                return .ack
            }
        }
    }

    /// Extends `claim` every `interval` until cancelled. A failed beat is logged and tried
    /// again at the next one (the claim outlives two missed beats); a claim found lost
    /// (expired and taken over) throws `ClaimLost`, which cancels the handler: the step now
    /// belongs to another holder.
    private static func heartbeat(_ claim: Claim, every interval: Duration, claims: Claims, logger: Logger) async throws {
        while true {
            try await Task.sleep(for: interval)
            do {
                guard try await claims.heartbeat(claim) else {
                    logger.warning("orchestration claim lost; cancelling the step", metadata: ["step": "\(claim.step)"])
                    throw ClaimLost()
                }
            } catch let error as MusterError {
                logger.info("orchestration claim heartbeat failed; trying again at the next beat", metadata: ["error": "\(error)"])
            }
        }
    }
}

/// The orchestration claim was taken over while its step ran.
private struct ClaimLost: Error {}
