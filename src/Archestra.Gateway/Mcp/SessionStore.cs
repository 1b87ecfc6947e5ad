using System.Collections.Concurrent;
using System.Security.Cryptography;

namespace Archestra.Gateway.Mcp;

/// <summary>Live sessions by id, with idle expiry.</summary>
internal sealed class SessionStore : IDisposable
{
    private readonly ConcurrentDictionary<string, McpSession> _sessions = new(StringComparer.Ordinal);
    private readonly TimeSpan _idleTimeout;
    private readonly int _maxSessions;
    private readonly Timer _reaper;
    private readonly Action<McpSession> _onEnded;

    public SessionStore(TimeSpan idleTimeout, int maxSessions, Action<McpSession> onEnded)
    {
        _idleTimeout = idleTimeout;
        _maxSessions = maxSessions;
        _onEnded = onEnded;
        var period = TimeSpan.FromTicks(Math.Clamp(idleTimeout.Ticks / 4, TimeSpan.FromSeconds(1).Ticks, TimeSpan.FromMinutes(1).Ticks));
        _reaper = new Timer(static s => ((SessionStore)s!).Reap(), this, period, period);
    }

    public int Count => _sessions.Count;

    public IEnumerable<McpSession> All => _sessions.Values;

    /// <summary>
    /// Session ids are 128 random bits, hex encoded: visible ASCII as the spec requires, and unguessable,
    /// so knowing one session's id reveals nothing about another's.
    /// </summary>
    public McpSession? Create(GatewayProfile profile, string protocolVersion, ClientCapabilities capabilities)
    {
        if (_sessions.Count >= _maxSessions)
        {
            return null;
        }

        Span<byte> random = stackalloc byte[16];
        RandomNumberGenerator.Fill(random);
        var session = new McpSession(Convert.ToHexStringLower(random), profile, protocolVersion, capabilities);
        _sessions[session.Id] = session;
        return session;
    }

    public McpSession? Find(string id)
    {
        if (_sessions.TryGetValue(id, out var session))
        {
            session.Touch();
            return session;
        }

        return null;
    }

    public bool Remove(string id)
    {
        if (_sessions.TryRemove(id, out var session))
        {
            session.End();
            _onEnded(session);
            return true;
        }

        return false;
    }

    private void Reap()
    {
        var cutoff = Environment.TickCount64 - (long)_idleTimeout.TotalMilliseconds;
        foreach (var pair in _sessions)
        {
            if (pair.Value.LastActivityTicks < cutoff && !pair.Value.HasGetStream && pair.Value.InFlight.IsEmpty)
            {
                Remove(pair.Key);
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
