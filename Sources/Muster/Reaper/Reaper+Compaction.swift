import Logging
internal import MusterPostgres

extension Reaper {
    /// Takes the next `IndexCompaction` step, if any: drops an interrupted rebuild's leftover,
    /// or rebuilds one bloated hot index with REINDEX CONCURRENTLY (sends, reads and acks go on
    /// meanwhile). A rebuild still running after half a lease is cancelled, so the leader
    /// renews its lease in time; the invalid copy it leaves is dropped at the next sweep.
    /// Returns whether it rebuilt an index.
    func compactHotIndexes(_ compaction: inout IndexCompaction) async throws -> Bool {
        let rows = try await client.run(client.orchestrationSQL.hotIndexSizes, [], retry: .idempotent).rows
        let indexes = try rows.map {
            IndexCompaction.Index(name: try $0.decode(0), bytes: try $0.decode(1), compactBytes: try $0.decode(2),
                                  freshBytes: try $0.decodeIfPresent(5), valid: try $0.decode(3))
        }
        let oldest = try rows.first.map { Duration.seconds(try $0.decode(4, as: Double.self)) } ?? .zero
        guard let step = compaction.next(indexes, oldestSnapshot: oldest) else { return false }
        let (verb, name) = switch step {
        case .drop(let name): ("DROP INDEX CONCURRENTLY IF EXISTS", name)
        case .rebuild(let name): ("REINDEX INDEX CONCURRENTLY", name)
        }
        guard let identifier = SQLIdentifier(name) else { return false }
        let sql = "\(verb) \(client.schema.quoted).\(identifier.quoted)"
        let client = self.client
        let finished = await withTimeout(options.leaseTTL / 2, otherwise: false) {
            do {
                _ = try await client.translatingErrors { try await client.pool.withConnection { try await $0.query(sql) } }
                return true
            } catch {
                client.logger.warning("reaper: \(verb) \(name) failed", metadata: ["error": "\(error)"])
                return false
            }
        }
        if !finished { logger.debug("reaper: \(verb) \(name) did not finish within half a lease; cancelled") }
        guard finished, case .rebuild = step else { return false }
        let before = indexes.first { $0.name == name }
        logger.info("reaper: rebuilt a bloated index", metadata: [
            "index": "\(name)", "bytes_before": "\(before?.bytes ?? 0)", "needed_estimate": "\(before?.compactBytes ?? 0)",
            "fresh_estimate": "\(before?.freshBytes.map(String.init) ?? "unknown")",
            "bytes_when_snapshot_seen": "\(compaction.episode?.sizesWhenSeen[name].map(String.init) ?? "none")",
        ])
        return true
    }
}
