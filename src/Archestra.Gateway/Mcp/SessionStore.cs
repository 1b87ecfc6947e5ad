using System.Collections.Concurrent;

namespace Archestra.Gateway.Mcp;

/// <summary>Live sessions by id, with idle expiry, and recovery of sessions other replicas created.</summary>
internal sealed class SessionStore : IDisposable
{
    /// <summary>
    /// A signed id is only resumed within a day of its issue: long enough for any client session and a
    /// rolling deploy, short enough that a leaked id does not stay valid indefinitely.
    /// </summary>
    internal static readonly TimeSpan MaxRecoverableAge = TimeSpan.FromHours(24);

    /// <summary>Ended ids remembered so they are not resumed; bounded against a client churning sessions.</summary>
    private const int MaxTombstones = 100_000;

    private readonly ConcurrentDictionary<string, McpSession> _sessions = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, long> _ended = new(StringComparer.Ordinal);
    private readonly TimeSpan _idleTimeout;
    private readonly int _maxSessions;
    private readonly Timer _reaper;
    private readonly Action<McpSession> _onEnded;
    private readonly SessionIds _ids;
    private readonly Func<string, GatewayProfile?> _findProfile;
    private readonly TimeProvider _time;

    public SessionStore(
        TimeSpan idleTimeout,
        int maxSessions,
        SessionIds ids,
        Func<string, GatewayProfile?> findProfile,
        Action<McpSession> onEnded,
        TimeProvider? time = null
    )
    {
        _idleTimeout = idleTimeout;
        _maxSessions = maxSessions;
        _ids = ids;
        _findProfile = findProfile;
        _onEnded = onEnded;
        _time = time ?? TimeProvider.System;
        var period = TimeSpan.FromTicks(Math.Clamp(idleTimeout.Ticks / 4, TimeSpan.FromSeconds(1).Ticks, TimeSpan.FromMinutes(1).Ticks));
        _reaper = new Timer(static s => ((SessionStore)s!).Reap(), this, period, period);
    }

    public int Count => _sessions.Count;

    /// <summary>The signer of session ids, which also seals the approval states of MCP 2026-07-28 requests.</summary>
    public SessionIds Ids => _ids;

    public IEnumerable<McpSession> All => _sessions.Values;

    /// <summary>Called with each session resumed from its id (for metrics).</summary>
    public Action<McpSession>? Recovered { get; set; }

    public McpSession? Create(GatewayProfile profile, string protocolVersion, ClientCapabilities capabilities)
    {
        if (_sessions.Count >= _maxSessions)
        {
            return null;
        }

        var id = _ids.Issue(new SessionClaims(profile.Name, protocolVersion, capabilities, _time.GetUtcNow()));
        var session = new McpSession(id, profile, protocolVersion, capabilities);
        _sessions[session.Id] = session;
        return session;
    }

    /// <summary>The live session, or one resumed from a valid signed id that has not ended here.</summary>
    public McpSession? Find(string id)
    {
        if (_sessions.TryGetValue(id, out var session))
        {
            session.Touch();
            return session;
        }

        return TryRecover(id);
    }

    private McpSession? TryRecover(string id)
    {
        if (_ended.ContainsKey(id) || _sessions.Count >= _maxSessions || !_ids.TryRead(id, out var claims))
        {
            return null;
        }

        var age = _time.GetUtcNow() - claims.IssuedAt;
        if (age > MaxRecoverableAge || age < -TimeSpan.FromMinutes(5) || _findProfile(claims.Profile) is not { } profile)
        {
            return null;
        }

        var session = _sessions.GetOrAdd(
            id,
            static (key, state) => new McpSession(key, state.profile, state.claims.ProtocolVersion, state.claims.Capabilities),
            (profile, claims)
        );
        Recovered?.Invoke(session);
        return session;
    }

    public bool Remove(string id)
    {
        if (_sessions.TryRemove(id, out var session))
        {
            if (_ended.Count < MaxTombstones)
            {
                _ended[id] = Environment.TickCount64;
            }

            session.End();
            _onEnded(session);
            return true;
        }

        return false;
    }

    private void Reap()
    {
        var now = Environment.TickCount64;
        var cutoff = now - (long)_idleTimeout.TotalMilliseconds;
        foreach (var pair in _sessions)
        {
            if (pair.Value.LastActivityTicks < cutoff && !pair.Value.HasGetStream && pair.Value.InFlight.IsEmpty)
            {
                Remove(pair.Key);
            }
        }

        // After MaxRecoverableAge an ended id would be refused anyway, so its tombstone can go.
        var forget = now - (long)MaxRecoverableAge.TotalMilliseconds;
        foreach (var pair in _ended)
        {
            if (pair.Value < forget)
            {
                _ended.TryRemove(pair.Key, out _);
            }
        }
    }

    public void Dispose()
    {
        _reaper.Dispose();
        foreach (var pair in _sessions)
        {
            Remove(pair.Key);
        }
    }
}
