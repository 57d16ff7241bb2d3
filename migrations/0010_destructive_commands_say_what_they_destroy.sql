-- Destructive queue commands say what they destroy.
--
-- 1. purge_queue() deleted every waiting message, also the members and callbacks of
--    executions still running: those executions then waited forever (no deadline by
--    default). It now refuses (MU003) when any waiting message belongs to an open execution
--    (pending or running), naming how many, unless force is true; either way it returns how
--    many messages it deleted and how many of them belonged to open executions. Those
--    executions are left as they are: cancel them (cancel_execution) to clean up.
--
-- 2. delete_queue() deleted a queue with its dead letters and archive as long as no message
--    was left. It now refuses (MU003) while anything is left (messages in any state, dead
--    letters, archived messages), naming the counts, unless force is true; with force it
--    deletes all of it with the queue. It returns what it deleted.

DROP FUNCTION purge_queue(text);

CREATE FUNCTION purge_queue(queue text, force boolean DEFAULT false)
RETURNS TABLE (purged bigint, of_open_executions bigint, open_executions bigint)
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
    PERFORM queue_settings(purge_queue.queue);
    SELECT count(*), count(DISTINCT m.execution_id) INTO of_open_executions, open_executions
    FROM messages AS m JOIN executions AS e ON e.id = m.execution_id
    WHERE m.queue = purge_queue.queue AND m.state IN ('ready', 'delayed') AND e.status IN ('pending', 'running');
    IF of_open_executions > 0 AND NOT force THEN
        RAISE EXCEPTION 'queue % holds % waiting messages of % open executions; purging them would leave those executions waiting forever: cancel the executions first, or force the purge',
            queue, of_open_executions, open_executions USING ERRCODE = 'MU003';
    END IF;
    DELETE FROM messages AS m WHERE m.queue = purge_queue.queue AND m.state IN ('ready', 'delayed');
    GET DIAGNOSTICS purged = ROW_COUNT;
    RETURN NEXT;
END
$$;

COMMENT ON FUNCTION purge_queue(text, boolean) IS 'Deletes ready and delayed messages of a queue; refuses (MU003) when some belong to open executions unless force. Returns how many were deleted, how many of them belonged to open executions, and how many such executions.';

DROP FUNCTION delete_queue(text);

CREATE FUNCTION delete_queue(queue text, force boolean DEFAULT false)
RETURNS TABLE (messages_deleted bigint, dead_letters_deleted bigint, archived_deleted bigint)
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
    PERFORM 1 FROM queues WHERE name = delete_queue.queue FOR UPDATE;
    PERFORM queue_settings(delete_queue.queue);
    SELECT count(*) INTO messages_deleted FROM messages AS m WHERE m.queue = delete_queue.queue;
    SELECT count(*) INTO dead_letters_deleted FROM dead_letters AS d WHERE d.queue = delete_queue.queue;
    SELECT count(*) INTO archived_deleted FROM archive AS a WHERE a.queue = delete_queue.queue;
    IF NOT force AND messages_deleted + dead_letters_deleted + archived_deleted > 0 THEN
        RAISE EXCEPTION 'queue % still holds % messages, % dead letters and % archived messages: purge them first, or force the delete to remove them with the queue',
            queue, messages_deleted, dead_letters_deleted, archived_deleted USING ERRCODE = 'MU003';
    END IF;
    DELETE FROM messages AS m WHERE m.queue = delete_queue.queue;
    DELETE FROM archive AS a WHERE a.queue = delete_queue.queue;
    DELETE FROM dead_letters AS d WHERE d.queue = delete_queue.queue;
    DELETE FROM message_keys AS k WHERE k.queue = delete_queue.queue;
    DELETE FROM queues WHERE name = delete_queue.queue;
    RETURN NEXT;
END
$$;

COMMENT ON FUNCTION delete_queue(text, boolean) IS 'Deletes a queue with its dedup keys; refuses (MU003) while it holds messages, dead letters or archived messages unless force, which deletes them too. Returns what it deleted.';
