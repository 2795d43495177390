/// The Lua scripts of the Redis backend. Each runs atomically on the server, so a check and the
/// write it guards cannot be split by another client.
///
/// The group scripts return tooz's codes where tooz has a script (`create_group`,
/// `delete_group`, `update_capabilities`) and use the same convention elsewhere: a negative
/// integer names the failure.
enum RedisScripts {
    /// KEYS: group, groups set. ARGV: group id, change channel.
    /// 1 created; 0 already exists (tooz's `create_group`).
    static let createGroup = RedisScript(name: "create_group", source: """
        if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
        redis.call('SADD', KEYS[2], ARGV[1])
        redis.call('HSET', KEYS[1], '__created__', '1')
        redis.call('PUBLISH', ARGV[2], ARGV[1])
        return 1
        """)

    /// KEYS: group, groups set. ARGV: group id, beat key prefix, change channel.
    /// 1 deleted; -1 no such group; -2 not in the groups set; -3 a live member remains.
    /// Unlike tooz, members whose beat key has expired do not keep a group alive.
    static let deleteGroup = RedisScript(name: "delete_group", source: """
        if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
        if redis.call('SISMEMBER', KEYS[2], ARGV[1]) == 0 then return -2 end
        local fields = redis.call('HKEYS', KEYS[1])
        for _, member in ipairs(fields) do
          if member ~= '__created__' and redis.call('EXISTS', ARGV[2] .. member) == 1 then return -3 end
        end
        redis.call('DEL', KEYS[1])
        redis.call('SREM', KEYS[2], ARGV[1])
        redis.call('PUBLISH', ARGV[3], ARGV[1])
        return 1
        """)

    /// KEYS: group. ARGV: member, capabilities, change channel, group id.
    /// 1 joined; -1 no such group; -2 already a member. Unlike tooz, a refused join leaves the
    /// member's capabilities as they were.
    static let join = RedisScript(name: "join", source: """
        if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
        if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then return -2 end
        redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
        redis.call('PUBLISH', ARGV[3], ARGV[4])
        return 1
        """)

    /// KEYS: group. ARGV: member, change channel, group id.
    /// 1 left; -1 no such group; -2 not a member.
    static let leave = RedisScript(name: "leave", source: """
        if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
        if redis.call('HDEL', KEYS[1], ARGV[1]) == 0 then return -2 end
        redis.call('PUBLISH', ARGV[2], ARGV[3])
        return 1
        """)

    /// KEYS: group. ARGV: beat key prefix, the caller's member id (never pruned, as in tooz),
    /// `1` for names only. The live members as a flat [member, caps, ...] list, or [member, ...]
    /// for names only (`HKEYS`: no capabilities read), after removing members whose beat key is
    /// gone (tooz prunes the same way in `get_members`); -1 when there is no such group.
    static let members = RedisScript(name: "members", source: """
        if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
        local names_only = ARGV[3] == '1'
        local all = redis.call(names_only and 'HKEYS' or 'HGETALL', KEYS[1])
        local step = names_only and 1 or 2
        local live = {}
        for i = 1, #all, step do
          local member = all[i]
          if member ~= '__created__' then
            if member == ARGV[2] or redis.call('EXISTS', ARGV[1] .. member) == 1 then
              live[#live + 1] = member
              if not names_only then live[#live + 1] = all[i + 1] end
            else
              redis.call('HDEL', KEYS[1], member)
            end
          end
        end
        return live
        """)

    /// KEYS: group. ARGV: member. The capabilities; -1 no such group; -2 not a member.
    static let capabilities = RedisScript(name: "capabilities", source: """
        if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
        local caps = redis.call('HGET', KEYS[1], ARGV[1])
        if not caps then return -2 end
        return caps
        """)

    /// KEYS: group. ARGV: member, capabilities, change channel, group id.
    /// 1 updated; -1 no such group; -2 not a member (tooz's `update_capabilities`).
    static let updateCapabilities = RedisScript(name: "update_capabilities", source: """
        if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
        if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return -2 end
        redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
        redis.call('PUBLISH', ARGV[3], ARGV[4])
        return 1
        """)

    /// KEYS: lock, fencing counter. ARGV: lock value, ttl ms, change channel, group id.
    /// The new fencing token (≥ 1), or 0 when someone holds the lock. Only leadership uses it
    /// (a plain lock's acquisition is a pipelined `SET NX PX` + `INCR`, no script): winning a
    /// leadership must be announced, and only when it was won.
    static let acquireLeadership = RedisScript(name: "acquire_leadership", source: """
        if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 0 end
        local fence = redis.call('INCR', KEYS[2])
        redis.call('PUBLISH', ARGV[3], ARGV[4])
        return fence
        """)

    /// KEYS: lock. ARGV: lock value, ttl ms. 1 extended; 0 not ours any more
    /// (redis-py's `reacquire`: compare, then PEXPIRE).
    static let refresh = RedisScript(name: "refresh", source: """
        if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
        redis.call('PEXPIRE', KEYS[1], ARGV[2])
        return 1
        """)

    /// KEYS: lock. ARGV: lock value, released channel, change channel or '', group id.
    /// 1 released (and announced, so waiters try at once); 0 not ours any more
    /// (redis-py's compare-and-delete).
    static let release = RedisScript(name: "release", source: """
        if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
        redis.call('DEL', KEYS[1])
        redis.call('PUBLISH', ARGV[2], KEYS[1])
        if ARGV[3] ~= '' then redis.call('PUBLISH', ARGV[3], ARGV[4]) end
        return 1
        """)

    /// KEYS: lock. ARGV: released channel, change channel or '', group id.
    /// 1 when a holder was removed (tooz's `break_`, plus the announcement).
    static let breakLock = RedisScript(name: "break_lock", source: """
        if redis.call('DEL', KEYS[1]) == 0 then return 0 end
        redis.call('PUBLISH', ARGV[1], KEYS[1])
        if ARGV[2] ~= '' then redis.call('PUBLISH', ARGV[2], ARGV[3]) end
        return 1
        """)

    static let all: [RedisScript] = [
        createGroup, deleteGroup, join, leave, members, capabilities, updateCapabilities,
        acquireLeadership, refresh, release, breakLock,
    ]
}
